"""The record model: what the store writes for a new cluster is what the model (and the API document) says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from chalicelib.model.record import ClusterRecord, public
from chalicelib.model.settings import Settings
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import create

SETTINGS = Settings(table_name="clusters", create_state_machine_arn="", poll_scale=1.0)


def test_a_new_record_is_a_cluster_record_with_its_create_running() -> None:
    spec = ClusterSpec.model_validate({"name": "mz-k8s", "managedNodeGroups": [{"name": "ng"}]})
    record = create.new_record(spec, "arn:aws:iam::123456789012:user/alice", SETTINGS, datetime.now(UTC))

    parsed = ClusterRecord.model_validate(record)

    assert (parsed.status, parsed.phase) == ("CREATING", create.PHASE_REQUESTED)
    assert parsed.operation is not None and parsed.operation.id == parsed.clusterId
    assert parsed.spec is not None and parsed.spec["managedNodeGroups"][0]["name"] == "ng"


def test_a_status_the_service_never_writes_is_refused() -> None:
    with pytest.raises(ValidationError, match="status"):
        ClusterRecord.model_validate({"name": "x", "clusterId": "1", "status": "PENDING"})


def test_the_api_never_shows_where_progress_is_delivered() -> None:
    record = {"name": "x", "clusterId": "1", "status": "ACTIVE", "notify": {"slack": {"responseUrl": "https://hooks"}}}

    assert "notify" not in public(record)
