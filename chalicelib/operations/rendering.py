"""Every template an operation deploys, rendered when the operation is requested.

The request has the validated spec in hand; it renders here each stack the workflow will create or
update and keeps them (aws/template_store.py) before the workflow starts. The workflow's steps then
deploy what was kept, so they import neither the spec models nor the builders, and a stack that
cannot be built (user data over EC2's limit, too many tags) is a 422 before anything is made.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from chalicelib.aws import template_store
from chalicelib.aws.template_store import PRIVATE, Rendered, slot
from chalicelib.cfn import kinds, stacks, templates, upload
from chalicelib.model import naming, private_cluster_spec
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.validation import field_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.model.spec import ClusterSpec, NodeGroupBase

# Where in the spec each workload stack comes from (the field a 422 names).
_WORKLOAD_FIELDS = {
    kinds.FARGATE.name: "fargateProfiles",
    kinds.IAMSERVICEACCOUNT.name: "iam.serviceAccounts",
    kinds.PODIDENTITY.name: "iam.podIdentityAssociations",
    kinds.ADDONS.name: "addons",
}


def render(field: str, stack_name: str, build: Callable[[], dict[str, Any]]) -> str:
    """The template, or a 422 naming the part of the spec that makes it: one a builder refuses (EC2's or EC2
    Auto Scaling's limits), or one over the 1 MB CloudFormation takes (by TemplateURL)."""
    try:
        body = templates.to_json(build())
    except ValueError as exc:
        raise SpecValidationError(
            f"stack {stack_name} cannot be built: {exc}",
            fields=[{"field": field, "rule": "stack_unbuildable", "message": str(exc)}],
        ) from None
    size = len(body.encode())
    if size > upload.TEMPLATE_URL_LIMIT:
        message = f"its template would be {size} bytes; CloudFormation takes at most {upload.TEMPLATE_URL_LIMIT}"
    elif not template_store.fits(body):
        message = f"its template ({size} bytes) compresses to more than the service can keep"
    else:
        return body
    raise SpecValidationError(
        f"stack {stack_name} cannot be built: {message}",
        fields=[{"field": field, "rule": "template_too_large", "message": message}],
    )


def for_create(
    spec: ClusterSpec, cluster_id: str, layout: dict[str, Any], service_roles: tuple[str, ...]
) -> list[Rendered]:
    """The create's templates: the cluster stack (and its private variant), each node group's, each workload's.

    `layout` is what the request chose for the cluster stack (`zones`, and a private cluster's `endpointZones`
    and `endpointRouteTables`), as the record keeps it.
    """
    stack_name = naming.cluster_stack_name(spec.name)
    tags = templates.stack_tags(spec, cluster_id, stacks.KIND_CLUSTER)

    def cluster(closed: bool) -> dict[str, Any]:
        return templates.build_cluster_template(
            spec,
            cluster_id,
            list(layout["zones"]),
            service_roles,
            layout.get("endpointZones") or {},
            public_endpoint_closed=closed,
            endpoint_route_tables=layout.get("endpointRouteTables") or (),
        )

    out = [Rendered(stack_name, render("metadata", stack_name, lambda: cluster(False)), tags)]
    if private_cluster_spec.enabled(spec):
        closed = render("privateCluster", stack_name, lambda: cluster(True))
        out.append(Rendered(slot(stack_name, PRIVATE), closed, tags))
    out += [for_nodegroup(spec, group, cluster_id) for group in spec.nodegroups]
    workloads = templates.workload_stacks(spec)
    if not any(item["kind"] == kinds.ADDONS.name for item in workloads):  # kept as skipped: asked, it answers so
        workloads.append({"kind": kinds.ADDONS.name, "member": ""})
    return out + for_workloads(spec, cluster_id, workloads)


def for_nodegroup(spec: ClusterSpec, group: NodeGroupBase, cluster_id: str) -> Rendered:
    """A node group's stack, to create or to update to; the timeline says its sizes."""
    stack_name = naming.nodegroup_stack_name(spec.name, group.name)
    index = next(i for i, g in enumerate(spec.nodegroups) if g.name == group.name)
    body = render(
        field_path(spec.group_loc(index)),
        stack_name,
        lambda: templates.build_nodegroup_template(spec, group, cluster_id),
    )
    tags = templates.stack_tags(spec, cluster_id, stacks.KIND_NODEGROUP, group.name)
    sizes = f": min {group.min_size}, desired {group.desired_capacity}, max {group.max_size}"
    return Rendered(stack_name, body, tags, sizes)


def for_workloads(spec: ClusterSpec, cluster_id: str, items: list[dict[str, str]]) -> list[Rendered]:
    """The stacks made once the node groups are up (`templates.workload_stacks` items); the add-ons stack is
    kept as skipped when no add-on needs nodes."""
    out = []
    for item in items:
        kind, member = item["kind"], item["member"]
        stack_name = kinds.kind(kind).stack_name(spec.name, member)
        tags = templates.stack_tags(spec, cluster_id, kind)
        if kind == kinds.ADDONS.name:
            after = templates.addons_after_nodes(spec)
            if not after:
                out.append(Rendered(stack_name, None, tags))
                continue
            note = f" (add-ons {', '.join(a.name for a in after)})"
        else:
            note = ""
        body = render(
            _WORKLOAD_FIELDS[kind],
            stack_name,
            functools.partial(templates.build_workload_template, spec, kind, member, cluster_id),
        )
        out.append(Rendered(stack_name, body, tags, note))
    return out
