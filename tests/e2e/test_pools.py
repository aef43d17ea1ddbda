"""Warm pools on the local engine: the fill builds a pool cluster, a claim takes it without building a stack."""

from __future__ import annotations

import fnmatch
import time
from typing import TYPE_CHECKING, Any

from chalicelib.handlers.schedules import run_fill
from chalicelib.model import naming
from chalicelib.model.pool_spec import POOL_NODEGROUP
from infra import policies
from local import audit
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
    """Every stack's name. moto's CloudFormation is not thread-safe: a DescribeStacks that races a CreateStack
    (the replacement a claim's refill builds meanwhile) may answer 500, so it is asked again."""
    from botocore.parsers import ResponseParserError

    cfn = engine.client("cloudformation", ENGINE_REGION)
    for _ in range(10):
        try:
            return {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}
        except ResponseParserError:
            time.sleep(0.2)
    return {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}


def beyond_policy(function: str) -> list[str]:
    """The AWS actions `function` was seen calling (local/audit.py) that its policy does not allow."""
    allowed = []
    for statement in policies.document(function)["Statement"]:
        listed = statement["Action"]
        allowed += [listed] if isinstance(listed, str) else listed
    called = audit.actions().get(function, set())
    assert called, f"{function} was never seen calling AWS"
    return sorted(a for a in called if not any(fnmatch.fnmatchcase(a.lower(), p.lower()) for p in allowed))


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
    # No stack was created for the claimed cluster (the replacement the claim asked for builds its own).
    assert {s for s in stack_names(engine) if eks_name in s} == {s for s in before if eks_name in s}

    eks = engine.client("eks", ENGINE_REGION)
    tags = eks.describe_cluster(name=eks_name)["cluster"]["tags"]
    assert (tags[naming.TAG_CLAIMED_BY], tags[naming.TAG_CLAIMED_AS]) == (DEV, "claimed")
    group = eks.describe_nodegroup(clusterName=eks_name, nodegroupName=POOL_NODEGROUP)["nodegroup"]
    assert group["scalingConfig"]["desiredSize"] == 1
    mapped = api.call("GET", "/clusters/claimed/access", caller=DEV)
    assert mapped.status == 200 and VIEWER in str(mapped.body)

    # The claim asked for a fill (the fill function, invoked): its replacement builds with no scheduled fill.
    replacement = wait_until(
        lambda: [c for c in pool_clusters(api, "WARMING") + pool_clusters(api, "READY") if c["name"] != eks_name],
        "the replacement to start",
    )
    assert len(replacement) == 1
    # What the API and the fill did is what their policies allow (the refill invoke, the claim's workflows).
    assert {fn: beyond_policy(fn) for fn in ("api_handler", "fill_pools")} == {"api_handler": [], "fill_pools": []}

    gone = api.call("DELETE", "/pools/warm", caller=ADMIN)
    assert gone.status == 202 and len(gone.body["retiring"]) == 1
    assert api.call("DELETE", "/clusters/claimed", caller=DEV).status == 202
    assert api.wait_for("claimed", {"DELETED"})["eksName"] == eks_name


def test_a_claim_that_waits_is_served_once_the_cluster_built_for_it_is_ready(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    policy(ENV_ADMINS=ADMIN)
    made = api.call("POST", "/pools", {"name": "night", "size": 0}, caller=ADMIN)
    assert made.status == 201, made.body
    claim = {"name": "patient", "pool": "night", "whenPoolEmpty": "wait"}

    waiting = api.call("POST", "/clusters", claim, caller=DEV)

    assert waiting.status == 202, waiting.body
    assert (waiting.body["status"], waiting.body["waitingFor"]["pool"]) == ("WAITING", "night")
    # The pool is at size 0, yet it builds one cluster for the claim waiting on it.
    (built,) = run_fill()["night"]["started"]
    # Once it is READY, its create asks for a fill (no schedule here), which serves the waiting claim.

    def settled() -> dict[str, Any] | None:
        record: dict[str, Any] = api.call("GET", "/clusters/patient", caller=DEV).body
        scaled = "NODEGROUP_SCALED" in [e["type"] for e in record.get("events") or []]
        return record if record["status"] == "ACTIVE" and scaled and not record.get("operation") else None

    record = wait_until(settled, "the claim to settle", timeout=30)
    assert (record["eksName"], record["owner"], record["pool"]) == (built, DEV, "night")
    assert "patient" in [c["name"] for c in api.call("GET", "/clusters", caller=DEV).body["clusters"]]
    assert api.call("DELETE", "/clusters/patient", caller=DEV).status == 202
    assert api.wait_for("patient", {"DELETED"})["eksName"] == built
