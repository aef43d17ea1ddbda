"""The local engine's stand-in for Lambda's SQS event source mapping, and the delivery it deploys.

`QueuePoller` does what Lambda does for the stack-events queue: a batch per invocation, the records
the function took deleted, those it reports in `batchItemFailures` (or all, when it failed) left to
come back, and to go to the dead-letter queue after the queue's maxReceiveCount. `deploy` makes the
rule, queues and mapping infra/template.yaml declares.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import yaml

from local import stack_events
from tests.cfn_lint import cfn_lint

REGION = "us-west-2"
ACCOUNT = "123456789012"
ROOT = Path(__file__).resolve().parent.parent.parent


class FakeLambda:
    """Lambda's Invoke and ListEventSourceMappings; `answer` decides each batch's outcome."""

    def __init__(self, queue_arn: str, answer: Any) -> None:
        self.queue_arn, self.answer = queue_arn, answer
        self.batches: list[list[str]] = []

    def list_event_source_mappings(self, EventSourceArn: str) -> dict[str, Any]:
        assert EventSourceArn == self.queue_arn
        return {
            "EventSourceMappings": [
                {
                    "FunctionArn": "arn:aws:lambda:us-west-2:123456789012:function:stack_events",
                    "BatchSize": 10,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "State": "Enabled",
                }
            ]
        }

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        records = json.loads(Payload)["Records"]
        assert {r["eventSource"] for r in records} == {"aws:sqs"}
        self.batches.append([json.loads(r["body"])["n"] for r in records])
        result, error = self.answer(records)
        response: dict[str, Any] = {"Payload": io.BytesIO(json.dumps(result).encode())}
        if error:
            response["FunctionError"] = "Unhandled"
        return response


def queue(visibility: int = 0, max_receive: int = 2) -> tuple[str, str, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="events",
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for n in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    return url, arn, dlq


def poller(url: str, lam: FakeLambda) -> stack_events.QueuePoller:
    def client(service: str) -> Any:
        return lam if service == "lambda" else boto3.client(service, region_name=REGION)

    return stack_events.QueuePoller(client, url, wait_seconds=0)


def left(url: str) -> int:
    attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_only_the_records_the_function_reports_come_back() -> None:
    url, arn, _ = queue()

    def answer(records: list[dict[str, Any]]) -> tuple[Any, bool]:
        failed = [r["messageId"] for r in records if json.loads(r["body"])["n"] == "b"]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}, False

    lam = FakeLambda(arn, answer)
    mapping = poller(url, lam)

    assert mapping.poll_once() == 3
    assert left(url) == 1
    assert mapping.poll_once() == 1
    assert lam.batches == [["a", "b", "c"], ["b"]]


def test_a_failed_invocation_leaves_the_whole_batch_and_the_dead_letter_queue_gets_it_in_the_end() -> None:
    url, arn, dlq = queue(max_receive=2)
    lam = FakeLambda(arn, lambda records: ({"errorMessage": "boom"}, True))
    mapping = poller(url, lam)

    for _ in range(4):
        mapping.poll_once()

    assert left(url) == 0
    assert left(dlq) == 3
    assert len(lam.batches) == 2  # received twice, then moved


def test_the_engine_deploys_the_rule_queues_and_mapping_the_template_declares() -> None:
    template = yaml.safe_load((ROOT / "infra" / "template.yaml").read_text())["Resources"]
    queue_props = template["StackEventsQueue"]["Properties"]
    dlq_props = template["StackEventsDeadLetterQueue"]["Properties"]
    mapping_props = template["StackEventsMapping"]["Properties"]
    pattern = template["StackEventsRule"]["Properties"]["EventPattern"]

    assert queue_props["QueueName"] == {"Fn::Sub": "${AWS::StackName}" + stack_events.QUEUE_SUFFIX}
    assert dlq_props["QueueName"] == {"Fn::Sub": "${AWS::StackName}" + stack_events.DLQ_SUFFIX}
    assert queue_props["VisibilityTimeout"] == stack_events.VISIBILITY_TIMEOUT
    assert queue_props["MessageRetentionPeriod"] == stack_events.RETENTION_SECONDS
    assert dlq_props["MessageRetentionPeriod"] == stack_events.DLQ_RETENTION_SECONDS
    assert queue_props["RedrivePolicy"]["maxReceiveCount"] == stack_events.MAX_RECEIVE_COUNT
    assert mapping_props["BatchSize"] == stack_events.BATCH_SIZE
    assert mapping_props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    wildcard = pattern["detail"]["stack-id"][0]["wildcard"]["Fn::Sub"]
    expected = stack_events.event_pattern("${AWS::Partition}", "${AWS::Region}", "${AWS::AccountId}")
    assert {**pattern, "detail": {"stack-id": [{"wildcard": wildcard}]}} == expected

    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName="ekspress-local-stack_events",
        Runtime="python3.12",
        Role=f"arn:aws:iam::{ACCOUNT}:role/r",
        Handler="chalicelib.handlers.stack_events.stack_events",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    url = stack_events.deploy(client, "ekspress-local", "ekspress-local-stack_events", REGION, ACCOUNT)

    sqs = client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == str(stack_events.VISIBILITY_TIMEOUT)
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith(":ekspress-local-stack-events-dlq")
    rule = client("events").describe_rule(Name="ekspress-local-stack-events")
    assert json.loads(rule["EventPattern"]) == stack_events.event_pattern("aws", REGION, ACCOUNT)
    [target] = client("events").list_targets_by_rule(Rule="ekspress-local-stack-events")["Targets"]
    assert target["Arn"] == attributes["QueueArn"]
    [mapping] = client("lambda").list_event_source_mappings(EventSourceArn=attributes["QueueArn"])[
        "EventSourceMappings"
    ]
    assert mapping["FunctionArn"].endswith(":function:ekspress-local-stack_events")


def test_the_forwarder_template_is_the_rule_the_engine_puts_in_each_other_region() -> None:
    template = yaml.safe_load((ROOT / "infra" / "stack-events-forwarder.yaml").read_text())["Resources"]
    rule = template["ForwardRule"]["Properties"]
    pattern = rule["EventPattern"]
    prefix = pattern["detail"]["stack-id"][0]["prefix"]["Fn::Sub"]
    expected = stack_events.forward_pattern("${AWS::Partition}", "${AWS::Region}", "${AWS::AccountId}")

    assert {**pattern, "detail": {"stack-id": [{"prefix": prefix}]}} == expected
    assert rule["Targets"][0]["Arn"] == {"Ref": "HomeEventBusArn"}


def test_the_forwarder_template_lints_clean() -> None:
    template = yaml.safe_load((ROOT / "infra" / "stack-events-forwarder.yaml").read_text())

    assert cfn_lint(template, REGION) == []
