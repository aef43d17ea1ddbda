"""The local engine's CloudFormation puts "CloudFormation Stack Status Change" events on EventBridge.

moto's CloudFormation sends none; local/stack_events.py sends one per stack-level status, with
the operation's ClientRequestToken, and moto's EventBridge delivers them through a rule that
matches our stacks by `detail.stack-id` prefix to an SQS queue, as on AWS.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from local import stack_events, stack_timing

if TYPE_CHECKING:
    from collections.abc import Iterator

REGION = "us-west-2"
ACCOUNT = "123456789012"
TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
TEMPLATE_2 = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}, "Other": {"Type": "AWS::SNS::Topic"}}})


@pytest.fixture
def queue() -> Iterator[str]:
    stack_events.install()
    events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="stack-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": [stack_events.SOURCE],
        "detail-type": [stack_events.DETAIL_TYPE],
        "detail": {"stack-id": [{"prefix": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/eksctl-"}]},
    }
    events.put_rule(Name="stacks", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="stacks", Targets=[{"Id": "queue", "Arn": arn}])
    yield url
    stack_events.uninstall()


def received(url: str) -> list[dict[str, Any]]:
    stack_events.wait_idle()
    sqs = boto3.client("sqs", region_name=REGION)
    out: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def statuses(events: list[dict[str, Any]]) -> list[str]:
    return [e["detail"]["status-details"]["status"] for e in events]


def test_create_update_delete_each_status_is_an_event_in_order(queue: str) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    stack_id = cfn.create_stack(StackName="eksctl-a-cluster", TemplateBody=TEMPLATE, ClientRequestToken="create-1")[
        "StackId"
    ]
    created = received(queue)
    assert statuses(created) == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    event = created[-1]
    assert event["source"] == "aws.cloudformation"
    assert event["detail-type"] == "CloudFormation Stack Status Change"
    assert event["resources"] == [stack_id]
    assert event["region"] == REGION
    assert event["time"]
    assert event["detail"] == {
        "stack-id": stack_id,
        "status-details": {"status": "CREATE_COMPLETE", "status-reason": ""},
        "client-request-token": "create-1",
    }

    cfn.update_stack(StackName=stack_id, TemplateBody=TEMPLATE_2, ClientRequestToken="update-1")
    updated = received(queue)
    assert statuses(updated) == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]
    assert {e["detail"]["client-request-token"] for e in updated} == {"update-1"}

    cfn.delete_stack(StackName=stack_id, ClientRequestToken="delete-1")
    deleted = received(queue)
    assert statuses(deleted) == ["DELETE_IN_PROGRESS", "DELETE_COMPLETE"]
    assert {e["detail"]["client-request-token"] for e in deleted} == {"delete-1"}
    assert received(queue) == []  # each status once


def test_a_timed_stack_sends_its_completion_when_its_time_comes_without_anyone_describing_it(queue: str) -> None:
    stack_timing.behaviour.cluster_seconds = 0.3
    try:
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(StackName="eksctl-b-cluster", TemplateBody=TEMPLATE, ClientRequestToken="t")
        assert statuses(received(queue)) == ["CREATE_IN_PROGRESS"]  # not moto's instant completion
        time.sleep(0.4)
        assert statuses(received(queue)) == ["CREATE_COMPLETE"]
    finally:
        stack_timing.behaviour.cluster_seconds = 0.0


def test_a_failed_stack_sends_its_rollback_with_the_reason(queue: str) -> None:
    stack_timing.behaviour.fail("eksctl-c-*", "Topic", "boom")
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName="eksctl-c-cluster", TemplateBody=TEMPLATE, ClientRequestToken="t")
    events = received(queue)
    assert statuses(events) == ["CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"]
    assert "[Topic]" in events[1]["detail"]["status-details"]["status-reason"]


def test_other_stacks_events_do_not_match_the_rule(queue: str) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName="someone-else", TemplateBody=TEMPLATE)
    assert received(queue) == []


def test_the_pump_thread_delivers_without_being_asked(queue: str) -> None:
    stack_events.start(interval=0.02)
    try:
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName="eksctl-d-cluster", TemplateBody=TEMPLATE
        )
        sqs = boto3.client("sqs", region_name=REGION)
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
        assert messages
        assert json.loads(messages[0]["Body"])["detail"]["client-request-token"] == ""  # none given
    finally:
        stack_events.stop()


def test_each_operations_events_carry_its_own_token_even_when_sent_after_the_next_began(queue: str) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    stack_id = cfn.create_stack(StackName="eksctl-e-cluster", TemplateBody=TEMPLATE, ClientRequestToken="create-1")[
        "StackId"
    ]
    # No look at the stack in between: the create's events are still to be sent when the update comes.
    cfn.update_stack(StackName=stack_id, TemplateBody=TEMPLATE_2, ClientRequestToken="update-1")

    tokens = [(e["detail"]["status-details"]["status"], e["detail"]["client-request-token"]) for e in received(queue)]

    assert tokens == [
        ("CREATE_IN_PROGRESS", "create-1"),
        ("CREATE_COMPLETE", "create-1"),
        ("UPDATE_IN_PROGRESS", "update-1"),
        ("UPDATE_COMPLETE", "update-1"),
    ]


def test_a_scheduled_rule_takes_no_stack_events(queue: str) -> None:
    """The reaper's schedule (a rule with a Lambda target and no pattern) must not see CloudFormation's events."""
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="reaper", ScheduleExpression="rate(60 minutes)")
    events.put_targets(
        Rule="reaper", Targets=[{"Id": "fn", "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:reaper"}]
    )

    boto3.client("cloudformation", region_name=REGION).create_stack(StackName="eksctl-f-cluster", TemplateBody=TEMPLATE)

    assert statuses(received(queue)) == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
