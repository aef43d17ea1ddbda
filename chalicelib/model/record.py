"""The cluster record: what the table keeps about one cluster, and what the API shows of it.

One shape for the store, the use-cases and the OpenAPI document (which is generated
from these models). Records are written field by field under conditions (aws/store.py),
so the models allow keys they do not name: a record written by a newer version stays
readable by an older one.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Cluster statuses (chalicelib/model/statuses.py).
from chalicelib.model.statuses import ACTIVE as ACTIVE
from chalicelib.model.statuses import CREATING as CREATING
from chalicelib.model.statuses import DELETE_FAILED as DELETE_FAILED
from chalicelib.model.statuses import DELETED as DELETED
from chalicelib.model.statuses import DELETING as DELETING
from chalicelib.model.statuses import FAILED as FAILED
from chalicelib.model.statuses import WAITING as WAITING

# What callers may see of a record (chalicelib/model/visibility.py).
from chalicelib.model.visibility import PRIVATE_FIELDS as PRIVATE_FIELDS
from chalicelib.model.visibility import public as public

Status = Literal["CREATING", "ACTIVE", "FAILED", "DELETING", "DELETE_FAILED", "DELETED", "WAITING"]


class _Open(BaseModel):
    # Built on first use (the create's check, the API's schema): the steps that import this module for
    # `public` and the statuses validate no record, and their cold starts skip building these.
    model_config = ConfigDict(extra="allow", defer_build=True)


class Operation(_Open):
    """The one operation running on a cluster (create, delete, node group change); absent when idle."""

    type: str = Field(description="`create`, `delete`, `nodegroup`")
    id: str
    by: str | None = None
    startedAt: str | None = None
    executionArn: str | None = None
    action: str | None = Field(default=None, description="a node group change: `add`, `scale`, `delete`")
    nodegroup: str | None = None


class StackEntry(_Open):
    """One of the cluster's CloudFormation stacks, as the workflow last saw it."""

    kind: str = Field(description="`cluster`, `nodegroup`, `addons`")
    stackId: str | None = None
    status: str | None = Field(default=None, description="CloudFormation's stack status")
    nodegroup: str | None = None
    reason: str | None = Field(default=None, description="why it failed, when it did")


class Failure(_Open):
    """What failed and why: the step or stack, the resource, and the reason AWS gave."""

    reason: str
    error: str | None = None
    step: str | None = None
    stack: str | None = None
    resource: str | None = None
    operation: str | None = Field(default=None, description="a failed change: its action (scale, create, ...)")
    operationId: str | None = Field(default=None, description="a failed change: the id of its operation")


class Endpoint(_Open):
    """What a user needs to reach the cluster, from the cluster stack's outputs."""

    endpoint: str | None = None
    arn: str | None = None
    certificateAuthorityData: str | None = None
    vpcId: str | None = None
    securityGroupId: str | None = None


class TimelineEvent(_Open):
    at: str
    type: str = Field(description="`REQUESTED`, `STACK_CREATE_COMPLETE`, `ACTIVE`, `FAILED`, ...")
    message: str
    details: dict[str, Any] | None = None


class ClusterSummary(_Open):
    """A cluster in a list: who, where, which version, and how it is."""

    name: str
    clusterId: str = Field(description="this incarnation of the name; a name used again gets a new id")
    status: Status
    phase: str | None = None
    region: str | None = None
    version: str | None = None
    owner: str | None = None
    createdAt: str | None = None
    updatedAt: str | None = None


class ClusterRecord(ClusterSummary):
    """The cluster's record; `events` (its timeline) only on `GET /clusters/{name}`."""

    spec: dict[str, Any] | None = Field(default=None, description="the request, with every default filled in")
    stacks: dict[str, StackEntry] | None = None
    operation: Operation | None = None
    executionArn: str | None = None
    zones: list[str] | None = None
    endpointZones: dict[str, list[str]] | None = Field(
        default=None, description="a fully private cluster: the zones of each of its VPC endpoints"
    )
    endpointRouteTables: list[str] | None = Field(
        default=None, description="a fully private cluster in an existing VPC: the route tables of its S3 endpoint"
    )
    endpointAccess: str | None = Field(
        default=None, description="'private' once a fully private cluster's public endpoint is off"
    )
    cluster: Endpoint | None = None
    nodeRoles: list[str] | None = None
    failure: Failure | None = Field(default=None, description="why the cluster is FAILED or DELETE_FAILED")
    lastFailure: Failure | None = Field(default=None, description="the last failed node group change")
    ttlHours: int | None = None
    expiresAt: str | None = None
    lastActivityAt: str | None = None
    reapAt: str | None = None
    protected: bool | None = None
    deletedAt: str | None = None
    events: list[TimelineEvent] | None = None
    eksName: str | None = Field(
        default=None, description="a cluster claimed from a warm pool: the EKS cluster's (and its stacks') name"
    )
    pool: str | None = Field(default=None, description="the warm pool the cluster was built for")
    waitingFor: dict[str, Any] | None = Field(
        default=None,
        description="a claim WAITING for a warm pool's next READY cluster: `pool`, `since`, `until` (then FAILED)",
    )
