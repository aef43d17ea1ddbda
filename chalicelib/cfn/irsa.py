"""IAM roles for service accounts (IRSA): a role only one Kubernetes service account of a cluster can assume.

The role trusts the cluster's OIDC provider (the cluster stack exports its ARN) for web identities
whose token names exactly `system:serviceaccount:NAMESPACE:NAME` with audience `sts.amazonaws.com`,
as eksctl's `iam.serviceAccounts` and its add-on roles do. Used by every stack that gives a service
account a role: the add-ons stack and the `iamserviceaccount` stacks.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.cfn.template import OUTPUT_OIDC_PROVIDER_ARN, export_name, get_att

if TYPE_CHECKING:
    from chalicelib.cfn.template import Template

AUDIENCE = "sts.amazonaws.com"
# The name of the inline policy a caller's statements go in (eksctl names it after the stack's role).
INLINE_POLICY_NAME = "Policy1"


def service_account_subject(namespace: str, service_account: str) -> str:
    """The `sub` claim of a service account's projected token."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def trust_policy(cluster: str, namespace: str, service_account: str) -> dict[str, Any]:
    """The role's AssumeRolePolicyDocument: the cluster's OIDC provider, for this service account only.

    The provider's ARN is imported from the cluster stack, and its issuer
    (`oidc.eks.REGION.amazonaws.com/id/ID`) is the ARN after `oidc-provider/`. Condition keys cannot
    hold an intrinsic function, so the document is a string that Fn::Sub fills in.
    """
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": "${ProviderArn}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "${Issuer}:sub": service_account_subject(namespace, service_account),
                        "${Issuer}:aud": AUDIENCE,
                    }
                },
            }
        ],
    }
    provider = {"Fn::ImportValue": export_name(cluster, OUTPUT_OIDC_PROVIDER_ARN)}
    issuer = {"Fn::Select": [1, {"Fn::Split": [":oidc-provider/", provider]}]}
    return {"Fn::Sub": [json.dumps(document, separators=(",", ":")), {"ProviderArn": provider, "Issuer": issuer}]}


def add_irsa_role(
    t: Template,
    cluster: str,
    namespace: str,
    service_account: str,
    logical_id: str,
    *,
    managed_policy_arns: list[Any],
    statements: list[dict[str, Any]] | None = None,
    permissions_boundary: str | None = None,
    role_name: str | None = None,
) -> dict[str, Any]:
    """Add the IRSA role of `namespace/service_account` as `logical_id`; return its ARN (Fn::GetAtt).

    `managed_policy_arns` are attached as they are (strings or intrinsics); `statements`, when given,
    go in one inline policy. Without a `role_name` CloudFormation names the role. No Tags: the
    stack's tags propagate to the role; a caller with tags of its own sets them on
    `t.resources[logical_id]["Properties"]`.
    """
    properties = role_properties(
        trust_policy(cluster, namespace, service_account),
        managed_policy_arns,
        statements,
        permissions_boundary,
        role_name,
    )
    t.new_resource(logical_id, "AWS::IAM::Role", properties)
    return get_att(logical_id, "Arn")


def role_properties(
    trust: Any,
    managed_policy_arns: list[Any],
    statements: list[dict[str, Any]] | None,
    permissions_boundary: str | None,
    role_name: str | None,
) -> dict[str, Any]:
    """An AWS::IAM::Role's properties for a pod's role (IRSA or EKS Pod Identity): its trust, its policies
    (managed ones as given, `statements` in one inline policy), its boundary and name when given."""
    properties: dict[str, Any] = {"AssumeRolePolicyDocument": trust}
    if managed_policy_arns:
        properties["ManagedPolicyArns"] = list(managed_policy_arns)
    if statements:
        properties["Policies"] = [
            {
                # Unique within the role is enough; the stack's name could take it past IAM's 128 characters.
                "PolicyName": INLINE_POLICY_NAME,
                "PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
            }
        ]
    if permissions_boundary:
        properties["PermissionsBoundary"] = permissions_boundary
    if role_name:
        properties["RoleName"] = role_name
    return properties
