"""Builders shared by the functional tests."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from chalicelib import store
from chalicelib.spec import ClusterSpec

if TYPE_CHECKING:
    from chalicelib.store import Store


def stack_outputs(cfn: Any, stack: str) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}


def given_a_requested_cluster(db: Store, body: dict[str, Any]) -> dict[str, Any]:
    """A record as POST /clusters leaves it, without starting a workflow."""
    spec = ClusterSpec.model_validate(body)
    return db.create_cluster(
        {
            "name": spec.name,
            "clusterId": uuid.uuid4().hex,
            "status": store.CREATING,
            "phase": "REQUESTED",
            "region": spec.region,
            "version": spec.version,
            "owner": "tester",
            "spec": spec.model_dump(mode="json"),
            "stacks": {},
        }
    )
