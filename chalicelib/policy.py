"""Service policy: what a caller may ask for beyond the request's own validity."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

from chalicelib.errors import ForbiddenError, SpecValidationError
from chalicelib.spec import MASTERS_GROUP

if TYPE_CHECKING:
    from chalicelib.settings import Settings
    from chalicelib.spec import ClusterSpec, IdentityMapping


def check_mappings(mappings: list[IdentityMapping], caller: str, settings: Settings) -> None:
    """Granting `system:masters` is cluster-admin: only callers the policy names may do it."""
    if not any(MASTERS_GROUP in m.groups for m in mappings):
        return
    if _allowed(caller, settings.masters_allowed):
        return
    raise ForbiddenError(
        f"{caller} may not map principals to {MASTERS_GROUP}; the service policy "
        "(EKSPRESS_MASTERS_ALLOWED) does not allow it for this caller",
        group=MASTERS_GROUP,
    )


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


def check_request(spec: ClusterSpec, caller: str, settings: Settings) -> None:
    """Everything the policy says about a create request, before any AWS call."""
    check_mappings(spec.iam_identity_mappings, caller, settings)
    if spec.ttl_hours is not None:
        check_lease_hours(spec.ttl_hours, settings, "ttlHours")
    if spec.protected and not _allowed(caller, settings.protect_allowed):
        raise ForbiddenError(
            f"{caller} may not create protected clusters; the service policy (EKSPRESS_PROTECT_ALLOWED) "
            "does not allow it for this caller",
            field="protected",
        )


def check_owner(record: dict[str, Any], caller: str, settings: Settings, action: str) -> None:
    """Only the cluster's owner, or an admin the policy names, may change or delete it."""
    if record.get("owner") == caller or _allowed(caller, settings.admins):
        return
    raise ForbiddenError(
        f"{caller} may not {action} cluster {record.get('name')!r}: only its owner or an admin (EKSPRESS_ADMINS) may",
        cluster=record.get("name"),
    )
