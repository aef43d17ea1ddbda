"""A fully private cluster's public endpoint: on while the service builds the cluster, off before it is ACTIVE.

As eksctl does (`pkg/ctl/create/cluster.go`): the control plane is created with public and private
access, because the service maps the node roles in aws-auth and creates service accounts through the
Kubernetes API from outside the cluster's VPC; once that is done, the create's last step turns the
public endpoint off. Here that is the cluster stack updated to the template with private access only
(eksctl calls UpdateClusterConfig, which leaves its stack saying otherwise), so the stack keeps
describing the cluster and a later update of it cannot turn the endpoint back on.

From then on only the VPC, or a network joined to it, reaches the API server. What the service would
do through it on a running cluster (aws-auth and access changes, adding or removing node groups and
service accounts) is refused up front with a 409 saying so (`access.require_reachable`); scaling and
deleting need only AWS's APIs and go on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.aws.template_store import PRIVATE, slot
from chalicelib.operations.access import ENDPOINT_PRIVATE
from chalicelib.operations.stack_updates import request_update

if TYPE_CHECKING:
    from chalicelib.model.steps import StackStep
    from chalicelib.operations.context import Context


def close_public_endpoint(ctx: Context, step: StackStep) -> dict[str, Any]:
    """Update the cluster stack to private endpoint access only: the template the create's request rendered for
    it (its VPC endpoints as they were built, in the zones and route tables the record keeps)."""
    stack_name = step.stack["stackName"]
    rendered = ctx.store.template(step.name, step.clusterId, slot(stack_name, PRIVATE))
    message = (
        f"Turning off the public endpoint of {step.name} (stack {stack_name}): from now on only its "
        "VPC, or a network joined to it, reaches the Kubernetes API"
    )
    return request_update(ctx, step, str(rendered.body), message, {"endpointAccess": ENDPOINT_PRIVATE})
