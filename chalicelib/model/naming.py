"""Every AWS-side name and ownership tag ekspress uses, defined once.

Names follow eksctl's conventions so that operators who know eksctl recognise
the stacks, and so eksctl itself can inspect clusters we created.
"""

from __future__ import annotations

import hashlib
import re

MAX_STACK_NAME = 128
MAX_EXECUTION_NAME = 80

# Tags on every stack and resource we create. The owner tag is how delete and
# clean-up paths tell our resources from anyone else's.
TAG_OWNER = "ekspress.io/owner"
TAG_OWNER_VALUE = "ekspress"
TAG_CLUSTER = "ekspress.io/cluster"
TAG_CLUSTER_ID = "ekspress.io/cluster-id"
TAG_NODEGROUP = "ekspress.io/nodegroup"
# Which kind of stack (`chalicelib.cfn.kinds`): "cluster", "nodegroup", "addons". Set on every
# stack we create, so delete tells kinds apart by tag, not by name.
TAG_STACK_KIND = "ekspress.io/stack-kind"
# A cluster claimed from a warm pool is tagged with who claimed it, and under which name (operations/pools.py).
TAG_CLAIMED_BY = "ekspress.io/claimed-by"
TAG_CLAIMED_AS = "ekspress.io/claimed-as"
# eksctl's own tags, so `eksctl get cluster` recognises what we built.
TAG_EKSCTL_CLUSTER = "alpha.eksctl.io/cluster-name"
TAG_EKSCTL_NODEGROUP = "alpha.eksctl.io/nodegroup-name"
RESERVED_TAG_PREFIXES = ("aws:", "ekspress.io/", "alpha.eksctl.io/", "eksctl.")

_EXECUTION_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def cluster_stack_name(cluster: str) -> str:
    return f"eksctl-{cluster}-cluster"


def nodegroup_stack_name(cluster: str, nodegroup: str) -> str:
    return f"eksctl-{cluster}-nodegroup-{nodegroup}"


def addons_stack_name(cluster: str) -> str:
    """The stack of the add-ons that run on nodes (and their IAM roles), created after the node groups."""
    return f"eksctl-{cluster}-addons"


def fargate_stack_name(cluster: str) -> str:
    """The stack of the cluster's Fargate profiles and their pod execution role."""
    return f"eksctl-{cluster}-fargate"


# The namespace of a service account that names none (Kubernetes' default).
DEFAULT_NAMESPACE = "default"


def service_account_member(namespace: str, name: str) -> str:
    """How a service account is named in its stack's name (eksctl's `NAMESPACE-NAME`).

    A service account's name may hold dots (a DNS subdomain); a stack name and a ClientRequestToken may
    not, so they become dashes (two accounts that then share a stack name are refused).
    """
    return f"{namespace}-{name}".replace(".", "-")


def iamserviceaccount_stack_name(cluster: str, member: str) -> str:
    """The stack of one service account's IAM role; `member` is `service_account_member(namespace, name)`."""
    return f"eksctl-{cluster}-addon-iamserviceaccount-{member}"


def podidentityrole_stack_name(cluster: str, member: str) -> str:
    """The stack of one pod identity association and its role; `member` is `service_account_member(...)`."""
    return f"eksctl-{cluster}-podidentityrole-{member}"


def longest_nodegroup_name(cluster: str) -> int:
    """How long a node group name may be before its stack name passes 128."""
    return MAX_STACK_NAME - len(nodegroup_stack_name(cluster, ""))


def default_nodegroup_name(cluster: str) -> str:
    """eksctl's `ng-<hash>`, made deterministic so a retried request builds the same."""
    return "ng-" + hashlib.sha256(cluster.encode()).hexdigest()[:8]


def execution_name(operation: str, cluster: str, operation_id: str) -> str:
    """Deterministic Step Functions execution name for one operation on a cluster.

    The same operation id always gives the same name, so a retried start finds
    the execution already running instead of launching a second one.
    """
    suffix = _EXECUTION_UNSAFE.sub("-", operation_id)[:36]
    room = MAX_EXECUTION_NAME - len(operation) - len(suffix) - 2
    stem = _EXECUTION_UNSAFE.sub("-", cluster)[:room]
    return f"{operation}-{stem}-{suffix}"


def ownership_tags(cluster: str, cluster_id: str) -> dict[str, str]:
    return {
        TAG_OWNER: TAG_OWNER_VALUE,
        TAG_CLUSTER: cluster,
        TAG_CLUSTER_ID: cluster_id,
        TAG_EKSCTL_CLUSTER: cluster,
    }


# The owner of a warm pool's unclaimed clusters: the service, on the pool's behalf (operations/pools.py).
POOL_OWNER_PREFIX = "ekspress:pool/"


def pool_owner(pool: str) -> str:
    return f"{POOL_OWNER_PREFIX}{pool}"


def pool_of_owner(owner: object) -> str | None:
    """The pool an owner stands for (an unclaimed pool cluster's owner), else None."""
    if isinstance(owner, str) and owner.startswith(POOL_OWNER_PREFIX):
        return owner.removeprefix(POOL_OWNER_PREFIX)
    return None


def is_ours(tags: dict[str, str], cluster: str) -> bool:
    return tags.get(TAG_OWNER) == TAG_OWNER_VALUE and tags.get(TAG_CLUSTER) == cluster


def function_arn_placeholder(task: str) -> str:
    """`create_cluster_stack` → `CreateClusterStackFunctionArn`, the ASL substitution key."""
    return "".join(part.capitalize() for part in task.split("_")) + "FunctionArn"


# The AWS managed policies the templates attach: the cluster's service role (cfn/iam.py) and every
# node role. A request may always name these (model/policy.py).
# The service role has the VPC resource controller's policy as eksctl gives it by default: Windows pods
# get their addresses through it (the VPC CNI's Windows IPAM), and so do security groups for pods.
CLUSTER_POLICIES = ("AmazonEKSClusterPolicy", "AmazonEKSVPCResourceController")
WORKER_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
# EKS Auto Mode (eksctl's AutoModeIAMPolicies): the service role's extra policies, and its node role's.
AUTO_MODE_CLUSTER_POLICIES = (
    "AmazonEKSComputePolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingPolicy",
)
AUTO_MODE_NODE_POLICIES = ("AmazonEKSWorkerNodeMinimalPolicy", "AmazonEC2ContainerRegistryPullOnly")
# EKS Hybrid Nodes: the role remote nodes get through AWS Systems Manager (eksctl's HybridNodesSSMRole).
HYBRID_NODE_POLICIES = ("AmazonSSMManagedInstanceCore", "AmazonEC2ContainerRegistryPullOnly")

# The function that does a Slack command's slow work (chalicelib/handlers/slack_routes.py).
SLACK_WORKER = "slack_worker"
# The warm pools' fill: on its schedule, and invoked after each claim to start the replacement at once.
POOL_FILL = "fill_pools"


def lambda_function_name(app_name: str, stage: str, task: str) -> str:
    """The name Chalice gives a `@lambda_function` when it deploys it."""
    return f"{app_name}-{stage}-{task}"
