"""EKS Hybrid Nodes on the cluster stack (`remoteNetworkConfig`), as eksctl's `cluster.go` and `iam.go` build it.

The control plane gets the remote node and pod networks; the control plane security group ekspress
makes lets them reach the API server on 443 (an existing VPC's `vpc.securityGroup` is the caller's
to open, as in eksctl); the role the remote nodes get credentials for through AWS Systems Manager
(trusting ssm.amazonaws.com for this account and region only, with eksctl's policies) gets a
`HYBRID_LINUX` access entry, and its ARN is exported: it is the role a hybrid activation names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn.iam import policy_arn
from chalicelib.cfn.template import Ref, Template, get_att
from chalicelib.model import naming

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec

ROLE = "HybridNodesSSMRole"  # eksctl's logical id
OUTPUT_REMOTE_NODES_ROLE_ARN = "RemoteNodesRoleARN"
HYBRID_NODE_POLICIES = naming.HYBRID_NODE_POLICIES


def control_plane_properties(spec: ClusterSpec) -> dict[str, Any]:
    """The cluster's RemoteNetworkConfig (nothing without remote networks)."""
    config = spec.remote_network_config
    if config is None:
        return {}
    remote: dict[str, Any] = {"RemoteNodeNetworks": [{"Cidrs": list(n.cidrs)} for n in config.remote_node_networks]}
    if config.remote_pod_networks:
        remote["RemotePodNetworks"] = [{"Cidrs": list(n.cidrs)} for n in config.remote_pod_networks]
    return {"RemoteNetworkConfig": remote}


def add_remote_nodes(t: Template, spec: ClusterSpec, security_group: Ref | str, cluster: Ref) -> None:
    """Add the remote networks' HTTPS rules, the remote nodes' role and its access entry (nothing without them)."""
    config = spec.remote_network_config
    if config is None:
        return
    if isinstance(security_group, dict):  # ekspress's own group, not an existing VPC's
        for index, (_, cidr) in enumerate(config.cidrs):
            t.new_resource(
                f"IngressControlPlaneRemoteNetworks{index}",
                "AWS::EC2::SecurityGroupIngress",
                {
                    "GroupId": security_group,
                    "CidrIp": cidr,
                    "Description": f"Allow nodes/pods from remote network ({cidr}) to communicate to controlplane",
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                },
            )
    t.new_resource(
        ROLE,
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": ["ssm.amazonaws.com"]},
                        "Action": ["sts:AssumeRole"],
                        # Only SSM acting for this account and region (the confused deputy rule EKS's guide adds).
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                            "ArnEquals": {
                                "aws:SourceArn": {
                                    "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:*"
                                }
                            },
                        },
                    }
                ],
            },
            "ManagedPolicyArns": [policy_arn(p) for p in HYBRID_NODE_POLICIES],
            "Policies": [_node_policy(spec)],
        },
    )
    t.new_resource(
        "RemoteNodesAccessEntry",
        "AWS::EKS::AccessEntry",
        {"ClusterName": cluster, "PrincipalArn": get_att(ROLE, "Arn"), "Type": "HYBRID_LINUX"},
    )
    t.add_output(OUTPUT_REMOTE_NODES_ROLE_ARN, get_att(ROLE, "Arn"), export=True)


def _node_policy(spec: ClusterSpec) -> dict[str, Any]:
    """What a hybrid node does with its credentials (eksctl's): read its cluster, and deregister itself from SSM
    when it is taken out of the cluster."""
    cluster_arn = {"Fn::Sub": f"arn:${{AWS::Partition}}:eks:${{AWS::Region}}:${{AWS::AccountId}}:cluster/{spec.name}"}
    return {
        "PolicyName": "RemoteNodes",
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["eks:DescribeCluster"], "Resource": cluster_arn},
                {
                    "Effect": "Allow",
                    "Action": ["ssm:DeregisterManagedInstance", "ssm:DescribeInstanceInformation"],
                    "Resource": "*",
                },
            ],
        },
    }
