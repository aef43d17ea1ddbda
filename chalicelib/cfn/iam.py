"""The IAM resource sets: the cluster's service role and a node group's instance role.

Mirrors eksctl's `iam.go` in `pkg/cfn/builder`: roles the EKS and EC2 services
assume, holding AWS managed policies only.
"""

from __future__ import annotations

from chalicelib.cfn.template import OUTPUT_NODE_ROLE_ARN, OUTPUT_SERVICE_ROLE_ARN, Template, get_att
from chalicelib.model import naming

CLUSTER_POLICIES = naming.CLUSTER_POLICIES
WORKER_POLICIES = naming.WORKER_POLICIES


def policy_arn(name: str) -> dict[str, str]:
    """An AWS managed policy's ARN, in whichever partition the stack runs."""
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{name}"}


def add_service_role(t: Template) -> dict[str, list[str]]:
    """Add the role the EKS control plane assumes; export its ARN and return it."""
    arn = _role(t, "ServiceRole", "eks.amazonaws.com", CLUSTER_POLICIES)
    t.add_output(OUTPUT_SERVICE_ROLE_ARN, arn, export=True)
    return arn


def add_node_instance_role(t: Template) -> dict[str, list[str]]:
    """Add the role a node group's instances assume; output its ARN (aws-auth maps it) and return it."""
    arn = _role(t, "NodeInstanceRole", "ec2.amazonaws.com", WORKER_POLICIES)
    t.add_output(OUTPUT_NODE_ROLE_ARN, arn)
    return arn


def _role(t: Template, logical_id: str, service: str, policies: tuple[str, ...]) -> dict[str, list[str]]:
    """Add a role `service` may assume, holding `policies`; return its ARN."""
    t.new_resource(
        logical_id,
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": [service]}, "Action": ["sts:AssumeRole"]}],
            },
            "ManagedPolicyArns": [policy_arn(p) for p in policies],
            # No Tags: the stack's tags propagate to the role.
        },
    )
    return get_att(logical_id, "Arn")
