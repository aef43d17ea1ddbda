"""Node group images against moto: EC2's instance facts, the 422 before anything is recorded, the AmiType built."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest

from chalicelib.model import images, steps
from chalicelib.model.errors import NotFoundError, SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import create, nodegroups
from chalicelib.operations.images import instance_facts
from tests.functional.helpers import settings_with_workflows, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings

REGION = "us-west-2"


@pytest.fixture
def settings() -> Settings:
    """Settings with state machines that exist (moto does not run them here)."""
    return settings_with_workflows("create_state_machine_arn", "nodegroup_state_machine_arn")


def request(db: Store, settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    return create.request_create(step_context(db=db, settings=settings), ClusterSpec.model_validate(body), "tester")


def refusal(err: pytest.ExceptionInfo[SpecValidationError]) -> dict[str, str]:
    return {f["field"]: f["rule"] for f in err.value.details["fields"]}


@pytest.mark.parametrize(
    ("instance_type", "architecture", "accelerator"),
    [
        ("m5.large", "x86_64", None),
        ("m7g.large", "arm64", None),
        ("g5.xlarge", "x86_64", images.NVIDIA),
        ("p4d.24xlarge", "x86_64", images.NVIDIA),
        ("g5g.xlarge", "arm64", images.NVIDIA),
        ("inf2.xlarge", "x86_64", images.NEURON),
        ("trn1.2xlarge", "x86_64", images.NEURON),
        ("trn2u.48xlarge", "x86_64", images.NEURON),  # moto's data lacks its NeuronInfo; local/ec2_models adds it
    ],
)
def test_ec2_gives_each_types_processor_and_accelerator(
    clients: Clients, instance_type: str, architecture: str, accelerator: str | None
) -> None:
    facts = instance_facts(clients.ec2(REGION), [instance_type, "zz9.huge"])

    assert set(facts) == {instance_type}, "an unknown type is simply absent"
    assert (facts[instance_type].architecture, facts[instance_type].accelerator) == (architecture, accelerator)


def test_a_cluster_request_records_each_groups_ami_type_and_the_stack_builds_it(
    db: Store, clients: Clients, settings: Settings
) -> None:
    body = {
        "name": "accel",
        "managedNodeGroups": [
            {"name": "gpu", "instanceType": "g5.xlarge"},
            {"name": "arm", "instanceTypes": ["m7g.large", "c7g.large"], "amiFamily": "Bottlerocket"},
        ],
    }

    record = request(db, settings, body)
    create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name="accel", clusterId=record["clusterId"])
    )
    create.create_nodegroup_stack(
        step_context(db=db, clients=clients),
        steps.NodegroupStep(name="accel", clusterId=record["clusterId"], nodegroup="gpu"),
    )

    stored = {g["name"]: g["amiType"] for g in db.get_cluster("accel")["spec"]["managedNodeGroups"]}
    assert stored == {"gpu": "AL2023_x86_64_NVIDIA", "arm": "BOTTLEROCKET_ARM_64"}
    built = boto3.client("eks", region_name=REGION).describe_nodegroup(clusterName="accel", nodegroupName="gpu")
    assert built["nodegroup"]["amiType"] == "AL2023_x86_64_NVIDIA"


@pytest.mark.parametrize(
    ("group", "version", "expected"),
    [
        ({"amiFamily": "AmazonLinux2"}, "1.33", {"managedNodeGroups[0].amiFamily": "ami_family_version"}),
        (
            {"instanceTypes": ["m5.large", "m7g.large"]},
            "1.33",
            {"managedNodeGroups[0].instanceTypes[1]": "instance_architecture_mismatch"},
        ),
        ({"instanceType": "zz9.huge"}, "1.33", {"managedNodeGroups[0].instanceType": "instance_type_unknown"}),
        (
            {"instanceType": "g5g.xlarge", "amiFamily": "AmazonLinux2"},
            "1.32",
            {"managedNodeGroups[0].amiFamily": "ami_family_accelerator"},
        ),
    ],
)
def test_a_cluster_no_image_fits_gets_a_422_and_nothing_is_recorded(
    db: Store, settings: Settings, group: dict[str, Any], version: str, expected: dict[str, str]
) -> None:
    with pytest.raises(SpecValidationError) as err:
        request(db, settings, {"name": "nope", "version": version, "managedNodeGroups": [{"name": "a", **group}]})

    assert refusal(err) == expected
    with pytest.raises(NotFoundError):
        db.get_cluster("nope")


def test_amazon_linux_2_at_1_32_is_still_built(db: Store, settings: Settings) -> None:
    record = request(
        db,
        settings,
        {
            "name": "older",
            "version": "1.32",
            "managedNodeGroups": [{"name": "a", "amiFamily": "AmazonLinux2", "instanceType": "m7g.large"}],
        },
    )

    assert record["spec"]["managedNodeGroups"][0]["amiType"] == "AL2_ARM_64"


def test_an_added_node_group_gets_its_ami_type_and_a_bad_one_leaves_the_cluster_free(
    db: Store, settings: Settings
) -> None:
    record = request(db, settings, {"name": "grow", "version": "1.33"})
    create.mark_active(
        step_context(db=db),
        steps.ClusterStackDone(name="grow", clusterId=record["clusterId"], clusterStack={"outputs": {}}),
    )
    ctx = step_context(db=db, settings=settings)

    with pytest.raises(SpecValidationError) as err:
        nodegroups.request_add(ctx, "grow", {"name": "mixed", "instanceTypes": ["g5.xlarge", "inf2.xlarge"]}, "me")
    assert refusal(err) == {"instanceTypes[1]": "instance_accelerator_mismatch"}
    assert "operation" not in db.get_cluster("grow")

    nodegroups.request_add(ctx, "grow", {"name": "arm-gpu", "instanceType": "g5g.xlarge"}, "me")
    target = db.get_cluster("grow")["operation"]["spec"]["managedNodeGroups"]
    assert {g["name"]: g.get("amiType") for g in target}["arm-gpu"] == "AL2023_ARM_64_NVIDIA"
