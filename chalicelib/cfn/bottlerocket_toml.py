"""Bottlerocket's TOML user data: the group's `bottlerocket.settings` with the settings the service writes.

Bottlerocket reads its API settings from TOML user data at boot (`[settings.kubernetes]` and the rest).
As eksctl builds it: the caller's `settings` go under `settings`, then the cluster's name, endpoint and CA,
the node labels and taints, `max-pods` from maxPodsPerNode and the admin container's `enabled`
(`enableAdminContainer`, on with `ssh.allow` unless set). The spec has already refused user settings that
collide with these (`model/bottlerocket_spec.py`). Only the value types that spec allows are written:
strings, booleans, integers, finite floats, arrays and tables; keys are bare where TOML allows, else quoted,
so a dotted label key stays one key.
"""

from __future__ import annotations

import copy
import re
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


class Verbatim(str):
    """A string value written between quotes as it is: a stand-in the template replaces (`Fn::Sub`)."""


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_string(key)


def toml_value(value: Any) -> str:
    """An inline TOML value (tables inside arrays become inline tables)."""
    if isinstance(value, Verbatim):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"{type(value).__name__} has no TOML form")


def dumps(document: dict[str, Any]) -> str:
    """`document` (a table of tables) as TOML: each table's values under its header, then its subtables."""
    blocks: list[str] = []

    def table(path: list[str], items: dict[str, Any]) -> None:
        values = [(k, v) for k, v in items.items() if not isinstance(v, dict)]
        tables = [(k, v) for k, v in items.items() if isinstance(v, dict)]
        if path and (values or not tables):
            lines = ["[" + ".".join(toml_key(p) for p in path) + "]"]
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in values]
            blocks.append("\n".join(lines))
        for key, sub in tables:
            table([*path, key], sub)

    top = [k for k, v in document.items() if not isinstance(v, dict)]
    if top:
        raise ValueError(f"top-level TOML values are not written here: {', '.join(top)}")
    table([], document)
    return "\n\n".join(blocks) + "\n"


def _table(parent: dict[str, Any], key: str) -> dict[str, Any]:
    child = parent.get(key)
    if not isinstance(child, dict):
        child = parent[key] = {}
    return child


def user_settings(
    given: dict[str, Any] | None,
    admin_enabled: bool | None,
    cluster: tuple[str, str, str] | None,
    labels: dict[str, str] | None = None,
    taints: dict[str, list[str]] | None = None,
    max_pods: int | None = None,
) -> dict[str, Any]:
    """The `settings` table: the caller's settings (copied) with the service's merged in.

    `cluster` is (name, endpoint, CA) for a node that bootstraps from this alone; None when EKS adds
    its own bootstrap (a managed group on EKS's image).
    """
    settings = copy.deepcopy(given or {})
    kubernetes = _table(settings, "kubernetes")
    if cluster is not None:
        name, endpoint, ca = cluster
        kubernetes.update({"cluster-name": name, "api-server": Verbatim(endpoint), "cluster-certificate": Verbatim(ca)})
    if max_pods is not None:
        kubernetes["max-pods"] = max_pods
    if labels:
        kubernetes["node-labels"] = dict(sorted(labels.items()))
    if taints:
        kubernetes["node-taints"] = {k: v[0] if len(v) == 1 else list(v) for k, v in taints.items()}
    if not kubernetes:
        del settings["kubernetes"]
    if admin_enabled is not None:
        admin = _table(_table(settings, "host-containers"), "admin")
        admin.setdefault("enabled", admin_enabled)  # a caller's own wins (eksctl's rule)
    return {"settings": settings}
