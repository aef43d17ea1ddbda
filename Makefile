# Short verbs; the README uses `make run` and `make test`, and .ci/run calls `make test`.
# The Python the Lambda package declares (Chalice takes the runtime from it): 3.13, found
# on PATH or through pyenv. Tests run on the same version.
PYTHON_VERSION := 3.13
PY ?= $(shell python$(PYTHON_VERSION) -c 'import sys; print(sys.executable)' 2>/dev/null || \
	echo "$$(pyenv prefix $(PYTHON_VERSION) 2>/dev/null)/bin/python$(PYTHON_VERSION)")
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(PYTHON_VERSION)
# The IaC scanner has its own environment: its pins clash with the runtime's boto3.
SCAN_VENV ?= .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed-$(PYTHON_VERSION)
STAGE ?= dev
BUILD ?= build

.PHONY: run test lint format typecheck install clean bench package deploy deploy-forwarders policies reliability

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PY) -c 'import sys; assert sys.version_info[:2] == tuple(map(int, "$(PYTHON_VERSION)".split("."))), sys.version' \
		|| { echo "Python $(PYTHON_VERSION) is required (the Lambda runtime is python$(PYTHON_VERSION)); set PY=..."; exit 2; }
	$(PY) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(SCAN_STAMP): requirements-scan.txt
	$(PY) -m venv --clear $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/pip install --quiet -r requirements-scan.txt
	touch $(SCAN_STAMP)

install: $(STAMP) $(SCAN_STAMP)

run: $(STAMP)  ## serve the API on http://localhost:8000 against the embedded local engine
	$(BIN)/python -m local.run

test:  ## lint, type-check, layer contracts, then every test (unit, functional, e2e)
	@# The two environments build side by side (about 20 s less on a fresh clone).
	$(MAKE) --no-print-directory -j2 $(STAMP) $(SCAN_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=20

bench: $(STAMP)  ## benchmarks: figures and ratios, written to bench/RESULTS.md
	$(BIN)/python -m bench.run

package: $(STAMP)  ## the deployable template for STAGE in $(BUILD)/, offline (infra/README.md)
	$(BIN)/python -m infra.package --stage $(STAGE) --out $(BUILD)

deploy: package  ## deploy STAGE to the AWS account of your credentials: make deploy STAGE=dev BUCKET=...
	@test -n "$(BUCKET)" || { echo "BUCKET=<an S3 bucket of yours for code packages> is required"; exit 2; }
	$(BIN)/aws cloudformation package --template-file $(BUILD)/sam.yaml --s3-bucket $(BUCKET) \
		--output-template-file $(BUILD)/packaged.yaml
	$(BIN)/aws cloudformation deploy --template-file $(BUILD)/packaged.yaml --stack-name ekspress-$(STAGE) \
		--s3-bucket $(BUCKET) --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset
	$(BIN)/aws cloudformation describe-stacks --stack-name ekspress-$(STAGE) --query 'Stacks[0].Outputs' --output table

deploy-forwarders: $(STAMP)  ## forward stack events home from each other region: make deploy-forwarders REGIONS="eu-west-1 ..."
	@test -n "$(REGIONS)" || { echo "REGIONS=<the regions other than the home one clusters are made in> is required"; exit 2; }
	home=$$($(BIN)/aws configure get region); account=$$($(BIN)/aws sts get-caller-identity --query Account --output text); \
	for region in $(REGIONS); do \
		$(BIN)/aws cloudformation deploy --region $$region --template-file infra/stack-events-forwarder.yaml \
			--stack-name ekspress-$(STAGE)-stack-events-forwarder --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
			--parameter-overrides HomeEventBusArn=arn:aws:events:$$home:$$account:event-bus/default || exit 1; \
	done

policies: $(STAMP)  ## rewrite .chalice/policies/ from infra/policies.py
	$(BIN)/python -m infra.policies

reliability: $(STAMP)  ## fault and load scenarios on the local engine: a table, written into README.md
	$(BIN)/python -m reliability

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(SCAN_VENV) $(BUILD) .pytest_cache .mypy_cache .ruff_cache
