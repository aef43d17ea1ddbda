"""A dry run of a create (eksctl's `--dry-run`): every check a create makes, and what it would build.

Nothing is recorded and nothing is started: the answer is the ClusterConfig with every default
filled in, and the stacks the create workflow would make (names, resource counts, template sizes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn import kinds, templates
from chalicelib.model import clusterconfig, naming
from chalicelib.model.errors import ConflictError
from chalicelib.model.record import DELETED
from chalicelib.operations import create, network

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.operations.context import Context

# The stacks are built for a cluster id the create would choose; a dry run has none.
DRY_RUN_ID = "dry-run"


def preview_create(ctx: Context, spec: ClusterSpec) -> dict[str, Any]:
    """The create's checks (422, 409 as a create), then the ClusterConfig and the stacks it would build."""
    spec = create.checked_create(ctx, spec)
    existing = ctx.store.find_cluster(spec.name)
    if existing and existing.get("status") != DELETED:
        raise ConflictError(f"cluster {spec.name!r} already exists", cluster=spec.name, status=existing.get("status"))
    zones = spec.availability_zones or create.choose_zones(ctx.clients.ec2(spec.region))
    # A private cluster's endpoints as the create would place them.
    endpoint_zones, route_tables = network.private_endpoint_zones(ctx, spec), network.private_route_tables(ctx, spec)
    built: list[tuple[str, str, Any]] = [
        (
            naming.cluster_stack_name(spec.name),
            kinds.CLUSTER.name,
            lambda: templates.build_cluster_template(
                spec,
                DRY_RUN_ID,
                zones,
                ctx.settings.kubernetes_role_arns,
                endpoint_zones,
                endpoint_route_tables=route_tables,
            ),
        )
    ]
    for group in spec.nodegroups:
        built.append(
            (
                naming.nodegroup_stack_name(spec.name, group.name),
                kinds.NODEGROUP.name,
                lambda group=group: templates.build_nodegroup_template(spec, group, DRY_RUN_ID),
            )
        )
    for item in templates.workload_stacks(spec):
        kind, member = item["kind"], item["member"]
        built.append(
            (
                kinds.kind(kind).stack_name(spec.name, member),
                kind,
                lambda kind=kind, member=member: templates.build_workload_template(spec, kind, member, DRY_RUN_ID),
            )
        )
    return {
        "dryRun": True,
        "name": spec.name,
        "region": spec.region,
        "zones": zones,
        "clusterConfig": clusterconfig.from_spec(spec),
        "stacks": [_stack(name, kind, build) for name, kind, build in built],
    }


def _stack(name: str, kind: str, build: Any) -> dict[str, Any]:
    try:
        template = build()
    except ValueError as exc:  # a self-managed group's image is resolved by the workflow
        return {"name": name, "kind": kind, "note": str(exc)}
    return {
        "name": name,
        "kind": kind,
        "resources": len(template.get("Resources") or {}),
        "templateBytes": len(templates.to_json(template).encode()),
    }
