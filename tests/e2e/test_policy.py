"""Guardrails over HTTP and Slack: what the service policy refuses, named by field, rule and setting."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from chalicelib.model import settings
from local.engine import LOCAL_SLACK_SIGNING_SECRET
from local.slack import command_fields, post_form

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.e2e.conftest import Api

DEV = "arn:aws:iam::123456789012:role/dev"
OPS = "arn:aws:iam::123456789012:role/ops"


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set guardrail variables for one test; the app re-reads its settings."""

    def setting(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(getattr(settings, name), value)
        settings.get_settings.cache_clear()

    yield setting
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def _fields(reply_body: dict[str, object]) -> dict[str, dict[str, str]]:
    return {f["field"]: f for f in reply_body["fields"]}


def test_a_region_outside_the_policy_is_refused_and_nothing_is_recorded(api: Api, policy: Callable[..., None]) -> None:
    policy(ENV_ALLOWED_REGIONS="us-west-2,eu-west-1", ENV_ALLOWED_VERSIONS="1.33,1.34")

    reply = api.call("POST", "/clusters", {"name": "far-away", "region": "ap-south-1", "version": "1.30"}, caller=DEV)

    assert reply.status == 422, reply.body
    found = _fields(reply.body)
    assert found["region"]["rule"] == "region_not_allowed"
    assert settings.ENV_ALLOWED_REGIONS in found["region"]["message"]
    assert found["version"]["rule"] == "version_not_allowed"
    assert api.call("GET", "/clusters/far-away").status == 404


def test_an_owner_at_the_cluster_limit_must_delete_one_first(api: Api, policy: Callable[..., None]) -> None:
    policy(ENV_MAX_CLUSTERS_PER_OWNER="1")
    assert api.call("POST", "/clusters", {"name": "quota-1"}, caller=OPS).status == 202

    refused = api.call("POST", "/clusters", {"name": "quota-2"}, caller=OPS)
    other = api.call("POST", "/clusters", {"name": "quota-other"}, caller=DEV)

    assert refused.status == 403, refused.body
    assert refused.body["rule"] == "clusters_per_owner"
    assert refused.body["setting"] == settings.ENV_MAX_CLUSTERS_PER_OWNER
    assert other.status == 202, "the limit is per owner"
    api.wait_for("quota-1", {"ACTIVE"})
    assert api.call("DELETE", "/clusters/quota-1", caller=OPS).status == 202
    assert api.wait_for("quota-1", {"DELETED", "DELETE_FAILED"})["status"] == "DELETED"
    assert api.call("POST", "/clusters", {"name": "quota-2"}, caller=OPS).status == 202


def test_node_group_adds_and_scales_keep_to_the_policy(api: Api, policy: Callable[..., None]) -> None:
    assert api.call("POST", "/clusters", {"name": "guarded"}, caller=DEV).status == 202
    group = api.wait_for("guarded", {"ACTIVE"})["spec"]["managedNodeGroups"][0]["name"]
    policy(ENV_ALLOWED_INSTANCE_TYPES="m5.*,t3.*", ENV_MAX_NODES_PER_NODEGROUP="5", ENV_MAX_NODES_PER_CLUSTER="6")

    added = api.call(
        "POST", "/clusters/guarded/nodegroups", {"name": "gpu", "instanceType": "p4d.24xlarge"}, caller=DEV
    )
    scaled = api.call("PATCH", f"/clusters/guarded/nodegroups/{group}", {"maxSize": 9}, caller=DEV)

    assert added.status == 422, added.body
    assert _fields(added.body)["instanceType"]["rule"] == "instance_type_not_allowed"
    assert scaled.status == 422, scaled.body
    assert {f["rule"] for f in scaled.body["fields"]} == {"nodes_per_nodegroup", "nodes_per_cluster"}
    assert {f["field"] for f in scaled.body["fields"]} == {"maxSize"}
    assert "operation" not in api.call("GET", "/clusters/guarded").body
    within = api.call("PATCH", f"/clusters/guarded/nodegroups/{group}", {"maxSize": 4}, caller=DEV)
    assert within.status == 202, within.body


def test_the_slack_create_command_is_held_to_the_same_policy(api: Api, policy: Callable[..., None]) -> None:
    policy(ENV_ALLOWED_INSTANCE_TYPES="t3.*")
    fields = command_fields("create chat-big type=m5.24xlarge", "http://127.0.0.1:9/unused", "T1", "U1", "C1")

    status, reply = post_form(f"{api.base}/slack/commands", fields, LOCAL_SLACK_SIGNING_SECRET)

    assert status == 200
    text = json.dumps(reply)
    assert "managedNodeGroups[0].instanceType" in text and settings.ENV_ALLOWED_INSTANCE_TYPES in text
    assert api.call("GET", "/clusters/chat-big").status == 404
