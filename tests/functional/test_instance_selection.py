"""`instanceSelector` turned into instance types from EC2's facts (moto's) when a cluster or a node group is
requested, as eksctl does: kept in the stored spec, built into the templates, or a 422 naming the field."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from chalicelib.cfn import templates
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import images
from tests.functional.helpers import step_context
from tests.functional.test_managed_nodegroup_extras import REGION, refused, request
from tests.functional.test_managed_nodegroup_extras import settings as settings

if TYPE_CHECKING:
    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings


def expected(vcpus: int, mib: int, architecture: str = "x86_64", gpus: int | None = None) -> list[str]:
    """The types EC2 (moto) offers with these facts, found here independently of the code under test."""
    ec2 = boto3.client("ec2", region_name=REGION)
    offered = {o["InstanceType"] for o in ec2.describe_instance_type_offerings()["InstanceTypeOfferings"]}
    filters = [{"Name": "vcpu-info.default-vcpus", "Values": [str(vcpus)]}]
    pages = ec2.get_paginator("describe_instance_types").paginate(Filters=filters)
    found = []
    for info in (i for page in pages for i in page["InstanceTypes"]):
        count = sum(g["Count"] for g in (info.get("GpuInfo") or {}).get("Gpus", []))
        if (
            info["MemoryInfo"]["SizeInMiB"] == mib
            and architecture in info["ProcessorInfo"]["SupportedArchitectures"]
            and (gpus is None or count == gpus)
            and info["InstanceType"] in offered
        ):
            found.append(info["InstanceType"])
    return sorted(found)


def body(**groups: Any) -> dict[str, Any]:
    return {"name": "picky", "region": REGION, "managedNodeGroups": [], **groups}


def test_eksctls_example_selects_the_types_ec2_has_and_keeps_them(db: Store, settings: Settings) -> None:
    # eksctl's example 28: a self-managed group of 2 vCPUs, 4 GiB, no GPU; a managed one of 2 vCPUs, 2 GiB.
    request_body = body(
        nodeGroups=[{"name": "ng", "instanceSelector": {"vCPUs": 2, "memory": "4", "gpus": 0}}],
        managedNodeGroups=[
            {"name": "mng", "instanceSelector": {"vCPUs": 2, "memory": "2GiB", "cpuArchitecture": "x86_64"}}
        ],
    )
    selfmanaged, managed = expected(2, 4096, gpus=0), expected(2, 2048)
    assert selfmanaged and managed and len(selfmanaged) <= 40 and len(managed) <= 20

    record = request(db, settings, request_body)

    stored = record["spec"]
    assert stored["nodeGroups"][0]["instancesDistribution"]["instanceTypes"] == selfmanaged
    assert stored["managedNodeGroups"][0]["instanceTypes"] == managed
    assert stored["nodeGroups"][0]["instanceSelector"] == {"vCPUs": 2, "memory": "4", "gpus": 0}
    spec = ClusterSpec.model_validate(stored)
    resources = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")["Resources"]
    assert resources["ManagedNodeGroup"]["Properties"]["InstanceTypes"] == managed
    policy = templates.build_nodegroup_template(spec, spec.nodegroups[1], "cid")["Resources"]["NodeGroup"]
    overrides = policy["Properties"]["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]
    assert [o["InstanceType"] for o in overrides] == selfmanaged


def test_arm_and_name_patterns_narrow_the_choice(db: Store, settings: Settings) -> None:
    selector = {"vCPUs": 2, "memory": "4GiB", "cpuArchitecture": "arm64", "allow": r"^t4g\.", "deny": "nano"}
    record = request(db, settings, body(managedNodeGroups=[{"name": "arm", "instanceSelector": selector}]))

    assert record["spec"]["managedNodeGroups"][0]["instanceTypes"] == ["t4g.medium"]
    assert record["spec"]["managedNodeGroups"][0]["amiType"] == "AL2023_ARM_64_STANDARD"


@pytest.mark.parametrize(
    ("group", "field", "rule"),
    [
        ({"instanceSelector": {"vCPUs": 2, "memory": "3GiB"}}, "instanceSelector", "no_instance_types"),
        ({"instanceSelector": {"cpuArchitecture": "x86_64"}}, "instanceSelector", "too_many_instance_types"),
        (
            {"instanceSelector": {"vCPUs": 2, "memory": "4", "allow": "^t3"}, "instanceTypes": ["t3.medium"]},
            "instanceTypes",
            "instance_types_mismatch",
        ),
    ],
)
def test_what_ec2_cannot_satisfy_is_a_422(
    db: Store, settings: Settings, group: dict[str, Any], field: str, rule: str
) -> None:
    found = refused(db, settings, body(managedNodeGroups=[{"name": "a", **group}]))

    assert found == {f"managedNodeGroups[0].{field}": rule}


def test_a_list_equal_to_the_selection_is_taken(db: Store, settings: Settings) -> None:
    types = expected(2, 4096, gpus=0)
    group = {"name": "ng", "instanceSelector": {"vCPUs": 2, "memory": 4, "gpus": 0}}
    group["instancesDistribution"] = {"instanceTypes": types}

    record = request(db, settings, body(nodeGroups=[group]))

    assert record["spec"]["nodeGroups"][0]["instancesDistribution"]["instanceTypes"] == types


def test_a_group_added_later_is_selected_for_too(db: Store, settings: Settings) -> None:
    spec = ClusterSpec.model_validate(body(availabilityZones=["us-west-2a", "us-west-2b"]))
    group = ClusterSpec.model_validate(
        body(managedNodeGroups=[{"name": "late", "instanceSelector": {"vCPUs": 2, "memory": "2GiB"}}])
    ).nodegroups[0]

    added = images.group_with_ami_type(step_context(db=db, settings=settings), spec, group)

    assert getattr(added, "instance_types", None) == expected(2, 2048)


def test_with_an_instance_type_allow_list_the_selector_picks_only_allowed_types(db: Store, settings: Settings) -> None:
    allowed = dataclasses.replace(settings, allowed_instance_types=("t3.*",))
    group = {"name": "a", "instanceSelector": {"vCPUs": 2, "memory": "4"}}

    record = request(db, allowed, body(managedNodeGroups=[group]))
    assert record["spec"]["managedNodeGroups"][0]["instanceTypes"] == ["t3.medium"]

    only_arm = dataclasses.replace(settings, allowed_instance_types=("t4g.*",))
    found = refused(db, only_arm, {**body(managedNodeGroups=[group]), "name": "other"})
    assert found == {"managedNodeGroups[0].instanceSelector": "no_instance_types"}
