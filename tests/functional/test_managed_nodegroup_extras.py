"""A managed group's own image, launch template and attached security groups, checked against moto when
requested: a 422 naming the field before anything is recorded, or the image read into the stored spec."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest

from chalicelib.cfn import templates
from chalicelib.model.errors import NotFoundError, SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import create
from tests.functional.helpers import settings_with_workflows, step_context

if TYPE_CHECKING:
    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings

REGION = "us-west-2"
MISSING_AMI = "ami-0000000000000dead"


@pytest.fixture
def settings() -> Settings:
    return settings_with_workflows("create_state_machine_arn")


def request(db: Store, settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    return create.request_create(step_context(db=db, settings=settings), ClusterSpec.model_validate(body), "tester")


def refused(db: Store, settings: Settings, body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecValidationError) as err:
        request(db, settings, body)
    with pytest.raises(NotFoundError):
        db.get_cluster(body["name"])
    return {f["field"]: f["rule"] for f in err.value.details["fields"]}


def image(architecture: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    found = [i for i in ec2.describe_images(Owners=["amazon"])["Images"] if i.get("Architecture") == architecture]
    return str(found[0]["ImageId"])


def launch_template(data: dict[str, Any]) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    made = ec2.create_launch_template(LaunchTemplateName=f"lt-{len(str(data))}", LaunchTemplateData=data)
    return str(made["LaunchTemplate"]["LaunchTemplateId"])


def test_a_custom_ami_ec2_has_is_recorded_and_built_as_custom(db: Store, settings: Settings) -> None:
    ami = image("x86_64")
    group = {"name": "a", "amiFamily": "AmazonLinux2023", "ami": ami}
    record = request(db, settings, {"name": "own", "region": REGION, "managedNodeGroups": [group]})

    assert record["spec"]["managedNodeGroups"][0]["imageId"] == ami
    spec = ClusterSpec.model_validate(record["spec"])
    properties = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")["Resources"]
    assert properties["ManagedNodeGroup"]["Properties"]["AmiType"] == "CUSTOM"


@pytest.mark.parametrize(
    ("ami", "rule"),
    [(MISSING_AMI, "ami_not_found"), ("arm64", "ami_architecture")],
)
def test_a_custom_ami_ec2_does_not_have_for_the_group_is_a_422(
    db: Store, settings: Settings, ami: str, rule: str
) -> None:
    ami = image(ami) if ami == "arm64" else ami
    group = {"name": "a", "amiFamily": "AmazonLinux2023", "ami": ami}
    body = {"name": "nope", "region": REGION, "managedNodeGroups": [group]}

    assert refused(db, settings, body) == {"managedNodeGroups[0].ami": rule}


def test_a_launch_template_that_exists_is_taken_and_its_image_read(db: Store, settings: Settings) -> None:
    ami = image("x86_64")
    template_id = launch_template({"ImageId": ami})
    group = {"name": "a", "launchTemplate": {"id": template_id, "version": "1"}}
    record = request(db, settings, {"name": "lt", "region": REGION, "managedNodeGroups": [group]})

    stored = record["spec"]["managedNodeGroups"][0]
    assert stored["launchTemplate"] == {"id": template_id, "version": "1"}
    assert stored["imageId"] == ami


@pytest.mark.parametrize(
    ("reference", "field", "rule"),
    [
        ({"id": "lt-0123456789abcdef0"}, "launchTemplate.id", "launch_template_not_found"),
        ({"version": "7"}, "launchTemplate.version", "launch_template_version_not_found"),
    ],
)
def test_a_launch_template_or_version_ec2_does_not_have_is_a_422(
    db: Store, settings: Settings, reference: dict[str, str], field: str, rule: str
) -> None:
    template_id = launch_template({"InstanceType": "m5.large"})
    group = {"name": "a", "launchTemplate": {"id": template_id, **reference}}
    body = {"name": "nope", "region": REGION, "managedNodeGroups": [group]}

    assert refused(db, settings, body) == {f"managedNodeGroups[0].{field}": rule}


def test_instance_types_with_a_template_that_names_one_is_a_422(db: Store, settings: Settings) -> None:
    template_id = launch_template({"InstanceType": "m5.xlarge"})
    group = {"name": "a", "launchTemplate": {"id": template_id}, "instanceTypes": ["m5.large"]}
    body = {"name": "nope", "region": REGION, "managedNodeGroups": [group]}

    assert refused(db, settings, body) == {"managedNodeGroups[0].instanceTypes": "launch_template_instance_type"}


def test_attached_groups_must_be_in_the_existing_vpc(db: Store, settings: Settings) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.51.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        zone: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for zone, cidr in (("us-west-2a", "10.50.0.0/20"), ("us-west-2b", "10.50.16.0/20"))
    }
    mine = ec2.create_security_group(GroupName="mine", Description="d", VpcId=vpc)["GroupId"]
    theirs = ec2.create_security_group(GroupName="theirs", Description="d", VpcId=other)["GroupId"]
    body = {
        "name": "nope",
        "region": REGION,
        "vpc": {"id": vpc, "subnets": {"private": {z: {"id": s} for z, s in subnets.items()}}},
        "managedNodeGroups": [
            {
                "name": "a",
                "privateNetworking": True,
                "securityGroups": {"attachIDs": [mine, theirs, "sg-0123456789abcdef0"]},
            }
        ],
    }

    assert refused(db, settings, body) == {
        "managedNodeGroups[0].securityGroups.attachIDs[1]": "security_group_not_in_vpc",
        "managedNodeGroups[0].securityGroups.attachIDs[2]": "security_group_not_found",
    }


def _engine_group(**extra: Any) -> dict[str, Any]:
    from moto.eks.models import eks_backends

    account = "123456789012"
    eks_backends[account][REGION].create_cluster(
        name="c", role_arn=f"arn:aws:iam::{account}:role/eks", resources_vpc_config={}
    )
    return {
        "ClusterName": "c",
        "NodegroupName": "g",
        "NodeRole": f"arn:aws:iam::{account}:role/node",
        "Subnets": ["subnet-0123abcd"],
        **extra,
    }


@pytest.mark.parametrize(
    ("data", "reference", "ami_type", "says"),
    [
        ({"ImageId": "ami-0123456789abcdef0"}, {}, "AL2023_x86_64_STANDARD", "AmiType is not CUSTOM"),
        ({}, {}, "CUSTOM", "must specify an image id"),
        ({}, {"Id": "lt-0123456789abcdef0"}, None, "does not exist"),
        ({}, {"Version": "9"}, None, "has no version 9"),
    ],
)
def test_the_local_engine_refuses_the_launch_templates_eks_refuses(
    data: dict[str, Any], reference: dict[str, str], ami_type: str | None, says: str
) -> None:
    from local import cfn_models, eks_models

    made = launch_template(data)
    props = _engine_group(LaunchTemplate={"Id": made, "Version": "1", **reference})
    if ami_type:
        props["AmiType"] = ami_type

    with pytest.raises(cfn_models.ResourceFailed, match=says):
        eks_models.EKSNodegroupModel.create(props, "g", "123456789012", REGION)


def test_the_local_engine_takes_a_custom_image_template_with_amitype_custom() -> None:
    from local import eks_models

    made = launch_template({"ImageId": "ami-0123456789abcdef0"})
    props = _engine_group(LaunchTemplate={"Id": made}, AmiType="CUSTOM")

    created = eks_models.EKSNodegroupModel.create(props, "g", "123456789012", REGION)
    assert created.nodegroup.ami_type == "CUSTOM"
