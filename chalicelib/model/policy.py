"""Service policy: what a caller may ask for beyond the request's own validity."""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.model import inline_policy, naming
from chalicelib.model.addon_iam_spec import ADDON_ACCOUNTS
from chalicelib.model.errors import ForbiddenError, SpecValidationError
from chalicelib.model.mappings import MASTERS_GROUP, canonical
from chalicelib.model.settings import (
    ENV_ALLOWED_INSTANCE_TYPES,
    ENV_ALLOWED_POLICY_ARNS,
    ENV_ALLOWED_REGIONS,
    ENV_ALLOWED_VERSIONS,
    ENV_MASTERS_ALLOWED,
    ENV_MAX_CLUSTERS_PER_OWNER,
    ENV_MAX_NODES_PER_CLUSTER,
    ENV_MAX_NODES_PER_NODEGROUP,
    ENV_MAX_TIMEOUT_MINUTES,
    ENV_SERVICE_EGRESS_CIDRS,
)
from chalicelib.model.validation import field_path

if TYPE_CHECKING:
    from collections.abc import Iterable

    from chalicelib.model.access_spec import AccessEntrySpec, AccessPolicySpec
    from chalicelib.model.settings import Settings
    from chalicelib.model.spec import ClusterSpec, IdentityMapping, NodeGroupBase
    from chalicelib.model.well_known import WellKnownPolicies


class Clusters(Protocol):
    """What the policy reads of the cluster records: how many clusters an owner holds (the store)."""

    def count_owned(self, owner: str) -> int: ...


# -- cluster-wide admin: one rule (EKSPRESS_MASTERS_ALLOWED) for every way a request can grant it --------------

RULE_CLUSTER_ADMIN = "cluster_admin_not_allowed"
# EKS access policies that make an access entry an administrator of the whole cluster. EKS's list
# (https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html): AmazonEKSClusterAdminPolicy
# is cluster-admin ("typically" scoped to the cluster); AmazonEKSAdminPolicy is Kubernetes' `admin` role,
# "typically" scoped to namespaces, and admin of every namespace when scoped to the cluster.
CLUSTER_ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"
ADMIN_ACCESS_POLICY = "AmazonEKSAdminPolicy"
# Policies that, where they reach kube-system, read its Secrets or run pods as its service accounts
# (Kubernetes' `admin` and `edit` roles; `AmazonEKSAdminViewPolicy` reads every Secret), whose
# bindings are cluster-wide: cluster admin by another door. Namespaced elsewhere, anyone may grant them.
SYSTEM_REACHING_POLICIES = (ADMIN_ACCESS_POLICY, "AmazonEKSEditPolicy", "AmazonEKSAdminViewPolicy")
# Namespaces whose admin holds the cluster: kube-system runs the control plane's add-ons under service
# accounts bound to cluster-wide roles, and an admin there reads their secrets and starts pods as them.
SYSTEM_NAMESPACES = ("kube-system",)
# Kubernetes users of the cluster's own components (system:kube-controller-manager, system:serviceaccount:...,
# eks:addon-manager, ...): an aws-auth username that names one inherits that component's bindings.
SYSTEM_USERNAME_PREFIXES = ("system:", "eks:")


def check_mappings(mappings: list[IdentityMapping], caller: str, settings: Settings, prefix: str = "") -> None:
    """Granting `system:masters` (or a system user) is cluster-admin: only callers the policy names may do it.

    `prefix` names the list the mappings came from (`iamIdentityMappings`); without it the one
    mapping is the request body (`POST .../access`) and its fields are named bare (`groups`).
    """
    _check_cluster_admin(_mapping_grants(mappings, prefix), caller, settings)


def check_access_entries(
    entries: list[AccessEntrySpec], caller: str, settings: Settings, prefix: str = "accessConfig.accessEntries"
) -> None:
    """Access entries that make their principal a cluster admin: only callers the policy names may ask for them."""
    _check_cluster_admin(_access_entry_grants(entries, prefix), caller, settings)


def admin_access_policy(policy: AccessPolicySpec) -> str | None:
    """Why an associated access policy is cluster-wide admin, or None when it is not.

    AmazonEKSClusterAdminPolicy counts at any scope: it asks for cluster-admin by name, and at
    namespace scope it still holds every verb on every resource there. AmazonEKSAdminPolicy at
    namespace scope is a namespace admin, which anyone may grant, unless a namespace (or a
    pattern) takes in kube-system.
    """
    name = policy.policy_arn.rsplit("/", 1)[-1]
    scope = policy.access_scope
    if name.lower() == CLUSTER_ADMIN_ACCESS_POLICY.lower():
        return f"{name} is cluster-admin at any scope"
    if name.lower() not in {p.lower() for p in SYSTEM_REACHING_POLICIES}:
        return None
    if scope.type == "cluster":
        return f"{name} at cluster scope reaches kube-system: the add-ons' secrets and service accounts"
    system = sorted({s for s in SYSTEM_NAMESPACES for n in scope.namespaces if fnmatch.fnmatchcase(s, n)})
    if system:
        return f"{name} in {', '.join(system)} is admin of the control plane's add-ons and their service accounts"
    return None


def _mapping_grants(mappings: list[IdentityMapping], prefix: str) -> list[dict[str, str]]:
    grants = []
    for index, mapping in enumerate(mappings):
        at = f"{prefix}[{index}]." if prefix else ""
        who = mapping.arn or mapping.account
        if MASTERS_GROUP in mapping.groups:
            grants.append(_grant(f"{at}groups", f"maps {who} to {MASTERS_GROUP} (cluster-admin)"))
        if mapping.username and mapping.username.startswith(SYSTEM_USERNAME_PREFIXES):
            grants.append(
                _grant(f"{at}username", f"names {who} {mapping.username!r}, a user of the cluster's own components")
            )
    return grants


def _access_entry_grants(entries: list[AccessEntrySpec], prefix: str) -> list[dict[str, str]]:
    """Each field of `entries` that grants cluster-wide admin.

    The model already refuses `system:` groups and reserved usernames in access entries (EKS
    does too); they are named here as well, so the rule holds whatever the model accepts.
    """
    grants = []
    for index, entry in enumerate(entries):
        at = f"{prefix}[{index}]."
        who = entry.principal_arn
        if MASTERS_GROUP in entry.kubernetes_groups:
            grants.append(_grant(f"{at}kubernetesGroups", f"puts {who} in {MASTERS_GROUP} (cluster-admin)"))
        if entry.kubernetes_username and entry.kubernetes_username.startswith(SYSTEM_USERNAME_PREFIXES):
            grants.append(
                _grant(f"{at}kubernetesUsername", f"names {who} {entry.kubernetes_username!r}, a system user")
            )
        for number, policy in enumerate(entry.access_policies):
            why = admin_access_policy(policy)
            if why:
                grants.append(_grant(f"{at}accessPolicies[{number}].policyARN", f"gives {who} {why}"))
    return grants


def _grant(field: str, message: str) -> dict[str, str]:
    return {"field": field, "rule": RULE_CLUSTER_ADMIN, "message": f"{message} ({ENV_MASTERS_ALLOWED})"}


def _check_cluster_admin(grants: list[dict[str, str]], caller: str, settings: Settings) -> None:
    """403 naming every field that grants cluster-wide admin, unless the caller matches EKSPRESS_MASTERS_ALLOWED."""
    if not grants or _allowed(caller, settings.masters_allowed):
        return
    named = "; ".join(f"{g['field']} {g['message']}" for g in grants)
    raise ForbiddenError(
        f"{caller} may not grant cluster-wide admin: {named}; the service policy ({ENV_MASTERS_ALLOWED}) "
        "does not allow it for this caller",
        field=grants[0]["field"],
        rule=RULE_CLUSTER_ADMIN,
        setting=ENV_MASTERS_ALLOWED,
        fields=grants,
    )


# -- IAM policies a request may attach (EKSPRESS_ALLOWED_POLICY_ARNS) ----------------------------------------

RULE_POLICY_ARN = "policy_arn_not_allowed"
# How requested_policy_arns names a withAddonPolicies flag for the allow-list.
ADDON_POLICY_PREFIX = "ekspress:withAddonPolicies/"
# How requested_policy_arns names a service account's wellKnownPolicies flag for the allow-list.
WELL_KNOWN_POLICY_PREFIX = "ekspress:wellKnownPolicies/"
# The AWS managed policies the templates attach (cfn/iam.py builds with the same names).
TEMPLATE_POLICY_NAMES = (*naming.CLUSTER_POLICIES, *naming.WORKER_POLICIES)
_AWS_MANAGED_POLICY = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/(?P<name>[A-Za-z0-9_+=,.@-]+)$")


def policy_arn_allowed(arn: str, settings: Settings) -> bool:
    """An IAM policy ARN is one the templates attach (any partition) or matches EKSPRESS_ALLOWED_POLICY_ARNS."""
    managed = _AWS_MANAGED_POLICY.match(arn)
    if managed and managed["name"] in TEMPLATE_POLICY_NAMES:
        return True
    return _allowed(arn, settings.allowed_policy_arns)


def requested_policy_arns(spec: ClusterSpec) -> list[tuple[str, str]]:
    """The IAM policy ARNs a request asks to attach, with the field each is written in.

    Today `nodeGroups[].iam.attachPolicyARNs`, `managedNodeGroups[].iam.attachPolicyARNs` and
    `iam.serviceAccounts[].attachPolicyARNs`. A field that takes them must be listed here (a unit
    test fails until it is).

    An `iam.withAddonPolicies` flag stands for the policy eksctl gives it (some grant account-wide
    writes: imageBuilder pushes to every ECR repository, externalDNS edits every hosted zone), named
    `ekspress:withAddonPolicies/FLAG` so the same allow-list holds it (e.g. `ekspress:withAddonPolicies/*`);
    a service account's `wellKnownPolicies` flag likewise, as `ekspress:wellKnownPolicies/FLAG`.
    """
    requested: list[tuple[str, str]] = []
    for index, group in enumerate(spec.nodegroups):
        iam = getattr(group, "iam", None)
        if iam is None:
            continue
        where = field_path(spec.group_loc(index))
        for n, arn in enumerate(iam.attach_policy_arns or []):
            requested.append((f"{where}.iam.attachPolicyARNs[{n}]", arn))
        flags = iam.with_addon_policies.enabled() if iam.with_addon_policies else []
        requested += [(f"{where}.iam.withAddonPolicies.{flag}", f"{ADDON_POLICY_PREFIX}{flag}") for flag in flags]
    # The roles of iam.serviceAccounts (IRSA), as node roles' policies.
    for index, account in enumerate((spec.iam.service_accounts if spec.iam else None) or []):
        for n, arn in enumerate(account.attach_policy_arns or []):
            requested.append((f"iam.serviceAccounts[{index}].attachPolicyARNs[{n}]", arn))
        flags = account.well_known_policies.enabled() if account.well_known_policies else []
        requested += [
            (f"iam.serviceAccounts[{index}].wellKnownPolicies.{flag}", f"{WELL_KNOWN_POLICY_PREFIX}{flag}")
            for flag in flags
        ]
    requested += _pod_role_policy_arns(spec)
    return requested


def _pod_role_policy_arns(spec: ClusterSpec) -> list[tuple[str, str]]:
    """The add-ons' roles and iam.podIdentityAssociations' roles: their ARNs and wellKnownPolicies flags.

    What an add-on gets without asking (addon_iam_spec.ADDON_ACCOUNTS: vpc-cni's AmazonEKS_CNI_Policy,
    aws-ebs-csi-driver's AmazonEBSCSIDriverPolicy, eksctl's `ebsCSIController`) is not held to the allow-list
    when that add-on asks for it by name.
    """

    def flags(where: str, policies: WellKnownPolicies | None, own: str = "") -> list[tuple[str, str]]:
        enabled = policies.enabled() if policies else []
        return [(f"{where}.wellKnownPolicies.{f}", f"{WELL_KNOWN_POLICY_PREFIX}{f}") for f in enabled if f != own]

    requested: list[tuple[str, str]] = []
    for index, addon in enumerate(spec.addons):
        account = ADDON_ACCOUNTS.get(addon.name)
        own_policy = account.managed_policy.rsplit("/", 1)[-1] if account else ""
        own_flag = "ebsCSIController" if addon.name == "aws-ebs-csi-driver" else ""
        where = f"addons[{index}]"
        requested += [
            (f"{where}.attachPolicyARNs[{n}]", arn)
            for n, arn in enumerate(addon.attach_policy_arns or [])
            if not (own_policy and _is_aws_managed(arn, own_policy))
        ]
        requested += flags(where, addon.well_known_policies, own_flag)
        for a, association in enumerate(addon.pod_identity_associations or []):
            at = f"{where}.podIdentityAssociations[{a}]"
            requested += [
                (f"{at}.permissionPolicyARNs[{n}]", arn)
                for n, arn in enumerate(association.permission_policy_arns or [])
                if not (own_policy and _is_aws_managed(arn, own_policy))
            ]
            requested += flags(at, association.well_known_policies, own_flag)
    for index, pod in enumerate((spec.iam.pod_identity_associations if spec.iam else None) or []):
        where = f"iam.podIdentityAssociations[{index}]"
        arns = pod.permission_policy_arns or []
        requested += [(f"{where}.permissionPolicyARNs[{n}]", arn) for n, arn in enumerate(arns)]
        requested += flags(where, pod.well_known_policies)
    return requested


def _is_aws_managed(arn: str, name: str) -> bool:
    """Whether `arn` is the AWS managed policy `name` (`service-role/` paths included), in any partition."""
    return re.fullmatch(rf"arn:aws[a-z-]*:iam::aws:policy/([\w+=,.@-]+/)*{re.escape(name)}", arn) is not None


def policy_arn_problems(requested: Iterable[tuple[str, str]], settings: Settings) -> list[dict[str, str]]:
    """A 422 problem for each (field, ARN) outside the templates' policies and EKSPRESS_ALLOWED_POLICY_ARNS.

    Unlike the other allow-lists, unset allows only the templates' own policies: an IAM policy
    on a node or pod role reaches past the cluster (an `eks:AssociateAccessPolicy` or `iam:*`
    grant is cluster-admin by another door).
    """
    allowed = ", ".join(settings.allowed_policy_arns) or "none beyond the templates' own"
    return [
        {
            "field": field,
            "rule": RULE_POLICY_ARN,
            "message": f"{arn} is not allowed by the service policy; allowed: {', '.join(TEMPLATE_POLICY_NAMES)} "
            f"and {allowed} ({ENV_ALLOWED_POLICY_ARNS})",
        }
        for field, arn in requested
        if not policy_arn_allowed(arn, settings)
    ]


def _allowed(caller: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(caller, pattern) for pattern in patterns)


def check_lease_hours(hours: int, settings: Settings, field: str) -> None:
    if hours > settings.max_lease_hours:
        raise SpecValidationError(
            f"{field} may be at most {settings.max_lease_hours} hours (service policy)",
            fields=[
                {
                    "field": field,
                    "rule": "lease_too_long",
                    "message": f"at most {settings.max_lease_hours} hours (EKSPRESS_MAX_LEASE_HOURS)",
                }
            ],
        )


def check_request(spec: ClusterSpec, caller: str, settings: Settings, db: Clusters) -> None:
    """Everything the policy says about a create request, before any AWS call.

    Rules on the request's own fields come first, all at once (one 422 naming each field,
    its rule and the setting); the owner's cluster count (a Query) only when they pass.
    """
    access = spec.access_config
    _check_cluster_admin(
        _mapping_grants(spec.iam_identity_mappings, "iamIdentityMappings")
        + _access_entry_grants(access.access_entries if access else [], "accessConfig.accessEntries"),
        caller,
        settings,
    )
    if spec.ttl_hours is not None:
        check_lease_hours(spec.ttl_hours, settings, "ttlHours")
    if spec.protected and not _allowed(caller, settings.protect_allowed):
        raise ForbiddenError(
            f"{caller} may not create protected clusters; the service policy (EKSPRESS_PROTECT_ALLOWED) "
            "does not allow it for this caller",
            field="protected",
        )
    problems: list[dict[str, str]] = []
    if settings.allowed_regions and spec.region not in settings.allowed_regions:
        problems.append(
            _problem(
                "region", "region_not_allowed", f"{spec.region} is not", settings.allowed_regions, ENV_ALLOWED_REGIONS
            )
        )
    if settings.allowed_versions and spec.version not in settings.allowed_versions:
        problems.append(
            _problem(
                "version",
                "version_not_allowed",
                f"Kubernetes {spec.version} is not",
                settings.allowed_versions,
                ENV_ALLOWED_VERSIONS,
            )
        )
    for index, group in enumerate(spec.nodegroups):
        prefix = field_path(spec.group_loc(index)) + "."
        problems += _instance_type_problems(group, settings, prefix)
        problems += _group_size_problems(group, settings, prefix)
    problems += _cluster_size_problems(spec, settings, "managedNodeGroups")
    problems += _auto_mode_problems(spec, settings)
    if spec.timeout_minutes is not None and spec.timeout_minutes > settings.max_timeout_minutes:
        problems.append(
            {
                "field": "timeoutMinutes",
                "rule": "timeout_too_long",
                "message": f"timeoutMinutes ({spec.timeout_minutes}) may be at most {settings.max_timeout_minutes} "
                f"minutes per stack ({ENV_MAX_TIMEOUT_MINUTES})",
            }
        )
    problems += _reachability_problems(spec, settings)
    problems += policy_arn_problems(requested_policy_arns(spec), settings)
    problems += inline_policy.inline_action_problems(inline_policy.requested_inline_documents(spec), settings)
    node_documents = inline_policy.requested_node_inline_documents(spec)
    problems += inline_policy.inline_action_problems(node_documents, settings, node_roles=True)
    if settings.kubernetes_role_arns and access and access.authentication_mode == "CONFIG_MAP":
        # The service reaches each cluster's Kubernetes API through access entries.
        problems.append(
            {
                "field": "accessConfig.authenticationMode",
                "rule": "access_entries_required",
                "message": "this deployment manages clusters through access entries: use API_AND_CONFIG_MAP or API",
            }
        )
    _refuse(problems)
    check_cluster_quota(db, caller, settings)


def check_cluster_quota(db: Clusters, owner: str, settings: Settings) -> None:
    """An owner may hold at most `max_clusters_per_owner` clusters that are not DELETED; else 403.

    Counted before the new record is written, so two requests racing for an owner's
    last slot may both pass: a guardrail, not a hard quota.
    """
    limit = settings.max_clusters_per_owner
    if limit <= 0:
        return
    held = db.count_owned(owner)
    if held >= limit:
        raise ForbiddenError(
            f"{owner} already holds {held} cluster(s); the service policy allows at most {limit} per owner "
            f"({ENV_MAX_CLUSTERS_PER_OWNER}). Delete one first.",
            rule="clusters_per_owner",
            setting=ENV_MAX_CLUSTERS_PER_OWNER,
            limit=limit,
            held=held,
        )


def check_nodegroup_change(before: ClusterSpec, after: ClusterSpec, nodegroup: str, settings: Settings) -> None:
    """A node group added or scaled: fields are named as in its request body.

    A new group's instance types must be allowed; its maxSize and the cluster's total
    may not pass the limits, though a change that does not grow them (a scale-down of a
    cluster the policy has since tightened) is never refused.
    """
    group = next(g for g in after.nodegroups if g.name == nodegroup)
    old = next((g for g in before.nodegroups if g.name == nodegroup), None)
    problems: list[dict[str, str]] = []
    if old is None:
        problems += _instance_type_problems(group, settings, "")
        # Its policy ARNs, named as in the request body: `iam.attachPolicyARNs[n]`.
        kind, groups = (
            ("managedNodeGroups", after.managed_node_groups) if group.managed else ("nodeGroups", after.node_groups)
        )
        index = [g.name for g in groups or []].index(nodegroup)
        prefix = f"{kind}[{index}]."
        problems += policy_arn_problems(_own(prefix, requested_policy_arns(after)), settings)
        documents = _own(prefix, inline_policy.requested_node_inline_documents(after))
        problems += inline_policy.inline_action_problems(documents, settings, node_roles=True)
    if old is None or (group.max_size or 0) > (old.max_size or 0):
        problems += _group_size_problems(group, settings, "")
    if _total_nodes(after) > _total_nodes(before):
        problems += _cluster_size_problems(after, settings, "maxSize")
    _refuse(problems)


def _own[T](prefix: str, found: list[tuple[str, T]]) -> list[tuple[str, T]]:
    """Those of `found` under `prefix` (a group's path in the cluster), named as the group's own body names them."""
    return [(field[len(prefix) :], value) for field, value in found if field.startswith(prefix)]


def _auto_mode_problems(spec: ClusterSpec, settings: Settings) -> list[dict[str, str]]:
    """Auto Mode launches whatever instances its NodePools ask for, and a cluster's admin edits those:
    a deployment that limits instance types or node counts cannot hold Auto Mode to them."""
    auto = spec.auto_mode_config
    limits = [
        variable
        for variable, on in (
            (ENV_ALLOWED_INSTANCE_TYPES, bool(settings.allowed_instance_types)),
            (ENV_MAX_NODES_PER_CLUSTER, settings.max_nodes_per_cluster > 0),
        )
        if on
    ]
    if auto is None or not auto.enabled or not limits:
        return []
    message = (
        "EKS Auto Mode launches the instances its NodePools ask for, which the cluster's admins can change: "
        f"this deployment limits nodes ({', '.join(limits)}), so Auto Mode is not allowed; use node groups"
    )
    return [{"field": "autoModeConfig.enabled", "rule": "auto_mode_not_allowed", "message": message}]


def _problem(field: str, rule: str, subject: str, allowed: tuple[str, ...], variable: str) -> dict[str, str]:
    return {
        "field": field,
        "rule": rule,
        "message": f"{subject} allowed by the service policy; allowed: {', '.join(allowed)} ({variable})",
    }


def _instance_type_problems(group: NodeGroupBase, settings: Settings, prefix: str) -> list[dict[str, str]]:
    patterns = settings.allowed_instance_types
    if not patterns:
        return []
    if getattr(group, "launch_template", None) is not None and not getattr(group, "instance_types", None):
        # The caller's launch template names the instance type, which this check cannot see.
        message = (
            f"this deployment allows only some instance types ({ENV_ALLOWED_INSTANCE_TYPES}): with a launchTemplate "
            "name them in instanceTypes, not in the template"
        )
        return [{"field": prefix + "launchTemplate", "rule": "instance_type_not_allowed", "message": message}]
    if group.instance_selector is not None and group.type_fields() == [(("instanceType",), group.instance_type)]:
        # Not chosen yet: the selector chooses only among the allowed types (operations/instance_selection.py).
        return []
    problems = []
    for loc, kind in group.type_fields():
        if not _allowed(kind, patterns):
            field = prefix + field_path(loc)
            problems.append(
                _problem(field, "instance_type_not_allowed", f"{kind} is not", patterns, ENV_ALLOWED_INSTANCE_TYPES)
            )
    return problems


def _group_size_problems(group: NodeGroupBase, settings: Settings, prefix: str) -> list[dict[str, str]]:
    limit = settings.max_nodes_per_nodegroup
    if limit <= 0 or (group.max_size or 0) <= limit:
        return []
    return [
        {
            "field": f"{prefix}maxSize",
            "rule": "nodes_per_nodegroup",
            "message": f"maxSize ({group.max_size}) may be at most {limit} per node group "
            f"({ENV_MAX_NODES_PER_NODEGROUP})",
        }
    ]


def _total_nodes(spec: ClusterSpec) -> int:
    return sum(g.max_size or 0 for g in spec.nodegroups)


def _cluster_size_problems(spec: ClusterSpec, settings: Settings, field: str) -> list[dict[str, str]]:
    limit, total = settings.max_nodes_per_cluster, _total_nodes(spec)
    if limit <= 0 or total <= limit:
        return []
    return [
        {
            "field": field,
            "rule": "nodes_per_cluster",
            "message": f"the node groups' maxSize add up to {total}; a cluster may have at most {limit} nodes "
            f"({ENV_MAX_NODES_PER_CLUSTER})",
        }
    ]


# Where the service's functions may come from when the deployment does not say: anywhere.
_ANYWHERE = ("0.0.0.0/0",)
_UNREACHABLE = "endpoint_unreachable_by_service"


def _reachability_problems(spec: ClusterSpec, settings: Settings) -> list[dict[str, str]]:
    """The service must reach the cluster's Kubernetes API, or the create fails at its last step (aws-auth).

    Its functions run outside the cluster's VPC, so only the public endpoint serves them, and only
    if publicAccessCIDRs admit the networks they egress from (EKSPRESS_SERVICE_EGRESS_CIDRS).
    Refused up front rather than worked around with access entries: aws-auth, `GET .../access`
    and node group changes all speak to the Kubernetes API.
    """
    vpc = spec.vpc
    if not vpc.cluster_endpoints.public_access:
        return [
            {
                "field": "vpc.clusterEndpoints.publicAccess",
                "rule": _UNREACHABLE,
                "message": "ekspress runs outside the cluster's VPC and maps node roles and identities in aws-auth "
                "through the public endpoint, which publicAccess false turns off; keep publicAccess true (with "
                "privateAccess true for traffic inside the VPC, and vpc.publicAccessCIDRs to narrow who connects)",
            }
        ]
    egress = settings.service_egress_cidrs or _ANYWHERE
    refused = vpc.public_access_refuses(egress)
    if not refused:
        return []
    if settings.service_egress_cidrs:
        why = (
            f"would not admit {', '.join(refused)}, where ekspress reaches clusters from "
            f"({ENV_SERVICE_EGRESS_CIDRS}); add them to publicAccessCIDRs"
        )
    else:
        why = (
            "admit only those networks, and this deployment does not declare where ekspress reaches clusters from "
            f"({ENV_SERVICE_EGRESS_CIDRS} is unset); leave publicAccessCIDRs out (the endpoint still needs IAM), "
            "or ask the operator to declare the egress networks"
        )
    return [
        {
            "field": "vpc.publicAccessCIDRs",
            "rule": _UNREACHABLE,
            "message": f"ekspress maps node roles and identities in aws-auth through the public endpoint; "
            f"these publicAccessCIDRs {why}",
        }
    ]


def _refuse(problems: list[dict[str, str]]) -> None:
    if problems:
        names = ", ".join(sorted({p["field"] for p in problems}))
        raise SpecValidationError(f"the request breaks the service policy: {names}", fields=problems)


def check_owner(record: dict[str, Any], caller: str, settings: Settings, action: str) -> None:
    """Only the cluster's owner, or an admin the policy names, may change or delete it.

    Owners are compared as principals: a record written before callers were named
    canonically holds a session ARN, and its role owns the cluster now.
    """
    owner = record.get("owner")
    if (isinstance(owner, str) and canonical(owner) == caller) or _allowed(caller, settings.admins):
        return
    raise ForbiddenError(
        f"{caller} may not {action} cluster {record.get('name')!r}: only its owner or an admin (EKSPRESS_ADMINS) may",
        cluster=record.get("name"),
    )
