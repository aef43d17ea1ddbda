"""Warm pools: what an admin defines (`POST /pools`), and the cluster request a pool cluster is built from.

A pool keeps `size` clusters of one region, Kubernetes version and node group shape ready to be
claimed; its `schedule` may change the size by weekday and hour (UTC). Names are DNS labels, short
enough that a pool cluster's generated name (`<pool>-<6 hex>`) keeps every cluster-name rule.
Field names are camelCase, as the cluster request's.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime  # noqa: TC003 (pydantic reads it at runtime)
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.model.errors import ForbiddenError, SpecValidationError
from chalicelib.model.images import WINDOWS_FAMILIES, AmiFamily
from chalicelib.model.naming import POOL_OWNER_PREFIX, pool_of_owner, pool_owner
from chalicelib.model.nodegroup_spec import DEFAULT_INSTANCE_TYPE, INSTANCE_TYPE_PATTERN, MAX_NODES_PER_GROUP
from chalicelib.model.settings import ENV_ADMINS, ENV_MAX_POOL_SIZE
from chalicelib.model.spec import DEFAULT_REGION, DEFAULT_VERSION, REGION_PATTERN, supported_version
from chalicelib.model.validation import SpecModel

if TYPE_CHECKING:
    from chalicelib.model.settings import Settings

# A DNS label (lowercase letters, digits, inner '-'), short enough for `<pool>-<6 hex>` to be a cluster name.
POOL_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
MAX_POOL_NAME = 40
# The most clusters one pool may keep ready, whatever the policy says (EKSPRESS_MAX_POOL_SIZE lowers it).
POOL_SIZE_CEILING = 50
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Day = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
# The one managed node group of a pool cluster.
POOL_NODEGROUP = "pool-workers"

__all__ = [
    "CLAIM_FIELDS",
    "POOL_NODEGROUP",
    "POOL_OWNER_PREFIX",
    "PoolClaim",
    "PoolPatch",
    "PoolSpec",
    "ScheduleEntry",
    "check_admin",
    "check_pool_policy",
    "pool_of_owner",
    "pool_owner",
    "split_claim",
]


class PoolNodeGroup(SpecModel):
    """The node group shape a pool's clusters are claimed with; it waits at zero nodes."""

    instance_types: Annotated[
        list[Annotated[str, Field(max_length=32, pattern=INSTANCE_TYPE_PATTERN)]],
        Field(min_length=1, max_length=20),
    ] = Field(default_factory=lambda: [DEFAULT_INSTANCE_TYPE])
    ami_family: AmiFamily = "AmazonLinux2023"
    max_size: Annotated[int, Field(ge=1, le=MAX_NODES_PER_GROUP)] = 2

    @field_validator("ami_family")
    @classmethod
    def _linux_only(cls, value: str) -> str:
        # A pool cluster has this one node group, and Windows nodes need a Linux group beside them
        # (CoreDNS and the add-ons run on Linux): such a pool could never build a cluster.
        if value in WINDOWS_FAMILIES:
            raise PydanticCustomError(
                "windows_needs_linux",
                "a pool cluster has one node group, and Windows nodes need a Linux node group beside them",
            )
        return value


class ScheduleEntry(SpecModel):
    """From `fromHour` to `toHour` (UTC, `toHour` excluded) on `days`, the pool keeps `size` clusters."""

    days: Annotated[list[Day], Field(min_length=1, max_length=7)]
    from_hour: Annotated[int, Field(ge=0, le=23)]
    to_hour: Annotated[int, Field(ge=1, le=24)]
    size: Annotated[int, Field(ge=0, le=POOL_SIZE_CEILING)]

    @model_validator(mode="after")
    def _hours_in_order(self) -> ScheduleEntry:
        if self.to_hour <= self.from_hour:
            raise PydanticCustomError(
                "hour_order",
                "toHour ({to}) must be after fromHour ({start})",
                {"to": self.to_hour, "start": self.from_hour},
            )
        if len(set(self.days)) != len(self.days):
            raise PydanticCustomError("duplicate_day", "a day is listed twice")
        return self

    def covers(self, moment: datetime) -> bool:
        return DAYS[moment.weekday()] in self.days and self.from_hour <= moment.hour < self.to_hour


class PoolSpec(SpecModel):
    """What `POST /pools` accepts."""

    name: Annotated[str, Field(min_length=1, max_length=MAX_POOL_NAME, pattern=POOL_NAME_PATTERN)]
    region: Annotated[str, Field(pattern=REGION_PATTERN)] = DEFAULT_REGION
    version: str = DEFAULT_VERSION
    node_group: PoolNodeGroup = Field(default_factory=PoolNodeGroup)
    size: Annotated[int, Field(ge=0, le=POOL_SIZE_CEILING)]
    max_age_hours: Annotated[int, Field(ge=1, le=24 * 90)] | None = None
    schedule: Annotated[list[ScheduleEntry], Field(max_length=20)] | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _supported_version(cls, value: Any) -> Any:
        return supported_version(value)

    def size_at(self, moment: datetime) -> int:
        """The size the pool keeps at `moment`: the first schedule entry covering it, else `size`."""
        for entry in self.schedule or []:
            if entry.covers(moment):
                return entry.size
        return self.size

    def largest_size(self) -> int:
        return max([self.size, *(entry.size for entry in self.schedule or [])])


class PoolPatch(SpecModel):
    """What `PATCH /pools/{name}` may change (the rest defines the clusters already built).

    `maxAgeHours: null` and `schedule: null` remove them; `size` cannot be removed.
    """

    size: Annotated[int, Field(ge=0, le=POOL_SIZE_CEILING)] | None = None
    max_age_hours: Annotated[int, Field(ge=1, le=24 * 90)] | None = None
    schedule: Annotated[list[ScheduleEntry], Field(max_length=20)] | None = None

    @model_validator(mode="after")
    def _something_and_a_size(self) -> PoolPatch:
        if "size" in self.model_fields_set and self.size is None:
            raise PydanticCustomError("size_required", "size cannot be removed; give a number (0 empties the pool)")
        if not self.model_fields_set:
            raise PydanticCustomError("empty_patch", "give at least one of size, maxAgeHours, schedule")
        return self


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class PoolRecord(_Open):
    """A pool as recorded: its definition, who made it, when, and how many times it changed."""

    name: str
    region: str
    version: str
    nodeGroup: dict[str, Any]
    size: int
    maxAgeHours: int | None = None
    schedule: list[dict[str, Any]] | None = None
    createdAt: str | None = None
    updatedAt: str | None = None
    createdBy: str | None = None
    revision: int | None = None


class PoolList(BaseModel):
    pools: list[PoolRecord]


class PoolCluster(_Open):
    name: str
    clusterId: str
    state: str = Field(description="`WARMING` (CREATING), `READY` (ACTIVE, may be claimed), `FAILED`, `RETIRING`")
    status: str | None = None
    createdAt: str | None = None


class PoolDetail(PoolRecord):
    """`GET /pools/{name}`: the definition, the size the schedule asks for now, and its unclaimed clusters."""

    sizeNow: int
    clusters: list[PoolCluster]


class PoolDeleted(BaseModel):
    name: str
    retiring: list[str] = Field(description="its unclaimed clusters, whose deletes have started")
    failedClaims: list[str] = Field(default_factory=list, description="claims that waited for it, now FAILED")


def check_admin(caller: str, settings: Settings, action: str) -> None:
    """Pools are the service's: only callers EKSPRESS_ADMINS names may define or change them (else 403)."""
    if any(fnmatch.fnmatchcase(caller, pattern) for pattern in settings.admins):
        return
    raise ForbiddenError(
        f"{caller} may not {action}: only an admin (EKSPRESS_ADMINS) may",
        rule="admin_only",
        setting=ENV_ADMINS,
    )


def check_pool_policy(pool: PoolSpec, settings: Settings) -> None:
    """The service policy on a pool: its largest size (any schedule entry's too) within EKSPRESS_MAX_POOL_SIZE."""
    problems = []
    sizes = [("size", pool.size)] + [(f"schedule[{i}].size", e.size) for i, e in enumerate(pool.schedule or [])]
    for field, size in sizes:
        if size > settings.max_pool_size:
            problems.append(
                {
                    "field": field,
                    "rule": "pool_size_too_large",
                    "message": f"{field} ({size}) may be at most {settings.max_pool_size} ({ENV_MAX_POOL_SIZE})",
                }
            )
    if problems:
        names = ", ".join(p["field"] for p in problems)
        raise SpecValidationError(f"the pool breaks the service policy: {names}", fields=problems)


class PoolClaim(SpecModel):
    """`POST /clusters` with `pool`: take a READY cluster of that pool; `whenPoolEmpty` says what else to do."""

    pool: Annotated[str, Field(min_length=1, max_length=MAX_POOL_NAME, pattern=POOL_NAME_PATTERN)]
    when_pool_empty: Literal["wait", "create", "fail"] = "create"


CLAIM_FIELDS = ("pool", "whenPoolEmpty")


def split_claim(body: dict[str, Any], dry_run: bool) -> tuple[dict[str, Any], PoolClaim | None]:
    """The cluster request without its claim fields, and the claim (None without `pool`); a 422 names each problem."""
    given = {key: body[key] for key in CLAIM_FIELDS if key in body}
    rest = {key: value for key, value in body.items() if key not in CLAIM_FIELDS}
    if not given:
        return rest, None
    problems: list[dict[str, str]] = []
    if "pool" not in given:
        problems.append({"field": "whenPoolEmpty", "rule": "pool_required", "message": "whenPoolEmpty goes with pool"})
    elif dry_run:
        problems.append({"field": "pool", "rule": "dry_run_unsupported", "message": "a dry run does not claim"})
    if problems:
        raise SpecValidationError("the cluster request is invalid: " + problems[0]["field"], fields=problems)
    try:
        return rest, PoolClaim.model_validate(given)
    except ValidationError as exc:
        from chalicelib.model.validation import describe_errors

        fields = describe_errors(exc)
        names = ", ".join(sorted({f["field"] for f in fields}))
        raise SpecValidationError(f"the cluster request is invalid: {names}", fields=fields) from None
