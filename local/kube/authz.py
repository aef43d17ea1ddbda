"""Who a caller is to the cluster and what it may do: aws-iam-authenticator's mappings, then RBAC.

Identity (`identity_of`): the cluster creator is a cluster admin (EKS's creator rule); otherwise the caller's
ARN (assumed roles canonicalised to their role) is looked up in the cluster's access entries and in aws-auth's
`mapRoles`, `mapUsers` and `mapAccounts`, as the cluster's authentication mode allows, giving a Kubernetes
username (templates `{{AccountID}}`, `{{SessionName}}`, `{{SessionNameRaw}}` rendered) and groups. Unmapped
callers are not let in at all.

Authorisation (`authorize_request`): RBAC. `system:masters` may do anything; anyone else may do what a
ClusterRoleBinding, or a RoleBinding in the request's namespace, grants them (as a User, through a Group or
as a ServiceAccount) through a ClusterRole's or Role's rules. The built-in roles are in bootstrap_policy.
Before RBAC, as on EKS, the access policies associated with the caller's access entry (carried as
`eks:access-policy:` groups) grant what they stand for, at cluster scope or in their namespaces.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from local.kube.status import ApiError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from local.kube.objects import ObjectStore

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
AWS_AUTH = ("kube-system", "aws-auth")
ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>[^:]+):sts::(?P<account>\d+):assumed-role/(?P<role>[^/]+)/(?P<session>[^/]+)$"
)
ACCOUNT_OF_ARN = re.compile(r"^arn:[^:]+:(?:iam|sts)::(?P<account>\d+):")
TEMPLATE = re.compile(r"\{\{(?P<name>[A-Za-z0-9]+)\}\}")
# EKS's authentication modes: which of access entries (API) and aws-auth (CONFIG_MAP) count.
API_AND_CONFIG_MAP = "API_AND_CONFIG_MAP"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
# Access entry types for nodes: EKS gives their callers the node identity itself.
NODE_ENTRY_TYPES = {"EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX"}
NODE_USERNAME = "system:node:{{EC2PrivateDNSName}}"
NODE_GROUPS = ["system:nodes"]
# How an access entry's access policies reach the authorizer (see access_policy_groups).
ACCESS_POLICY_PREFIX = "eks:access-policy:"


def canonical_arn(arn: str) -> str:
    """Map an assumed-role session ARN to its IAM role ARN, as aws-iam-authenticator does; others unchanged."""
    match = ASSUMED_ROLE.match(arn)
    if match is None:
        return arn
    return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"


def render(template: str, arn: str) -> str | None:
    """A username or group with aws-iam-authenticator's templates filled in for the caller `arn`, or None if
    it names one that cannot be filled (e.g. {{EC2PrivateDNSName}}, which needs the EC2 instance)."""
    account = ACCOUNT_OF_ARN.match(arn)
    session = ASSUMED_ROLE.match(arn)
    raw = session["session"] if session else ""
    values = {
        "AccountID": account["account"] if account else "",
        "SessionName": raw.replace("@", "-"),
        "SessionNameRaw": raw,
    }
    unknown = [name for name in TEMPLATE.findall(template) if name not in values]
    if unknown:
        return None
    return TEMPLATE.sub(lambda m: values[m["name"]], template)


def _entries(data: Mapping[str, Any], key: str) -> list[Any]:
    """One aws-auth key's YAML list (a malformed mapping grants nothing, as in EKS)."""
    try:
        loaded = yaml.safe_load(data.get(key) or "[]")
    except yaml.YAMLError:
        return []
    return loaded if isinstance(loaded, list) else []


def _mapped(username: str, groups: Iterable[Any], arn: str) -> tuple[str, list[str]] | None:
    """A mapping's username and groups rendered for the caller; None if a template cannot be filled."""
    name = render(username, arn)
    rendered = [render(str(group), arn) for group in groups]
    if not name or any(group is None for group in rendered):
        return None
    # Access policies come only from the access entry's associations, never from a group someone wrote down.
    return name, [group for group in rendered if group and not group.startswith(ACCESS_POLICY_PREFIX)]


def _from_aws_auth(arn: str, data: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """The caller's aws-auth username and groups (mapRoles, mapUsers, then mapAccounts), or None."""
    canonical = canonical_arn(arn).lower()  # aws-iam-authenticator compares ARNs case-insensitively
    for key, field in (("mapRoles", "rolearn"), ("mapUsers", "userarn")):
        for entry in _entries(data, key):
            if isinstance(entry, dict) and str(entry.get(field) or "").lower() == canonical:
                return _mapped(str(entry.get("username") or canonical_arn(arn)), entry.get("groups") or [], arn)
    account = ACCOUNT_OF_ARN.match(arn)
    if account and account["account"] in {str(item) for item in _entries(data, "mapAccounts")}:
        return canonical_arn(arn), []
    return None


def _default_entry_username(arn: str) -> str:
    """EKS's username for an access entry that names none: the user's ARN, or the role's session ARN."""
    session = ASSUMED_ROLE.match(arn)
    if session is None:
        return arn
    return f"arn:{session['partition']}:sts::{session['account']}:assumed-role/{session['role']}/{{{{SessionName}}}}"


def access_policy_groups(policies: Iterable[Mapping[str, Any]]) -> list[str]:
    """An access entry's associated access policies as the groups the authorizer reads them from:
    `eks:access-policy:NAME` at cluster scope, `eks:access-policy:NAME:NAMESPACE` (a pattern) per namespace."""
    groups = []
    for policy in policies:
        name = str(policy.get("PolicyArn") or "").rsplit("/", 1)[-1]
        scope = policy.get("AccessScope") or {}
        if scope.get("Type") == "namespace":
            groups += [f"{ACCESS_POLICY_PREFIX}{name}:{namespace}" for namespace in scope.get("Namespaces") or []]
        else:
            groups.append(f"{ACCESS_POLICY_PREFIX}{name}")
    return groups


def _from_access_entries(arn: str, entries: Iterable[Any]) -> tuple[str, list[str]] | None:
    """The caller's username and groups from the cluster's access entries (by principal ARN), or None."""
    canonical = canonical_arn(arn)
    for entry in entries:
        if entry.principal_arn != canonical:
            continue
        if entry.type in NODE_ENTRY_TYPES:
            return _mapped(NODE_USERNAME, NODE_GROUPS, arn)
        found = _mapped(entry.username or _default_entry_username(arn), entry.kubernetes_groups or [], arn)
        if found is None:
            return None
        return found[0], [*found[1], *access_policy_groups(getattr(entry, "access_policies", None) or [])]
    return None


def identity_of(
    arn: str,
    creator_arn: str,
    aws_auth_data: Callable[[], Mapping[str, Any]],
    access_entries: Callable[[], Iterable[Any]] | None = None,
    authentication_mode: str = API_AND_CONFIG_MAP,
) -> tuple[str, list[str]] | None:
    """The Kubernetes username and groups of a caller's ARN (as STS names it: assumed-role sessions included),
    or None if nothing maps it. `system:authenticated` is not added here (the server adds it).

    The creator rule first (EKS makes the cluster creator a cluster admin, named by its ARN), then access
    entries (objects with principal_arn, type, username, kubernetes_groups) if the mode has API, then aws-auth
    if it has CONFIG_MAP. aws_auth_data and access_entries are only called when needed.
    """
    canonical = canonical_arn(arn)
    if canonical == canonical_arn(creator_arn):
        return canonical, [MASTERS]
    if "API" in authentication_mode.split("_AND_") and access_entries is not None:
        found = _from_access_entries(arn, access_entries())
        if found is not None:
            return found
    if "CONFIG_MAP" in authentication_mode:
        return _from_aws_auth(arn, aws_auth_data())
    return None


def groups_of(arn: str, creator_arn: str, aws_auth_data: Callable[[], Mapping[str, Any]]) -> list[str] | None:
    """Groups of a canonical ARN per the creator rule and aws-auth's data; None if the caller is not mapped.

    aws_auth_data is only called when the creator rule does not decide, so the creator never waits on the store.
    """
    found = identity_of(arn, creator_arn, aws_auth_data)
    return None if found is None else found[1]


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do, as the API server hands it to its authorizer."""

    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    api_group: str  # "" for the core group
    resource: str  # plural, e.g. "pods"; "" for a non-resource URL
    namespace: str = ""  # "" when cluster-scoped or across all namespaces
    name: str = ""  # "" for a collection
    subresource: str = ""  # e.g. "status", "scale"
    path: str = ""  # the URL path (what non-resource rules match)


# --- RBAC: which rules match a request, which bindings apply to a caller ---


def _verb_matches(rule: Mapping[str, Any], verb: str) -> bool:
    verbs = rule.get("verbs") or []
    return "*" in verbs or verb in verbs


def _resource_matches(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    """Kubernetes' ResourceMatches: `*`, the exact `resource[/subresource]`, or `*/subresource`."""
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    for resource in rule.get("resources") or []:
        if resource in ("*", combined):
            return True
        if attrs.subresource and resource == f"*/{attrs.subresource}":
            return True
    return False


def _non_resource_matches(rule: Mapping[str, Any], path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url == "*" or url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    """Whether one PolicyRule grants the request."""
    if not _verb_matches(rule, attrs.verb):
        return False
    if not attrs.resource:
        return _non_resource_matches(rule, attrs.path)
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs.api_group not in groups:
        return False
    if not _resource_matches(rule, attrs):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def subject_matches(subject: Mapping[str, Any], user: str, groups: list[str], binding_namespace: str) -> bool:
    """Whether a binding's subject is the caller (a ServiceAccount's namespace defaults to the binding's)."""
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user == f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"
    return False


def _rules_of(role_ref: Mapping[str, Any], namespace: str, store: ObjectStore) -> list[Any]:
    """The rules of a binding's roleRef (a Role in the binding's namespace, or a ClusterRole); none if missing."""
    if role_ref.get("kind") == "ClusterRole":
        role = store.objects["clusterroles"].get(("", str(role_ref.get("name"))))
    elif role_ref.get("kind") == "Role" and namespace:
        role = store.objects["roles"].get((namespace, str(role_ref.get("name"))))
    else:
        role = None
    rules = (role or {}).get("rules") or []
    return [rule for rule in rules if isinstance(rule, dict)]


def _access_policies_allow(groups: list[str], attrs: Attributes) -> bool:
    """Whether an access policy the caller's access entry carries grants the request (EKS's own authorizer)."""
    from local.kube.bootstrap_policy import ACCESS_POLICIES

    for group in groups:
        if not group.startswith(ACCESS_POLICY_PREFIX):
            continue
        name, _, namespace = group.removeprefix(ACCESS_POLICY_PREFIX).partition(":")
        if namespace and not (attrs.resource and attrs.namespace and fnmatch.fnmatchcase(attrs.namespace, namespace)):
            continue
        if any(rule_allows(rule, attrs) for rule in ACCESS_POLICIES.get(name, [])):
            return True
    return False


def allowed(user: str, groups: list[str], attrs: Attributes, store: ObjectStore) -> bool:
    """Whether RBAC grants the request (takes the store's lock: call it without holding that lock)."""
    if MASTERS in groups or _access_policies_allow(groups, attrs):
        return True
    with store.lock:
        bindings = [("", b) for b in store.objects["clusterrolebindings"].values()]
        if attrs.namespace and attrs.resource:
            bindings += [(ns, b) for (ns, _), b in store.objects["rolebindings"].items() if ns == attrs.namespace]
        for namespace, binding in bindings:
            subjects = [s for s in binding.get("subjects") or [] if isinstance(s, dict)]
            if not any(subject_matches(s, user, groups, namespace) for s in subjects):
                continue
            if any(rule_allows(rule, attrs) for rule in _rules_of(binding.get("roleRef") or {}, namespace, store)):
                return True
    return False


def forbidden(user: str, attrs: Attributes) -> ApiError:
    """The 403 the Kubernetes API server answers a denied request with."""
    if not attrs.resource:
        return ApiError(403, "Forbidden", f'forbidden: User "{user}" cannot {attrs.verb} path "{attrs.path}"')
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    reason = f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" {scope}'
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    subject = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    details: dict[str, Any] = {"name": attrs.name, "kind": attrs.resource} if attrs.name else {"kind": attrs.resource}
    if attrs.api_group:
        details["group"] = attrs.api_group
    return ApiError(403, "Forbidden", f"{subject} is forbidden: {reason}", details)


def authorize_request(user: str, groups: list[str], attrs: Attributes, store: ObjectStore) -> None:
    """Raise Kubernetes' 403 unless RBAC (or membership of system:masters) allows the caller what attrs describe."""
    if not allowed(user, groups, attrs, store):
        raise forbidden(user, attrs)


# --- RBAC escalation prevention: what a Role, ClusterRole or binding written may grant ---

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_WRITES = {"roles", "clusterroles", "rolebindings", "clusterrolebindings"}


def rules_held(user: str, groups: list[str], namespace: str, store: ObjectStore) -> list[dict[str, Any]]:
    """Every rule the caller holds at a scope: its ClusterRoleBindings' rules, its access policies' rules (those
    for the namespace when namespaced), and, in a namespace, its RoleBindings' there (takes the store's lock)."""
    from local.kube.bootstrap_policy import ACCESS_POLICIES

    rules: list[dict[str, Any]] = []
    for group in groups:
        if group.startswith(ACCESS_POLICY_PREFIX):
            name, _, pattern = group.removeprefix(ACCESS_POLICY_PREFIX).partition(":")
            if not pattern or (namespace and fnmatch.fnmatchcase(namespace, pattern)):
                rules += ACCESS_POLICIES.get(name, [])
    with store.lock:
        bindings = [("", b) for b in store.objects["clusterrolebindings"].values()]
        if namespace:
            bindings += [(ns, b) for (ns, _), b in store.objects["rolebindings"].items() if ns == namespace]
        for scope, binding in bindings:
            subjects = [s for s in binding.get("subjects") or [] if isinstance(s, dict)]
            if any(subject_matches(s, user, groups, scope) for s in subjects):
                rules += _rules_of(binding.get("roleRef") or {}, scope, store)
    return rules


def _list(rule: Mapping[str, Any], key: str) -> list[str]:
    value = rule.get(key) or []
    return [str(item) for item in value] if isinstance(value, list) else []


def _atom_covered(held: Mapping[str, Any], verb: str, group: str, resource: str, name: str) -> bool:
    """Whether a held rule covers one (verb, apiGroup, resource, resourceName) of a rule granted (Kubernetes'
    Covers: `*` only covers what it stands for; `*/sub` covers any resource's `sub`; a held rule with
    resourceNames covers only those names)."""
    verbs, api_groups, resources = _list(held, "verbs"), _list(held, "apiGroups"), _list(held, "resources")
    if "*" not in verbs and verb not in verbs:
        return False
    if "*" not in api_groups and group not in api_groups:
        return False
    _, slash, sub = resource.partition("/")
    if "*" not in resources and resource not in resources and not (slash and f"*/{sub}" in resources):
        return False
    names = _list(held, "resourceNames")
    return not names or (bool(name) and name in names)


def _url_covered(held: Mapping[str, Any], verb: str, url: str) -> bool:
    verbs = _list(held, "verbs")
    if "*" not in verbs and verb not in verbs:
        return False
    for owned in _list(held, "nonResourceURLs"):
        if owned in ("*", url) or (owned.endswith("*") and url.startswith(owned[:-1])):
            return True
    return False


def rules_not_held(held: list[dict[str, Any]], granted: Iterable[Any]) -> list[dict[str, Any]]:
    """The rules granted that the held rules do not cover, atom by atom (empty when nothing escalates)."""
    missing = []
    for rule in granted:
        if not isinstance(rule, dict):
            continue
        verbs = _list(rule, "verbs")
        if rule.get("nonResourceURLs"):
            atoms = [(verb, url) for verb in verbs for url in _list(rule, "nonResourceURLs")]
            if not all(any(_url_covered(h, verb, url) for h in held) for verb, url in atoms):
                missing.append(rule)
            continue
        names = _list(rule, "resourceNames") or [""]
        atoms2 = [
            (verb, group, resource, name)
            for verb in verbs
            for group in _list(rule, "apiGroups")
            for resource in _list(rule, "resources")
            for name in names
        ]
        if not all(any(_atom_covered(h, *atom) for h in held) for atom in atoms2):
            missing.append(rule)
    return missing


def _shown(rule: Mapping[str, Any]) -> str:
    """A PolicyRule as Kubernetes' escalation message lists it."""
    parts = []
    for key, label in (
        ("apiGroups", "APIGroups"),
        ("resources", "Resources"),
        ("resourceNames", "ResourceNames"),
        ("nonResourceURLs", "NonResourceURLs"),
        ("verbs", "Verbs"),
    ):
        if rule.get(key):
            parts.append(f"{label}:[{', '.join(repr_go(v) for v in _list(rule, key))}]")
    return "{" + ", ".join(parts) + "}"


def repr_go(value: str) -> str:
    """A string quoted as Go's %q quotes it."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _escalation(user: str, groups: list[str], resource: str, name: str, missing: list[dict[str, Any]]) -> ApiError:
    shown_groups = " ".join(repr_go(group) for group in groups)
    message = (
        f'{resource}.{RBAC_GROUP} "{name}" is forbidden: user "{user}" (groups=[{shown_groups}]) is attempting '
        f"to grant RBAC permissions not currently held:\n" + "\n".join(_shown(rule) for rule in missing)
    )
    return ApiError(403, "Forbidden", message, {"name": name, "group": RBAC_GROUP, "kind": resource})


def _role_rules(role_ref: Mapping[str, Any], namespace: str, store: ObjectStore) -> list[Any]:
    """The rules of a binding's roleRef, or Kubernetes' 404 when it names no role there."""
    kind, name = role_ref.get("kind"), str(role_ref.get("name") or "")
    resource = "clusterroles" if kind == "ClusterRole" else "roles"
    key = ("", name) if kind == "ClusterRole" else (namespace, name)
    with store.lock:
        role = store.objects[resource].get(key) if kind in ("ClusterRole", "Role") else None
    if role is None:
        raise ApiError(404, "NotFound", f'{resource}.{RBAC_GROUP} "{name}" not found', {"name": name})
    return list(role.get("rules") or [])


def confirm_no_escalation(
    user: str, groups: list[str], resource: str, namespace: str, obj: Mapping[str, Any], store: ObjectStore
) -> None:
    """Refuse (403, worded as Kubernetes words it) a Role, ClusterRole or binding written by a caller that does not
    already hold every permission it grants at its scope, unless the caller may `escalate` that role or `bind`
    the role a binding names (system:masters, Kubernetes' superuser, always may). Takes the store's lock."""
    if resource not in RBAC_WRITES or MASTERS in groups:
        return
    name = str((obj.get("metadata") or {}).get("name") or "")
    scope = namespace if resource in ("roles", "rolebindings") else ""
    if resource in ("roles", "clusterroles"):
        if allowed(user, groups, Attributes("escalate", RBAC_GROUP, resource, scope, name), store):
            return
        granted = list(obj.get("rules") or [])
    else:
        role_ref = obj.get("roleRef") or {}
        role_ref = role_ref if isinstance(role_ref, dict) else {}
        role_resource = "clusterroles" if role_ref.get("kind") == "ClusterRole" else "roles"
        role_name = str(role_ref.get("name") or "")
        if allowed(user, groups, Attributes("bind", RBAC_GROUP, role_resource, scope, role_name), store):
            return
        granted = _role_rules(role_ref, scope, store)
    missing = rules_not_held(rules_held(user, groups, scope, store), granted)
    if missing:
        raise _escalation(user, groups, resource, name, missing)
