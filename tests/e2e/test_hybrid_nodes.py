"""EKS Hybrid Nodes from a ClusterConfig: the remote networks on the cluster, the remote nodes' role and its
HYBRID_LINUX access entry, given back, deleted."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from local import eks_models
from tests.e2e.test_cluster_options import exported
from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "hybrid-nodes.yaml"
NAME, REGION, ACCOUNT = "hybrid", "us-west-2", "123456789012"


def test_the_remote_networks_reach_eks_with_the_nodes_role_and_go(api: Api, engine: LocalEngine) -> None:
    status, body, _ = send(api, "POST", "/clusters", CONFIG.read_bytes(), **{"Content-Type": "application/x-yaml"})
    assert status == 202, body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")

    cluster = engine.client("eks", REGION).describe_cluster(name=NAME)["cluster"]
    assert cluster["remoteNetworkConfig"] == {
        "remoteNodeNetworks": [{"cidrs": ["10.80.146.0/24"]}],
        "remotePodNetworks": [{"cidrs": ["10.81.0.0/16"]}],
    }
    cfn = engine.client("cloudformation", REGION)
    outputs = cfn.describe_stacks(StackName=f"eksctl-{NAME}-cluster")["Stacks"][0]["Outputs"]
    role_arn = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "RemoteNodesRoleARN")
    role = engine.client("iam", REGION).get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["ssm.amazonaws.com"]}
    assert eks_models.access_entries_of(ACCOUNT, REGION, NAME)[role_arn].type == "HYBRID_LINUX"
    ec2 = engine.client("ec2", REGION)
    group = cluster["resourcesVpcConfig"]["securityGroupIds"][0]
    rules = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    https = {r["CidrIp"] for p in rules if p.get("FromPort") == 443 for r in p.get("IpRanges", [])}
    assert {"10.80.146.0/24", "10.81.0.0/16"} <= https
    assert exported(api, NAME)["remoteNetworkConfig"]["remoteNodeNetworks"] == [{"cidrs": ["10.80.146.0/24"]}]

    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    final = api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=120)
    assert final["status"] == "DELETED", final.get("failure")
