"""Guardrails over HTTP and Slack: what the service policy refuses, named by field, rule and setting."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.aws import identity
from chalicelib.model import settings
from local import eks_models
from local.engine import LOCAL_IDENTITY_KEY, LOCAL_SLACK_SIGNING_SECRET
from local.slack import Receiver, command_fields, post_form

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

ACCOUNT = "123456789012"
DEV = f"arn:aws:iam::{ACCOUNT}:role/dev"
OPS = f"arn:aws:iam::{ACCOUNT}:role/ops"
PLATFORM = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"
PLATFORM_ROLES = f"arn:aws:iam::{ACCOUNT}:role/platform-*"
TARGET = f"arn:aws:iam::{ACCOUNT}:role/target"
CLUSTER_ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


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
    receiver = Receiver()
    fields = command_fields("create chat-big type=m5.24xlarge", receiver.url, "T1", "U1", "C1")
    try:
        status, _ = post_form(f"{api.base}/slack/commands", fields, LOCAL_SLACK_SIGNING_SECRET)
        # Slack is answered at once; the policy's refusal follows at the response_url.
        refusal = receiver.wait_for(lambda m: "chat-big" in json.dumps(m) or "instanceType" in json.dumps(m), 30)
    finally:
        receiver.close()

    assert status == 200
    text = json.dumps(refusal)
    assert "managedNodeGroups[0].instanceType" in text and settings.ENV_ALLOWED_INSTANCE_TYPES in text
    assert api.call("GET", "/clusters/chat-big").status == 404


def _nothing_created(api: Api, engine: LocalEngine, name: str, region: str) -> None:
    """No record, no stack and no create workflow for `name`."""
    assert api.call("GET", f"/clusters/{name}").status == 404
    stacks = engine.client("cloudformation", region).list_stacks()["StackSummaries"]
    assert [s["StackName"] for s in stacks if s["StackName"].startswith(f"eksctl-{name}-")] == []
    sfn = engine.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=engine.outputs["create_cluster"])["executions"]
    assert [e["name"] for e in executions if e["name"].startswith(f"create-{name}-")] == []


def _admin_entry(name: str, region: str) -> dict[str, Any]:
    return {
        "name": name,
        "region": region,
        "accessConfig": {
            "accessEntries": [
                {
                    "principalARN": TARGET,
                    "accessPolicies": [{"policyARN": CLUSTER_ADMIN, "accessScope": {"type": "cluster"}}],
                }
            ]
        },
    }


def test_a_cluster_admin_access_entry_is_only_for_callers_in_the_masters_allow_list(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    policy(ENV_MASTERS_ALLOWED=PLATFORM_ROLES)
    region = "eu-west-1"  # each test that creates a cluster has a region of its own (VPC quotas)

    refused = api.call("POST", "/clusters", _admin_entry("admin-entry", region), caller=DEV)

    assert refused.status == 403, refused.body
    assert refused.body["error"] == "Forbidden"
    assert refused.body["field"] == "accessConfig.accessEntries[0].accessPolicies[0].policyARN"
    assert refused.body["rule"] == "cluster_admin_not_allowed"
    assert refused.body["setting"] == settings.ENV_MASTERS_ALLOWED
    _nothing_created(api, engine, "admin-entry", region)

    allowed = api.call("POST", "/clusters", _admin_entry("admin-entry", region), caller=PLATFORM)

    assert allowed.status == 202, allowed.body
    assert api.wait_for("admin-entry", {"ACTIVE", "FAILED"})["status"] == "ACTIVE"
    entry = eks_models.access_entries_of(ACCOUNT, region, "admin-entry")[TARGET]
    assert [p["PolicyArn"] for p in entry.access_policies] == [CLUSTER_ADMIN]


def test_a_system_masters_mapping_is_only_for_callers_in_the_masters_allow_list(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    policy(ENV_MASTERS_ALLOWED=PLATFORM_ROLES)
    region = "eu-central-1"
    body = {
        "name": "admin-map",
        "region": region,
        "iamIdentityMappings": [{"arn": TARGET, "groups": ["system:masters"]}],
    }

    refused = api.call("POST", "/clusters", body, caller=DEV)

    assert refused.status == 403, refused.body
    assert (refused.body["field"], refused.body["rule"]) == (
        "iamIdentityMappings[0].groups",
        "cluster_admin_not_allowed",
    )
    _nothing_created(api, engine, "admin-map", region)
    allowed = api.call("POST", "/clusters", body, caller=PLATFORM)
    assert allowed.status == 202, allowed.body


def test_a_clusterconfig_is_held_to_the_same_admin_rule(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    policy(ENV_MASTERS_ALLOWED=PLATFORM_ROLES)
    config = f"""
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {{name: admin-yaml, region: {engine.region}}}
accessConfig:
  accessEntries:
    - principalARN: {TARGET}
      accessPolicies:
        - policyARN: arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy
          accessScope: {{type: cluster}}
"""
    headers = {
        "Content-Type": "application/x-yaml",
        identity.CALLER_HEADER: DEV,
        identity.SIGNATURE_HEADER: identity.sign(LOCAL_IDENTITY_KEY, DEV),
    }
    request = urllib.request.Request(f"{api.base}/clusters", data=config.encode(), method="POST", headers=headers)

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)

    assert refused.value.code == 403
    body = json.loads(refused.value.read())
    assert body["field"] == "accessConfig.accessEntries[0].accessPolicies[0].policyARN"
    assert "AmazonEKSAdminPolicy" in body["message"]
    _nothing_created(api, engine, "admin-yaml", engine.region)


def test_a_protected_cluster_is_only_for_callers_in_the_protect_allow_list(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    policy(ENV_PROTECT_ALLOWED=PLATFORM_ROLES)
    body = {"name": "kept", "region": "ap-northeast-1", "protected": True}

    refused = api.call("POST", "/clusters", body, caller=DEV)

    assert refused.status == 403, refused.body
    assert refused.body["field"] == "protected"
    _nothing_created(api, engine, "kept", "ap-northeast-1")
    assert api.call("POST", "/clusters", body, caller=PLATFORM).status == 202


def test_only_the_owner_and_callers_in_the_admins_allow_list_act_on_a_cluster(
    api: Api, policy: Callable[..., None]
) -> None:
    assert api.call("POST", "/clusters", {"name": "owned", "region": "ca-central-1"}, caller=DEV).status == 202
    api.wait_for("owned", {"ACTIVE"})
    policy(ENV_ADMINS=PLATFORM_ROLES)
    before = api.call("GET", "/clusters/owned").body

    refused = api.call("POST", "/clusters/owned/lease", {"hours": 100}, caller=OPS)
    deleted = api.call("DELETE", "/clusters/owned", caller=OPS)

    assert refused.status == 403, refused.body
    assert deleted.status == 403, deleted.body
    assert settings.ENV_ADMINS in deleted.body["message"]
    after = api.call("GET", "/clusters/owned").body
    assert (after["status"], after["expiresAt"], after.get("operation")) == ("ACTIVE", before["expiresAt"], None)
    assert api.call("POST", "/clusters/owned/lease", {"hours": 100}, caller=PLATFORM).status == 200
    assert api.call("POST", "/clusters/owned/lease", {"hours": 101}, caller=DEV).status == 200
