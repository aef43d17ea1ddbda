"""Cluster-wide options of a request, as eksctl's ClusterConfig names them.

`secretsEncryption` (the cluster's own KMS key for Kubernetes secrets), `zonalShiftConfig`,
`upgradePolicy`, `controlPlaneScalingConfig`, the control plane logs' retention
(`cloudWatch.clusterLogging.logRetentionInDays`) and the cluster service role's permissions
boundary (`iam.serviceRolePermissionsBoundary`). Each is built into the cluster stack
(chalicelib/cfn/cluster_options.py); the rules here are those that need no AWS call. Whether a
key exists and can encrypt is asked of KMS when the cluster is requested
(chalicelib/operations/encryption.py).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.model.validation import Problem, SpecModel, check_tags, raise_problems

# The retention periods CloudWatch Logs accepts (PutRetentionPolicy, AWS::Logs::LogGroup RetentionInDays).
# fmt: off
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)
# fmt: on
# A KMS key by its key ARN or an alias ARN (EKS takes either; a bare key ID or alias name is not enough
# for CloudFormation's EncryptionConfig to say which region and account the key is in).
KMS_KEY_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<kind>key|alias)/(?P<name>[A-Za-z0-9/_-]+)$"
)
# EKS's provisioned control plane tiers (AWS::EKS::Cluster ControlPlaneScalingConfig.Tier).
CONTROL_PLANE_TIERS = ("standard", "tier-xl", "tier-2xl", "tier-4xl", "tier-8xl", "tier-ultra")


def check_retention(days: int) -> int:
    """A retention period CloudWatch Logs accepts."""
    if days not in LOG_RETENTION_DAYS:
        raise PydanticCustomError(
            "log_retention_days",
            "CloudWatch Logs keeps log events for one of {allowed} days, not {days}",
            {"allowed": ", ".join(map(str, LOG_RETENTION_DAYS)), "days": days},
        )
    return days


# `cloudWatch.clusterLogging.logRetentionInDays`.
LogRetentionDays = Annotated[int, AfterValidator(check_retention)]


def retention_needs_log_types(logging: Any) -> Any:
    """eksctl refuses a retention without logging: EKS writes no log group for it to apply to."""
    if logging.log_retention_in_days is not None and not logging.enable_types:
        message = "logRetentionInDays needs enableTypes: with no log type enabled EKS writes no logs to keep"
        raise_problems(
            "ClusterLoggingSpec",
            [(("logRetentionInDays",), "retention_without_logging", message, logging.log_retention_in_days)],
        )
    return logging


def check_key_arn(arn: str) -> str:
    if not KMS_KEY_ARN.fullmatch(arn):
        raise PydanticCustomError(
            "kms_key_arn",
            "name the KMS key by its ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or an alias ARN "
            "(arn:aws:kms:REGION:ACCOUNT:alias/NAME)",
        )
    return arn


class SecretsEncryptionSpec(SpecModel):
    """`secretsEncryption`: Kubernetes secrets encrypted with the caller's KMS key (envelope encryption)."""

    key_arn: Annotated[str, Field(max_length=2048), AfterValidator(check_key_arn)] = Field(alias="keyARN")

    @property
    def key_region(self) -> str:
        match = KMS_KEY_ARN.fullmatch(self.key_arn)
        return match["region"] if match else ""


class ZonalShiftConfigSpec(SpecModel):
    """`zonalShiftConfig`: whether ARC zonal shift may move the cluster's traffic away from a zone."""

    enabled: bool | None = None


class UpgradePolicySpec(SpecModel):
    """`upgradePolicy`: EKS's standard or extended support for the cluster's version."""

    support_type: Literal["STANDARD", "EXTENDED"] | None = None


class ControlPlaneScalingConfigSpec(SpecModel):
    """`controlPlaneScalingConfig`: EKS's provisioned control plane tier."""

    tier: Literal["standard", "tier-xl", "tier-2xl", "tier-4xl", "tier-8xl", "tier-ultra"] | None = None


# Prefixes that would let the identity provider's tokens act as Kubernetes' own users and groups
# (system:masters is cluster-admin; system:kube-controller-manager holds its bindings).
RESERVED_OIDC_PREFIX = "system:"


class IdentityProviderSpec(SpecModel):
    """One `identityProviders[]` entry: an OIDC issuer whose tokens the cluster's API server accepts (EKS allows one).

    The tokens' groups and users reach Kubernetes RBAC without IAM: a provider whose groups came in
    unprefixed could hand out `system:masters`, and `usernamePrefix: "-"` any user name. So groups need a
    `groupsPrefix`, and neither prefix may be `-` or start with `system:` (the service policy's rule that
    cluster-wide admin is granted only where EKSPRESS_MASTERS_ALLOWED says, kept for this door too).
    """

    type: Literal["oidc"]
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    issuer_url: Annotated[str, Field(max_length=2048, pattern=r"^https://[^\s?#]+$")] = Field(alias="issuerURL")
    client_id: Annotated[str, Field(min_length=1, max_length=256)] = Field(alias="clientID")
    username_claim: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    username_prefix: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    groups_claim: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    groups_prefix: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    required_claims: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=63)], Annotated[str, Field(min_length=1, max_length=253)]],
        Field(max_length=10),
    ] = Field(default_factory=dict)
    tags: Annotated[dict[str, str], AfterValidator(check_tags)] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _no_reserved_identities(self) -> IdentityProviderSpec:
        problems: list[Problem] = []
        if self.groups_claim and not self.groups_prefix:
            message = (
                "with groupsClaim, give a groupsPrefix (such as 'oidc:'): unprefixed, the provider's groups could "
                "include system:masters"
            )
            problems.append((("groupsPrefix",), "oidc_groups_prefix", message, None))
        if self.username_claim == "email" and not self.username_prefix:
            # EKS prefixes user names with the issuer URL unless the claim is `email`: unprefixed, an
            # issuer could name any user, Kubernetes' own (system:kube-controller-manager) among them.
            message = (
                "with usernameClaim email, give a usernamePrefix (such as 'oidc:'): unprefixed, the provider "
                "could name any user, Kubernetes' own among them"
            )
            problems.append((("usernamePrefix",), "oidc_username_prefix", message, None))
        for field, value in (("usernamePrefix", self.username_prefix), ("groupsPrefix", self.groups_prefix)):
            if value is not None and (value == "-" or value.startswith(RESERVED_OIDC_PREFIX)):
                message = (
                    f"{field} may be neither '-' (no prefix) nor start with {RESERVED_OIDC_PREFIX}: the provider's "
                    "tokens would then act as Kubernetes' own users and groups"
                )
                problems.append(((field,), "oidc_reserved_prefix", message, value))
        if problems:
            raise_problems("IdentityProviderSpec", problems)
        return self
