"""Writing a cluster into a kubeconfig file as eksctl does, leaving every other entry alone.

eksctl names the cluster entry `NAME.REGION.eksctl.io` and the context and user
`USER@NAME.REGION.eksctl.io`, and makes the context current.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

import yaml


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """The first file of `$KUBECONFIG`, else `~/.kube/config` (as kubectl and eksctl choose)."""
    env = os.environ if environ is None else environ
    first = (env.get("KUBECONFIG") or "").split(os.pathsep)[0]
    return Path(first) if first else Path.home() / ".kube" / "config"


def cluster_entry_name(name: str, region: str) -> str:
    return f"{name}.{region}.eksctl.io"


def context_name(user: str, name: str, region: str) -> str:
    return f"{user}@{cluster_entry_name(name, region)}"


def principal_name(arn: str | None) -> str:
    """The last part of an IAM ARN (`user/dev/alice` → `alice`), as eksctl names the kubeconfig user."""
    if not arn:
        return "ekspress"
    return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1] or "ekspress"


def entries(api_config: dict[str, Any], name: str, region: str, user: str) -> dict[str, Any]:
    """The API's kubeconfig (one cluster, one user) under eksctl's names."""
    cluster = api_config["clusters"][0]["cluster"]
    auth = api_config["users"][0]["user"]
    cluster_name = cluster_entry_name(name, region)
    context = context_name(user, name, region)
    return {
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": context}}],
        "users": [{"name": context, "user": auth}],
        "current-context": context,
    }


def merge(existing: dict[str, Any] | None, new: dict[str, Any], set_context: bool = True) -> dict[str, Any]:
    """`existing` with `new`'s entries added, replacing only entries of the same name."""
    merged: dict[str, Any] = dict(existing or {})
    merged.setdefault("apiVersion", "v1")
    merged.setdefault("kind", "Config")
    merged.setdefault("preferences", {})
    for section in ("clusters", "contexts", "users"):
        replaced = {entry["name"] for entry in new[section]}
        kept = [e for e in merged.get(section) or [] if not (isinstance(e, dict) and e.get("name") in replaced)]
        merged[section] = kept + new[section]
    if set_context or not merged.get("current-context"):
        merged["current-context"] = new["current-context"]
    return merged


def write(path: Path, new: dict[str, Any], set_context: bool = True) -> dict[str, Any]:
    """Merge `new` into the file at `path` (made, 0600, when missing); the merged config."""
    existing = yaml.safe_load(path.read_text()) if path.exists() else None
    if existing is not None and not isinstance(existing, dict):
        raise ValueError(f"{path} is not a kubeconfig (a YAML mapping)")
    merged = merge(existing, new, set_context)
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp makes the file 0600 from the start: the credentials' entries are never readable by others.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".ekspress-tmp")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(yaml.safe_dump(merged, sort_keys=False))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return merged
