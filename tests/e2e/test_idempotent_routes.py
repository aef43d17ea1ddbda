"""Idempotency-Key on the access and node group routes, and on every route the OpenAPI document marks.

The same key with the same request (JSON compared by value: keys in another order are the same
request) gets the first answer again, with `Idempotent-Replayed: true`, and starts nothing new;
the same key with another request gets 422 naming the header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.aws import idempotency
from tests.e2e.conftest import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api, Reply

OWNER = "arn:aws:iam::123456789012:role/keyed-owner"
DEV = "arn:aws:iam::123456789012:role/keyed-dev"
APP_ROLE = "arn:aws:iam::123456789012:role/keyed-app"
OPS = "arn:aws:iam::123456789012:role/keyed-ops"
CLUSTER = "keyed"
REPLAYED = idempotency.REPLAYED_HEADER


def call(api: Api, method: str, path: str, body: Any, key: str | None) -> Reply:
    return api.call(method, path, body, caller=OWNER, idempotency_key=key)


def events(api: Api, name: str, kind: str, containing: str = "") -> list[dict[str, Any]]:
    record = api.call("GET", f"/clusters/{name}", caller=OWNER).body
    return [e for e in record["events"] if e["type"] == kind and containing in e.get("message", "")]


def executions(engine: LocalEngine, workflow: str, name: str) -> int:
    sfn = engine.client("stepfunctions")
    found = sfn.list_executions(stateMachineArn=engine.outputs[workflow], maxResults=1000)["executions"]
    return sum(1 for e in found if f"-{name}-" in e["name"])


def settled(api: Api, name: str) -> dict[str, Any]:
    def idle() -> dict[str, Any] | None:
        record: dict[str, Any] = api.call("GET", f"/clusters/{name}", caller=OWNER).body
        return record if "operation" not in record else None

    return wait_until(idle, f"{name} to finish its operation")


def access_changed(api: Api, name: str, change: str) -> None:
    wait_until(lambda: events(api, name, "ACCESS_CHANGED", change), f"aws-auth change {change!r} on {name}")


def assert_replayed(first: Reply, *again: Reply) -> None:
    assert first.status == 202, first.body
    assert REPLAYED not in first.headers
    for reply in again:
        assert (reply.status, reply.body) == (first.status, first.body)
        assert reply.headers.get(REPLAYED) == "true", reply.headers
        assert reply.headers.get("Location") == first.headers.get("Location")


def assert_key_reused(reply: Reply) -> None:
    assert reply.status == 422, reply.body
    assert [(f["field"], f["rule"]) for f in reply.body["fields"]] == [(idempotency.HEADER, "idempotency_key_reused")]


@pytest.fixture(scope="module")
def cluster(api: Api) -> str:
    body = {"name": CLUSTER, "managedNodeGroups": [{"name": "base", "desiredCapacity": 1}]}
    assert call(api, "POST", "/clusters", body, None).status == 202
    assert api.wait_for(CLUSTER, {"ACTIVE", "FAILED"})["status"] == "ACTIVE"
    return CLUSTER


def test_a_retried_access_grant_answers_as_the_first_and_starts_one_workflow(
    api: Api, engine: LocalEngine, cluster: str
) -> None:
    body = {"arn": DEV, "username": "dev", "groups": ["viewers", "auditors"]}
    reordered = {"groups": ["viewers", "auditors"], "username": "dev", "arn": DEV}
    before = executions(engine, "update_access", cluster)

    first = call(api, "POST", f"/clusters/{cluster}/access", body, "grant-dev")
    again = call(api, "POST", f"/clusters/{cluster}/access", body, "grant-dev")
    shuffled = call(api, "POST", f"/clusters/{cluster}/access", reordered, "grant-dev")

    assert_replayed(first, again, shuffled)
    access_changed(api, cluster, f"add {DEV}")
    assert len(events(api, cluster, "ACCESS_CHANGE_REQUESTED", DEV)) == 1
    assert executions(engine, "update_access", cluster) == before + 1


def test_the_same_key_for_another_grant_is_refused_and_changes_nothing(api: Api, cluster: str) -> None:
    assert call(api, "POST", f"/clusters/{cluster}/access", {"arn": OPS, "username": "ops"}, "grant-ops").status == 202

    other = call(api, "POST", f"/clusters/{cluster}/access", {"arn": OPS, "username": "root"}, "grant-ops")
    elsewhere = call(api, "DELETE", f"/clusters/{cluster}/access?arn={OPS}", None, "grant-ops")

    assert_key_reused(other)
    assert_key_reused(elsewhere)
    access_changed(api, cluster, f"add {OPS}")
    assert len(events(api, cluster, "ACCESS_CHANGE_REQUESTED", OPS)) == 1


def test_a_retried_access_removal_answers_as_the_first_and_another_arn_with_its_key_is_refused(
    api: Api, engine: LocalEngine, cluster: str
) -> None:
    if not events(api, cluster, "ACCESS_CHANGED", f"add {DEV}"):
        assert call(api, "POST", f"/clusters/{cluster}/access", {"arn": DEV, "username": "dev"}, None).status == 202
        access_changed(api, cluster, f"add {DEV}")
    before = executions(engine, "update_access", cluster)

    first = call(api, "DELETE", f"/clusters/{cluster}/access?arn={DEV}", None, "revoke-dev")
    again = call(api, "DELETE", f"/clusters/{cluster}/access?arn={DEV}", None, "revoke-dev")
    other = call(api, "DELETE", f"/clusters/{cluster}/access?arn={OPS}", None, "revoke-dev")

    assert_replayed(first, again)
    assert_key_reused(other)
    access_changed(api, cluster, f"remove {DEV}")
    assert len(events(api, cluster, "ACCESS_CHANGE_REQUESTED", f"remove {DEV}")) == 1
    assert events(api, cluster, "ACCESS_CHANGE_REQUESTED", f"remove {OPS}") == []
    assert executions(engine, "update_access", cluster) == before + 1


def test_retried_node_group_add_scale_and_delete_each_run_once(api: Api, engine: LocalEngine, cluster: str) -> None:
    path = f"/clusters/{cluster}/nodegroups"
    add = {"name": "extra", "instanceType": "m5.large", "minSize": 1, "desiredCapacity": 1, "maxSize": 2}
    before = executions(engine, "change_nodegroup", cluster)

    added = [call(api, "POST", path, body, "add-extra") for body in (add, add, dict(reversed(add.items())))]
    assert_replayed(*added)
    assert_key_reused(call(api, "POST", path, {**add, "name": "other"}, "add-extra"))
    settled(api, cluster)

    scale = {"desiredCapacity": 2, "maxSize": 3}
    scaled = [
        call(api, "PATCH", f"{path}/extra", body, "scale-extra")
        for body in (scale, scale, {"maxSize": 3, "desiredCapacity": 2})
    ]
    assert_replayed(*scaled)
    assert_key_reused(call(api, "PATCH", f"{path}/extra", {"desiredCapacity": 3, "maxSize": 3}, "scale-extra"))
    record = settled(api, cluster)
    assert {g["name"]: g["desiredCapacity"] for g in record["spec"]["managedNodeGroups"]}["extra"] == 2

    deleted = [call(api, "DELETE", f"{path}/extra", None, "delete-extra") for _ in range(2)]
    assert_replayed(*deleted)
    assert_key_reused(call(api, "DELETE", f"{path}/base", None, "delete-extra"))
    record = settled(api, cluster)

    assert [g["name"] for g in record["spec"]["managedNodeGroups"]] == ["base"]
    requested = [e["message"].split(" (")[0] for e in events(api, cluster, "NODEGROUP_CHANGE_REQUESTED")]
    assert requested == ["add node group extra", "scale node group extra", "delete node group extra"]
    assert executions(engine, "change_nodegroup", cluster) == before + 3


def test_every_route_the_document_says_takes_a_key_replays_its_first_answer(
    api: Api, policy: Callable[..., None]
) -> None:
    """The OpenAPI document's promise checked against the routes' behaviour, on a cluster of its own."""
    policy(ENV_ADMINS=OWNER)  # the pool routes are the admins'; a pool of size 0 builds nothing
    document = api.call("GET", "/openapi.json", caller=OWNER).body
    promised = {
        (method.upper(), path)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if idempotency.HEADER in [p["name"] for p in operation["parameters"]]
    }
    name, group = "replays", "spare"
    requests: list[tuple[str, str, str, Any]] = [
        (
            "POST",
            "/clusters",
            "",
            {"name": name, "iam": {"withOIDC": True}, "managedNodeGroups": [{"name": "base", "desiredCapacity": 1}]},
        ),
        ("POST", "/clusters/{name}/lease", "", {"hours": 2}),
        ("POST", "/clusters/{name}/access", "", {"arn": DEV, "username": "dev"}),
        ("DELETE", "/clusters/{name}/access", f"?arn={DEV}", None),
        ("POST", "/clusters/{name}/nodegroups", "", {"name": group, "desiredCapacity": 1}),
        ("PATCH", "/clusters/{name}/nodegroups/{nodegroup}", "", {"desiredCapacity": 2, "maxSize": 2}),
        ("DELETE", "/clusters/{name}/nodegroups/{nodegroup}", "", None),
        ("POST", "/clusters/{name}/serviceaccounts", "", {"metadata": {"name": "app"}, "attachRoleARN": APP_ROLE}),
        ("DELETE", "/clusters/{name}/serviceaccounts/{namespace}/{serviceaccount}", "", None),
        ("DELETE", "/clusters/{name}", "", None),
        ("POST", "/pools", "", {"name": "replays", "size": 0, "nodeGroup": {"instanceTypes": ["m5.large"]}}),
        ("PATCH", "/pools/{name}", "", {"size": 0, "maxAgeHours": 24}),
        ("DELETE", "/pools/{name}", "", None),
    ]
    replayed: set[tuple[str, str]] = set()

    for number, (method, route, query, body) in enumerate(requests):
        path = (
            route.replace("{name}", name)
            .replace("{nodegroup}", group)
            .replace("{namespace}", "default")
            .replace("{serviceaccount}", "app")
            + query
        )
        key = f"every-route-{number}"
        first, again = call(api, method, path, body, key), call(api, method, path, body, key)
        assert first.status in (200, 201, 202), (method, path, first.body)
        assert (again.status, again.body) == (first.status, first.body), (method, path)
        if again.headers.get(REPLAYED) == "true":
            replayed.add((method, route))
        if route == "/clusters":
            assert api.wait_for(name, {"ACTIVE", "FAILED"})["status"] == "ACTIVE"
        elif route == "/clusters/{name}":
            assert api.wait_for(name, {"DELETED", "DELETE_FAILED"})["status"] == "DELETED"
        elif route.startswith("/pools"):
            continue
        elif route.endswith("/access"):
            access_changed(api, name, f"{'add' if method == 'POST' else 'remove'} {DEV}")
        else:
            settled(api, name)

    assert replayed == promised
