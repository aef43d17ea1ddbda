"""Step Functions tasks: one Lambda function per step of the workflows in statemachine/.

Each line names the function (as the ASL's `${...FunctionArn}` placeholder and the
policies know it), the input model (model/steps.py) and the one use-case it runs, as
"module:function" in `chalicelib.operations`: imported on the function's first call, so
each function's cold start loads its own use-case's module and not the others'.
`step_task` (task.py) does the rest, the same for every task; the module attribute
must carry the handler's name, since Lambda imports `chalicelib.handlers.tasks.<name>`.
Errors propagate: the state machine retries transient ones and routes the rest to
its failure-recording state.
"""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.handlers.task import step_task
from chalicelib.model import steps

tasks = Blueprint(__name__)

# -- create ------------------------------------------------------------------------------
create_cluster_stack = step_task(
    tasks, "create_cluster_stack", steps.ClusterStackStep, "create_steps:create_cluster_stack"
)
create_nodegroup_stack = step_task(
    tasks, "create_nodegroup_stack", steps.NodegroupStep, "create_steps:create_nodegroup_stack"
)
describe_stack = step_task(tasks, "describe_stack", steps.StackStep, "stack_status:describe_stack")
update_aws_auth = step_task(tasks, "update_aws_auth", steps.NodegroupStacksDone, "access:configure_cluster_access")
apply_service_accounts = step_task(
    tasks, "apply_service_accounts", steps.ClusterStep, "serviceaccounts:apply_service_accounts"
)
close_public_endpoint = step_task(
    tasks, "close_public_endpoint", steps.StackStep, "private_endpoint:close_public_endpoint"
)
mark_cluster_active = step_task(tasks, "mark_cluster_active", steps.ClusterStackDone, "stack_status:mark_active")
record_failure = step_task(tasks, "record_failure", steps.FailedStep, "stack_status:record_failure")
notify_cluster_event = step_task(tasks, "notify", steps.NotifyStep, "notify:cluster_event", "notify_cluster_event")

# -- access ------------------------------------------------------------------------------
change_access = step_task(tasks, "change_access", steps.AccessChangeStep, "access:apply_access_change")
record_access_failure = step_task(tasks, "record_access_failure", steps.FailedStep, "access:record_access_failure")

# -- delete ------------------------------------------------------------------------------
stop_create_workflow = step_task(tasks, "stop_create_workflow", steps.StopCreateStep, "delete:stop_create")
list_cluster_stacks = step_task(tasks, "list_cluster_stacks", steps.RegionStep, "delete:list_stacks")
delete_stack = step_task(tasks, "delete_stack", steps.StackStep, "delete:delete_stack")
describe_stack_deletion = step_task(tasks, "describe_stack_deletion", steps.StackStep, "delete:describe_stack_deletion")
delete_kubernetes_load_balancers = step_task(
    tasks, "delete_kubernetes_load_balancers", steps.RegionStep, "delete:delete_kubernetes_load_balancers"
)
mark_cluster_deleted = step_task(tasks, "mark_cluster_deleted", steps.OperationStep, "delete:mark_deleted")
record_delete_failure = step_task(
    tasks, "record_delete_failure", steps.FailedOperationStep, "delete:record_delete_failure"
)

# -- node group changes ------------------------------------------------------------------
update_nodegroup_stack = step_task(
    tasks, "update_nodegroup_stack", steps.StackStep, "nodegroup_steps:update_nodegroup_stack"
)
change_node_role = step_task(tasks, "change_node_role", steps.NodeRoleStep, "nodegroup_steps:change_node_role")
finish_nodegroup_change = step_task(tasks, "finish_nodegroup_change", steps.OperationStep, "nodegroup_steps:finish")
record_nodegroup_failure = step_task(
    tasks, "record_nodegroup_failure", steps.FailedOperationStep, "nodegroup_steps:record_failure"
)

# -- service account changes -------------------------------------------------------------
remove_service_account = step_task(
    tasks, "remove_service_account", steps.OperationStep, "serviceaccount_steps:remove_service_account"
)
finish_serviceaccount_change = step_task(
    tasks, "finish_serviceaccount_change", steps.OperationStep, "serviceaccount_steps:finish"
)
record_serviceaccount_failure = step_task(
    tasks, "record_serviceaccount_failure", steps.FailedOperationStep, "serviceaccount_steps:record_failure"
)
