"""The kube-system/aws-auth ConfigMap: parse, merge, render. Pure; no I/O.

The ConfigMap holds three YAML documents under `data` (`mapRoles`, `mapUsers`,
`mapAccounts`) that aws-iam-authenticator reads. Edits here are merges into
what is there: entries we did not write are kept as they are, and the node
role mappings (which let kubelets join) can be neither removed nor changed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.model.errors import ConflictError, EkspressError
from chalicelib.model.mappings import NODE_GROUPS

if TYPE_CHECKING:
    from collections.abc import Collection

    from chalicelib.model.mappings import Mapping

NAMESPACE = "kube-system"
NAME = "aws-auth"
NODE_USERNAME = "system:node:{{EC2PrivateDNSName}}"
WINDOWS_NODE_GROUP = "eks:kube-proxy-windows"
KEYS = ("mapRoles", "mapUsers", "mapAccounts")
_ARN_KEY = {"mapRoles": "rolearn", "mapUsers": "userarn"}


class ProtectedMappingError(EkspressError):
    """An edit would remove or change a node role mapping."""

    status = 409
    code = "ProtectedMapping"


class DuplicateMappingError(ConflictError):
    """The ARN is already mapped and the request did not allow duplicates."""

    code = "DuplicateMapping"


class MappingNotFoundError(EkspressError):
    status = 404
    code = "MappingNotFound"


def _yaml() -> Any:
    # Imported on first use: only the aws-auth task and routes need YAML.
    import yaml

    return yaml


@dataclass
class AuthMap:
    """The three lists of aws-auth, in the order they appear."""

    roles: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)

    def entries(self, key: str) -> list[Any]:
        if key == "mapAccounts":
            return self.accounts
        return self.roles if key == "mapRoles" else self.users

    def to_dict(self) -> dict[str, Any]:
        return {"mapRoles": self.roles, "mapUsers": self.users, "mapAccounts": self.accounts}


def is_node_mapping(entry: dict[str, Any]) -> bool:
    return bool(set(entry.get("groups") or []) & set(NODE_GROUPS))


def node_role_mapping(role_arn: str, windows: bool = False) -> dict[str, Any]:
    """The entry EKS and eksctl write for a node group's instance role; a Windows group's role also gets
    `eks:kube-proxy-windows`, which lets kube-proxy on Windows nodes act with the node's identity."""
    groups = [WINDOWS_NODE_GROUP, *NODE_GROUPS] if windows else list(NODE_GROUPS)
    return {"rolearn": role_arn, "username": NODE_USERNAME, "groups": groups}


def parse(configmap: dict[str, Any] | None) -> AuthMap:
    """Read the ConfigMap (None when it does not exist yet)."""
    data = (configmap or {}).get("data") or {}
    yaml = _yaml()
    lists = {}
    for key in KEYS:
        loaded = yaml.safe_load(data.get(key) or "[]") or []
        if not isinstance(loaded, list):
            raise ValueError(f"aws-auth {key} is not a YAML list")
        lists[key] = loaded
    return AuthMap(roles=lists["mapRoles"], users=lists["mapUsers"], accounts=[str(a) for a in lists["mapAccounts"]])


def render(auth: AuthMap, current: dict[str, Any] | None) -> dict[str, Any]:
    """The ConfigMap to write: `current` with its data replaced (resourceVersion kept)."""
    yaml = _yaml()
    body: dict[str, Any] = copy.deepcopy(current) if current else {"apiVersion": "v1", "kind": "ConfigMap"}
    metadata: dict[str, Any] = body.setdefault("metadata", {})
    metadata.setdefault("name", NAME)
    metadata.setdefault("namespace", NAMESPACE)
    data: dict[str, str] = dict(body.get("data") or {})
    for key in KEYS:
        entries = auth.entries(key)
        if entries:
            data[key] = yaml.safe_dump(entries, default_flow_style=False, sort_keys=False)
        else:
            data.pop(key, None)
    body["data"] = data
    return body


def mapping_entry(mapping: Mapping) -> tuple[str, Any]:
    """(aws-auth key, entry) for a requested mapping."""
    if mapping.kind == "mapAccounts":
        return "mapAccounts", str(mapping.account)
    entry: dict[str, Any] = {_ARN_KEY[mapping.kind]: mapping.arn, "username": mapping.username or mapping.arn}
    if mapping.groups:
        entry["groups"] = list(mapping.groups)
    return mapping.kind, entry


def _arn(key: str, entry: Any) -> str:
    return str(entry) if key == "mapAccounts" else str(entry.get(_ARN_KEY[key], ""))


def ensure_node_roles(auth: AuthMap, role_arns: list[str], windows: Collection[str] = ()) -> AuthMap:
    """Map every node role as EKS expects (those in `windows` with the Windows group too); an existing node
    mapping is left as it is."""
    for arn in role_arns:
        if not any(e.get("rolearn") == arn and is_node_mapping(e) for e in auth.roles):
            auth.roles.append(node_role_mapping(arn, arn in windows))
    return auth


def remove_node_role(auth: AuthMap, role_arn: str) -> AuthMap:
    """Unmap a node role whose node group is going away (only the workflow does this)."""
    auth.roles[:] = [e for e in auth.roles if not (e.get("rolearn") == role_arn and is_node_mapping(e))]
    return auth


def add(auth: AuthMap, mapping: Mapping) -> AuthMap:
    """Add a mapping. Re-adding an identical entry changes nothing (idempotent)."""
    key, entry = mapping_entry(mapping)
    entries = auth.entries(key)
    if entry in entries:
        return auth
    same_arn = [e for e in entries if _arn(key, e) == _arn(key, entry)]
    if any(is_node_mapping(e) for e in same_arn if isinstance(e, dict)):
        raise ProtectedMappingError(f"{_arn(key, entry)} is a node role; its mapping cannot be changed")
    if same_arn and mapping.no_duplicate_arns:
        raise DuplicateMappingError(
            f"{_arn(key, entry)} is already mapped; send noDuplicateARNs: false to map it again",
            arn=_arn(key, entry),
        )
    entries.append(entry)
    return auth


def remove(auth: AuthMap, arn: str) -> AuthMap:
    """Remove every mapping of `arn` (an IAM ARN or an account id); node roles are refused."""
    found = False
    for key in KEYS:
        entries = auth.entries(key)
        matching = [e for e in entries if _arn(key, e) == arn]
        if any(isinstance(e, dict) and is_node_mapping(e) for e in matching):
            raise ProtectedMappingError(f"{arn} is a node role; its mapping cannot be removed")
        if matching:
            found = True
            entries[:] = [e for e in entries if _arn(key, e) != arn]
    if not found:
        raise MappingNotFoundError(f"{arn} is not mapped in aws-auth", arn=arn)
    return auth
