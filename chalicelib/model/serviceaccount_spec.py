"""IAM roles for service accounts: `iam.serviceAccounts[]`, as eksctl's ClusterConfig names them.

Each service account gets an IAM role of its own, in a stack of its own
(`eksctl-CLUSTER-addon-iamserviceaccount-NAMESPACE-NAME`), that trusts the cluster's OIDC provider
for that service account only; then the Kubernetes ServiceAccount is created (its namespace too, if
missing) or annotated with `eks.amazonaws.com/role-arn`. With `attachRoleARN` no stack is made: the
account is annotated with a role that already exists. That is safe to allow: a pod gets that role's
credentials only by trading its service account token with STS, which it does only for a role whose
trust policy names this cluster's OIDC provider and this service account, so the annotation grants
nothing the role's owner did not already grant.

The role's managed policies (`attachPolicyARNs`) and `wellKnownPolicies` flags are held to the
service's allow-list (EKSPRESS_ALLOWED_POLICY_ARNS, policy.requested_policy_arns), its inline policy
(`attachPolicy`) to the inline policy rule (inline_policy).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.model import naming
from chalicelib.model.inline_policy import InlinePolicy  # noqa: TC001 (pydantic reads it at runtime)
from chalicelib.model.selfmanaged_spec import MAX_ROLE_POLICIES
from chalicelib.model.validation import (
    POLICY_ARN_PATTERN,
    PermissionsBoundaryArn,
    Problem,
    SpecModel,
    Tags,
    check_labels,
)
from chalicelib.model.well_known import WellKnownPolicies  # noqa: TC001 (pydantic reads it at runtime)

# The annotation EKS's pod identity webhook reads: the role a pod of the service account assumes.
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
DEFAULT_NAMESPACE = naming.DEFAULT_NAMESPACE
# Kubernetes' names: a namespace is a DNS label (RFC 1123), a service account a DNS subdomain.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_ANNOTATION_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/([\x21-\x7e]+/)?[\w+=,.@-]{1,64}$"
ROLE_NAME_PATTERN = r"^[\w+=,.@-]{1,64}$"
# What the name of every role the stacks make starts with (the stack role's IAM permissions say so).
ROLE_NAME_PREFIX = "eksctl-"
MAX_SERVICE_ACCOUNTS = 50
# The wellKnownPolicies flags met with a managed policy (cfn/well_known_policies.py MANAGED_POLICIES), which
# count toward IAM's limit on a role's managed policies with attachPolicyARNs.
WELL_KNOWN_MANAGED = ("imageBuilder", "ebsCSIController")


def check_role_name(value: str) -> str:
    """A role the stacks make is named `eksctl-*`: the only roles the service's stack role may create and pass."""
    if not value.startswith(ROLE_NAME_PREFIX):
        raise PydanticCustomError(
            "role_name_prefix",
            "the service creates and passes only roles named {prefix}*: start roleName with {prefix} "
            "(or leave it out for CloudFormation to name the role)",
            {"prefix": ROLE_NAME_PREFIX},
        )
    return value


def check_namespace(value: str) -> str:
    """A Kubernetes namespace name: a DNS label."""
    if not _DNS_LABEL.match(value):
        raise PydanticCustomError(
            "namespace_name",
            "a namespace is a DNS label: at most 63 lower-case letters, digits and '-', starting and ending "
            "with a letter or digit",
        )
    return value


def check_service_account_name(value: str) -> str:
    """A Kubernetes service account name: a DNS subdomain."""
    if not _DNS_SUBDOMAIN.match(value):
        raise PydanticCustomError(
            "service_account_name",
            "a service account name is a DNS subdomain: at most 253 lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit",
        )
    return value


def check_annotations(annotations: dict[str, str]) -> dict[str, str]:
    """Kubernetes annotation keys (`[prefix/]name`); the role ARN annotation is the service's to write."""
    for key in annotations:
        prefix, _, name = key.rpartition("/")
        if not _ANNOTATION_NAME.match(name) or (prefix and not _DNS_SUBDOMAIN.match(prefix)):
            raise PydanticCustomError(
                "annotation_key", "annotation key '{key}' is not a valid Kubernetes annotation key", {"key": key}
            )
        if key == ROLE_ARN_ANNOTATION:
            raise PydanticCustomError(
                "annotation_reserved",
                "{key} is set to the role ekspress makes (or to attachRoleARN); leave it out of annotations",
                {"key": key},
            )
    return annotations


class ServiceAccountMetaSpec(SpecModel):
    """`metadata` of a service account: which one, and what it carries besides its role."""

    name: Annotated[str, Field(min_length=1, max_length=253), AfterValidator(check_service_account_name)]
    namespace: Annotated[str, Field(min_length=1, max_length=63), AfterValidator(check_namespace)] = DEFAULT_NAMESPACE
    labels: Annotated[dict[str, str], AfterValidator(check_labels)] = Field(default_factory=dict)
    annotations: Annotated[dict[str, str], AfterValidator(check_annotations)] = Field(default_factory=dict)


class ServiceAccountSpec(SpecModel):
    """One of `iam.serviceAccounts`: a service account and the IAM role its pods assume."""

    metadata: ServiceAccountMetaSpec
    attach_policy_arns: Annotated[
        list[Annotated[str, Field(pattern=POLICY_ARN_PATTERN)]] | None,
        Field(min_length=1, max_length=MAX_ROLE_POLICIES),
    ] = Field(default=None, alias="attachPolicyARNs")
    attach_policy: InlinePolicy | None = None
    well_known_policies: WellKnownPolicies | None = None
    attach_role_arn: Annotated[str, Field(max_length=2048, pattern=ROLE_ARN_PATTERN)] | None = Field(
        default=None, alias="attachRoleARN"
    )
    permissions_boundary: PermissionsBoundaryArn | None = None
    role_name: Annotated[str, Field(pattern=ROLE_NAME_PATTERN), AfterValidator(check_role_name)] | None = None
    # Only the role: no ServiceAccount is created or annotated.
    role_only: bool | None = None
    tags: Tags = Field(default_factory=dict)

    @model_validator(mode="after")
    def _role(self) -> ServiceAccountSpec:
        """eksctl's rule: the role needs a policy, or is an existing one; an existing one takes nothing else."""
        made = {
            "attachPolicyARNs": self.attach_policy_arns,
            "attachPolicy": self.attach_policy,
            "wellKnownPolicies": self.well_known_policies and self.well_known_policies.any,
        }
        if self.attach_role_arn is None:
            if not any(made.values()):
                raise PydanticCustomError(
                    "service_account_role",
                    "give the role attachPolicyARNs, attachPolicy or wellKnownPolicies, or name an existing role "
                    "with attachRoleARN",
                )
            if self.managed_policy_count > MAX_ROLE_POLICIES:
                raise PydanticCustomError(
                    "too_many_role_policies",
                    "the role would hold {count} managed policies (attachPolicyARNs and the wellKnownPolicies "
                    "imageBuilder and ebsCSIController); IAM allows {limit}",
                    {"count": self.managed_policy_count, "limit": MAX_ROLE_POLICIES},
                )
            return self
        with_role = [
            name
            for name, value in {
                **made,
                "permissionsBoundary": self.permissions_boundary,
                "roleName": self.role_name,
                "tags": self.tags,
            }.items()
            if value
        ]
        if with_role:
            raise PydanticCustomError(
                "attach_role_exclusive",
                "attachRoleARN names an existing role, so no role is made for {fields} to apply to",
                {"fields": ", ".join(with_role)},
            )
        if self.role_only:
            raise PydanticCustomError(
                "attach_role_exclusive",
                "with attachRoleARN and roleOnly there is nothing to make: no role and no service account",
            )
        return self

    @property
    def managed_policy_count(self) -> int:
        """The managed policies the role would hold."""
        flags = self.well_known_policies.enabled() if self.well_known_policies else []
        return len(self.attach_policy_arns or []) + sum(flag in WELL_KNOWN_MANAGED for flag in flags)

    @property
    def member(self) -> str:
        """How the account is named in its stack's name (`NAMESPACE-NAME`)."""
        return naming.service_account_member(self.metadata.namespace, self.metadata.name)

    @property
    def needs_stack(self) -> bool:
        """Whether a stack makes the account's role (not when it names an existing one)."""
        return self.attach_role_arn is None

    @property
    def qualified_name(self) -> str:
        """`NAMESPACE/NAME`."""
        return f"{self.metadata.namespace}/{self.metadata.name}"


# `iam.serviceAccounts`.
ServiceAccounts = Annotated[list[ServiceAccountSpec], Field(max_length=MAX_SERVICE_ACCOUNTS)]


def service_account_problems(cluster: str, accounts: list[ServiceAccountSpec]) -> list[Problem]:
    """The rules across a cluster's service accounts: no account twice, and stack names that fit.

    Two accounts may differ and still share a stack name (`a-b/c` and `a/b-c` both give `a-b-c`):
    refused as well, since eksctl would make one stack for both.
    """
    problems: list[Problem] = []
    seen: set[str] = set()
    members: dict[str, str] = {}
    for index, account in enumerate(accounts):
        loc = ("iam", "serviceAccounts", index, "metadata")
        name = account.qualified_name
        if name in seen:
            problems.append(((*loc, "name"), "duplicate_name", f"service account {name} is listed twice", name))
            continue
        seen.add(name)
        if not account.needs_stack:
            continue
        stack = naming.iamserviceaccount_stack_name(cluster, account.member)
        if account.member in members:
            message = f"{name} and {members[account.member]} would both be made in stack {stack}"
            problems.append(((*loc, "name"), "duplicate_stack_name", message, name))
        members.setdefault(account.member, name)
        if len(stack) > naming.MAX_STACK_NAME:
            # The stack name joins them with a '-'.
            limit = naming.MAX_STACK_NAME - len(naming.iamserviceaccount_stack_name(cluster, "")) - 1
            message = (
                f"the stack name {stack} would pass {naming.MAX_STACK_NAME} characters; with this cluster name, "
                f"namespace and name may be at most {limit} characters together"
            )
            problems.append(((*loc, "name"), "stack_name_too_long", message, name))
    return problems
