"""The add-on resource sets: AWS::EKS::Addon, and the IAM role an add-on's service account assumes.

Mirrors eksctl's `pkg/actions/addon`: add-ons whose pods are DaemonSets go with the control plane
(`add_addons` on the cluster stack); the rest need nodes and go in the add-ons stack
(`eksctl-NAME-addons`), which the create workflow makes once the node group stacks are complete.
An add-on whose pods call AWS gets an IRSA role, as eksctl's `wellKnownPolicies` give one: trusting
the cluster's OIDC provider for its service account only, holding AWS's managed policy.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple

from chalicelib.cfn.iam import policy_arn
from chalicelib.cfn.template import OUTPUT_CLUSTER_NAME, OUTPUT_OIDC_PROVIDER_ARN, export_name, get_att, logical_name

if TYPE_CHECKING:
    from chalicelib.cfn.template import Template
    from chalicelib.model.spec import AddonSpec


class ServiceAccountRole(NamedTuple):
    """The IRSA role of an add-on: who may assume it, and what it may do."""

    namespace: str
    service_account: str
    managed_policy: str


# eksctl's wellKnownPolicies for each add-on that calls AWS (`ebsCSIController` for the EBS CSI driver).
SERVICE_ACCOUNT_ROLES = {
    "aws-ebs-csi-driver": ServiceAccountRole(
        "kube-system", "ebs-csi-controller-sa", "service-role/AmazonEBSCSIDriverPolicy"
    ),
}
OUTPUT_ROLE_SUFFIX = "RoleARN"
OUTPUT_ARN_SUFFIX = "ARN"


def add_addons(t: Template, addons: list[AddonSpec], cluster: Any, roles: dict[str, Any] | None = None) -> None:
    """Add one AWS::EKS::Addon per add-on; without a version (or `latest`) EKS picks its default.

    `roles` gives an add-on's service account its IAM role (ServiceAccountRoleArn), by add-on name.
    """
    for addon in addons:
        properties: dict[str, Any] = {
            "ClusterName": cluster,
            "AddonName": addon.name,
            "ResolveConflicts": "OVERWRITE",
        }
        if addon.version and addon.version != "latest":
            properties["AddonVersion"] = addon.version
        if roles and addon.name in roles:
            properties["ServiceAccountRoleArn"] = roles[addon.name]
        t.new_resource(f"Addon{logical_name(addon.name)}", "AWS::EKS::Addon", properties)


def output_addon_arns(t: Template, addons: list[AddonSpec]) -> None:
    """Output each add-on's ARN (which also keeps the add-ons stack from having no outputs at all)."""
    for addon in addons:
        logical_id = f"Addon{logical_name(addon.name)}"
        t.add_output(f"{logical_id}{OUTPUT_ARN_SUFFIX}", get_att(logical_id, "Arn"))


def add_service_account_role(t: Template, cluster: str, addon: str) -> dict[str, list[str]]:
    """Add the IRSA role of `addon`'s service account; output its ARN and return it.

    The trust policy names the OIDC provider the cluster stack exports, and conditions on its issuer
    (`oidc.eks.REGION.amazonaws.com/id/ID`, the provider ARN after `oidc-provider/`). Condition keys
    cannot hold an intrinsic function, so the document is a string that Fn::Sub fills in.
    """
    role = SERVICE_ACCOUNT_ROLES[addon]
    subject = f"system:serviceaccount:{role.namespace}:{role.service_account}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": "${ProviderArn}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"${Issuer}:sub": subject, "${Issuer}:aud": "sts.amazonaws.com"}},
            }
        ],
    }
    provider = {"Fn::ImportValue": export_name(cluster, OUTPUT_OIDC_PROVIDER_ARN)}
    issuer = {"Fn::Select": [1, {"Fn::Split": [":oidc-provider/", provider]}]}
    logical_id = f"{logical_name(addon)}Role"
    t.new_resource(
        logical_id,
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Fn::Sub": [json.dumps(trust, separators=(",", ":")), {"ProviderArn": provider, "Issuer": issuer}]
            },
            "ManagedPolicyArns": [policy_arn(role.managed_policy)],
            # No Tags: the stack's tags propagate to the role.
        },
    )
    arn = get_att(logical_id, "Arn")
    t.add_output(f"{logical_name(addon)}{OUTPUT_ROLE_SUFFIX}", arn)
    return arn


def add_addons_after_nodes(t: Template, cluster: str, addons: list[AddonSpec], with_oidc: bool) -> None:
    """The add-ons stack's resources: each add-on that needs nodes, with its IRSA role when it has one.

    Without OIDC there is nothing for a role to trust: requests are refused then
    (spec.refuse_addons_that_cannot_run), so only a spec recorded before that rule builds an
    add-on without its role, as eksctl does without OIDC.
    """
    roles: dict[str, Any] = {
        addon.name: add_service_account_role(t, cluster, addon.name)
        for addon in addons
        if with_oidc and addon.name in SERVICE_ACCOUNT_ROLES
    }
    # Imported rather than named: CloudFormation then refuses to delete the cluster stack under it.
    add_addons(t, addons, {"Fn::ImportValue": export_name(cluster, OUTPUT_CLUSTER_NAME)}, roles)
    output_addon_arns(t, addons)
