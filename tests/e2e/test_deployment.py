"""The deployable template: packaged offline, transformed, linted, scanned, deployed
into the local engine with `aws cloudformation package`/`deploy`, and driven end to end.

The deployed run proves the wiring: state machine substitutions, the settings each
function is configured with (the runtime refuses a function whose settings differ
from the API's), the per-function policies (every AWS action a function called must
be allowed by its own policy), the stack role and the AWS_IAM API.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint

from chalicelib.aws.store import TABLE_DEFINITION, TTL_ATTRIBUTE
from chalicelib.model import naming, settings
from infra import policies
from local import audit, sam
from local.engine import LocalEngine
from tests.e2e.local_package import build_copy

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.e2e.conftest import Api

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-scan" / "bin" / "checkov"
REGION = "us-west-2"
PLACEHOLDER = re.compile(r"\$\{(\w+)FunctionArn\}")


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make package` for the local stage (what `make deploy STAGE=...` ships), built once per session."""
    return build_copy(tmp_path_factory)


@pytest.fixture(scope="module")
def template(build: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((build / "sam.yaml").read_text()))


def resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any], monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Any]:
    """What CloudFormation runs after `aws cloudformation package` and the SAM transform."""
    monkeypatch_module.setenv("AWS_DEFAULT_REGION", REGION)
    packaged = json.loads(json.dumps(template))
    for resource in packaged["Resources"].values():
        props = resource.get("Properties", {})
        if "CodeUri" in props:
            props["CodeUri"] = "s3://artifacts/deployment.zip"
        if "DefinitionUri" in props:
            props["DefinitionUri"] = {"Bucket": "artifacts", "Key": props["DefinitionUri"]}
    return sam.transform(packaged)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


# --- the template as packaged -------------------------------------------------------


def test_policy_files_are_what_infra_policies_writes() -> None:
    on_disk = {p: p.read_text() for p in policies.POLICY_DIR.glob("*.json")}
    assert on_disk == policies.rendered(), "run `make policies` after changing infra/policies.py"


def test_every_function_has_its_own_role_with_its_own_policy(template: dict[str, Any]) -> None:
    from app import app

    names = {fn.name for fn in app.pure_lambda_functions} | {e.name for e in app.event_sources} | {"api_handler"}
    assert set(policies.POLICIES) == names
    functions = resources(template, "AWS::Serverless::Function")
    roles = {logical: fn["Properties"]["Role"]["Fn::GetAtt"][0] for logical, fn in functions.items()}
    assert len(set(roles.values())) == len(functions) == len(names)
    for logical, role in roles.items():
        (policy,) = template["Resources"][role]["Properties"]["Policies"]
        assert policy["PolicyDocument"]["Statement"], logical
    assert "DefaultRole" not in template["Resources"]


# A step's input as the workflows send it: enough for the step to reach its first AWS call.
_STACK = {
    "stackName": "eksctl-probe-cluster",
    "stackId": "arn:aws:cloudformation:us-west-2:1:stack/x/y",
    "kind": "cluster",
}
_STEP = {"name": "probe", "clusterId": "c1", "region": REGION}
_FAILED = {**_STEP, "operationId": "op", "error": {"Error": "StackFailed", "Cause": "no capacity"}}
PROBE_EVENTS: dict[str, dict[str, Any]] = {
    "create_cluster_stack": _STEP,
    "create_nodegroup_stack": {**_STEP, "nodegroup": "ng"},
    "describe_stack": {**_STEP, "stack": _STACK},
    "update_aws_auth": {**_STEP, "nodegroupStacks": []},
    "apply_service_accounts": _STEP,
    "close_public_endpoint": {**_STEP, "stack": _STACK},
    "mark_cluster_active": {**_STEP, "clusterStack": {"outputs": {}}},
    "record_failure": _FAILED,
    "notify": {**_STEP, "event": "created"},
    "change_access": {**_STEP, "change": {"action": "add", "arn": "arn:aws:iam::1:role/x", "username": "x"}},
    "record_access_failure": _FAILED,
    "stop_create_workflow": {**_STEP, "createExecutionArn": "arn:aws:states:us-west-2:1:execution:create:x"},
    "list_cluster_stacks": _STEP,
    "delete_stack": {**_STEP, "stack": _STACK},
    "describe_stack_deletion": {**_STEP, "stack": _STACK},
    "delete_kubernetes_load_balancers": _STEP,
    "mark_cluster_deleted": {**_STEP, "operationId": "op"},
    "record_delete_failure": _FAILED,
    "update_nodegroup_stack": {**_STEP, "stack": {**_STACK, "kind": "nodegroup", "nodegroup": "ng"}},
    "change_node_role": {**_STEP, "action": "add", "stack": {**_STACK, "kind": "nodegroup", "nodegroup": "ng"}},
    "finish_nodegroup_change": {**_STEP, "operationId": "op"},
    "record_nodegroup_failure": _FAILED,
    "remove_service_account": {**_STEP, "operationId": "op"},
    "finish_serviceaccount_change": {**_STEP, "operationId": "op"},
    "record_serviceaccount_failure": _FAILED,
}


def test_every_handler_works_when_lambda_imports_its_module_alone(
    template: dict[str, Any], build: Path, tmp_path: Path
) -> None:
    """Lambda imports each function's Handler module directly, never app.py: each task must
    still parse its input and name a throttled AWS call `Throttling`, which the ASL retries.

    Each module is imported alone in a fresh interpreter (Lambda's init), and each handler then
    runs in its own forked copy of that interpreter, as each function runs in its own environment."""
    code = tmp_path / "task"
    with zipfile.ZipFile(build / "deployment.zip") as package_zip:
        package_zip.extractall(code)  # the code as Lambda unpacks it
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(code),
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **{name: "probe" for name in settings.STATE_MACHINE_ENV.values()},
        settings.ENV_TABLE_NAME: "probe",
    }
    functions = resources(template, "AWS::Serverless::Function")
    handlers = {logical: fn["Properties"]["Handler"] for logical, fn in functions.items()}
    events = {"".join(word.title() for word in name.split("_")): event for name, event in PROBE_EVENTS.items()}
    tasks = {logical: handler for logical, handler in handlers.items() if ".handlers.tasks." in handler}
    assert set(tasks) == set(events), "every task needs a probe event, and only tasks"

    def probe(module: str, probes: list[tuple[str, dict[str, Any] | None]]) -> dict[str, str]:
        """Lambda's init (the module imported alone in a fresh interpreter), then each handler in a copy of it."""
        done = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "e2e" / "lambda_module_probe.py")],
            input=json.dumps(probes),
            env=env,
            cwd=code,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        # The last line is the probe's answer; Powertools logs go to stdout before it.
        last = (done.stdout.strip() or done.stderr.strip()).splitlines()[-1]
        try:
            return dict(json.loads(last))
        except ValueError:
            return {handler: last for handler, _ in probes}

    by_module: dict[str, list[tuple[str, dict[str, Any] | None]]] = {}
    for logical, handler in handlers.items():
        by_module.setdefault(handler.rpartition(".")[0], []).append((handler, events.get(logical)))
    with ThreadPoolExecutor(max_workers=len(by_module)) as pool:
        answers = {h: a for found in pool.map(probe, by_module, by_module.values()) for h, a in found.items()}

    outcomes = {logical: answers[handler] for logical, handler in tasks.items()}
    assert outcomes == dict.fromkeys(tasks, "Throttling")
    for name in set(handlers) - set(tasks):
        assert answers[handlers[name]] == "imported", name


def test_the_package_carries_the_bytecode_of_every_module_it_ships(build: Path) -> None:
    """Lambda's /var/task is read-only: without .pyc files every cold start compiles what it imports.

    Each module has its .pyc for the runtime's Python, hash-based and unchecked (flags 0b01), so the
    interpreter loads it whatever time unpacking gave the source."""
    import importlib.util

    with zipfile.ZipFile(build / "deployment.zip") as package_zip:
        names = set(package_zip.namelist())
        sources = sorted(n for n in names if n.endswith(".py") and "/__pycache__/" not in n)
        tag = sys.implementation.cache_tag
        missing = [s for s in sources if importlib.util.cache_from_source(s) not in names]
        # A source that cannot compile (a test fixture of a dependency, say) has none; ours all do.
        assert not [s for s in missing if s.startswith(("chalicelib/", "app.py"))]
        assert len(missing) < len(sources) / 100, missing[:10]
        pyc = package_zip.read(f"chalicelib/handlers/__pycache__/tasks.{tag}.pyc")
    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # hash-based, source not checked


def test_every_function_runs_on_the_python_the_tests_run_on(template: dict[str, Any]) -> None:
    """Chalice takes the runtime from the packaging interpreter: python3.13, as .venv (Makefile)."""
    runtimes = {fn["Properties"].get("Runtime") for fn in resources(template, "AWS::Serverless::Function").values()}
    runtimes |= {template.get("Globals", {}).get("Function", {}).get("Runtime")} - {None}

    assert runtimes - {None} == {f"python{sys.version_info.major}.{sys.version_info.minor}"} == {"python3.13"}


def test_table_is_the_one_the_code_queries(template: dict[str, Any]) -> None:
    table = template["Resources"]["ClustersTable"]
    props = table["Properties"]
    for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"):
        assert props[key] == TABLE_DEFINITION[key], key
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_state_machines_fill_every_placeholder_from_this_stack(template: dict[str, Any], build: Path) -> None:
    machines = resources(template, "AWS::Serverless::StateMachine")
    stems = {m["Properties"]["DefinitionUri"].split("/")[-1].removesuffix(".asl.json"): m for m in machines.values()}
    assert set(stems) == set(settings.STATE_MACHINE_ENV)
    invokable = {
        ref["Fn::GetAtt"][0]
        for policy in template["Resources"]["StateMachineRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Action"] == "lambda:InvokeFunction"
        for ref in statement["Resource"]
    }
    for stem, machine in stems.items():
        props = machine["Properties"]
        assert props["Name"] == {"Fn::Sub": "${AWS::StackName}-" + stem.replace("_", "-")}
        used = set(PLACEHOLDER.findall((build / props["DefinitionUri"]).read_text()))
        substitutions = props["DefinitionSubstitutions"]
        assert set(substitutions) == {f"{task}FunctionArn" for task in used}, stem
        for key, value in substitutions.items():
            assert value == {"Fn::GetAtt": [key.removesuffix("FunctionArn"), "Arn"]}
        assert {key.removesuffix("FunctionArn") for key in substitutions} <= invokable


def test_every_function_is_configured_with_this_stack(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    known = {value for name, value in vars(settings).items() if name.startswith("ENV_")}
    assert {k for k in variables if k.startswith("EKSPRESS_")} <= known
    for stem, env_name in settings.STATE_MACHINE_ENV.items():
        assert variables[env_name]["Fn::Sub"].endswith(":stateMachine:${AWS::StackName}-" + stem.replace("_", "-"))
    assert variables[settings.ENV_TABLE_NAME] == {"Ref": "ClustersTable"}


@pytest.mark.parametrize(
    ("env_name", "target", "callers"),
    [
        (settings.ENV_SLACK_WORKER_FUNCTION, naming.SLACK_WORKER, ["api_handler"]),
        (settings.ENV_POOL_FILL_FUNCTION, naming.POOL_FILL, ["api_handler", "slack_worker"]),
    ],
)
def test_a_function_invoked_by_name_has_that_name_and_its_callers_may_invoke_it(
    template: dict[str, Any], env_name: str, target: str, callers: list[str]
) -> None:
    name = {"Fn::Sub": "${AWS::StackName}-" + target}
    assert template["Globals"]["Function"]["Environment"]["Variables"][env_name] == name
    (function,) = [r for r in template["Resources"].values() if r["Properties"].get("FunctionName") == name]
    if target == naming.POOL_FILL:  # a claim's fill and the schedule's never overlap
        assert function["Properties"]["ReservedConcurrentExecutions"] == 1
    arn = {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:" + name["Fn::Sub"]}
    for caller in callers:
        statements = policies.document(caller)["Statement"]
        assert any(st["Action"] == "lambda:InvokeFunction" and st["Resource"] == arn for st in statements), caller


def test_platform_routes_need_iam_and_slack_routes_need_slack(template: dict[str, Any]) -> None:
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            secured = operation.get("security") == [{"sigv4": []}]
            assert secured != path.startswith("/slack/"), f"{method.upper()} {path}"


def test_transformed_template_passes_cfn_lint(transformed: dict[str, Any]) -> None:
    matches = lint(json.dumps(transformed), config=ManualArgs(regions=[REGION]))
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


def test_checkov_finds_nothing_unexplained(transformed: dict[str, Any], tmp_path: Path) -> None:
    """Every check checkov fails is either fixed or skipped in infra/checkov.yaml and explained in infra/README.md."""
    assert CHECKOV.exists(), "the IaC scanner is missing: `make test` installs it into .venv-scan"
    target = tmp_path / "ekspress.template.json"
    target.write_text(json.dumps(transformed))
    config = ROOT / "infra" / "checkov.yaml"
    # --compact leaves each check's code block out of the report: the template is one line, so every block
    # would be all of it (tens of megabytes of JSON to write and read back), and no assertion reads them.
    done = subprocess.run(
        [str(CHECKOV), "--config-file", str(config), "-f", str(target), "-o", "json", "--compact"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"},
        timeout=300,
    )
    report = json.loads(done.stdout)
    results = report["results"]
    failed = [f"{c['check_id']} {c['resource']}" for c in results["failed_checks"]]
    assert failed == []
    assert results["passed_checks"], "checkov checked nothing"
    skipped = yaml.safe_load(config.read_text())["skip-check"]
    readme = (ROOT / "infra" / "README.md").read_text()
    assert [check for check in skipped if f"`{check}`" not in readme] == []


# --- the template, deployed into the local engine ------------------------------------


@pytest.fixture(scope="module")
def engine(build: Path) -> Iterator[LocalEngine]:
    audit.reset()
    eng = LocalEngine(region=REGION, poll_scale=0.001, package_dir=build).start()
    yield eng
    eng.stop()


def test_deployed_api_methods_are_iam_authorized(engine: LocalEngine) -> None:
    apigw = engine.client("apigateway")
    api_id = engine.outputs["RestAPIId"]
    seen = {}
    for resource in apigw.get_resources(restApiId=api_id)["items"]:
        for method in resource.get("resourceMethods") or {}:
            found = apigw.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod=method)
            seen[f"{method} {resource['path']}"] = found["authorizationType"]
    assert seen["POST /clusters"] == "AWS_IAM"
    assert seen["POST /slack/commands"] == "NONE"
    assert {route for route, auth in seen.items() if auth != "AWS_IAM"} == {
        "POST /slack/commands",
        "POST /slack/interactions",
    }


def test_deployed_alarms_and_api_stage_exist(engine: LocalEngine, template: dict[str, Any]) -> None:
    """The local engine models the template's alarms and stage (local/deployment_models.py); moto skipped them."""
    alarms = engine.client("cloudwatch").describe_alarms()["MetricAlarms"]
    topic = engine.outputs["AlarmTopicArn"]
    assert len(alarms) == len(resources(template, "AWS::CloudWatch::Alarm"))
    assert all(alarm["AlarmActions"] == [topic] and alarm["TreatMissingData"] == "notBreaching" for alarm in alarms)
    machines = {alarm["Dimensions"][0]["Value"] for alarm in alarms if alarm["Namespace"] == "AWS/States"}
    assert machines == {
        engine.outputs[f"{kind}StateMachineArn"]
        for kind in ("CreateCluster", "DeleteCluster", "UpdateAccess", "ChangeNodegroup", "ChangeServiceaccount")
    }
    stage = engine.client("apigateway").get_stage(restApiId=engine.outputs["RestAPIId"], stageName="api")
    assert stage["tracingEnabled"] is True


def allowed(function: str) -> list[str]:
    actions: list[str] = []
    for statement in policies.document(function)["Statement"]:
        listed = statement["Action"]
        actions += [listed] if isinstance(listed, str) else listed
    return [a.lower() for a in actions]


def test_create_access_and_delete_run_from_the_deployment_with_least_privilege(engine: LocalEngine, api: Api) -> None:
    request = {"name": "deployed", "region": REGION}
    created = api.call("POST", "/clusters", request, idempotency_key="deploy-test-1")
    assert created.status == 202, created.body
    assert api.call("POST", "/clusters", request, idempotency_key="deploy-test-1").body == created.body
    active = api.wait_for("deployed", {"ACTIVE", "FAILED"})
    assert active["status"] == "ACTIVE", active.get("lastFailure")

    # CloudFormation built the cluster with the stack role; the service's roles have access entries.
    cfn = engine.client("cloudformation")
    api_function = engine.client("lambda").get_function_configuration(FunctionName=engine.outputs["APIHandlerName"])
    deployed = api_function["Environment"]["Variables"]
    role_arn = deployed[settings.ENV_STACK_ROLE_ARN]
    stack = cfn.describe_stacks(StackName=naming.cluster_stack_name("deployed"))["Stacks"][0]
    assert stack["RoleARN"] == role_arn
    body = cfn.get_template(StackName=naming.cluster_stack_name("deployed"))["TemplateBody"]  # botocore parses JSON
    entries = {
        r["Properties"]["PrincipalArn"] for r in body["Resources"].values() if r["Type"] == "AWS::EKS::AccessEntry"
    }
    kube_roles = deployed[settings.ENV_KUBERNETES_ROLE_ARNS].split(",")
    assert entries == set(kube_roles) and len(kube_roles) == 6

    added = api.call(
        "POST", "/clusters/deployed/access", {"arn": "arn:aws:iam::123456789012:role/dev", "username": "dev"}
    )
    assert added.status == 202, added.body
    for _ in range(150):
        mappings = api.call("GET", "/clusters/deployed/access").body
        if any(m.get("rolearn") == "arn:aws:iam::123456789012:role/dev" for m in mappings.get("mapRoles", [])):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the mapping never arrived: {mappings}")

    # The schedule's function, invoked as EventBridge would.
    lam = engine.client("lambda")
    reaper = next(
        f["FunctionName"]
        for f in lam.list_functions()["Functions"]
        if f["Handler"] == "chalicelib.handlers.schedules.reap_idle_clusters"
    )
    scheduled = {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-25T12:00:00Z",
        "region": REGION,
        "resources": ["arn:aws:events:us-west-2:123456789012:rule/ekspress-local-ReapIdleClusters"],
        "detail": {},
    }
    invoked = lam.invoke(FunctionName=reaper, Payload=json.dumps(scheduled).encode())
    assert "FunctionError" not in invoked, invoked["Payload"].read()

    assert api.call("DELETE", "/clusters/deployed").status == 202
    assert api.wait_for("deployed", {"DELETED", "DELETE_FAILED"})["status"] == "DELETED"

    called = audit.actions()
    excess = {
        fn: sorted(a for a in actions if not any(fnmatch.fnmatchcase(a.lower(), p) for p in allowed(fn)))
        for fn, actions in called.items()
    }
    assert {fn: a for fn, a in excess.items() if a} == {}
    # The run reached the functions that matter, so the comparison above means something.
    assert {"api_handler", "create_cluster_stack", "update_aws_auth", "change_access", "delete_stack"} <= set(called)
