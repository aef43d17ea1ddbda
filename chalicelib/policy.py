"""Service policy: what a caller may ask for beyond the request's own validity."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from chalicelib.errors import ForbiddenError
from chalicelib.spec import MASTERS_GROUP

if TYPE_CHECKING:
    from chalicelib.settings import Settings
    from chalicelib.spec import IdentityMapping


def check_mappings(mappings: list[IdentityMapping], caller: str, settings: Settings) -> None:
    """Granting `system:masters` is cluster-admin: only callers the policy names may do it."""
    if not any(MASTERS_GROUP in m.groups for m in mappings):
        return
    if any(fnmatch.fnmatchcase(caller, pattern) for pattern in settings.masters_allowed):
        return
    raise ForbiddenError(
        f"{caller} may not map principals to {MASTERS_GROUP}; the service policy "
        "(EKSPRESS_MASTERS_ALLOWED) does not allow it for this caller",
        group=MASTERS_GROUP,
    )
