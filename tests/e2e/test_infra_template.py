"""The deployable template (`make package`): what the stack role trusts, where alarms and logs go, the
answers API Gateway gives itself, and a stage that can be deployed again after it was deleted.

The template is read as packaged; the last tests deploy it into the local engine as `make deploy`
would (tests/e2e/test_deployment.py drives the deployment itself).
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from infra import package, policies
from local import sam
from local.engine import STAGE as ENGINE_STAGE
from local.engine import LocalEngine
from local.run import MISSING_ROUTE_MESSAGE
from tests.e2e.local_package import build_copy

if TYPE_CHECKING:
    from collections.abc import Iterator

REGION = "us-west-2"
STAGE = "local"


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's `make package` build for the local stage (tests/e2e/local_package.py)."""
    assert STAGE == ENGINE_STAGE
    return build_copy(tmp_path_factory)


@pytest.fixture(scope="module")
def template(build: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((build / package.TEMPLATE_FILE).read_text()))


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """After the SAM transform, as CloudFormation runs it."""
    packaged = json.loads(json.dumps(template))
    for resource in packaged["Resources"].values():
        props = resource.get("Properties", {})
        if "CodeUri" in props:
            props["CodeUri"] = "s3://artifacts/deployment.zip"
        if "DefinitionUri" in props:
            props["DefinitionUri"] = {"Bucket": "artifacts", "Key": props["DefinitionUri"]}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        return sam.transform(packaged)


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def referenced(template: dict[str, Any], value: Any) -> tuple[str, dict[str, Any]]:
    """The resource a `Ref` or `Fn::GetAtt` names."""
    name = value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]
    return name, template["Resources"][name]


# --- the stack role ------------------------------------------------------------------------------------


def test_the_stack_role_holds_the_policy_infra_policies_writes(template: dict[str, Any]) -> None:
    role = template["Resources"][package.STACK_ROLE]["Properties"]
    assert role["Policies"] == [
        {
            "PolicyName": package.STACK_ROLE_POLICY,
            "PolicyDocument": policies.stack_role_document(package.allowed_policy_arns(STAGE)),
        }
    ]


def test_the_stack_role_trust_holds_whether_or_not_cloudformation_sends_the_source_account(
    template: dict[str, Any],
) -> None:
    """CloudFormation's service-role page names the principal only; aws:SourceAccount may not be sent."""
    (statement,) = template["Resources"][package.STACK_ROLE]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudformation.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    for operator, keys in statement.get("Condition", {}).items():
        for key in keys:
            # A key only some requests carry may be compared only when it is there.
            if key.lower().startswith(("aws:source", "aws:calledvia")):
                assert operator.endswith("IfExists"), f"{operator} {key} refuses a request without the key"


# --- alarms reach someone --------------------------------------------------------------------------------


def test_cloudwatch_may_use_the_key_that_encrypts_the_alarm_topic(template: dict[str, Any]) -> None:
    topics = of_type(template, "AWS::SNS::Topic")
    (topic_id,) = {referenced(template, a)[0] for alarm in of_type(template, "AWS::CloudWatch::Alarm").values()
                   for a in alarm["Properties"]["AlarmActions"]}  # fmt: skip
    topic = topics[topic_id]["Properties"]
    key_ref = topic["KmsMasterKeyId"]
    # An AWS-managed key (alias/aws/sns) has a policy nobody can change, and CloudWatch may not use it.
    assert isinstance(key_ref, dict), f"the topic is encrypted with {key_ref}, whose policy CloudWatch cannot use"
    _, key = referenced(template, key_ref)
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    document = key["Properties"]["KeyPolicy"]
    (cloudwatch,) = [s for s in document["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch["Effect"] == "Allow"
    for needed in ("kms:Decrypt", "kms:GenerateDataKey"):
        assert any(fnmatch.fnmatchcase(needed, granted) for granted in cloudwatch["Action"]), needed
    # Only for this account's alarms, and only for this topic.
    condition = cloudwatch["Condition"]
    assert condition["ArnLike"]["aws:SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
    }
    topic_arn = condition["StringEquals"]["kms:EncryptionContext:aws:sns:topicArn"]["Fn::Sub"]
    assert topic_arn == "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:" + topic["TopicName"]["Fn::Sub"]
    # The account keeps administering the key (a key no one may manage cannot be fixed).
    assert any(
        s["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
        and s["Action"] == "kms:*"
        for s in document["Statement"]
    )


# --- logs with a retention ------------------------------------------------------------------------------


def _retained_group(template: dict[str, Any], value: Any) -> dict[str, Any]:
    name, group = referenced(template, value)
    assert group["Type"] == "AWS::Logs::LogGroup", name
    assert group["Properties"].get("RetentionInDays", 0) > 0, f"{name} keeps logs forever"
    return dict(group)


@pytest.mark.parametrize("stage", ["packaged", "transformed"])
def test_every_function_and_workflow_logs_to_a_declared_group_with_a_retention(
    stage: str, template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    document = template if stage == "packaged" else transformed
    functions = {
        k: r
        for k, r in document["Resources"].items()
        if r["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function")
    }
    assert len(functions) >= len(policies.POLICIES)
    for logical_id, function in functions.items():
        config = function["Properties"].get("LoggingConfig")
        assert config, f"{logical_id} would log to a group Lambda makes, with no retention"
        group = _retained_group(document, config["LogGroup"])
        name = group["Properties"]["LogGroupName"]["Fn::Sub"]
        assert fnmatch.fnmatchcase(f"{name}:log-stream:x", f"{policies.FUNCTION_LOGS}/*"), logical_id
    machines = {
        k: r
        for k, r in document["Resources"].items()
        if r["Type"] in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
    }
    assert len(machines) == 5
    for machine in machines.values():
        logging = machine["Properties"].get("Logging") or machine["Properties"]["LoggingConfiguration"]
        for destination in logging["Destinations"]:
            _retained_group(document, destination["CloudWatchLogsLogGroup"]["LogGroupArn"])
    for logical_id, group in of_type(document, "AWS::Logs::LogGroup").items():
        assert group["Properties"].get("RetentionInDays", 0) > 0, logical_id


# --- what API Gateway answers itself --------------------------------------------------------------------


def render(response_template: str, message: str) -> Any:
    """A gateway response's body as API Gateway writes it ($context.error.messageString is a quoted string)."""
    return json.loads(response_template.replace("$context.error.messageString", json.dumps(message)))


def test_every_answer_api_gateway_gives_itself_is_in_our_error_shape(template: dict[str, Any]) -> None:
    responses = template["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN", "ACCESS_DENIED"} <= set(responses)
    for response_type, response in responses.items():
        body = render(response["ResponseTemplates"]["application/json"], "Forbidden")
        assert set(body) == {"error", "message"}, response_type
        assert isinstance(body["error"], str) and body["error"][0].isupper() and "_" not in body["error"]
        assert isinstance(body["message"], str) and body["message"]
    # A path no route has: the same answer the local server gives (tests/e2e/test_api_errors.py).
    missing = render(responses["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"], "")
    assert missing == {"error": "Forbidden", "message": MISSING_ROUTE_MESSAGE}


# --- deployed into the local engine ------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(build: Path) -> Iterator[LocalEngine]:
    eng = LocalEngine(region=REGION, poll_scale=0.001, package_dir=build).start()
    yield eng
    eng.stop()


def test_the_deployed_api_answers_with_the_templates_gateway_responses(
    engine: LocalEngine, template: dict[str, Any]
) -> None:
    found = engine.client("apigateway").get_gateway_responses(restApiId=engine.outputs["RestAPIId"])["items"]
    declared = template["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    assert {r["responseType"]: r["responseTemplates"] for r in found} == {
        t: r["ResponseTemplates"] for t, r in declared.items()
    }


def _deploy(engine: LocalEngine, build: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    """`aws cloudformation deploy` of the packaged template, as `make deploy` runs it (the engine packaged it)."""
    aws = str(Path(sys.executable).with_name("aws"))
    command = [
        aws, "cloudformation", "deploy", "--template-file", str(build / "packaged.yaml"),
        "--stack-name", engine.stack_name, "--s3-bucket", f"{engine.stack_name}-artifacts",
        "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND",
    ]  # fmt: skip
    if overrides:
        command += ["--parameter-overrides", *overrides]
    return subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), check=False)


def _delete(engine: LocalEngine) -> None:
    cfn = engine.client("cloudformation")
    cfn.delete_stack(StackName=engine.stack_name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=engine.stack_name, WaiterConfig={"Delay": 1})


def test_a_stage_deleted_and_deployed_again_gets_a_table_and_keeps_the_old_one(
    engine: LocalEngine, build: Path
) -> None:
    ddb = engine.client("dynamodb")
    first = engine.outputs["ClustersTableName"]
    ddb.put_item(TableName=first, Item={"pk": {"S": "CLUSTER#kept"}, "sk": {"S": "RECORD"}})

    _delete(engine)
    # Retained, records and all.
    assert ddb.get_item(TableName=first, Key={"pk": {"S": "CLUSTER#kept"}, "sk": {"S": "RECORD"}})["Item"]

    # A table named as before the stack was deleted is the collision that made `make deploy` fail.
    collided = _deploy(engine, build, f"{package.TABLE_NAME_PARAMETER}={first}")
    assert collided.returncode != 0
    assert f"Table already exists: {first}" in collided.stderr
    _delete(engine)

    again = _deploy(engine, build)
    assert again.returncode == 0, again.stderr[-2000:]
    stack = engine.client("cloudformation").describe_stacks(StackName=engine.stack_name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    second = outputs["ClustersTableName"]
    assert second != first
    assert {first, second} <= set(ddb.list_tables()["TableNames"])
