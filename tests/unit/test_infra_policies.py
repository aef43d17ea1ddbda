"""The service's own policies and what `make package` adds to the template: stacks we own, logs we declare.

Pure: infra/policies.py documents and infra/package.py's `finish`, on small templates.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.cfn import kinds, templates
from chalicelib.model import naming, settings
from chalicelib.model.spec import ClusterSpec
from infra import package, policies

if TYPE_CHECKING:
    from collections.abc import Iterator

OWNER = {naming.TAG_OWNER: naming.TAG_OWNER_VALUE}


def statements(function: str) -> list[dict[str, Any]]:
    return list(policies.document(function)["Statement"])


def actions_of(statement: dict[str, Any]) -> list[str]:
    listed = statement["Action"]
    return [listed] if isinstance(listed, str) else list(listed)


def granting(function: str, action: str) -> list[dict[str, Any]]:
    return [s for s in statements(function) if action in actions_of(s)]


# --- stacks eksctl made are out of the service's reach -------------------------------------------------


def test_a_stack_is_created_only_with_our_owner_tag_in_the_request() -> None:
    creators = [fn for fn in policies.POLICIES if granting(fn, "cloudformation:CreateStack")]
    assert {"create_cluster_stack", "create_nodegroup_stack"} <= set(creators)
    for function in creators:
        (statement,) = granting(function, "cloudformation:CreateStack")
        assert actions_of(statement) == ["cloudformation:CreateStack"], function
        assert statement["Condition"] == {"StringEquals": {f"aws:RequestTag/{k}": v for k, v in OWNER.items()}}, (
            function
        )


@pytest.mark.parametrize("action", ["cloudformation:UpdateStack", "cloudformation:DeleteStack"])
def test_a_stack_is_updated_or_deleted_only_while_it_carries_our_owner_tag(action: str) -> None:
    functions = [fn for fn in policies.POLICIES if granting(fn, action)]
    assert functions, action
    for function in functions:
        for statement in granting(function, action):
            assert set(actions_of(statement)) <= {"cloudformation:UpdateStack", "cloudformation:DeleteStack"}
            assert statement["Condition"] == {"StringEquals": {f"aws:ResourceTag/{k}": v for k, v in OWNER.items()}}, (
                function
            )


def test_every_stack_kind_is_created_with_the_tag_the_conditions_ask_for() -> None:
    spec = ClusterSpec.model_validate({"name": "tagged"})
    for kind in kinds.KINDS.values():
        tags = templates.stack_tags(spec, "cid", kind.name, "ng" if kind.per_member else "")
        assert {k: tags.get(k) for k in OWNER} == OWNER, kind.name


def test_reads_of_stacks_need_no_tag() -> None:
    """A stack named like ours that is not ours must still be seen, to be refused (chalicelib/cfn/stacks.py)."""
    for statement in granting("create_cluster_stack", "cloudformation:DescribeStacks"):
        assert "Condition" not in statement


# --- logs ---------------------------------------------------------------------------------------------


def test_functions_write_only_to_the_log_groups_the_template_declares() -> None:
    for function in policies.POLICIES:
        # Reads aside: the API handler looks for a cluster's control plane log group (operations/logging.py).
        logs = [a for s in statements(function) for a in actions_of(s) if a.startswith("logs:")]
        logs = [a for a in logs if not a.startswith("logs:Describe")]
        assert sorted(logs) == ["logs:CreateLogStream", "logs:PutLogEvents"], function
    assert policies.LOGS["Resource"]["Fn::Sub"].endswith(f":log-group:{policies.FUNCTION_LOGS}/*")


def _sam(*functions: str, other: str = "") -> dict[str, Any]:
    resources: dict[str, Any] = {
        "CloudFormationRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
        **{name: {"Type": "AWS::Serverless::Function", "Properties": {"Handler": f"x.{name}"}} for name in functions},
    }
    if other:
        resources[other] = {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "y.z"}}
    return {"Resources": resources}


def test_every_function_gets_a_log_group_with_a_retention_before_it_exists() -> None:
    """Functions added later are covered: the groups come from the function list, whatever it holds."""
    finished = package.finish(_sam("ApiHandler", "SomeTaskAddedLater", other="PlainFunction"))
    resources = finished["Resources"]
    for function in ("ApiHandler", "SomeTaskAddedLater", "PlainFunction"):
        group_ref = resources[function]["Properties"]["LoggingConfig"]["LogGroup"]
        group = resources[group_ref["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == package.LOG_RETENTION_DAYS > 0
        name = group["Properties"]["LogGroupName"]["Fn::Sub"]
        assert name == f"{policies.FUNCTION_LOGS}/{function}"
        # The functions may write there (the policy's resource is the group's ARN pattern).
        assert fnmatch.fnmatchcase(f"log-group:{name}:log-stream:x", f"log-group:{policies.FUNCTION_LOGS}/*")


def test_a_function_whose_group_name_is_taken_is_an_error_not_a_silent_overwrite() -> None:
    template = _sam("Task")
    template["Resources"]["TaskLogGroup"] = {"Type": "AWS::SNS::Topic", "Properties": {}}
    with pytest.raises(ValueError, match="TaskLogGroup"):
        package.finish(template)


def test_the_stack_role_policy_is_written_with_the_stages_allowed_policies() -> None:
    allowed = ("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",)
    finished = package.finish(_sam("Task"), allowed)
    (policy,) = finished["Resources"]["CloudFormationRole"]["Properties"]["Policies"]
    assert policy["PolicyDocument"] == policies.stack_role_document(allowed)
    # IAM's limit on a role's inline policies, whitespace aside.
    assert len(json.dumps(policy["PolicyDocument"], separators=(",", ":"))) < 10_240


def test_the_allowed_policies_are_the_stages_setting(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    arns = "arn:aws:iam::aws:policy/A, arn:aws:iam::123456789012:policy/team-*"
    config.write_text(
        json.dumps(
            {
                "version": "2.0",
                "app_name": "x",
                "stages": {
                    "dev": {"environment_variables": {settings.ENV_ALLOWED_POLICY_ARNS: arns}},
                    "prod": {},
                },
            }
        )
    )
    assert package.allowed_policy_arns("dev", config) == (
        "arn:aws:iam::aws:policy/A",
        "arn:aws:iam::123456789012:policy/team-*",
    )
    assert package.allowed_policy_arns("prod", config) == ()


def test_the_table_import_template_holds_the_table_alone() -> None:
    table = {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "Properties": {"TableName": {"Fn::If": ["Named", {"Ref": "ClustersTableName"}, {"Ref": "AWS::NoValue"}]}},
    }
    template = {
        "Parameters": {"ClustersTableName": {"Type": "String", "Default": ""}, "Other": {"Type": "String"}},
        "Conditions": {"Named": {"Fn::Not": [{}]}, "Unrelated": {}},
        "Resources": {"ClustersTable": table, "Other": {"Type": "AWS::SNS::Topic"}},
    }
    imported = package.table_import_template(template)
    assert imported["Resources"] == {"ClustersTable": table}
    assert imported["Parameters"] == {"ClustersTableName": {"Type": "String", "Default": ""}}
    assert imported["Conditions"] == {"Named": {"Fn::Not": [{}]}}


@pytest.mark.parametrize("function", ["api_handler", "slack_worker", "fill_pools"])
def test_every_function_that_claims_from_a_pool_may_start_what_a_claim_starts(function: str) -> None:
    # A claim (and a waiting claim served by the fill) scales the node group and maps identities through
    # their workflows; the audit of an e2e run sees only `states:StartExecution`, not which machine.
    (statement,) = [s for s in policies.document(function)["Statement"] if s["Action"] == "states:StartExecution"]
    started = {r["Fn::Sub"].rsplit("${AWS::StackName}-", 1)[1] for r in statement["Resource"]}
    assert {"change-nodegroup", "update-access"} <= started


def test_every_function_a_workflow_waits_on_may_answer_that_workflow_itself() -> None:
    # A waiting step's function answers its own token when no event will come (an unchanged update, a
    # skipped stack, a retried step whose stack has ended): SendTaskSuccess on every machine that waits.
    from statemachine.conventions import WAIT_FOR_TOKEN_RESOURCE

    by_placeholder = {"${" + naming.function_arn_placeholder(fn) + "}": fn for fn in policies.POLICIES}
    missing = []
    for path in sorted((Path(__file__).resolve().parents[2] / "statemachine").glob("*.asl.json")):
        machine = path.name.removesuffix(".asl.json").replace("_", "-")
        for state in _states(json.loads(path.read_text())["States"]):
            if state.get("Resource") != WAIT_FOR_TOKEN_RESOURCE:
                continue
            function = by_placeholder[state["Parameters"]["FunctionName"]]
            answers = [s for s in policies.document(function)["Statement"] if s["Action"] == "states:SendTaskSuccess"]
            machines = {r["Fn::Sub"].rsplit("${AWS::StackName}-", 1)[1] for s in answers for r in s["Resource"]}
            if machine not in machines:
                missing.append((function, machine))
    assert missing == []


def _states(states: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for state in states.values():
        if state["Type"] in ("Map", "Parallel"):
            for branch in [state.get("ItemProcessor") or state.get("Iterator") or {}, *state.get("Branches", [])]:
                yield from _states(branch.get("States", {}))
        else:
            yield state
