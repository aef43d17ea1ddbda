"""Builders shared by the functional tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib import clusters
from chalicelib.settings import get_settings
from chalicelib.spec import ClusterSpec

if TYPE_CHECKING:
    from chalicelib.store import Store


def stack_outputs(cfn: Any, stack: str) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}


def given_a_requested_cluster(db: Store, body: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A record as POST /clusters leaves it, without starting a workflow."""
    spec = ClusterSpec.model_validate(body)
    return db.create_cluster(clusters.new_record(spec, "tester", get_settings(), now or datetime.now(UTC)))
