"""The local engine's managed node groups hold EKS's rules on remote access and launch templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.eks.models import eks_backends

from local import cfn_models, eks_models

REGION = "us-west-2"
ACCOUNT = "123456789012"


def import_key(name: str) -> None:
    key = (Path(__file__).resolve().parents[1] / "data" / "ssh" / "id_ed25519.pub").read_bytes()
    boto3.client("ec2", region_name=REGION).import_key_pair(KeyName=name, PublicKeyMaterial=key)


def group(**extra: Any) -> dict[str, Any]:
    eks_backends[ACCOUNT][REGION].create_cluster(
        name="c", role_arn=f"arn:aws:iam::{ACCOUNT}:role/eks", resources_vpc_config={}
    )
    return {
        "ClusterName": "c",
        "NodegroupName": "g",
        "NodeRole": f"arn:aws:iam::{ACCOUNT}:role/node",
        "Subnets": ["subnet-0123abcd"],
        **extra,
    }


def test_remote_access_with_a_launch_template_fails_as_eks_refuses_it() -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    template = ec2.create_launch_template(LaunchTemplateName="t", LaunchTemplateData={})["LaunchTemplate"]
    props = group(
        LaunchTemplate={"Id": template["LaunchTemplateId"], "Version": "1"}, RemoteAccess={"Ec2SshKey": "ops"}
    )

    with pytest.raises(cfn_models.ResourceFailed, match="Remote access configuration cannot be specified"):
        eks_models.EKSNodegroupModel.create(props, "g", ACCOUNT, REGION)


def test_remote_access_with_a_key_ec2_does_not_have_fails_as_eks_refuses_it() -> None:
    props = group(RemoteAccess={"Ec2SshKey": "nobody-s-key"})

    with pytest.raises(cfn_models.ResourceFailed, match="The key pair 'nobody-s-key' does not exist"):
        eks_models.EKSNodegroupModel.create(props, "g", ACCOUNT, REGION)


def test_remote_access_release_version_and_repair_are_described() -> None:
    import_key("ops")
    props = group(
        RemoteAccess={"Ec2SshKey": "ops", "SourceSecurityGroups": ["sg-0123abcd"]},
        ReleaseVersion="1.33.0-20250704",
        NodeRepairConfig={"Enabled": True},
    )
    eks_models.EKSNodegroupModel.create(props, "g", ACCOUNT, REGION)

    described = boto3.client("eks", region_name=REGION).describe_nodegroup(clusterName="c", nodegroupName="g")
    nodegroup = described["nodegroup"]
    assert nodegroup["remoteAccess"] == {"ec2SshKey": "ops", "sourceSecurityGroups": ["sg-0123abcd"]}
    assert nodegroup["releaseVersion"] == "1.33.0-20250704"
    assert nodegroup["nodeRepairConfig"] == {"enabled": True}


def test_a_group_without_ssh_describes_no_remote_access() -> None:
    eks_models.EKSNodegroupModel.create(group(), "g", ACCOUNT, REGION)

    described = boto3.client("eks", region_name=REGION).describe_nodegroup(clusterName="c", nodegroupName="g")
    assert "remoteAccess" not in described["nodegroup"]
