"""CloudFormation's stack status events: reading them, and the handler's SQS batch contract (no AWS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.handlers import stack_events as handler
from chalicelib.operations import stack_events

DATA = Path(__file__).resolve().parent.parent / "data" / "stack_events"


def recorded(name: str) -> dict[str, Any]:
    return dict(json.loads((DATA / f"{name}.json").read_text()))


def test_a_recorded_event_reads_as_its_stack_status_and_request() -> None:
    change = stack_events.parse(recorded("create_complete"))

    assert change == stack_events.StackEvent(
        stack_id="arn:aws:cloudformation:us-west-2:123456789012:stack/eksctl-demo-cluster/3f1c9a40-cebe-11f0-9c1a-0a5d3e5b7f21",
        stack_name="eksctl-demo-cluster",
        region="us-west-2",
        status="CREATE_COMPLETE",
        reason="",
        request_token="ekspress-0b4c1d2e-create-cluster-stack",
    )


def test_an_operation_requested_without_a_token_reads_as_the_empty_token() -> None:
    change = stack_events.parse(recorded("update_without_token"))

    assert change is not None
    assert (change.region, change.status, change.request_token) == ("eu-west-1", "UPDATE_COMPLETE", "")


@pytest.mark.parametrize(
    "change",
    [
        {"source": "aws.ec2"},
        {"detail-type": "CloudFormation Resource Status Change"},
        {"detail": {"stack-id": "not-an-arn", "status-details": {"status": "CREATE_COMPLETE"}}},
        {"detail": {"stack-id": "arn:aws:cloudformation:us-west-2:1:stackset/x/y", "status-details": {}}},
        {"detail": {}},
    ],
)
def test_anything_else_is_not_a_stack_event(change: dict[str, Any]) -> None:
    assert stack_events.parse({**recorded("create_complete"), **change}) is None


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("CREATE_IN_PROGRESS", False),
        ("ROLLBACK_IN_PROGRESS", False),
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", False),
        ("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", False),
        ("DELETE_IN_PROGRESS", False),
        ("CREATE_COMPLETE", True),
        ("UPDATE_COMPLETE", True),
        ("ROLLBACK_COMPLETE", True),
        ("UPDATE_ROLLBACK_COMPLETE", True),
        ("CREATE_FAILED", True),
        ("DELETE_COMPLETE", True),
        ("DELETE_FAILED", True),
    ],
)
def test_which_statuses_end_an_operation(status: str, terminal: bool) -> None:
    assert stack_events.is_terminal(status) is terminal


def test_events_that_need_no_answer_touch_no_aws() -> None:
    class NoAws:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"touched {name}")

    ctx: Any = NoAws()
    assert stack_events.handle(ctx, recorded("foreign_stack")) == "foreign"
    assert stack_events.handle(ctx, recorded("rollback_in_progress")) == "in-progress"
    assert stack_events.handle(ctx, {"source": "aws.s3"}) == "not-a-stack-event"


def record(message_id: str, body: Any) -> dict[str, Any]:
    return {"messageId": message_id, "body": body if isinstance(body, str) else json.dumps(body)}


def test_only_the_records_that_failed_are_reported_for_redelivery(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def handle(ctx: Any, event: dict[str, Any]) -> str:
        seen.append(event["id"])
        if event["id"] == "boom":
            raise RuntimeError("DynamoDB unavailable")
        return "succeeded"

    monkeypatch.setattr(stack_events, "handle", handle)
    batch = {
        "Records": [
            record("m1", {"id": "ok"}),
            record("m2", {"id": "boom"}),
            record("m3", "not json"),  # never handled: dropped, not retried forever
            record("m4", {"id": "ok2"}),
        ]
    }

    result = handler.handle_batch(batch, context=lambda: object())  # type: ignore[arg-type,return-value]

    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert seen == ["ok", "boom", "ok2"]


def test_an_empty_batch_builds_no_context() -> None:
    def no_context() -> Any:
        raise AssertionError("context built")

    assert handler.handle_batch({"Records": []}, context=no_context) == {"batchItemFailures": []}
