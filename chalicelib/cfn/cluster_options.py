"""The cluster-wide options on the control plane, as eksctl's `cluster.go` and `iam.go` build them.

`secretsEncryption` → `EncryptionConfig` (Kubernetes secrets, the caller's KMS key), `zonalShiftConfig` →
`ZonalShiftConfig`, `upgradePolicy` → `UpgradePolicy`, `controlPlaneScalingConfig` →
`ControlPlaneScalingConfig`, `iam.serviceRolePermissionsBoundary` → the service role's `PermissionsBoundary`,
`cloudWatch.clusterLogging.logRetentionInDays` → the control plane's log group, made by the stack
with its retention before the cluster (EKS then writes to it rather than making one that keeps logs forever),
and `identityProviders[]` → an `AWS::EKS::IdentityProviderConfig` each.

The service role needs nothing for the key: EKS makes itself a KMS grant on it when the cluster is
created, with the creator's `kms:CreateGrant` (the stack role's), as eksctl relies on too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn.template import tag_list

if TYPE_CHECKING:
    from chalicelib.cfn.template import Ref, Template
    from chalicelib.model.spec import ClusterSpec

LOG_GROUP = "ControlPlaneLogGroup"


def log_group_name(cluster: str) -> str:
    """The log group EKS writes a cluster's control plane logs to (and never deletes)."""
    return f"/aws/eks/{cluster}/cluster"


def control_plane_properties(spec: ClusterSpec) -> dict[str, Any]:
    """The AWS::EKS::Cluster properties the spec's cluster-wide options add."""
    properties: dict[str, Any] = {}
    if spec.secrets_encryption:
        properties["EncryptionConfig"] = [
            {"Resources": ["secrets"], "Provider": {"KeyArn": spec.secrets_encryption.key_arn}}
        ]
    if spec.zonal_shift_config and spec.zonal_shift_config.enabled:  # eksctl sets it only to enable it
        properties["ZonalShiftConfig"] = {"Enabled": True}
    if spec.upgrade_policy and spec.upgrade_policy.support_type:
        properties["UpgradePolicy"] = {"SupportType": spec.upgrade_policy.support_type}
    if spec.control_plane_scaling_config and spec.control_plane_scaling_config.tier:
        properties["ControlPlaneScalingConfig"] = {"Tier": spec.control_plane_scaling_config.tier}
    return properties


def log_retention(spec: ClusterSpec) -> int | None:
    logging = spec.cloud_watch.cluster_logging if spec.cloud_watch else None
    return logging.log_retention_in_days if logging and logging.enable_types else None


def add_log_group(t: Template, spec: ClusterSpec) -> list[str]:
    """With a log retention, add the control plane's log group; return what the cluster must DependsOn.

    The group has EKS's name, so a group of that name left by an earlier cluster (EKS never deletes
    it) fails the stack with AlreadyExists: the request is refused before that
    (chalicelib/operations/logging.py). The stack deletes the group with the cluster, after it.
    """
    days = log_retention(spec)
    if days is None:
        return []
    t.new_resource(
        LOG_GROUP, "AWS::Logs::LogGroup", {"LogGroupName": log_group_name(spec.name), "RetentionInDays": days}
    )
    return [LOG_GROUP]


def permissions_boundary(spec: ClusterSpec) -> str | None:
    """`iam.serviceRolePermissionsBoundary`: the cluster service role's boundary, if any."""
    return spec.iam.service_role_permissions_boundary if spec.iam else None


def add_identity_providers(t: Template, spec: ClusterSpec, cluster: Ref) -> None:
    """Add an AWS::EKS::IdentityProviderConfig for each `identityProviders[]` entry (eksctl associates the same)."""
    for index, provider in enumerate(spec.identity_providers or []):
        oidc: dict[str, Any] = {"ClientId": provider.client_id, "IssuerUrl": provider.issuer_url}
        for key, value in (
            ("UsernameClaim", provider.username_claim),
            ("UsernamePrefix", provider.username_prefix),
            ("GroupsClaim", provider.groups_claim),
            ("GroupsPrefix", provider.groups_prefix),
        ):
            if value is not None:
                oidc[key] = value
        if provider.required_claims:
            oidc["RequiredClaims"] = [{"Key": k, "Value": v} for k, v in provider.required_claims.items()]
        properties: dict[str, Any] = {
            "ClusterName": cluster,
            "Type": provider.type,
            "IdentityProviderConfigName": provider.name,
            "Oidc": oidc,
        }
        own_tags = t.own_tags(provider.tags)
        if own_tags:
            properties["Tags"] = tag_list(own_tags)
        t.new_resource(f"IdentityProviderConfig{index + 1}", "AWS::EKS::IdentityProviderConfig", properties)
