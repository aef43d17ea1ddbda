"""Warm pools on the local engine: the fill builds a pool cluster, a claim takes it without building a stack."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.handlers.schedules import run_fill
from chalicelib.model.pool_spec import POOL_NODEGROUP
from tests.e2e.conftest import ENGINE_REGION, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

ADMIN = "arn:aws:iam::123456789012:role/platform-admin"
DEV = "arn:aws:iam::123456789012:role/dev"
VIEWER = "arn:aws:iam::123456789012:role/viewer"


def pool_clusters(api: Api, state: str) -> list[dict[str, Any]]:
    reply = api.call("GET", "/pools/warm", caller=ADMIN)
    assert reply.status == 200, reply.body
    return [c for c in reply.body["clusters"] if c["state"] == state]


def stack_names(engine: LocalEngine) -> set[str]:
    cfn = engine.client("cloudformation", ENGINE_REGION)
    return {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}


def test_a_claim_reaches_active_on_a_filled_pool_without_creating_a_cluster_stack(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    policy(ENV_ADMINS=ADMIN)
    made = api.call(
        "POST", "/pools", {"name": "warm", "size": 1, "nodeGroup": {"instanceTypes": ["m5.large"]}}, caller=ADMIN
    )
    assert made.status == 201, made.body

    started = run_fill()["warm"]["started"]
    assert len(started) == 1
    (ready,) = wait_until(lambda: pool_clusters(api, "READY"), "the pool cluster to be READY", timeout=60)
    eks_name = ready["name"]
    assert eks_name == started[0]
    assert api.call("GET", "/clusters", caller=DEV).body["clusters"] == []  # the service's, not a caller's
    before = stack_names(engine)

    claim = {
        "name": "claimed",
        "pool": "warm",
        "whenPoolEmpty": "fail",
        "managedNodeGroups": [{"name": "ng", "instanceTypes": ["m5.large"], "desiredCapacity": 1, "maxSize": 2}],
        "iamIdentityMappings": [{"arn": VIEWER, "username": "viewer", "groups": ["viewers"]}],
    }
    reply = api.call("POST", "/clusters", claim, caller=DEV)
    assert reply.status == 202, reply.body
    assert (reply.body["name"], reply.body["eksName"], reply.body["owner"]) == ("claimed", eks_name, DEV)

    def settled() -> dict[str, Any] | None:
        record: dict[str, Any] = api.call("GET", "/clusters/claimed", caller=DEV).body
        types = [e["type"] for e in record["events"]]
        done = not record.get("operation") and "ACCESS_CHANGED" in types
        return record if done else None

    record = wait_until(settled, "the claim to settle", timeout=30)
    assert (record["status"], record["name"], record["eksName"]) == ("ACTIVE", "claimed", eks_name)
    types = [e["type"] for e in record["events"]]
    during = types[types.index("CLAIMED") :]
    assert "NODEGROUP_SCALED" in during and "ACCESS_CHANGED" in during
    assert not [t for t in during if t == "STACK_CREATING"]
    assert stack_names(engine) == before  # no stack was created for the claim

    eks = engine.client("eks", ENGINE_REGION)
    group = eks.describe_nodegroup(clusterName=eks_name, nodegroupName=POOL_NODEGROUP)["nodegroup"]
    assert group["scalingConfig"]["desiredSize"] == 1
    mapped = api.call("GET", "/clusters/claimed/access", caller=DEV)
    assert mapped.status == 200 and VIEWER in str(mapped.body)

    # The pool is empty now: the next fill builds a replacement; another claim that must be served fails.
    assert pool_clusters(api, "READY") == []
    assert len(run_fill()["warm"]["started"]) == 1
    again = api.call("POST", "/clusters", {**claim, "name": "second"}, caller=DEV)
    assert again.status == 409 and again.body["error"] == "pool_cannot_serve"

    gone = api.call("DELETE", "/pools/warm", caller=ADMIN)
    assert gone.status == 202 and len(gone.body["retiring"]) == 1
    assert api.call("DELETE", "/clusters/claimed", caller=DEV).status == 202
    assert api.wait_for("claimed", {"DELETED"})["eksName"] == eks_name
