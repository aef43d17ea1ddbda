"""`bottlerocket` of a node group (eksctl's `NodeGroupBottlerocket`): the admin container and free-form settings.

`settings` is merged into the TOML user data a Bottlerocket node reads at boot, under `settings`
(`cfn/bottlerocket_toml.py` writes it). The keys the node group's own fields decide are refused there,
as eksctl refuses them: the cluster's name, endpoint and CA (the bootstrap; on a managed group its DNS
address too, which EKS writes), node labels, taints and max pods (`labels`, `taints`, `maxPodsPerNode`),
and the admin container's `enabled` next to `enableAdminContainer`. Values must be what TOML can hold:
strings, booleans, 64-bit integers, finite floats, arrays and tables (YAML's null has no TOML form).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from chalicelib.model.validation import Problem, SpecModel

# The settings.kubernetes keys ekspress writes from the cluster, and those a node group field decides.
CLUSTER_KEYS = ("cluster-name", "api-server", "cluster-certificate")
# EKS writes the cluster DNS address into a managed node's settings; a self-managed node may be given one.
MANAGED_CLUSTER_KEYS = ("cluster-dns-ip",)
FIELD_KEYS = {"node-labels": "labels", "node-taints": "taints", "max-pods": "maxPodsPerNode"}
ADMIN_PATH = ("host-containers", "admin", "enabled")
MAX_DEPTH = 8
MAX_SETTINGS_CHARS = 8 * 1024
_INT64 = (-(2**63), 2**63 - 1)


def _check_value(value: Any, path: str, depth: int) -> None:
    """Raise unless `value` has a TOML form (eksctl's settings are JSON; TOML has no null)."""
    if depth > MAX_DEPTH:
        raise PydanticCustomError(
            "bottlerocket_settings", "{path}: nested deeper than {max}", {"path": path, "max": MAX_DEPTH}
        )
    if isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise PydanticCustomError("bottlerocket_settings", "{path}: TOML integers are 64-bit", {"path": path})
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("bottlerocket_settings", "{path}: not a finite number", {"path": path})
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise PydanticCustomError(
                    "bottlerocket_settings", "{path}: keys must be non-empty strings", {"path": path}
                )
            _check_value(item, f"{path}.{key}", depth + 1)
        return
    kind = "null" if value is None else type(value).__name__
    raise PydanticCustomError(
        "bottlerocket_settings",
        "{path}: a {kind} has no TOML form; give a string, number, boolean, list or map",
        {"path": path, "kind": kind},
    )


class BottlerocketSpec(SpecModel):
    """`bottlerocket`: eksctl's `enableAdminContainer` and `settings` (Bottlerocket's API settings, as a map)."""

    enable_admin_container: bool | None = None
    settings: Annotated[dict[str, Any], Field(max_length=64)] | None = None

    @field_validator("settings")
    @classmethod
    def _toml_values(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        _check_value(value, "settings", 0)
        if len(repr(value)) > MAX_SETTINGS_CHARS:
            raise PydanticCustomError(
                "bottlerocket_settings", "settings are over {max} characters", {"max": MAX_SETTINGS_CHARS}
            )
        return value

    def admin_enabled(self, ssh_allowed: bool) -> bool | None:
        """Whether the admin container runs: enableAdminContainer, else on with ssh.allow (eksctl's default)."""
        if self.enable_admin_container is not None:
            return self.enable_admin_container
        return True if ssh_allowed else None

    def problems(self, managed: bool) -> list[Problem]:
        """The settings that collide with what ekspress writes, each at its field under `bottlerocket`."""
        found: list[Problem] = []
        settings = self.settings or {}
        kubernetes = settings.get("kubernetes")
        if kubernetes is not None and not isinstance(kubernetes, dict):
            message = "settings.kubernetes must be a map of Bottlerocket's Kubernetes settings"
            found.append((("bottlerocket", "settings", "kubernetes"), "bottlerocket_settings", message, None))
            kubernetes = {}
        for key in (*CLUSTER_KEYS, *(MANAGED_CLUSTER_KEYS if managed else ())):
            if key in (kubernetes or {}):
                message = (
                    f"settings.kubernetes.{key} is the cluster's, written by the service at boot (as eksctl); "
                    "leave it out"
                )
                found.append((("bottlerocket", "settings", "kubernetes", key), "bottlerocket_reserved", message, None))
        for key, field in FIELD_KEYS.items():
            if key in (kubernetes or {}):
                message = f"set {field} on the node group instead of settings.kubernetes.{key} (as eksctl)"
                found.append((("bottlerocket", "settings", "kubernetes", key), "bottlerocket_reserved", message, None))
        node: Any = settings
        for depth, part in enumerate(ADMIN_PATH):
            node = node.get(part) if isinstance(node, dict) else None
            if depth < len(ADMIN_PATH) - 1 and node is not None and not isinstance(node, dict):
                where = ".".join(ADMIN_PATH[: depth + 1])
                message = f"settings.{where} must be a map of Bottlerocket's settings"
                loc = ("bottlerocket", "settings", *ADMIN_PATH[: depth + 1])
                found.append((loc, "bottlerocket_settings", message, None))
                node = None
                break
        if node is not None and self.enable_admin_container is not None:
            message = "give enableAdminContainer or settings.host-containers.admin.enabled, not both (as eksctl)"
            found.append((("bottlerocket", "enableAdminContainer"), "one_of", message, None))
        return found
