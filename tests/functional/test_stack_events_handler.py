"""The `stack_events` operation against moto's DynamoDB and CloudFormation; Step Functions recorded.

A step waiting for a stack stores its task token; CloudFormation's events (as local/stack_events.py
sends them, delivered through EventBridge and SQS) make the handler answer it once, with the
stack's outputs or its first failure. Duplicates, late and foreign events change nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.clients import Clients
from chalicelib.model import naming
from chalicelib.model.errors import ConflictError
from chalicelib.model.settings import get_settings
from chalicelib.operations import stack_events
from chalicelib.operations.context import Context
from local import stack_events as cfn_events
from local import stack_timing

if TYPE_CHECKING:
    from collections.abc import Iterator

    from chalicelib.aws.store import Store

REGION = "us-west-2"
ACCOUNT = "123456789012"
TEMPLATE = json.dumps(
    {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
    }
)
TOKEN = "task-token-1"


class RecordingSfn:
    """Step Functions' SendTask* calls, recorded; `refuse` makes them answer with that error code."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse: str | None = None

    def _call(self, name: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((name, kwargs))
        if self.refuse:
            raise ClientError({"Error": {"Code": self.refuse, "Message": "no"}}, name)
        return {}

    def send_task_success(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("success", **kwargs)

    def send_task_failure(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("failure", **kwargs)


class StepContext(Context):
    def __init__(self, db: Store, sfn: RecordingSfn) -> None:
        super().__init__(Clients(REGION), get_settings(), store=db)
        self._sfn = sfn

    @property
    def sfn(self) -> Any:
        return self._sfn


@pytest.fixture
def sfn() -> RecordingSfn:
    return RecordingSfn()


@pytest.fixture
def ctx(db: Store, sfn: RecordingSfn) -> StepContext:
    return StepContext(db, sfn)


@pytest.fixture
def queue() -> Iterator[str]:
    """The rule and queue infra/template.yaml deploys, in moto: what the handler's events arrive through."""
    cfn_events.install()
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
    cfn_events.uninstall()


def delivered(url: str) -> list[dict[str, Any]]:
    cfn_events.wait_idle()
    sqs = boto3.client("sqs", region_name=REGION)
    out: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def create(name: str, request_token: str, ours: bool = True) -> str:
    tags = naming.ownership_tags("demo", "cid-1") if ours else {"team": "data"}
    return str(
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName=name,
            TemplateBody=TEMPLATE,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            ClientRequestToken=request_token,
        )["StackId"]
    )


def waiting(db: Store, stack: str, request: str, token: str = TOKEN) -> None:
    db.store_stack_token(stack, request, token, ttl_seconds=3600, now_epoch=1_000)


def answers(ctx: Context, events: list[dict[str, Any]]) -> list[str]:
    return [stack_events.handle(ctx, event) for event in events]


def test_a_created_stack_answers_the_waiting_step_with_its_outputs(
    ctx: StepContext, db: Store, sfn: RecordingSfn, queue: str
) -> None:
    waiting(db, "eksctl-demo-cluster", "req-1")
    stack_id = create("eksctl-demo-cluster", "req-1")

    assert answers(ctx, delivered(queue)) == ["in-progress", "succeeded"]

    [(call, kwargs)] = sfn.calls
    output = json.loads(kwargs["output"])
    assert (call, kwargs["taskToken"]) == ("success", TOKEN)
    assert (output["stackId"], output["status"], output["done"], output["failed"]) == (
        stack_id,
        "CREATE_COMPLETE",
        True,
        False,
    )
    assert output["outputs"]["TopicArn"].startswith("arn:aws:sns:")
    assert db.stack_token("eksctl-demo-cluster", "req-1") is None


def test_a_failed_stack_fails_the_step_with_the_first_failed_resource(
    ctx: StepContext, db: Store, sfn: RecordingSfn, queue: str
) -> None:
    stack_timing.behaviour.fail("eksctl-demo-cluster", "Topic", "Topic limit exceeded")
    waiting(db, "eksctl-demo-cluster", "req-1")
    create("eksctl-demo-cluster", "req-1")

    assert answers(ctx, delivered(queue)) == ["in-progress", "in-progress", "failed"]

    [(call, kwargs)] = sfn.calls
    cause = json.loads(kwargs["cause"])
    assert (call, kwargs["error"]) == ("failure", "StackFailed")
    assert (cause["status"], cause["failed"]) == ("ROLLBACK_COMPLETE", True)
    assert (cause["failedResource"], cause["reason"]) == ("Topic", "Topic limit exceeded")


def test_a_duplicate_event_answers_nothing_more(ctx: StepContext, db: Store, sfn: RecordingSfn, queue: str) -> None:
    waiting(db, "eksctl-demo-cluster", "req-1")
    create("eksctl-demo-cluster", "req-1")
    events = delivered(queue)

    assert answers(ctx, [*events, events[-1]]) == ["in-progress", "succeeded", "no-waiter"]
    assert len(sfn.calls) == 1


def test_an_in_progress_event_after_the_terminal_one_changes_nothing(
    ctx: StepContext, db: Store, sfn: RecordingSfn, queue: str
) -> None:
    waiting(db, "eksctl-demo-cluster", "req-1")
    create("eksctl-demo-cluster", "req-1")
    events = delivered(queue)

    assert answers(ctx, list(reversed(events))) == ["succeeded", "in-progress"]
    assert len(sfn.calls) == 1


def test_an_event_of_another_operation_on_the_stack_does_not_answer_this_one(
    ctx: StepContext, db: Store, sfn: RecordingSfn, queue: str
) -> None:
    create("eksctl-demo-cluster", "req-1")
    events = delivered(queue)
    waiting(db, "eksctl-demo-cluster", "req-2")  # the step waits for a later operation

    assert answers(ctx, events) == ["in-progress", "no-waiter"]
    assert sfn.calls == []
    assert db.stack_token("eksctl-demo-cluster", "req-2") == TOKEN


def test_an_eksctl_stack_that_is_not_ours_is_ignored_even_with_a_token_under_its_name(
    ctx: StepContext, db: Store, sfn: RecordingSfn, queue: str
) -> None:
    waiting(db, "eksctl-theirs-cluster", "req-1")
    create("eksctl-theirs-cluster", "req-1", ours=False)

    assert answers(ctx, delivered(queue)) == ["in-progress", "foreign"]
    assert sfn.calls == []


def test_a_stack_not_named_eksctl_is_ignored_before_any_lookup(
    ctx: StepContext, db: Store, sfn: RecordingSfn, queue: str
) -> None:
    stack_id = create("billing", "req-1")
    waiting(db, "billing", "req-1")
    event = {
        "source": "aws.cloudformation",
        "detail-type": "CloudFormation Stack Status Change",
        "region": REGION,
        "detail": {
            "stack-id": stack_id,
            "status-details": {"status": "CREATE_COMPLETE"},
            "client-request-token": "req-1",
        },
    }

    assert delivered(queue) == []  # the rule never delivers it
    assert stack_events.handle(ctx, event) == "foreign"  # nor would the handler act on it
    assert sfn.calls == []


@pytest.mark.parametrize("code", sorted(stack_events.STALE_TOKEN_ERRORS))
def test_a_token_step_functions_no_longer_takes_is_not_an_error(
    ctx: StepContext, db: Store, sfn: RecordingSfn, queue: str, code: str
) -> None:
    waiting(db, "eksctl-demo-cluster", "req-1")
    create("eksctl-demo-cluster", "req-1")
    sfn.refuse = code

    assert answers(ctx, delivered(queue)) == ["in-progress", "stale-token"]
    assert db.stack_token("eksctl-demo-cluster", "req-1") is None


def test_any_other_refusal_keeps_the_token_for_the_redelivery(
    ctx: StepContext, db: Store, sfn: RecordingSfn, queue: str
) -> None:
    waiting(db, "eksctl-demo-cluster", "req-1")
    create("eksctl-demo-cluster", "req-1")
    events = delivered(queue)
    sfn.refuse = "ThrottlingException"

    with pytest.raises(ClientError):
        answers(ctx, events)
    assert db.stack_token("eksctl-demo-cluster", "req-1") == TOKEN

    sfn.refuse = None
    assert answers(ctx, events[-1:]) == ["succeeded"]


def test_a_second_waiter_for_the_same_operation_is_refused(db: Store) -> None:
    waiting(db, "eksctl-demo-cluster", "req-1")
    waiting(db, "eksctl-demo-cluster", "req-1")  # the same step again (a retry) is fine

    with pytest.raises(ConflictError):
        waiting(db, "eksctl-demo-cluster", "req-1", token="another-execution")
    assert db.stack_token("eksctl-demo-cluster", "req-1") == TOKEN


def test_taking_a_token_that_was_replaced_takes_nothing(db: Store) -> None:
    waiting(db, "eksctl-demo-cluster", "req-1")

    assert db.take_stack_token("eksctl-demo-cluster", "req-1", "an-older-token") is None
    assert db.take_stack_token("eksctl-demo-cluster", "req-1", TOKEN) == TOKEN
    assert db.take_stack_token("eksctl-demo-cluster", "req-1") is None


def test_a_stale_event_for_a_stack_now_busy_with_another_operation_answers_nothing(
    ctx: StepContext, db: Store, sfn: RecordingSfn, queue: str
) -> None:
    stack_timing.behaviour.hang("eksctl-demo-cluster")
    stack_id = create("eksctl-demo-cluster", "req-1")
    waiting(db, "eksctl-demo-cluster", "req-1")
    late = {
        "source": "aws.cloudformation",
        "detail-type": "CloudFormation Stack Status Change",
        "region": REGION,
        "detail": {
            "stack-id": stack_id,
            "status-details": {"status": "CREATE_COMPLETE"},
            "client-request-token": "req-1",
        },
    }

    assert stack_events.handle(ctx, late) == "stale"
    assert sfn.calls == []
    assert db.stack_token("eksctl-demo-cluster", "req-1") == TOKEN


def test_a_retry_of_the_same_execution_replaces_its_token_and_another_execution_may_not(db: Store) -> None:
    db.store_stack_token("eksctl-demo-cluster", "req-1", "attempt-1", ttl_seconds=60, now_epoch=0, execution="exec-a")
    db.store_stack_token("eksctl-demo-cluster", "req-1", "attempt-2", ttl_seconds=60, now_epoch=0, execution="exec-a")

    assert db.stack_token("eksctl-demo-cluster", "req-1") == "attempt-2"
    with pytest.raises(ConflictError):
        db.store_stack_token("eksctl-demo-cluster", "req-1", "other", ttl_seconds=60, now_epoch=0, execution="exec-b")
    assert db.stack_token("eksctl-demo-cluster", "req-1") == "attempt-2"


def _record(db: Store, name: str) -> str:
    cluster_id = "cid-1"
    db.create_cluster(
        {"name": name, "clusterId": cluster_id, "status": "CREATING", "region": REGION, "owner": "o", "stacks": {}}
    )
    return cluster_id


def test_a_waiters_stack_end_is_recorded_as_its_describe_step_would(
    ctx: StepContext, db: Store, sfn: RecordingSfn, queue: str
) -> None:
    cluster_id = _record(db, "demo")
    waiter = {"name": "demo", "clusterId": cluster_id, "operation": "create", "stack": {"kind": "cluster"}}
    db.store_stack_token("eksctl-demo-cluster", "req-1", TOKEN, ttl_seconds=3600, now_epoch=1_000, waiter=waiter)
    stack_id = create("eksctl-demo-cluster", "req-1")

    assert answers(ctx, delivered(queue)) == ["in-progress", "succeeded"]

    record = db.get_cluster("demo")
    assert record["stacks"]["eksctl-demo-cluster"] == {
        "kind": "cluster",
        "stackId": stack_id,
        "status": "CREATE_COMPLETE",
    }
    assert [e["type"] for e in db.list_events("demo", cluster_id)][-1] == "STACK_CREATE_COMPLETE"
    # The answer carries what the step knew of its stack, as the describe step's does.
    [(_, kwargs)] = sfn.calls
    assert json.loads(kwargs["output"])["kind"] == "cluster"


def test_a_waiter_that_takes_failures_as_answers_gets_the_failed_stack_not_a_failure(
    ctx: StepContext, db: Store, sfn: RecordingSfn, queue: str
) -> None:
    stack_timing.behaviour.fail("eksctl-demo-cluster", "Topic", "Topic limit exceeded")
    cluster_id = _record(db, "demo")
    waiter = {"name": "demo", "clusterId": cluster_id, "stack": {"kind": "cluster"}, "answerFailures": True}
    db.store_stack_token("eksctl-demo-cluster", "req-1", TOKEN, ttl_seconds=3600, now_epoch=1_000, waiter=waiter)
    create("eksctl-demo-cluster", "req-1")

    assert answers(ctx, delivered(queue))[-1] == "answered"

    [(call, kwargs)] = sfn.calls
    output = json.loads(kwargs["output"])
    assert call == "success"
    assert (output["failed"], output["failedResource"], output["reason"]) == (True, "Topic", "Topic limit exceeded")
    assert db.get_cluster("demo")["stacks"]["eksctl-demo-cluster"]["status"] == "ROLLBACK_COMPLETE"
