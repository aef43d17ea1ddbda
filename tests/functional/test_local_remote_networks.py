"""The local engine's EKS holds a hybrid cluster's remote networks to EKS's rules, and describes them."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.functional.test_local_models import REGION, ROLE, failure, stack, two_zone_subnets


def hybrid_cluster(remote: dict[str, Any], mode: str = "API") -> dict[str, Any]:
    subnets = two_zone_subnets()
    props = {
        "Name": "h1",
        "RoleArn": ROLE,
        "ResourcesVpcConfig": {"SubnetIds": subnets},
        "AccessConfig": {"AuthenticationMode": mode},
        "RemoteNetworkConfig": remote,
    }
    return stack("h1-cluster", {"ControlPlane": {"Type": "AWS::EKS::Cluster", "Properties": props}})


def test_the_remote_networks_are_described() -> None:
    made = hybrid_cluster({"RemoteNodeNetworks": [{"Cidrs": ["10.80.0.0/24"]}]})

    assert made["StackStatus"] == "CREATE_COMPLETE", failure("h1-cluster")
    described = boto3.client("eks", region_name=REGION).describe_cluster(name="h1")["cluster"]
    assert described["remoteNetworkConfig"] == {"remoteNodeNetworks": [{"cidrs": ["10.80.0.0/24"]}]}


@pytest.mark.parametrize(
    ("remote", "mode", "reason"),
    [
        ({"RemoteNodeNetworks": [{"Cidrs": ["10.80.0.0/24"]}]}, "CONFIG_MAP", "API or API_AND_CONFIG_MAP"),
        ({"RemoteNodeNetworks": [{"Cidrs": ["8.8.8.0/24"]}]}, "API", "within RFC 1918 or 100.64.0.0/10"),
        ({"RemoteNodeNetworks": [{"Cidrs": ["10.20.128.0/24"]}]}, "API", "overlaps with the VPC CIDR"),
        (
            {"RemoteNodeNetworks": [{"Cidrs": ["10.80.0.0/16"]}], "RemotePodNetworks": [{"Cidrs": ["10.80.1.0/24"]}]},
            "API",
            "another remote network CIDR",
        ),
    ],
)
def test_what_eks_refuses_fails_the_cluster(remote: dict[str, Any], mode: str, reason: str) -> None:
    made = hybrid_cluster(remote, mode)

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    resource, why = failure("h1-cluster")
    assert resource == "ControlPlane"
    assert reason in why
