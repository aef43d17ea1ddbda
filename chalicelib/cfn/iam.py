"""The IAM resource sets: the cluster's service role and a node group's instance role.

Mirrors eksctl's `iam.go` in `pkg/cfn/builder`: roles the EKS and EC2 services
assume, holding AWS managed policies only.
"""

from __future__ import annotations

from chalicelib.cfn.template import OUTPUT_NODE_ROLE_ARN, OUTPUT_SERVICE_ROLE_ARN, Template, get_att
from chalicelib.model import naming

CLUSTER_POLICIES = naming.CLUSTER_POLICIES
WORKER_POLICIES = naming.WORKER_POLICIES
AUTO_MODE_CLUSTER_POLICIES = naming.AUTO_MODE_CLUSTER_POLICIES
AUTO_MODE_NODE_POLICIES = naming.AUTO_MODE_NODE_POLICIES
# eksctl's service role trust: EKS may tag its sessions (Auto Mode's capabilities assume the role with tags).
SERVICE_ROLE_ACTIONS = ("sts:AssumeRole", "sts:TagSession")


def policy_arn(name: str) -> dict[str, str]:
    """An AWS managed policy's ARN, in whichever partition the stack runs."""
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{name}"}


def add_service_role(t: Template, permissions_boundary: str | None = None) -> dict[str, list[str]]:
    """Add the role the EKS control plane assumes; export its ARN and return it.

    Trusted with `sts:TagSession` too, as eksctl trusts it, whether or not Auto Mode is on: the trust
    policy stays one document, and an Auto Mode cluster's role needs it. `permissions_boundary`
    (iam.serviceRolePermissionsBoundary) only narrows what the role may do.
    """
    arn = _role(t, "ServiceRole", "eks.amazonaws.com", CLUSTER_POLICIES, SERVICE_ROLE_ACTIONS)
    if permissions_boundary:
        t.resources["ServiceRole"]["Properties"]["PermissionsBoundary"] = permissions_boundary
    t.add_output(OUTPUT_SERVICE_ROLE_ARN, arn, export=True)
    return arn


def add_auto_mode_policies(t: Template) -> None:
    """Give the service role (`add_service_role`'s) the policies EKS Auto Mode needs (eksctl's AutoModeIAMPolicies)."""
    properties = t.resources["ServiceRole"]["Properties"]
    properties["ManagedPolicyArns"] = [policy_arn(p) for p in (*CLUSTER_POLICIES, *AUTO_MODE_CLUSTER_POLICIES)]


def add_auto_mode_node_role(t: Template) -> dict[str, list[str]]:
    """Add the role EKS Auto Mode gives its nodes (eksctl's AutoModeNodeRole); return its ARN.

    EKS itself gives the role its access entry (type EC2) when the cluster is made.
    """
    return _role(t, "AutoModeNodeRole", "ec2.amazonaws.com", AUTO_MODE_NODE_POLICIES)


def add_node_instance_role(t: Template) -> dict[str, list[str]]:
    """Add the role a node group's instances assume; output its ARN (aws-auth maps it) and return it."""
    arn = _role(t, "NodeInstanceRole", "ec2.amazonaws.com", WORKER_POLICIES)
    t.add_output(OUTPUT_NODE_ROLE_ARN, arn)
    return arn


def _role(
    t: Template,
    logical_id: str,
    service: str,
    policies: tuple[str, ...],
    actions: tuple[str, ...] = ("sts:AssumeRole",),
) -> dict[str, list[str]]:
    """Add a role `service` may assume (with `actions`), holding `policies`; return its ARN."""
    t.new_resource(
        logical_id,
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": [service]}, "Action": list(actions)}],
            },
            "ManagedPolicyArns": [policy_arn(p) for p in policies],
            # No Tags: the stack's tags propagate to the role.
        },
    )
    return get_att(logical_id, "Arn")
