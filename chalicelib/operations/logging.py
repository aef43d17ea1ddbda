"""Check that the control plane's log group is free, before a cluster with a log retention is recorded.

With `cloudWatch.clusterLogging.logRetentionInDays` the cluster stack makes the log group EKS writes to,
`/aws/eks/NAME/cluster`, with that retention (chalicelib/cfn/cluster_options.py). EKS never deletes that
group, so a cluster of the same name made earlier with logging left it behind, and CloudFormation would
fail the stack with AlreadyExists once it reached it. The group is not ours to adopt or delete (its logs
are someone's record), so the request is refused at once with a 409 that names it and the two ways out:
delete the group, or leave logRetentionInDays out (EKS then writes to the group as it is, and its
retention can be set on it directly). Without a retention nothing is asked: EKS uses a group it finds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.cfn.cluster_options import log_group_name, log_retention
from chalicelib.model.errors import ConflictError

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.operations.context import Context

FIELD = "cloudWatch.clusterLogging.logRetentionInDays"


def check_log_group(ctx: Context, spec: ClusterSpec) -> None:
    """A 409 when the log group the cluster stack would make already exists in the cluster's region."""
    if log_retention(spec) is None:
        return
    name = log_group_name(spec.name)
    logs = ctx.clients.client("logs", spec.region)
    found = logs.describe_log_groups(logGroupNamePrefix=name, limit=5).get("logGroups", [])
    if any(group.get("logGroupName") == name for group in found):
        raise ConflictError(
            f"the log group {name} already exists in {spec.region} (EKS keeps a cluster's log group after "
            f"the cluster is deleted): delete it, or leave {FIELD} out and EKS will write to it as it is",
            cluster=spec.name,
            logGroup=name,
            fields=[{"field": FIELD, "rule": "log_group_exists", "message": f"{name} already exists"}],
        )
