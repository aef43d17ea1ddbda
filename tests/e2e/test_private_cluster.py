"""A fully private cluster from a ClusterConfig (privateCluster): private subnets and VPC endpoints only, aws-auth
and the service account written while the public endpoint is on, then the endpoint turned off before ACTIVE;
what would need the Kubernetes API afterwards is a 409; deleting it leaves nothing."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from chalicelib.kube.serviceaccounts import ROLE_ARN_ANNOTATION
from local.kube.objects import SERVICEACCOUNTS
from tests.e2e.test_cluster_options import exported
from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "private-cluster.yaml"
NAME, REGION = "private-cluster", "us-west-2"
SERVICES = {"ec2", "ecr.api", "ecr.dkr", "sts", "autoscaling", "s3"}


def _reaches(endpoint: str) -> bool:
    """Whether an HTTPS request from here (outside the cluster's VPC) gets any answer from the API server."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        urllib.request.urlopen(f"{endpoint}/version", timeout=5, context=context)
    except urllib.error.HTTPError:
        return True  # refused by the server (401): it answered
    except (urllib.error.URLError, OSError):
        return False
    return True


def test_a_private_cluster_is_built_with_endpoints_then_closed_and_deleted(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    policy(ENV_ALLOWED_POLICY_ARNS="*")
    status, body, _ = send(api, "POST", "/clusters", CONFIG.read_bytes(), **{"Content-Type": "application/x-yaml"})
    assert status == 202, body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"}, timeout=180)
    assert record["status"] == "ACTIVE", record.get("failure")
    assert record["endpointAccess"] == "private"
    messages = [e["message"] for e in api.call("GET", f"/clusters/{NAME}").body["events"]]
    closing = next(i for i, m in enumerate(messages) if m.startswith(f"Turning off the public endpoint of {NAME}"))
    assert closing > next(i for i, m in enumerate(messages) if m.startswith("aws-auth maps"))

    # EKS: private access only now; nothing outside the VPC reaches the API server.
    cluster = engine.client("eks", REGION).describe_cluster(name=NAME)["cluster"]
    vpc_config = cluster["resourcesVpcConfig"]
    assert (vpc_config["endpointPublicAccess"], vpc_config["endpointPrivateAccess"]) == (False, True)
    assert not _reaches(cluster["endpoint"])

    # The network: private subnets, no internet or NAT gateway, an endpoint per service.
    ec2 = engine.client("ec2", REGION)
    vpc_id = vpc_config["vpcId"]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    subnets = ec2.describe_subnets(Filters=in_vpc)["Subnets"]
    assert subnets and not any(s["MapPublicIpOnLaunch"] for s in subnets)
    assert not ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])[
        "InternetGateways"
    ]
    assert not [g for g in ec2.describe_nat_gateways()["NatGateways"] if g["VpcId"] == vpc_id]
    endpoints = ec2.describe_vpc_endpoints(Filters=in_vpc)["VpcEndpoints"]
    assert {e["ServiceName"].removeprefix(f"com.amazonaws.{REGION}.") for e in endpoints} == SERVICES
    assert all(e["PrivateDnsEnabled"] for e in endpoints if e["VpcEndpointType"] == "Interface")

    # What was written through the public endpoint before it closed: the service account, with its role.
    account = engine.emulator(NAME, REGION).objects.get(SERVICEACCOUNTS, "kube-system", "cluster-autoscaler")
    assert account["metadata"]["annotations"][ROLE_ARN_ANNOTATION].startswith("arn:aws:iam::")

    # Changes that need the Kubernetes API are refused up front, saying why; the config is given back.
    refused = api.call("GET", f"/clusters/{NAME}/access")
    assert refused.status == 409 and "fully private" in refused.body["message"], refused.body
    assert exported(api, NAME)["privateCluster"] == {
        "enabled": True,
        "skipEndpointCreation": False,
        "additionalEndpointServices": ["autoscaling"],
    }

    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    final = api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=120)
    assert final["status"] == "DELETED", final.get("failure")
    assert not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
    assert not [e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["VpcId"] == vpc_id]


EXISTING = CONFIG.with_name("private-cluster-existing-vpc.yaml")


def test_a_private_cluster_in_an_existing_vpc_gets_its_endpoints_there_and_leaves_the_network(
    api: Api, engine: LocalEngine
) -> None:
    ec2 = engine.client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    text, tables = EXISTING.read_text().replace("VPC_ID", vpc), []
    for index, zone in enumerate("ab"):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.70.{index}.0/24", AvailabilityZone=f"{REGION}{zone}")
        tables.append(ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"])
        ec2.associate_route_table(RouteTableId=tables[-1], SubnetId=subnet["Subnet"]["SubnetId"])
        text = text.replace(f"SUBNET_{zone.upper()}", subnet["Subnet"]["SubnetId"])

    status, body, _ = send(api, "POST", "/clusters", text.encode(), **{"Content-Type": "application/x-yaml"})
    assert status == 202, body
    record = api.wait_for("private-byo", {"ACTIVE", "FAILED"}, timeout=180)
    assert record["status"] == "ACTIVE", record.get("failure")
    assert (record["endpointAccess"], record["endpointRouteTables"]) == ("private", tables)
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    assert {e["ServiceName"].removeprefix(f"com.amazonaws.{REGION}.") for e in endpoints} == SERVICES
    (s3,) = [e for e in endpoints if e["VpcEndpointType"] == "Gateway"]
    assert sorted(s3["RouteTableIds"]) == sorted(tables)

    assert api.call("DELETE", "/clusters/private-byo").status == 202
    final = api.wait_for("private-byo", {"DELETED", "DELETE_FAILED"}, timeout=120)
    assert final["status"] == "DELETED", final.get("failure")
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"], "the caller's VPC stays"
    assert not ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
