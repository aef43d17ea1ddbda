"""EKS Pod Identity: `iam.podIdentityAssociations[]` and an add-on's `podIdentityAssociations[]`.

An association gives a Kubernetes service account an IAM role the EKS Pod Identity agent hands to its
pods: the role trusts `pods.eks.amazonaws.com` (sts:AssumeRole, sts:TagSession), not an OIDC
provider, so no `iam.withOIDC` is needed, but the `eks-pod-identity-agent` add-on is (eksctl's rule).
Each association of `iam.podIdentityAssociations` is made in a stack of its own
(`eksctl-NAME-podidentityrole-NS-SA`) with its role; an add-on's are made with the add-on.

The role is always one the service makes: its managed policies (`permissionPolicyARNs`,
`wellKnownPolicies`) are held to the service's allow-list (policy.requested_policy_arns), its inline
policy (`permissionPolicy`) to the inline policy rule. `roleARN` and `targetRoleARN` name roles the
service did not make, which EKS would need iam:PassRole on: refused (refusals.REASONS).
"""

from __future__ import annotations

from collections.abc import Collection  # noqa: TC003
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.model import naming
from chalicelib.model.inline_policy import InlinePolicy  # noqa: TC001 (pydantic reads it at runtime)
from chalicelib.model.selfmanaged_spec import MAX_ROLE_POLICIES
from chalicelib.model.serviceaccount_spec import (
    ROLE_NAME_PATTERN,
    check_namespace,
    check_role_name,
    check_service_account_name,
)
from chalicelib.model.validation import POLICY_ARN_PATTERN, PermissionsBoundaryArn, Problem, SpecModel, Tags
from chalicelib.model.well_known import WellKnownPolicies  # noqa: TC001 (pydantic reads it at runtime)

# The add-on every association needs: its agent hands the pods their credentials.
POD_IDENTITY_AGENT = "eks-pod-identity-agent"
# The service principal a pod identity role trusts, and what it may do.
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"
MAX_ASSOCIATIONS = 50
# The namespace of every add-on ekspress makes.
ADDON_NAMESPACE = "kube-system"

ServiceAccountName = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(check_service_account_name)]
Namespace = Annotated[str, Field(min_length=1, max_length=63), AfterValidator(check_namespace)]
PolicyArns = Annotated[
    list[Annotated[str, Field(pattern=POLICY_ARN_PATTERN)]] | None, Field(min_length=1, max_length=MAX_ROLE_POLICIES)
]


class PodIdentityRoleSpec(SpecModel):
    """The role of an association: what it may do (at least one of the three), its name, boundary and tags."""

    role_name: Annotated[str, Field(pattern=ROLE_NAME_PATTERN), AfterValidator(check_role_name)] | None = None
    permission_policy_arns: PolicyArns = Field(default=None, alias="permissionPolicyARNs")
    permission_policy: InlinePolicy | None = None
    well_known_policies: WellKnownPolicies | None = None
    permissions_boundary_arn: PermissionsBoundaryArn | None = Field(default=None, alias="permissionsBoundaryARN")
    tags: Tags = Field(default_factory=dict)

    @model_validator(mode="after")
    def _permissions(self) -> PodIdentityRoleSpec:
        """eksctl's rule: the role is given something to do (its `roleARN` alternative is refused here)."""
        if not (
            self.permission_policy_arns
            or self.permission_policy
            or (self.well_known_policies and self.well_known_policies.any)
        ):
            raise PydanticCustomError(
                "pod_identity_permissions",
                "give the role permissionPolicyARNs, permissionPolicy or wellKnownPolicies "
                "(roleARN, an existing role, is not supported)",
            )
        return self


class PodIdentityAssociationSpec(PodIdentityRoleSpec):
    """One of `iam.podIdentityAssociations`: a service account and the role its pods get."""

    namespace: Namespace
    service_account_name: ServiceAccountName
    # Kept for the Kubernetes side (the service account made with the association); the stack makes none.
    create_service_account: bool = False
    # AWS::EKS::PodIdentityAssociation DisableSessionTags: unset is EKS's default (session tags on).
    disable_session_tags: bool | None = None

    @property
    def member(self) -> str:
        """How the association is named in its stack's name (`NAMESPACE-SERVICEACCOUNT`)."""
        return naming.service_account_member(self.namespace, self.service_account_name)

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}/{self.service_account_name}"


def _addon_namespace(value: str) -> str:
    if value != ADDON_NAMESPACE:
        raise PydanticCustomError(
            "addon_namespace", "the add-on's service accounts are in {namespace}", {"namespace": ADDON_NAMESPACE}
        )
    return value


class AddonPodIdentitySpec(PodIdentityRoleSpec):
    """One of `addons[].podIdentityAssociations`: EKS associates the role with the add-on's service account."""

    service_account_name: ServiceAccountName
    # EKS puts the association in the add-on's namespace; eksctl's field may only say so.
    namespace: Annotated[str, AfterValidator(_addon_namespace)] | None = None


# `iam.podIdentityAssociations`.
PodIdentityAssociations = Annotated[list[PodIdentityAssociationSpec], Field(max_length=MAX_ASSOCIATIONS)]


def pod_identity_problems(
    cluster: str, associations: list[PodIdentityAssociationSpec], addons: Collection[str], auto_mode: bool
) -> list[Problem]:
    """The rules across `iam.podIdentityAssociations`: the agent add-on, each account once, stack names that fit.

    EKS Auto Mode runs the agent itself (eksctl asks for the add-on only without Auto Mode).
    """
    problems: list[Problem] = []
    loc: tuple[str | int, ...] = ("iam", "podIdentityAssociations")
    if associations and POD_IDENTITY_AGENT not in addons and not auto_mode:
        message = (
            f"pod identity associations need the {POD_IDENTITY_AGENT} add-on, whose agent gives pods their "
            f"credentials (eksctl's rule): add {{name: {POD_IDENTITY_AGENT}}} to addons"
        )
        problems.append((loc, "pod_identity_agent_required", message, None))
    seen: dict[str, str] = {}
    for index, association in enumerate(associations):
        where = (*loc, index, "serviceAccountName")
        name = association.qualified_name
        member = association.member
        if member in seen:
            rule = "duplicate_association" if seen[member] == name else "duplicate_stack_name"
            message = (
                f"{name} has one association at most (EKS's rule)"
                if seen[member] == name
                else f"{name} and {seen[member]} would both be made in stack "
                f"{naming.podidentityrole_stack_name(cluster, member)}"
            )
            problems.append((where, rule, message, name))
            continue
        seen[member] = name
        stack = naming.podidentityrole_stack_name(cluster, member)
        if len(stack) > naming.MAX_STACK_NAME:
            limit = naming.MAX_STACK_NAME - len(naming.podidentityrole_stack_name(cluster, "")) - 1
            message = (
                f"the stack name {stack} would pass {naming.MAX_STACK_NAME} characters; with this cluster name, "
                f"namespace and serviceAccountName may be at most {limit} characters together"
            )
            problems.append((where, "stack_name_too_long", message, name))
    return problems
