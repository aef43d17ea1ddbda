"""Requests EKS would fail late are refused when made: images it does not publish, endpoints ekspress cannot reach."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.e2e.test_nodegroups import settled

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

DEV = "arn:aws:iam::123456789012:role/dev"
REGION = "us-west-2"


def _fields(body: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {f["field"]: f for f in body["fields"]}


def _ami_type(engine: LocalEngine, cluster: str, nodegroup: str) -> str:
    cfn = engine.client("cloudformation", REGION)
    template = cfn.get_template(StackName=f"eksctl-{cluster}-nodegroup-{nodegroup}")["TemplateBody"]
    return str(template["Resources"]["ManagedNodeGroup"]["Properties"]["AmiType"])


def test_amazon_linux_2_at_the_default_version_is_refused_naming_the_field(api: Api) -> None:
    body = {"name": "old-images", "managedNodeGroups": [{"name": "a", "amiFamily": "AmazonLinux2"}]}

    reply = api.call("POST", "/clusters", body, caller=DEV)

    assert reply.status == 422, reply.body
    problem = _fields(reply.body)["managedNodeGroups[0].amiFamily"]
    assert problem["rule"] == "ami_family_version"
    assert "1.32 and earlier" in problem["message"]
    assert api.call("GET", "/clusters/old-images").status == 404


def test_a_group_mixing_processors_or_naming_an_unknown_type_is_refused(api: Api) -> None:
    body = {
        "name": "mixed",
        "managedNodeGroups": [
            {"name": "a", "instanceTypes": ["m5.large", "m7g.large"]},
            {"name": "b", "instanceType": "zz9.huge"},
        ],
    }

    reply = api.call("POST", "/clusters", body, caller=DEV)

    assert reply.status == 422, reply.body
    found = _fields(reply.body)
    assert found["managedNodeGroups[0].instanceTypes[1]"]["rule"] == "instance_architecture_mismatch"
    assert found["managedNodeGroups[1].instanceType"]["rule"] == "instance_type_unknown"


def test_gpu_and_graviton_groups_become_active_on_the_images_made_for_them(api: Api, engine: LocalEngine) -> None:
    body = {"name": "accel", "region": REGION, "managedNodeGroups": [{"name": "gpu", "instanceType": "g5.xlarge"}]}

    assert api.call("POST", "/clusters", body, caller=DEV).status == 202
    record = api.wait_for("accel", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    assert record["spec"]["managedNodeGroups"][0]["amiType"] == "AL2023_x86_64_NVIDIA"
    assert _ami_type(engine, "accel", "gpu") == "AL2023_x86_64_NVIDIA"

    added = api.call(
        "POST",
        "/clusters/accel/nodegroups",
        {"name": "arm", "instanceType": "m7g.large", "amiFamily": "Bottlerocket"},
        caller=DEV,
    )
    assert added.status == 202, added.body
    assert "lastFailure" not in settled(api, "accel")
    assert _ami_type(engine, "accel", "arm") == "BOTTLEROCKET_ARM_64"


def test_a_node_group_added_with_an_image_eks_lacks_is_refused_by_its_own_field_names(api: Api) -> None:
    if api.call("GET", "/clusters/accel").status == 404:  # run on its own
        api.call("POST", "/clusters", {"name": "accel", "region": REGION}, caller=DEV)
    api.wait_for("accel", {"ACTIVE"})

    reply = api.call("POST", "/clusters/accel/nodegroups", {"name": "old", "amiFamily": "AmazonLinux2"}, caller=DEV)

    assert reply.status == 422, reply.body
    assert _fields(reply.body)["amiFamily"]["rule"] == "ami_family_version"
    assert "operation" not in api.call("GET", "/clusters/accel").body


def test_a_private_only_cluster_is_refused_saying_what_to_do_instead(api: Api) -> None:
    body = {"name": "hidden", "vpc": {"clusterEndpoints": {"publicAccess": False, "privateAccess": True}}}

    reply = api.call("POST", "/clusters", body, caller=DEV)

    assert reply.status == 422, reply.body
    problem = _fields(reply.body)["vpc.clusterEndpoints.publicAccess"]
    assert problem["rule"] == "endpoint_unreachable_by_service"
    assert "publicAccessCIDRs" in problem["message"]
    assert api.call("GET", "/clusters/hidden").status == 404
