"""Tasks `mark_cluster_active` and `record_failure`: what the record says at the end."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from chalicelib.aws import store
from chalicelib.model import steps
from chalicelib.model.errors import ConflictError
from chalicelib.model.settings import get_settings
from chalicelib.operations import create
from tests.functional.helpers import given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from chalicelib.aws.store import Store


def test_mark_active_stores_how_to_reach_the_cluster(db: Store) -> None:
    record = given_a_requested_cluster(db, {"name": "done"})
    outputs = {
        "Endpoint": "https://x.eks",
        "ARN": "arn:aws:eks:us-west-2:1:cluster/done",
        "CertificateAuthorityData": "Q0E=",
    }

    create.mark_active(
        step_context(db=db, settings=get_settings()),
        steps.ClusterStackDone(name="done", clusterId=record["clusterId"], clusterStack={"outputs": outputs}),
    )

    stored = db.get_cluster("done")
    assert stored["status"] == store.ACTIVE
    assert stored["cluster"] == {"endpoint": "https://x.eks", "arn": outputs["ARN"], "certificateAuthorityData": "Q0E="}
    assert db.list_events("done", record["clusterId"])[-1]["type"] == "ACTIVE"


def test_record_failure_keeps_the_reason_of_a_crashed_task(db: Store) -> None:
    record = given_a_requested_cluster(db, {"name": "crash"})
    cause = json.dumps({"errorType": "AccessDenied", "errorMessage": "not allowed to cloudformation:CreateStack"})

    result = create.record_failure(
        step_context(db=db),
        steps.FailedStep(name="crash", clusterId=record["clusterId"], error={"Error": "AccessDenied", "Cause": cause}),
    )

    stored = db.get_cluster("crash")
    assert stored["status"] == store.FAILED == result["status"]
    assert stored["failure"] == {"error": "AccessDenied", "reason": "not allowed to cloudformation:CreateStack"}
    event = db.list_events("crash", record["clusterId"])[-1]
    assert (event["type"], event["message"]) == ("FAILED", "not allowed to cloudformation:CreateStack")


def test_mark_active_retried_after_its_reply_was_lost_is_done_not_a_conflict(db: Store) -> None:
    record = given_a_requested_cluster(db, {"name": "twice"})
    create.mark_active(
        step_context(db=db, settings=get_settings()),
        steps.ClusterStackDone(
            name="twice", clusterId=record["clusterId"], clusterStack={"outputs": {"Endpoint": "https://x.eks"}}
        ),
    )

    again = create.mark_active(
        step_context(db=db, settings=get_settings()),
        steps.ClusterStackDone(
            name="twice", clusterId=record["clusterId"], clusterStack={"outputs": {"Endpoint": "https://x.eks"}}
        ),
    )

    assert again == {"status": store.ACTIVE}
    assert [e["type"] for e in db.list_events("twice", record["clusterId"])].count("ACTIVE") == 1


def test_mark_active_after_a_delete_took_over_is_still_refused(db: Store) -> None:
    record = given_a_requested_cluster(db, {"name": "taken-over"})
    db.begin_operation("taken-over", {"type": "delete", "id": "op-1"}, {"status": store.DELETING}, ("create",))

    with pytest.raises(ConflictError):
        create.mark_active(
            step_context(db=db, settings=get_settings()),
            steps.ClusterStackDone(name="taken-over", clusterId=record["clusterId"], clusterStack={"outputs": {}}),
        )

    assert db.get_cluster("taken-over")["status"] == store.DELETING


def test_record_failure_retried_after_its_reply_was_lost_keeps_the_first_failure(db: Store) -> None:
    record = given_a_requested_cluster(db, {"name": "failed-twice"})
    error = {"Error": "StackFailed", "Cause": json.dumps({"reason": "no capacity", "stackName": "s"})}
    create.record_failure(
        step_context(db=db), steps.FailedStep(name="failed-twice", clusterId=record["clusterId"], error=error)
    )

    again = create.record_failure(
        step_context(db=db), steps.FailedStep(name="failed-twice", clusterId=record["clusterId"], error=error)
    )

    assert again == {"status": store.FAILED, "failure": {"error": "StackFailed", "reason": "no capacity", "stack": "s"}}
    assert [e["type"] for e in db.list_events("failed-twice", record["clusterId"])].count("FAILED") == 1
