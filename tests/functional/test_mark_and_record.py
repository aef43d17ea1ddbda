"""Tasks `mark_cluster_active` and `record_failure`: what the record says at the end."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from chalicelib import clusters, store
from chalicelib.settings import get_settings
from tests.functional.helpers import given_a_requested_cluster

if TYPE_CHECKING:
    from chalicelib.store import Store


def test_mark_active_stores_how_to_reach_the_cluster(db: Store) -> None:
    record = given_a_requested_cluster(db, {"name": "done"})
    outputs = {
        "Endpoint": "https://x.eks",
        "ARN": "arn:aws:eks:us-west-2:1:cluster/done",
        "CertificateAuthorityData": "Q0E=",
    }

    clusters.mark_active(db, get_settings(), "done", record["clusterId"], outputs)

    stored = db.get_cluster("done")
    assert stored["status"] == store.ACTIVE
    assert stored["cluster"] == {"endpoint": "https://x.eks", "arn": outputs["ARN"], "certificateAuthorityData": "Q0E="}
    assert db.list_events("done", record["clusterId"])[-1]["type"] == "ACTIVE"


def test_record_failure_keeps_the_reason_of_a_crashed_task(db: Store) -> None:
    record = given_a_requested_cluster(db, {"name": "crash"})
    cause = json.dumps({"errorType": "AccessDenied", "errorMessage": "not allowed to cloudformation:CreateStack"})

    result = clusters.record_failure(db, "crash", record["clusterId"], {"Error": "AccessDenied", "Cause": cause})

    stored = db.get_cluster("crash")
    assert stored["status"] == store.FAILED == result["status"]
    assert stored["failure"] == {"error": "AccessDenied", "reason": "not allowed to cloudformation:CreateStack"}
    event = db.list_events("crash", record["clusterId"])[-1]
    assert (event["type"], event["message"]) == ("FAILED", "not allowed to cloudformation:CreateStack")
