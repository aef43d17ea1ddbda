"""Step Functions tasks: one Chalice Lambda function per step of the workflow.

Each task parses its input (the JSON contract with the ASL), calls one function
of `clusters`, and returns JSON. Errors propagate: the state machine retries
transient ones and routes the rest to "Record Failure".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict

from chalicelib import access, clusters, nodegroups, notify
from chalicelib.aws import default_clients, throttled_error
from chalicelib.settings import get_settings
from chalicelib.store import Store

if TYPE_CHECKING:
    from collections.abc import Callable

tasks = Blueprint(__name__)


@tasks.middleware("pure_lambda")
def name_throttling_errors(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """A task AWS kept throttling fails with AWS's error code as its error name, so the ASL retries it."""
    try:
        return get_response(event)
    except Exception as exc:
        named = throttled_error(exc)
        if named is None:
            raise
        raise named from exc


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    clusterId: str


class CreateClusterStackInput(_Input):
    pass


class CreateNodegroupStackInput(_Input):
    nodegroup: str


class DescribeStackInput(_Input):
    region: str
    stack: dict[str, Any]


class MarkClusterActiveInput(_Input):
    clusterStack: dict[str, Any]


class RecordFailureInput(_Input):
    error: dict[str, Any]


class StopCreateWorkflowInput(_Input):
    createExecutionArn: str | None = None


class RegionInput(_Input):
    region: str


class OperationInput(_Input):
    operationId: str


class RecordDeleteFailureInput(OperationInput):
    error: dict[str, Any]


class UpdateAwsAuthInput(_Input):
    nodegroupStacks: list[dict[str, Any]]


class ChangeNodeRoleInput(DescribeStackInput):
    action: str


class NotifyInput(_Input):
    event: str


class ChangeAccessInput(_Input):
    region: str
    change: dict[str, Any]
    retryCount: int = 0


def _store() -> Store:
    return Store(default_clients().dynamodb(), get_settings().table_name)


@tasks.lambda_function(name="create_cluster_stack")
def create_cluster_stack(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = CreateClusterStackInput.model_validate(event)
    return clusters.create_cluster_stack(_store(), default_clients(), args.name, args.clusterId, get_settings())


@tasks.lambda_function(name="create_nodegroup_stack")
def create_nodegroup_stack(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = CreateNodegroupStackInput.model_validate(event)
    return clusters.create_nodegroup_stack(
        _store(), default_clients(), args.name, args.clusterId, args.nodegroup, get_settings()
    )


@tasks.lambda_function(name="describe_stack")
def describe_stack(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = DescribeStackInput.model_validate(event)
    return clusters.describe_stack(
        _store(), default_clients(), get_settings(), args.name, args.clusterId, args.region, args.stack
    )


@tasks.lambda_function(name="mark_cluster_active")
def mark_cluster_active(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = MarkClusterActiveInput.model_validate(event)
    outputs = args.clusterStack.get("outputs") or {}
    return clusters.mark_active(_store(), get_settings(), args.name, args.clusterId, outputs)


@tasks.lambda_function(name="record_failure")
def record_failure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = RecordFailureInput.model_validate(event)
    return clusters.record_failure(_store(), args.name, args.clusterId, args.error)


@tasks.lambda_function(name="update_aws_auth")
def update_aws_auth(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = UpdateAwsAuthInput.model_validate(event)
    return access.configure_cluster_access(_store(), default_clients(), args.name, args.clusterId, args.nodegroupStacks)


@tasks.lambda_function(name="change_access")
def change_access(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = ChangeAccessInput.model_validate(event)
    return access.apply_access_change(
        _store(), default_clients(), args.name, args.clusterId, args.region, args.change, retried=args.retryCount > 0
    )


@tasks.lambda_function(name="record_access_failure")
def record_access_failure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = RecordFailureInput.model_validate(event)
    return access.record_access_failure(_store(), args.name, args.clusterId, args.error)


@tasks.lambda_function(name="stop_create_workflow")
def stop_create_workflow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = StopCreateWorkflowInput.model_validate(event)
    return clusters.stop_create(default_clients().stepfunctions(), args.createExecutionArn)


@tasks.lambda_function(name="list_cluster_stacks")
def list_cluster_stacks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = RegionInput.model_validate(event)
    return clusters.list_stacks(_store(), default_clients(), args.name, args.clusterId, args.region)


@tasks.lambda_function(name="delete_stack")
def delete_stack(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = DescribeStackInput.model_validate(event)
    return clusters.delete_stack(
        _store(), default_clients(), args.name, args.clusterId, args.region, args.stack, get_settings()
    )


@tasks.lambda_function(name="describe_stack_deletion")
def describe_stack_deletion(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = DescribeStackInput.model_validate(event)
    return clusters.describe_stack_deletion(
        _store(), default_clients(), get_settings(), args.name, args.clusterId, args.region, args.stack
    )


@tasks.lambda_function(name="delete_kubernetes_load_balancers")
def delete_kubernetes_load_balancers(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = RegionInput.model_validate(event)
    return clusters.delete_kubernetes_load_balancers(
        _store(), default_clients(), args.name, args.clusterId, args.region
    )


@tasks.lambda_function(name="mark_cluster_deleted")
def mark_cluster_deleted(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = OperationInput.model_validate(event)
    return clusters.mark_deleted(_store(), args.name, args.clusterId, args.operationId)


@tasks.lambda_function(name="record_delete_failure")
def record_delete_failure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = RecordDeleteFailureInput.model_validate(event)
    return clusters.record_delete_failure(_store(), args.name, args.clusterId, args.operationId, args.error)


@tasks.lambda_function(name="update_nodegroup_stack")
def update_nodegroup_stack(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = DescribeStackInput.model_validate(event)
    return nodegroups.update_nodegroup_stack(
        _store(), default_clients(), args.name, args.clusterId, args.region, args.stack, get_settings()
    )


@tasks.lambda_function(name="change_node_role")
def change_node_role(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = ChangeNodeRoleInput.model_validate(event)
    return nodegroups.change_node_role(
        _store(), default_clients(), args.name, args.clusterId, args.region, args.action, args.stack
    )


@tasks.lambda_function(name="finish_nodegroup_change")
def finish_nodegroup_change(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = OperationInput.model_validate(event)
    return nodegroups.finish(_store(), args.name, args.clusterId, args.operationId)


@tasks.lambda_function(name="record_nodegroup_failure")
def record_nodegroup_failure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = RecordDeleteFailureInput.model_validate(event)
    return nodegroups.record_failure(_store(), args.name, args.clusterId, args.operationId, args.error)


@tasks.lambda_function(name="notify")
def notify_cluster_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    args = NotifyInput.model_validate(event)
    return notify.cluster_event(_store(), get_settings(), args.name, args.event)
