"""Who may use a cluster: aws-auth identity mappings and EKS access entries, as a request names them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.model.mappings import NODE_GROUPS, aws_auth_key
from chalicelib.model.validation import Problem, SpecModel, raise_problems

IAM_PRINCIPAL_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9_+=,.@/-]+$"
ACCOUNT_PATTERN = r"^[0-9]{12}$"
GROUP_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9:._@-]*$"
# Prefixes EKS refuses in an access entry's username (its own and Kubernetes' components use them):
# https://docs.aws.amazon.com/eks/latest/userguide/set-custom-username.html
RESERVED_USERNAME_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")
# Access entry types eksctl takes. STANDARD is a person's or a tool's; EC2 is EKS Auto Mode's nodes' (given an
# access policy, AmazonEKSAutoNodePolicy); the others are nodes' and Fargate pods', whose Kubernetes identity
# and permissions EKS gives itself.
ACCESS_ENTRY_TYPES = ("STANDARD", "EC2", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX")
# Types EKS refuses Kubernetes groups, a username (any type but STANDARD) or access policies for.
NODE_ACCESS_ENTRY_TYPES = ("EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX")


# AWS services eksctl grants a namespace of the cluster to (`serviceName`); EMR on EKS is its only one.
SERVICE_NAMES = ("emr-containers",)
# A Kubernetes namespace name: a DNS label (RFC 1123).
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class IdentityMapping(SpecModel):
    """One `iamIdentityMappings[]` entry, as eksctl takes it: an IAM role/user, an account, or an AWS
    service (`serviceName`) given one namespace through its service-linked role."""

    arn: Annotated[str, Field(max_length=2048, pattern=IAM_PRINCIPAL_PATTERN)] | None = None
    username: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    groups: Annotated[list[Annotated[str, Field(max_length=128, pattern=GROUP_PATTERN)]], Field(max_length=20)] = Field(
        default_factory=list
    )
    account: Annotated[str, Field(pattern=ACCOUNT_PATTERN)] | None = None
    no_duplicate_arns: bool = Field(default=True, alias="noDuplicateARNs")
    service_name: Literal["emr-containers"] | None = None
    namespace: Annotated[str, Field(pattern=NAMESPACE_PATTERN)] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> IdentityMapping:
        if self._service_fields():
            return self
        if (self.arn is None) == (self.account is None):
            raise_problems(
                "IdentityMapping",
                [(("arn",), "arn_or_account", "give exactly one of arn, account or serviceName", self.arn)],
            )
        if self.account is not None and (self.username or self.groups):
            raise_problems(
                "IdentityMapping",
                [(("account",), "account_only", "an account mapping takes no username or groups", self.account)],
            )
        reserved = sorted(set(self.groups) & set(NODE_GROUPS))
        if reserved:
            raise_problems(
                "IdentityMapping",
                [(("groups",), "node_group_reserved", f"{', '.join(reserved)} are for node roles only", self.groups)],
            )
        return self

    def _service_fields(self) -> bool:
        """A service's mapping names its namespace and nothing else (eksctl's rule): its role and user are the
        service's own; a namespace belongs to a service's mapping only."""
        if self.service_name is None:
            if self.namespace is not None:
                raise_problems(
                    "IdentityMapping",
                    [(("namespace",), "service_name_required", "namespace is taken with serviceName", self.namespace)],
                )
            return False
        given = [("arn", self.arn), ("username", self.username), ("groups", self.groups), ("account", self.account)]
        problems: list[Problem] = [
            ((name,), "service_only", f"a serviceName mapping takes no {name}: the service's role is mapped", v)
            for name, v in given
            if v
        ]
        if self.namespace is None:
            problems.append(
                (("namespace",), "namespace_required", f"serviceName {self.service_name} needs a namespace", None)
            )
        if problems:
            raise_problems("IdentityMapping", problems)
        return True

    @property
    def kind(self) -> str:
        """Which aws-auth list the entry belongs to: mapRoles, mapUsers or mapAccounts."""
        return aws_auth_key(self.arn, self.account, self.service_name)


class AccessScopeSpec(SpecModel):
    type: Literal["cluster", "namespace"]
    namespaces: Annotated[list[str], Field(max_length=20)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _namespaces(self) -> AccessScopeSpec:
        if (self.type == "namespace") != bool(self.namespaces):
            raise PydanticCustomError("scope", "a namespace scope needs namespaces; a cluster scope takes none")
        return self


class AccessPolicySpec(SpecModel):
    policy_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:eks::aws:cluster-access-policy/[A-Za-z]+$")] = Field(
        alias="policyARN"
    )
    access_scope: AccessScopeSpec


class AccessEntrySpec(SpecModel):
    principal_arn: Annotated[str, Field(pattern=IAM_PRINCIPAL_PATTERN)] = Field(alias="principalARN")
    type: Literal["STANDARD", "EC2", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX"] = "STANDARD"
    kubernetes_groups: Annotated[list[Annotated[str, Field(pattern=GROUP_PATTERN)]], Field(max_length=20)] = Field(
        default_factory=list
    )
    kubernetes_username: str | None = None
    access_policies: Annotated[list[AccessPolicySpec], Field(max_length=20)] = Field(default_factory=list)

    @field_validator("kubernetes_groups")
    @classmethod
    def _no_system_groups(cls, groups: list[str]) -> list[str]:
        reserved = [g for g in groups if g.startswith("system:")]
        if reserved:
            raise PydanticCustomError(
                "group_reserved",
                "EKS access entries cannot name system: groups ({groups}); use accessPolicies",
                {"groups": ", ".join(reserved)},
            )
        return groups

    @field_validator("kubernetes_username")
    @classmethod
    def _no_reserved_username(cls, username: str | None) -> str | None:
        if username is not None and username.startswith(RESERVED_USERNAME_PREFIXES):
            raise PydanticCustomError(
                "username_reserved",
                "EKS access entries cannot take a username starting with {prefixes}",
                {"prefixes": ", ".join(RESERVED_USERNAME_PREFIXES)},
            )
        return username

    @model_validator(mode="after")
    def _type_fields(self) -> AccessEntrySpec:
        """EKS gives a node's or Fargate pod's entry its Kubernetes identity itself: none may be asked for."""
        if self.type == "STANDARD":
            return self
        given = [
            ("kubernetesGroups", self.kubernetes_groups),
            ("kubernetesUsername", self.kubernetes_username),
            ("accessPolicies", self.access_policies if self.type in NODE_ACCESS_ENTRY_TYPES else None),
        ]
        problems: list[Problem] = [
            ((name,), "access_entry_type", f"an access entry of type {self.type} takes no {name} (EKS refuses it)", v)
            for name, v in given
            if v
        ]
        if problems:
            raise_problems("AccessEntrySpec", problems)
        return self


class AccessConfigSpec(SpecModel):
    authentication_mode: Literal["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"] = "API_AND_CONFIG_MAP"
    bootstrap_cluster_creator_admin_permissions: bool = True
    access_entries: Annotated[list[AccessEntrySpec], Field(max_length=100)] = Field(default_factory=list)
