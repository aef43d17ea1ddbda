"""A dry run of a create (eksctl's `--dry-run`): every check a create makes, and what it would build.

Nothing is recorded and nothing is started: the answer is the ClusterConfig with every default
filled in, and the stacks the create workflow would make (names, resource counts, template sizes).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.model import clusterconfig, naming
from chalicelib.model.errors import ConflictError
from chalicelib.model.record import DELETED
from chalicelib.operations import create, rendering

if TYPE_CHECKING:
    from chalicelib.aws.template_store import Rendered
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.operations.context import Context

# The stacks are built for a cluster id the create would choose; a dry run has none.
DRY_RUN_ID = "dry-run"


def preview_create(ctx: Context, spec: ClusterSpec) -> dict[str, Any]:
    """The create's checks (422, 409 as a create), then the ClusterConfig and the stacks it would build: the
    templates its request would render and keep (a stack that cannot be built is the same 422)."""
    spec, layout = create.checked_create(ctx, spec)
    existing = ctx.store.find_cluster(spec.name)
    if existing and existing.get("status") != DELETED:
        raise ConflictError(f"cluster {spec.name!r} already exists", cluster=spec.name, status=existing.get("status"))
    rendered = rendering.for_create(spec, DRY_RUN_ID, layout, ctx.settings.kubernetes_role_arns)
    return {
        "dryRun": True,
        "name": spec.name,
        "region": spec.region,
        "zones": layout["zones"],
        "clusterConfig": clusterconfig.from_spec(spec),
        # One entry a stack the create makes (not the private cluster's second cluster template, not a skipped one).
        "stacks": [_stack(r) for r in rendered if r.body is not None and "#" not in r.slot],
    }


def _stack(rendered: Rendered) -> dict[str, Any]:
    template = json.loads(str(rendered.body))
    return {
        "name": rendered.slot,
        "kind": rendered.tags[naming.TAG_STACK_KIND],
        "resources": len(template.get("Resources") or {}),
        "templateBytes": len(str(rendered.body).encode()),
    }
