"""An add-on's IAM, configuration and conflicts, and `addonsConfig`: the rules eksctl's `addons[]` follow.

The add-ons whose pods call AWS (vpc-cni, aws-ebs-csi-driver) take an IAM role for their service
account, as eksctl gives one, in the first way that applies:

1. `podIdentityAssociations`: a role per association, trusting EKS Pod Identity
   (`pods.eks.amazonaws.com`), given to EKS with the add-on (AWS::EKS::Addon PodIdentityAssociations);
2. IRSA: `attachPolicyARNs`, `attachPolicy` or `wellKnownPolicies` (at most one), a role trusting
   the cluster's OIDC provider for the add-on's service account (ServiceAccountRoleArn);
3. `useDefaultPodIdentityAssociations` or `addonsConfig.autoApplyPodIdentityAssociations`: a pod
   identity role with the add-on's recommended policy;
4. with `iam.withOIDC`, an IRSA role with the recommended policy (vpc-cni: AmazonEKS_CNI_Policy;
   aws-ebs-csi-driver: AmazonEBSCSIDriverPolicy, eksctl's `ebsCSIController`).

eksctl warns and goes on where a request cannot be met (IRSA without OIDC, IAM for an add-on that
makes no AWS call); here it is a 422, since nothing asked for is silently dropped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from chalicelib.model.podidentity_spec import POD_IDENTITY_AGENT
from chalicelib.model.validation import Problem, SpecModel

if TYPE_CHECKING:
    from chalicelib.model.spec import AddonSpec, ClusterSpec


class AddonAccount(NamedTuple):
    """The service account of an add-on that calls AWS, and the AWS managed policy EKS recommends for it."""

    namespace: str
    service_account: str
    managed_policy: str


# eksctl's known service account locations and recommended policies (IRSA and EKS Pod Identity alike).
ADDON_ACCOUNTS = {
    "vpc-cni": AddonAccount("kube-system", "aws-node", "AmazonEKS_CNI_Policy"),
    "aws-ebs-csi-driver": AddonAccount("kube-system", "ebs-csi-controller-sa", "service-role/AmazonEBSCSIDriverPolicy"),
}
# The add-ons EKS installs itself (self-managed) on a cluster it bootstraps (BootstrapSelfManagedAddons).
BOOTSTRAPPED_ADDONS = frozenset({"vpc-cni", "kube-proxy", "coredns"})
# eksctl's `resolveConflicts` values and AWS::EKS::Addon's.
RESOLVE_CONFLICTS = {"none": "NONE", "overwrite": "OVERWRITE", "preserve": "PRESERVE"}
# EKS's limit on an add-on's configuration values.
MAX_CONFIGURATION_VALUES = 16384


def parse_configuration_values(value: str) -> dict[str, Any]:
    """An add-on's configuration values as a mapping: JSON, else YAML (as eksctl reads them)."""
    try:
        parsed = json.loads(value)
    except ValueError:
        import yaml  # only requests with YAML configuration values pay for this import

        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = None
    if not isinstance(parsed, dict):
        raise PydanticCustomError(
            "configuration_values",
            "configurationValues must be a JSON object or a YAML mapping (EKS takes a JSON object)",
        )
    return parsed


def check_configuration_values(value: str) -> str:
    parse_configuration_values(value)
    return value


def configuration_json(value: str) -> str:
    """What AWS::EKS::Addon ConfigurationValues gets: the values as JSON (eksctl converts YAML too)."""
    return json.dumps(parse_configuration_values(value), separators=(",", ":"), sort_keys=True)


ConfigurationValues = Annotated[
    str, Field(min_length=1, max_length=MAX_CONFIGURATION_VALUES), AfterValidator(check_configuration_values)
]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# eksctl writes EKS's values (`OVERWRITE`) or lower case (`overwrite`); kept lower case.
ResolveConflicts = Annotated[Literal["none", "overwrite", "preserve"], BeforeValidator(_lower)]


class AddonsConfigSpec(SpecModel):
    """`addonsConfig`: what eksctl does for every add-on at once."""

    # Each add-on that calls AWS and is given no IAM of its own gets pod identity with the recommended policy.
    auto_apply_pod_identity_associations: bool = False
    # No add-on unless listed: the cluster is made without EKS's self-managed vpc-cni, kube-proxy and coredns.
    disable_default_addons: bool = False


def uses_pod_identity(addon: AddonSpec, config: AddonsConfigSpec | None) -> bool:
    """Whether the add-on's role trusts EKS Pod Identity (cases 1 and 3 of the module's order)."""
    if addon.name not in ADDON_ACCOUNTS:
        return False
    if addon.pod_identity_associations:
        return True
    if addon.irsa_policies_set:
        return False
    return addon.use_default_pod_identity_associations or bool(config and config.auto_apply_pod_identity_associations)


def addon_iam_problems(spec: ClusterSpec) -> list[Problem]:
    """The rules of each add-on's IAM and of addonsConfig (see the module's docstring)."""
    problems: list[Problem] = []
    oidc = bool(spec.iam and spec.iam.with_oidc)
    names = [a.name for a in spec.addons]
    config = spec.addons_config
    for index, addon in enumerate(spec.addons):
        loc: tuple[str | int, ...] = ("addons", index)
        asked = addon.iam_fields_set
        if asked and addon.name not in ADDON_ACCOUNTS:
            message = (
                f"{addon.name} makes no AWS call and EKS gives its service account no IAM role (eksctl ignores "
                f"these with a warning); IAM is for {', '.join(ADDON_ACCOUNTS)}"
            )
            problems += [((*loc, field), "addon_takes_no_iam", message, None) for field in asked]
            continue
        irsa = [f for f in ("attachPolicyARNs", "attachPolicy", "wellKnownPolicies") if f in asked]
        if len(irsa) > 1:
            message = "at most one of wellKnownPolicies, attachPolicyARNs and attachPolicy (eksctl's rule)"
            problems.append(((*loc, irsa[1]), "one_of", message, None))
        if irsa and addon.pod_identity_associations:
            message = (
                "an add-on's role is an IRSA role (attachPolicyARNs, attachPolicy, wellKnownPolicies) or pod "
                "identity associations, not both (eksctl's rule)"
            )
            problems.append(((*loc, "podIdentityAssociations"), "addon_iam_exclusive", message, None))
        if irsa and not oidc:
            message = (
                f"{irsa[0]} makes an IRSA role, which trusts the cluster's OIDC provider: set iam.withOIDC: true, "
                "or give the add-on podIdentityAssociations instead"
            )
            problems.append(((*loc, irsa[0]), "addon_needs_oidc", message, None))
        account = ADDON_ACCOUNTS.get(addon.name)
        seen: set[str] = set()
        for n, association in enumerate(addon.pod_identity_associations or []):
            where = (*loc, "podIdentityAssociations", n, "serviceAccountName")
            sa = association.service_account_name
            if account and sa != account.service_account:
                message = (
                    f"{addon.name}'s pods run as {account.namespace}/{account.service_account}; EKS refuses others"
                )
                problems.append((where, "addon_service_account", message, sa))
            if sa in seen:
                problems.append((where, "duplicate_association", f"{sa} is associated twice", sa))
            seen.add(sa)
        if uses_pod_identity(addon, config) and POD_IDENTITY_AGENT not in names and not spec.auto_mode:
            field = (
                "podIdentityAssociations"
                if addon.pod_identity_associations
                else "useDefaultPodIdentityAssociations"
                if addon.use_default_pod_identity_associations
                else "name"
            )
            message = (
                f"{addon.name}'s role is given through EKS Pod Identity, which needs the {POD_IDENTITY_AGENT} add-on "
                f"(eksctl's rule): add {{name: {POD_IDENTITY_AGENT}}} to addons"
            )
            problems.append(((*loc, field), "pod_identity_agent_required", message, None))
    problems += _bare_cluster_problems(spec)
    return problems


def _bare_cluster_problems(spec: ClusterSpec) -> list[Problem]:
    """eksctl's rule for `disableDefaultAddons` without vpc-cni (and without Auto Mode): nothing that runs pods."""
    config = spec.addons_config
    if not config or not config.disable_default_addons or spec.auto_mode:
        return []
    if any(a.name == "vpc-cni" for a in spec.addons):
        return []
    iam = spec.iam
    running = [
        name
        for name, present in (
            ("managedNodeGroups", spec.managed_node_groups),
            ("nodeGroups", spec.node_groups),
            ("fargateProfiles", getattr(spec, "fargate_profiles", None)),
            ("iam.serviceAccounts", getattr(iam, "service_accounts", None)),
            ("iam.podIdentityAssociations", getattr(iam, "pod_identity_associations", None)),
        )
        if present
    ]
    if not running:
        return []
    message = (
        f"with disableDefaultAddons and no vpc-cni add-on the cluster has no pod network: {', '.join(running)} "
        "cannot be made with it (eksctl's rule); add {name: vpc-cni} to addons, or add them once it has one"
    )
    return [(("addonsConfig", "disableDefaultAddons"), "bare_cluster", message, True)]


def resolve_conflicts(addon: AddonSpec, config: AddonsConfigSpec | None) -> str | None:
    """AWS::EKS::Addon ResolveConflicts: the requested value, else the default that matches eksctl's outcome.

    eksctl sends none (EKS's default, NONE) because its clusters are made without EKS's self-managed
    add-ons (BootstrapSelfManagedAddons: false), so its add-ons meet nothing to conflict with. ekspress's
    clusters keep EKS's self-managed vpc-cni, kube-proxy and coredns unless disableDefaultAddons, and an
    add-on made over one of those takes it over (OVERWRITE), as eksctl's managed default add-ons would
    stand in its place; with nothing to conflict with, EKS's default is left (None).
    """
    if addon.resolve_conflicts:
        return RESOLVE_CONFLICTS[addon.resolve_conflicts]
    bootstrapped = not (config and config.disable_default_addons)
    return "OVERWRITE" if bootstrapped and addon.name in BOOTSTRAPPED_ADDONS else None
