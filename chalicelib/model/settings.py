"""Configuration read from the environment, once, lazily.

Every environment variable name is a constant here; infra/ and local/ set them.
"""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass
from functools import lru_cache

ENV_TABLE_NAME = "EKSPRESS_TABLE_NAME"
ENV_CREATE_STATE_MACHINE_ARN = "EKSPRESS_CREATE_STATE_MACHINE_ARN"
ENV_POLL_SCALE = "EKSPRESS_POLL_SCALE"
ENV_ACCESS_STATE_MACHINE_ARN = "EKSPRESS_ACCESS_STATE_MACHINE_ARN"
ENV_MASTERS_ALLOWED = "EKSPRESS_MASTERS_ALLOWED"
ENV_DELETE_STATE_MACHINE_ARN = "EKSPRESS_DELETE_STATE_MACHINE_ARN"
ENV_DEFAULT_LEASE_HOURS = "EKSPRESS_DEFAULT_LEASE_HOURS"
ENV_MAX_LEASE_HOURS = "EKSPRESS_MAX_LEASE_HOURS"
ENV_IDLE_HOURS = "EKSPRESS_IDLE_HOURS"
ENV_REAP_GRACE_MINUTES = "EKSPRESS_REAP_GRACE_MINUTES"
ENV_PROTECT_ALLOWED = "EKSPRESS_PROTECT_ALLOWED"
ENV_NOTIFY_URL = "EKSPRESS_NOTIFY_URL"
ENV_REAP_EVERY_MINUTES = "EKSPRESS_REAP_EVERY_MINUTES"
ENV_IDLE_CPU_PERCENT = "EKSPRESS_IDLE_CPU_PERCENT"
ENV_NODEGROUP_STATE_MACHINE_ARN = "EKSPRESS_NODEGROUP_STATE_MACHINE_ARN"
ENV_SERVICEACCOUNT_STATE_MACHINE_ARN = "EKSPRESS_SERVICEACCOUNT_STATE_MACHINE_ARN"
ENV_SLACK_SECRET_ID = "EKSPRESS_SLACK_SECRET_ID"
ENV_ADMINS = "EKSPRESS_ADMINS"
ENV_LOCAL_IDENTITY_KEY = "EKSPRESS_LOCAL_IDENTITY_KEY"
ENV_SLACK_SECRET_PARAMETER = "EKSPRESS_SLACK_SECRET_PARAMETER"
ENV_SLACK_ADMINS = "EKSPRESS_SLACK_ADMINS"
ENV_SLACK_TEAMS = "EKSPRESS_SLACK_TEAMS"
ENV_SLACK_CHANNELS = "EKSPRESS_SLACK_CHANNELS"
ENV_SLACK_WEBHOOK_URL = "EKSPRESS_SLACK_WEBHOOK_URL"
# The function that does a slash command's slow work after the API has answered Slack.
ENV_SLACK_WORKER_FUNCTION = "EKSPRESS_SLACK_WORKER_FUNCTION"
# The warm pools' fill function, invoked (asynchronously) after a claim to start its replacement.
ENV_POOL_FILL_FUNCTION = "EKSPRESS_POOL_FILL_FUNCTION"
# Set by the deployment (infra/template.yaml): the role CloudFormation builds eksctl-*
# stacks with, and the roles of the functions that speak to Kubernetes.
ENV_STACK_ROLE_ARN = "EKSPRESS_STACK_ROLE_ARN"
ENV_KUBERNETES_ROLE_ARNS = "EKSPRESS_KUBERNETES_ROLE_ARNS"
# The deployment's artifacts bucket: stack templates over CloudFormation's TemplateBody limit go there.
ENV_ARTIFACTS_BUCKET = "EKSPRESS_ARTIFACTS_BUCKET"
# Guardrails: what a cluster request may ask for (see policy.py). Unset: no limit beyond EKS's own.
ENV_ALLOWED_REGIONS = "EKSPRESS_ALLOWED_REGIONS"
ENV_ALLOWED_INSTANCE_TYPES = "EKSPRESS_ALLOWED_INSTANCE_TYPES"
ENV_ALLOWED_VERSIONS = "EKSPRESS_ALLOWED_VERSIONS"
ENV_MAX_NODES_PER_NODEGROUP = "EKSPRESS_MAX_NODES_PER_NODEGROUP"
ENV_MAX_NODES_PER_CLUSTER = "EKSPRESS_MAX_NODES_PER_CLUSTER"
ENV_MAX_CLUSTERS_PER_OWNER = "EKSPRESS_MAX_CLUSTERS_PER_OWNER"
ENV_MAX_TIMEOUT_MINUTES = "EKSPRESS_MAX_TIMEOUT_MINUTES"
# IAM policy ARNs (globs) a request may attach beyond those the templates attach. Unset: only those.
ENV_ALLOWED_POLICY_ARNS = "EKSPRESS_ALLOWED_POLICY_ARNS"
ENV_ALLOWED_INLINE_ACTIONS = "EKSPRESS_ALLOWED_INLINE_ACTIONS"
ENV_ALLOWED_NODE_INLINE_ACTIONS = "EKSPRESS_ALLOWED_NODE_INLINE_ACTIONS"
# The most a stack wait's deadline (a request's timeoutMinutes) can be, whatever the setting says:
# each workflow's TimeoutSeconds (statemachine/*.asl.json) is sized for deadlines this long.
TIMEOUT_MINUTES_CEILING = 120
# How long each stack wait may take when the request does not say (eksctl's --timeout default, 25m).
DEFAULT_TIMEOUT_MINUTES = 25
# The networks the service's functions reach clusters' public endpoints from (comma-separated CIDRs,
# e.g. the Elastic IPs of the NAT they egress through). Unset: unknown, so anywhere (see policy.py).
ENV_SERVICE_EGRESS_CIDRS = "EKSPRESS_SERVICE_EGRESS_CIDRS"
# Warm pools (model/pool_spec.py, operations/pools.py): the most clusters a pool may keep ready, how
# often the fill runs, and how many pool clusters may be building at once (fills never crowd out creates).
ENV_MAX_POOL_SIZE = "EKSPRESS_MAX_POOL_SIZE"
ENV_POOL_FILL_EVERY_MINUTES = "EKSPRESS_POOL_FILL_EVERY_MINUTES"
ENV_POOL_MAX_IN_FLIGHT = "EKSPRESS_POOL_MAX_IN_FLIGHT"
# How long a claim with `whenPoolEmpty: wait` waits for a READY cluster before it is FAILED (minutes).
ENV_POOL_WAIT_MINUTES = "EKSPRESS_POOL_WAIT_MINUTES"

# How long a step waits for its stack's CloudFormation event before it looks for itself (seconds, every
# kind; unset: `EVENT_WAIT_SECONDS` scaled by the poll scale, at least `MIN_EVENT_WAIT_SECONDS`).
ENV_STACK_EVENT_WAIT_SECONDS = "EKSPRESS_STACK_EVENT_WAIT_SECONDS"
# Stack events are delivered at least once but not guaranteed to arrive in time, so every wait ends.
# The cluster stack (an EKS control plane) takes 10-15 minutes, the others under 5: a lost event costs
# about ten minutes, then the describe loop takes over.
EVENT_WAIT_SECONDS = {"cluster": 1500, "stack": 600}
MIN_EVENT_WAIT_SECONDS = 20

# Each workflow in statemachine/ and the variable that carries its ARN to the code.
STATE_MACHINE_ENV = {
    "create_cluster": ENV_CREATE_STATE_MACHINE_ARN,
    "update_access": ENV_ACCESS_STATE_MACHINE_ARN,
    "delete_cluster": ENV_DELETE_STATE_MACHINE_ARN,
    "change_nodegroup": ENV_NODEGROUP_STATE_MACHINE_ARN,
    "change_serviceaccount": ENV_SERVICEACCOUNT_STATE_MACHINE_ARN,
}


@dataclass(frozen=True)
class Settings:
    table_name: str
    create_state_machine_arn: str
    # Multiplies every polling wait. 1.0 on AWS; the local engine, whose stacks
    # finish in seconds, sets a small value so demos and tests do not sleep minutes.
    poll_scale: float
    # ENV_STACK_EVENT_WAIT_SECONDS; 0: by kind (`event_waits`).
    stack_event_wait_seconds: int = 0
    access_state_machine_arn: str = ""
    # Callers (ARN glob patterns) allowed to map principals to system:masters. Empty: nobody.
    masters_allowed: tuple[str, ...] = ()
    delete_state_machine_arn: str = ""
    nodegroup_state_machine_arn: str = ""
    serviceaccount_state_machine_arn: str = ""
    # Leases: every cluster expires unless extended; protected clusters (policy-gated) never do.
    default_lease_hours: int = 8
    max_lease_hours: int = 168
    protect_allowed: tuple[str, ...] = ()
    # Idle teardown: no recorded activity for this long (and, on AWS, nodes below this CPU)
    # counts as idle; the owner is warned and the cluster deleted after the grace period.
    idle_hours: int = 24
    idle_cpu_percent: float = 5.0
    reap_grace_minutes: int = 60
    notify_url: str = ""
    # Slack: the signing secret lives in Secrets Manager (id) or SSM (parameter name).
    slack_secret_id: str = ""
    slack_secret_parameter: str = ""
    # Slack user ids that may extend or delete anyone's cluster; workspaces and channels
    # the command is accepted from (empty: any).
    slack_admins: tuple[str, ...] = ()
    slack_teams: tuple[str, ...] = ()
    slack_channels: tuple[str, ...] = ()
    # An incoming webhook for messages with no response_url to answer (teardown warnings).
    slack_webhook_url: str = ""
    # Invoked asynchronously for `create` and `delete`, so Slack is answered within its 3 seconds
    # (empty: the work is done before answering, as the local engine's tests may choose).
    slack_worker_function: str = ""
    pool_fill_function: str = ""
    # IAM principals (ARN globs) who may change or delete anyone's cluster.
    admins: tuple[str, ...] = ()
    # Set only by the local engine: lets a signed header name the caller (see identity.py).
    local_identity_key: str = ""
    # CloudFormation's service role for our stacks (empty: the caller's own credentials).
    stack_role_arn: str = ""
    # IAM roles given cluster-admin access entries on every cluster (the service's own).
    kubernetes_role_arns: tuple[str, ...] = ()
    # Where templates too big to send in the request go (empty: such a template fails its step).
    artifacts_bucket: str = ""
    # Guardrails. Empty tuples allow anything the request model accepts; 0 means no limit.
    allowed_regions: tuple[str, ...] = ()
    # Instance type globs (`m5.*`, `t3.large`).
    allowed_instance_types: tuple[str, ...] = ()
    allowed_versions: tuple[str, ...] = ()
    # maxSize of one node group; EKS's own quota is 450.
    max_nodes_per_nodegroup: int = 450
    # The sum of maxSize over a cluster's node groups.
    max_nodes_per_cluster: int = 0
    # Clusters one owner may hold that are not DELETED.
    max_clusters_per_owner: int = 0
    # The longest deadline a request may give each stack wait (timeoutMinutes), at most TIMEOUT_MINUTES_CEILING.
    max_timeout_minutes: int = 60
    # IPv4 networks the service's functions egress from; a cluster's publicAccessCIDRs must admit them.
    service_egress_cidrs: tuple[str, ...] = ()
    # IAM policy ARN globs a request may attach beyond the templates' own (policy.py).
    allowed_policy_arns: tuple[str, ...] = ()
    # IAM action globs an inline policy of a pod's role may allow (inline_policy.py); empty: no inline policy.
    allowed_inline_actions: tuple[str, ...] = ()
    # The same for a node role's (a node group's iam.attachPolicy): every pod on the node can reach those
    # credentials through the instance metadata, so a node role gets its own, narrower, list.
    allowed_node_inline_actions: tuple[str, ...] = ()
    # Warm pools: the largest size a pool may have, and how many pool clusters may be building at once.
    max_pool_size: int = 5
    pool_max_in_flight: int = 2
    pool_wait_minutes: int = 60


def event_waits(settings: Settings, deadline_minutes: float | None = None) -> dict[str, int]:
    """The workflows' `$.eventWaits`: how long each waiting step gives its stack's event, by kind of stack.

    Never past the stack deadline (`deadline_minutes`, wall time): the describe loop that follows a
    missed event is what enforces it.
    """
    if settings.stack_event_wait_seconds > 0:
        waits = dict.fromkeys(EVENT_WAIT_SECONDS, settings.stack_event_wait_seconds)
    else:
        waits = {
            kind: max(MIN_EVENT_WAIT_SECONDS, math.ceil(seconds * settings.poll_scale))
            for kind, seconds in EVENT_WAIT_SECONDS.items()
        }
    if deadline_minutes:
        waits = {kind: max(1, min(seconds, math.ceil(deadline_minutes * 60))) for kind, seconds in waits.items()}
    return waits


def _patterns(variable: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in os.environ.get(variable, "").split(",") if p.strip())


def _networks(variable: str) -> tuple[str, ...]:
    """Comma-separated IPv4 networks, normalized; a value that is none fails loudly, naming the variable."""
    networks = []
    for value in _patterns(variable):
        try:
            networks.append(str(ipaddress.IPv4Network(value, strict=False)))
        except ValueError as exc:
            raise ValueError(f"{variable}: {value!r} is not an IPv4 network ({exc})") from None
    return tuple(networks)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        table_name=os.environ.get(ENV_TABLE_NAME, "ekspress-clusters"),
        create_state_machine_arn=os.environ.get(ENV_CREATE_STATE_MACHINE_ARN, ""),
        poll_scale=float(os.environ.get(ENV_POLL_SCALE, "1.0")),
        stack_event_wait_seconds=int(os.environ.get(ENV_STACK_EVENT_WAIT_SECONDS, "0")),
        access_state_machine_arn=os.environ.get(ENV_ACCESS_STATE_MACHINE_ARN, ""),
        masters_allowed=_patterns(ENV_MASTERS_ALLOWED),
        delete_state_machine_arn=os.environ.get(ENV_DELETE_STATE_MACHINE_ARN, ""),
        nodegroup_state_machine_arn=os.environ.get(ENV_NODEGROUP_STATE_MACHINE_ARN, ""),
        serviceaccount_state_machine_arn=os.environ.get(ENV_SERVICEACCOUNT_STATE_MACHINE_ARN, ""),
        default_lease_hours=int(os.environ.get(ENV_DEFAULT_LEASE_HOURS, "8")),
        max_lease_hours=int(os.environ.get(ENV_MAX_LEASE_HOURS, "168")),
        protect_allowed=_patterns(ENV_PROTECT_ALLOWED),
        idle_hours=int(os.environ.get(ENV_IDLE_HOURS, "24")),
        idle_cpu_percent=float(os.environ.get(ENV_IDLE_CPU_PERCENT, "5")),
        reap_grace_minutes=int(os.environ.get(ENV_REAP_GRACE_MINUTES, "60")),
        notify_url=os.environ.get(ENV_NOTIFY_URL, ""),
        slack_secret_id=os.environ.get(ENV_SLACK_SECRET_ID, ""),
        slack_secret_parameter=os.environ.get(ENV_SLACK_SECRET_PARAMETER, ""),
        slack_admins=_patterns(ENV_SLACK_ADMINS),
        slack_teams=_patterns(ENV_SLACK_TEAMS),
        slack_channels=_patterns(ENV_SLACK_CHANNELS),
        slack_webhook_url=os.environ.get(ENV_SLACK_WEBHOOK_URL, ""),
        slack_worker_function=os.environ.get(ENV_SLACK_WORKER_FUNCTION, ""),
        pool_fill_function=os.environ.get(ENV_POOL_FILL_FUNCTION, ""),
        admins=_patterns(ENV_ADMINS),
        local_identity_key=os.environ.get(ENV_LOCAL_IDENTITY_KEY, ""),
        stack_role_arn=os.environ.get(ENV_STACK_ROLE_ARN, ""),
        kubernetes_role_arns=_patterns(ENV_KUBERNETES_ROLE_ARNS),
        artifacts_bucket=os.environ.get(ENV_ARTIFACTS_BUCKET, ""),
        allowed_regions=_patterns(ENV_ALLOWED_REGIONS),
        allowed_instance_types=_patterns(ENV_ALLOWED_INSTANCE_TYPES),
        allowed_versions=_patterns(ENV_ALLOWED_VERSIONS),
        max_nodes_per_nodegroup=int(os.environ.get(ENV_MAX_NODES_PER_NODEGROUP, "450")),
        max_nodes_per_cluster=int(os.environ.get(ENV_MAX_NODES_PER_CLUSTER, "0")),
        max_clusters_per_owner=int(os.environ.get(ENV_MAX_CLUSTERS_PER_OWNER, "0")),
        max_timeout_minutes=min(int(os.environ.get(ENV_MAX_TIMEOUT_MINUTES, "60")), TIMEOUT_MINUTES_CEILING),
        service_egress_cidrs=_networks(ENV_SERVICE_EGRESS_CIDRS),
        allowed_policy_arns=_patterns(ENV_ALLOWED_POLICY_ARNS),
        allowed_inline_actions=_patterns(ENV_ALLOWED_INLINE_ACTIONS),
        allowed_node_inline_actions=_patterns(ENV_ALLOWED_NODE_INLINE_ACTIONS),
        max_pool_size=int(os.environ.get(ENV_MAX_POOL_SIZE, "5")),
        pool_max_in_flight=int(os.environ.get(ENV_POOL_MAX_IN_FLIGHT, "2")),
        pool_wait_minutes=int(os.environ.get(ENV_POOL_WAIT_MINUTES, "60")),
    )
