"""`make package`: the deployable template, offline (no AWS account or credentials).

1. `chalice package --merge-template infra/template.yaml` writes the SAM template
   (functions, per-function roles from .chalice/policies/, the AWS_IAM REST API)
   merged with infra/template.yaml, and `deployment.zip`, into the build folder; the zip then
   gets the bytecode of every module in it (infra/bytecode.py: Lambda's /var/task is read-only,
   so a package without it compiles what it imports at every cold start);
2. `finish` adds what neither source can write by hand: the stack role's policy (from
   infra/policies.py, with the stage's EKSPRESS_ALLOWED_POLICY_ARNS) and, for every function
   there is, the log group it logs to, with a retention;
3. the state machine definitions are copied beside it, where the template's
   `DefinitionUri`s point, so `aws cloudformation package` uploads them;
4. `table-import.yaml`, the table alone, for adopting a retained table into a new stack
   (infra/README.md, "Redeploying after a delete").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from chalicelib.model import settings
from infra import bytecode, policies

ROOT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = ROOT / "infra" / "template.yaml"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
TEMPLATE_FILE = "sam.yaml"
CODE_FILE = "deployment.zip"
TABLE_IMPORT_FILE = "table-import.yaml"
STACK_ROLE = "CloudFormationRole"
STACK_ROLE_POLICY = "build-eksctl-stacks"
TABLE = "ClustersTable"
TABLE_NAME_PARAMETER = "ClustersTableName"
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
# As long as the workflow logs (infra/template.yaml WorkflowLogs).
LOG_RETENTION_DAYS = 90
LOG_GROUP_SUFFIX = "LogGroup"


def package(stage: str, out: Path) -> Path:
    """Build the stage's template into `out`; returns the template's path."""
    out = out.resolve()
    if out.exists():
        # Only ever remove an earlier build (never the repository or a folder of other things).
        if out == ROOT or out in ROOT.parents or (any(out.iterdir()) and not (out / TEMPLATE_FILE).exists()):
            raise SystemExit(f"{out} is not an earlier build (no {TEMPLATE_FILE}); choose an empty or new folder")
        shutil.rmtree(out)
    env = dict(os.environ)
    # Chalice wants a region to package even though nothing is deployed; ARNs in the
    # template use ${AWS::Region}, so this value is never written anywhere.
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run(
        [
            str(chalice),
            "package",
            "--stage",
            stage,
            "--merge-template",
            str(MERGE_TEMPLATE),
            "--template-format",
            "yaml",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    bytecode.add_to_zip(out / CODE_FILE)
    target = out / TEMPLATE_FILE
    template = finish(yaml.safe_load(target.read_text()), allowed_policy_arns(stage))
    target.write_text(_dump(template))
    (out / TABLE_IMPORT_FILE).write_text(_dump(table_import_template(template)))
    # Only the definitions deploy; the convention checker beside them is a development tool.
    shutil.copytree(ROOT / "statemachine", out / "statemachine", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def _dump(template: dict[str, Any]) -> str:
    return str(yaml.safe_dump(template, sort_keys=False, width=120))


def allowed_policy_arns(stage: str, config_file: Path = CHALICE_CONFIG) -> tuple[str, ...]:
    """The stage's EKSPRESS_ALLOWED_POLICY_ARNS (.chalice/config.json), the same value its functions read."""
    from chalice.config import Config

    with config_file.open() as f:
        config = Config(chalice_stage=stage, config_from_disk=json.load(f))
    value = str(config.environment_variables.get(settings.ENV_ALLOWED_POLICY_ARNS, ""))
    return tuple(arn.strip() for arn in value.split(",") if arn.strip())


def finish(template: dict[str, Any], policy_arns: tuple[str, ...] = ()) -> dict[str, Any]:
    """The merged template with the stack role's policy and a log group for every function.

    Each function logs to a group the template declares (LoggingConfig), so the group exists, with
    its retention, before the function does, and Lambda never makes one of its own.
    """
    resources = template["Resources"]
    resources[STACK_ROLE]["Properties"]["Policies"] = [
        {"PolicyName": STACK_ROLE_POLICY, "PolicyDocument": policies.stack_role_document(policy_arns)}
    ]
    for logical_id, resource in list(resources.items()):
        if resource.get("Type") not in FUNCTION_TYPES:
            continue
        group = f"{logical_id}{LOG_GROUP_SUFFIX}"
        if group in resources:
            raise ValueError(f"{group} is already in the template: a function's log group needs that name")
        resources[group] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": {"Fn::Sub": f"{policies.FUNCTION_LOGS}/{logical_id}"},
                "RetentionInDays": LOG_RETENTION_DAYS,
            },
        }
        resource["Properties"]["LoggingConfig"] = {"LogGroup": {"Ref": group}}
    return template


def table_import_template(template: dict[str, Any]) -> dict[str, Any]:
    """The table alone, as `template` declares it: what a stack adopting a retained table is created from."""
    table = template["Resources"][TABLE]
    conditions = template.get("Conditions") or {}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "ekspress - the cluster table alone, to import a retained one (infra/README.md)",
        "Parameters": {TABLE_NAME_PARAMETER: template["Parameters"][TABLE_NAME_PARAMETER]},
        "Conditions": {name: conditions[name] for name in _conditions_of(table)},
        "Resources": {TABLE: table},
    }


def _conditions_of(value: Any) -> list[str]:
    """The conditions `value` names in Fn::If."""
    if isinstance(value, list):
        return [name for item in value for name in _conditions_of(item)]
    if not isinstance(value, dict):
        return []
    found = [value["Fn::If"][0]] if "Fn::If" in value else []
    return found + [name for item in value.values() for name in _conditions_of(item)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    args = parser.parse_args(argv)
    template = package(args.stage, args.out)
    print(f"packaged stage {args.stage}: {template.relative_to(ROOT) if template.is_relative_to(ROOT) else template}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
