"""What the API answers, as pydantic models.

The same shapes as the service's record models (the OpenAPI document's), kept here so the client
installs without the service. Every model allows keys it does not name: a newer service may add
fields, and an older client still reads its answers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# Cluster statuses.
CREATING = "CREATING"
ACTIVE = "ACTIVE"
FAILED = "FAILED"
DELETING = "DELETING"
DELETE_FAILED = "DELETE_FAILED"
DELETED = "DELETED"
FAILED_STATUSES = frozenset({FAILED, DELETE_FAILED})
# Timeline events of a claim on a warm pool: the take, the node group scale it then requests, or what
# stopped that request.
CLAIMED = "CLAIMED"
NODEGROUP_CHANGE_REQUESTED = "NODEGROUP_CHANGE_REQUESTED"
CLAIM_INCOMPLETE = "CLAIM_INCOMPLETE"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Operation(_Open):
    """The one operation running on a cluster (create, delete, node group change)."""

    type: str
    id: str
    by: str | None = None
    startedAt: str | None = None
    executionArn: str | None = None
    action: str | None = None
    nodegroup: str | None = None


class StackEntry(_Open):
    kind: str
    stackId: str | None = None
    status: str | None = None
    nodegroup: str | None = None
    reason: str | None = None


class Failure(_Open):
    reason: str
    error: str | None = None
    step: str | None = None
    stack: str | None = None
    resource: str | None = None
    operation: str | None = None  # a failed change: its action, and the id of its operation
    operationId: str | None = None


class Endpoint(_Open):
    endpoint: str | None = None
    arn: str | None = None
    certificateAuthorityData: str | None = None
    vpcId: str | None = None
    securityGroupId: str | None = None


class TimelineEvent(_Open):
    at: str
    type: str
    message: str
    details: dict[str, Any] | None = None


class ClusterSummary(_Open):
    name: str
    clusterId: str
    status: str
    phase: str | None = None
    region: str | None = None
    version: str | None = None
    owner: str | None = None
    createdAt: str | None = None
    updatedAt: str | None = None


class ClusterRecord(ClusterSummary):
    """`GET /clusters/{name}`, and the answer of a create or delete."""

    spec: dict[str, Any] | None = None
    stacks: dict[str, StackEntry] | None = None
    operation: Operation | None = None
    executionArn: str | None = None
    zones: list[str] | None = None
    endpointZones: dict[str, list[str]] | None = None  # a fully private cluster's VPC endpoints, by service
    endpointRouteTables: list[str] | None = None  # ... in an existing VPC: its S3 endpoint's route tables
    endpointAccess: str | None = None  # "private" once a fully private cluster's public endpoint is off
    cluster: Endpoint | None = None
    nodeRoles: list[str] | None = None
    failure: Failure | None = None
    lastFailure: Failure | None = None
    ttlHours: int | None = None
    expiresAt: str | None = None
    lastActivityAt: str | None = None
    reapAt: str | None = None
    protected: bool | None = None
    deletedAt: str | None = None
    events: list[TimelineEvent] | None = None
    # A cluster claimed from a warm pool: the EKS cluster's own name, and the pool.
    eksName: str | None = None
    pool: str | None = None
    # A claim WAITING for a pool's next READY cluster: `pool`, `since`, `until`.
    waitingFor: dict[str, Any] | None = None


class ClusterPage(_Open):
    """One page of `GET /clusters`."""

    clusters: list[ClusterSummary]
    nextToken: str | None = None


class StartedOperation(_Open):
    """A node group or service account change that was started: the cluster and its operation."""

    name: str
    operation: Operation


class AccessChange(_Open):
    """An aws-auth change that was started (its own workflow)."""

    operation: str
    executionArn: str | None = None
    action: str | None = None
    arn: str | None = None
    account: str | None = None


class AccessMappings(_Open):
    """The cluster's aws-auth ConfigMap, read live: `mapRoles`, `mapUsers`, `mapAccounts`."""

    mapRoles: list[dict[str, Any]] = []
    mapUsers: list[dict[str, Any]] = []
    mapAccounts: list[str] = []


class Lease(_Open):
    name: str
    expiresAt: str


class ServiceAccounts(_Open):
    name: str
    serviceAccounts: list[dict[str, Any]]


class PlannedStack(_Open):
    name: str
    kind: str
    resources: int | None = None
    templateBytes: int | None = None
    note: str | None = None


class DryRun(_Open):
    """`POST /clusters?dryRun=true`: what a create would build; nothing recorded, nothing started."""

    dryRun: bool
    name: str
    region: str
    zones: list[str] = []
    clusterConfig: dict[str, Any]
    stacks: list[PlannedStack]
