"""Warm pools: keep clusters ready, replace old ones, and take one for a claim.

A pool cluster is an ordinary cluster built by the same create path a `POST /clusters` takes
(`create.request_create`), with a generated name (`<pool>-<6 hex>`), its one node group at
0 nodes (minSize 0, desiredCapacity 0) so a waiting cluster costs only its control plane, and
the service as owner (`ekspress:pool/<pool>`). Its state in the pool follows from the record:
CREATING is WARMING, ACTIVE is READY (it may be claimed), FAILED is FAILED; a claimed cluster
belongs to its caller and is no longer the pool's.

The fill (`fill`, run on a schedule) asks the pure planner (`plan`) what to do with each pool:

- how many to start: the pool's size now (its schedule's first entry covering the hour, UTC,
  else `size`) less its READY clusters younger than `maxAgeHours` and those WARMING;
- which to retire (delete): READY clusters past `maxAgeHours`, but only while another cluster
  of the pool is READY (the youngest old one is kept until a replacement is); and, when the
  size went down (a schedule at night), the surplus, oldest READY first, then the newest WARMING.

Fills never starve fresh creates, in two ways:

1. at most `EKSPRESS_POOL_MAX_IN_FLIGHT` (default 2) pool clusters are CREATING at once, over
   all pools: the workflows, CloudFormation's and EKS's concurrent-create limits stay mostly
   for callers;
2. a pool cluster is started only while the account's quotas it takes in the pool's region
   (VPCs, internet gateways, Elastic IPs, NAT gateways, EKS clusters; operations/quotas.py)
   keep room for `QUOTA_RESERVE` more clusters after it: the last room always goes to a caller.

A pool whose last build FAILED waits before it starts another, longer after each failure
(`backoff`); a FAILED pool cluster is never READY, so it is never handed out. It stays in
`GET /pools/{name}` with its reason until an admin deletes it.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.aws.pool_store import PoolStore
from chalicelib.aws.store import ACTIVE, CREATING, DELETING, FAILED, WAITING
from chalicelib.model import naming
from chalicelib.model.errors import ConflictError, EkspressError, SpecValidationError
from chalicelib.model.pool_spec import POOL_NODEGROUP, PoolSpec, pool_owner
from chalicelib.model.spec import ClusterSpec
from chalicelib.observability import logger
from chalicelib.operations.leases import iso, parse_iso
from chalicelib.operations.refill import refill

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from chalicelib.model.quotas import Headroom, Need
    from chalicelib.operations.context import Context

# Pool states, derived from the cluster record's status (see the module docstring).
WARMING = "WARMING"
READY = "READY"
POOL_FAILED = "FAILED"
RETIRING = "RETIRING"
_STATES = {CREATING: WARMING, ACTIVE: READY, FAILED: POOL_FAILED, DELETING: RETIRING}

# Clusters' worth of quota room a fill always leaves to callers' creates.
QUOTA_RESERVE = 1
# After a failed pool build, the next waits this long, doubled for each further failure within a day.
BACKOFF_BASE = timedelta(minutes=15)
BACKOFF_MAX = timedelta(hours=4)
FAILURE_MEMORY = timedelta(hours=24)
NAME_SUFFIX_BYTES = 3  # six hex digits
# The phase of a claim waiting for a READY cluster, and of one that waited too long.
PHASE_WAITING = "WaitingForPool"
PHASE_WAIT_FAILED = "WaitForPoolFailed"


def pool_state(record: dict[str, Any]) -> str:
    return _STATES.get(str(record.get("status")), str(record.get("status")))


# -- the planner (pure) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What one fill does with one pool, and why."""

    target: int
    start: int = 0
    retire: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


def _age_out(pool: PoolSpec, record: dict[str, Any], now: datetime) -> bool:
    if pool.max_age_hours is None:
        return False
    return parse_iso(str(record["createdAt"])) + timedelta(hours=pool.max_age_hours) <= now


def backoff(failures: Sequence[dict[str, Any]], now: datetime) -> datetime | None:
    """When the pool may start again after its recent failed builds (None: no failure holds it back)."""
    recent = sorted(
        parse_iso(str(r.get("updatedAt") or r["createdAt"]))
        for r in failures
        if now - parse_iso(str(r.get("updatedAt") or r["createdAt"])) < FAILURE_MEMORY
    )
    if not recent:
        return None
    wait: timedelta = min(BACKOFF_BASE * (2 ** (len(recent) - 1)), BACKOFF_MAX)
    last: datetime = recent[-1]
    return last + wait


def plan(
    pool: PoolSpec,
    clusters: Sequence[dict[str, Any]],
    now: datetime,
    in_flight: int,
    max_in_flight: int,
    fits: int | None,
    waiting: int = 0,
) -> Plan:
    """What to start and retire for `pool`, given its unclaimed `clusters` at `now`.

    `in_flight`: pool clusters CREATING now over all pools (this one's included); `fits`: how many
    more clusters of the pool's shape the account's quotas have room for (None: unknown, left to the
    create's own quota check); `waiting`: claims waiting for a READY cluster, each one more to keep.
    """
    target = pool.size_at(now) + waiting
    by_age = sorted(clusters, key=lambda r: str(r["createdAt"]))
    ready = [r for r in by_age if r.get("status") == ACTIVE]
    warming = [r for r in by_age if r.get("status") == CREATING]
    failed = [r for r in by_age if r.get("status") == FAILED]
    old = [r for r in ready if _age_out(pool, r, now)]
    young = [r for r in ready if not _age_out(pool, r, now)]
    retire: list[str] = []
    notes: list[str] = []

    if target == 0:
        retire = [r["name"] for r in ready + warming]
        return Plan(target, 0, tuple(retire), ("size is 0",) if retire else ())

    # Old ones go only while another is READY: the youngest old one stays until a young one is ready.
    keep_old = [] if young else old[-1:]
    retire += [r["name"] for r in old if r not in keep_old]
    if keep_old:
        notes.append(f"{keep_old[0]['name']} is past maxAgeHours; kept until a replacement is READY")

    counted = young + warming  # what serves the target (old ones are being replaced)
    surplus = len(counted) - target
    if surplus > 0:
        # Oldest READY first, then the newest WARMING (it has spent the least).
        order = young + list(reversed(warming))
        retire += [r["name"] for r in order[:surplus]]
        notes.append(f"{surplus} over the size of {target}")
        return Plan(target, 0, tuple(retire), tuple(notes))

    start = target - len(counted)
    if start and (until := backoff(failed, now)) is not None and now < until:
        notes.append(f"a pool build failed; the next starts after {until.isoformat()}")
        start = 0
    if start and in_flight + start > max_in_flight:
        start = max(0, max_in_flight - in_flight)
        notes.append(f"{in_flight} pool clusters are building; at most {max_in_flight} at once")
    if start and fits is not None and fits - start < QUOTA_RESERVE:
        start = max(0, fits - QUOTA_RESERVE)
        notes.append(f"the account's quotas have room for {fits} more clusters; {QUOTA_RESERVE} is kept for creates")
    return Plan(target, start, tuple(retire), tuple(notes))


def clusters_that_fit(needs: Sequence[Need], rooms: Mapping[tuple[str, str | None], Headroom]) -> int:
    """How many more clusters with these needs the quotas' rooms take (the scarcest quota decides)."""
    counts: dict[tuple[str, str | None], int] = {}
    for need in needs:
        key = (need.quota.code, need.zone)
        counts[key] = counts.get(key, 0) + need.count
    return min((rooms[key].available // count for key, count in counts.items() if count), default=0)


# -- what a pool cluster is ------------------------------------------------------------------


def new_cluster_name(pool: str, token: Callable[[int], str] = secrets.token_hex) -> str:
    return f"{pool}-{token(NAME_SUFFIX_BYTES)}"


def cluster_spec(pool: PoolSpec, name: str) -> ClusterSpec:
    """The cluster request a pool cluster is built from: the pool's shape, its node group at 0 nodes."""
    group = pool.node_group
    return ClusterSpec.model_validate(
        {
            "name": name,
            "region": pool.region,
            "version": pool.version,
            "managedNodeGroups": [
                {
                    "name": POOL_NODEGROUP,
                    "instanceTypes": list(group.instance_types),
                    "amiFamily": group.ami_family,
                    "minSize": 0,
                    "desiredCapacity": 0,
                    "maxSize": group.max_size,
                }
            ],
        }
    )


def shape_problems(pool: PoolSpec, spec: ClusterSpec) -> list[str]:
    """Why the pool cannot serve a request for `spec` (empty: it can)."""
    problems = []
    if spec.region != pool.region:
        problems.append(f"region {spec.region} is not the pool's {pool.region}")
    if spec.version != pool.version:
        problems.append(f"version {spec.version} is not the pool's {pool.version}")
    groups = spec.managed_node_groups or []
    if spec.node_groups or len(groups) != 1 or spec.auto_mode_config is not None:
        problems.append("a pool serves one managed node group")
    for group in groups[:1]:
        if list(group.types) != list(pool.node_group.instance_types):
            problems.append(f"instance types {group.types} are not the pool's {list(pool.node_group.instance_types)}")
        if group.ami_family != pool.node_group.ami_family:
            problems.append(f"amiFamily {group.ami_family} is not the pool's {pool.node_group.ami_family}")
        if (group.max_size or 0) > pool.node_group.max_size:
            problems.append(f"maxSize {group.max_size} is over the pool's {pool.node_group.max_size}")
    return problems


# -- use-cases -------------------------------------------------------------------------------


def pool_store(ctx: Context) -> PoolStore:
    return PoolStore(ctx.clients.dynamodb(), ctx.settings.table_name)


def describe_pool(ctx: Context, name: str, now: datetime) -> dict[str, Any]:
    """The pool's definition, its size now, and its unclaimed clusters with their state."""
    store = pool_store(ctx)
    pool = store.get_pool(name)
    spec = PoolSpec.model_validate(_definition(pool))
    clusters = [
        {
            "name": r["name"],
            "clusterId": r["clusterId"],
            "state": pool_state(r),
            "status": r.get("status"),
            "createdAt": r.get("createdAt"),
            **({"failure": r["failure"]} if r.get("failure") else {}),
        }
        for r in store.clusters(name)
    ]
    return {**pool, "sizeNow": spec.size_at(now), "clusters": clusters}


DEFINITION_KEYS = ("name", "region", "version", "nodeGroup", "size", "maxAgeHours", "schedule")


def _definition(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in DEFINITION_KEYS if record.get(k) is not None}


def _fits(ctx: Context, spec: ClusterSpec) -> int | None:
    """Room under the account quotas for more clusters like `spec` (None when AWS does not say)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.model.quotas import cluster_needs, needs_zones
    from chalicelib.operations import quotas
    from chalicelib.operations.create import choose_zones

    try:
        zones = choose_zones(ctx.clients.ec2(spec.region)) if needs_zones(spec) else []
        needs = cluster_needs(spec, zones)
        wanted = list(dict.fromkeys(need.quota for need in needs))
        nat_zones = [need.zone for need in needs if need.zone is not None]
        rooms = {(r.quota.code, r.zone): r for r in quotas.headroom(ctx, spec.region, wanted, nat_zones)}
    except (BotoCoreError, ClientError, ValueError) as exc:
        logger.warning("pool fill: quotas not read", extra={"region": spec.region, "reason": str(exc)})
        return None
    return clusters_that_fit(needs, rooms)


def fill(
    ctx: Context,
    now: datetime,
    start: Callable[[ClusterSpec, str], dict[str, Any]] | None = None,
    retire: Callable[[str, str], dict[str, Any]] | None = None,
    fits: Callable[[ClusterSpec], int | None] | None = None,
) -> dict[str, Any]:
    """One fill of every pool: start and retire what `plan` says. Returns what was done, by pool.

    `start(spec, owner)` is the create path of `POST /clusters` and `retire(name, by)` the delete
    path of `DELETE /clusters/{name}` unless a test passes its own.
    """
    from chalicelib.operations import create, delete

    start = start or (lambda spec, owner: create.request_create(ctx, spec, owner))
    # Only while still the pool's: a caller may have claimed it since `members` was read.
    retire = retire or (lambda name, by: delete.request_delete(ctx, name, by, expect_owner=by))
    fits = fits or (lambda spec: _fits(ctx, spec))
    store = pool_store(ctx)
    pools = [(PoolSpec.model_validate(_definition(p)), p) for p in store.list_pools()]
    served = {spec.name: serve_waiting(ctx, spec, now) for spec, _ in pools}
    members = {spec.name: store.clusters(spec.name) for spec, _ in pools}
    in_flight = sum(1 for records in members.values() for r in records if r.get("status") == CREATING)
    outcome: dict[str, Any] = {}
    for spec, _ in pools:
        clusters = members[spec.name]
        sample = cluster_spec(spec, new_cluster_name(spec.name))
        # Whenever the plan may start one: FAILED and retiring members do not count towards the size.
        waiting = served[spec.name]["waiting"]
        room = fits(sample) if spec.size_at(now) + waiting > 0 else None
        decided = plan(spec, clusters, now, in_flight, ctx.settings.pool_max_in_flight, room, waiting)
        done: dict[str, Any] = {
            "target": decided.target,
            "started": [],
            "retired": [],
            "notes": list(decided.notes),
            "claims": served[spec.name],
        }
        owner = pool_owner(spec.name)
        for name in decided.retire:
            try:
                retire(name, owner)
                done["retired"].append(name)
            except EkspressError as exc:  # changed meanwhile (claimed, deleting), or no workflow: next time
                done["notes"].append(f"{name} not retired: {exc.message}")
        for _ in range(decided.start):
            name = new_cluster_name(spec.name)
            try:
                record = start(cluster_spec(spec, name), owner)
            except EkspressError as exc:  # a quota, a name taken, the workflow unreachable: next time
                done["notes"].append(f"not started: {exc.message}")
                logger.warning("pool fill: start refused", extra={"pool": spec.name, "reason": exc.message})
                break
            in_flight += 1
            ctx.store.update_cluster(name, record["clusterId"], {"pool": spec.name})
            done["started"].append(name)
        outcome[spec.name] = done
    logger.info("pool fill", extra={"pools": len(outcome)})
    return outcome


# -- claims ----------------------------------------------------------------------------------

WHEN_POOL_EMPTY = ("wait", "create", "fail")
# What a claim may ask of a pool cluster beyond its shape: its name, node counts, identity mappings, lease.
_CLAIMABLE_FIELDS = {"name", "region", "version", "managedNodeGroups", "iamIdentityMappings", "ttlHours", "protected"}
_CLAIMABLE_GROUP_FIELDS = {
    "name",
    "instanceType",
    "instanceTypes",
    "amiFamily",
    "minSize",
    "desiredCapacity",
    "maxSize",
}


def claim_problems(pool: PoolSpec, spec: ClusterSpec) -> list[str]:
    """Why the pool cannot serve this request (empty: it can): its shape, or fields a built cluster cannot take."""
    problems = shape_problems(pool, spec)
    given = spec.model_dump(mode="json", exclude_defaults=True)
    problems += [f"{key} cannot be given to a pool cluster" for key in sorted(set(given) - _CLAIMABLE_FIELDS)]
    for group in given.get("managedNodeGroups") or []:
        extra = sorted(set(group) - _CLAIMABLE_GROUP_FIELDS)
        problems += [f"managedNodeGroups[0].{key} cannot be given to a pool cluster" for key in extra]
    return problems


def take_ready(
    ctx: Context,
    pool: str,
    caller: str,
    claimed_as: str,
    fields: dict[str, Any] | None = None,
    waiting: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Take one READY cluster of `pool` for `caller` under `claimed_as` (oldest first); None when none is left.

    Each attempt is one conditional write (`PoolStore.take`): a cluster another claim got first is
    skipped, never shared. ConflictError when the name is held by a live cluster, or (with `waiting`, the
    claim's place in the queue) when that WAITING claim was withdrawn meanwhile.
    """
    store = pool_store(ctx)
    ready = sorted((r for r in store.clusters(pool) if r.get("status") == ACTIVE), key=lambda r: str(r["createdAt"]))
    for record in ready:
        if store.take(record["name"], record["clusterId"], pool, caller, claimed_as, fields or {}, waiting):
            return ctx.store.get_cluster(record["name"])
    return None


def _lease_fields(ctx: Context, spec: ClusterSpec, now: datetime) -> dict[str, Any]:
    """The claim's lease, from the request's `ttlHours` (else the default), starting at the take."""
    from chalicelib.operations import leases

    lease = leases.initial_fields(spec, ctx.settings, now)
    return {**lease, **leases.reap_fields({**lease, "protected": spec.protected}, ctx.settings)}


def _follow_up(ctx: Context, record: dict[str, Any], spec: ClusterSpec, caller: str) -> dict[str, Any]:
    """After the take: scale the node group to the requested sizes and map the requested identities.

    The cluster is the caller's from the take on: what fails after it is said, on the timeline and in
    the answer (`warnings`), never turned into an error that would leave them owning a cluster they
    were refused.
    """
    from chalicelib.operations import access, nodegroups

    name = record["name"]
    group = (spec.managed_node_groups or [])[0]
    sizes = {"minSize": group.min_size, "desiredCapacity": group.desired_capacity, "maxSize": group.max_size}
    warnings: list[str] = []
    try:
        # The EKS cluster says whose it is now (cost reports, the console); its stacks keep the service's tags.
        arn = (record.get("cluster") or {}).get("arn")
        if arn:
            tags = {naming.TAG_CLAIMED_BY: caller[:256], naming.TAG_CLAIMED_AS: spec.name}
            ctx.clients.eks(str(record["region"])).tag_resource(resourceArn=arn, tags=tags)
        scaled = nodegroups.request_scale(ctx, name, POOL_NODEGROUP, sizes, caller)
        record = {**record, "operation": scaled["operation"]}
        for mapping in spec.iam_identity_mappings:
            access.request_access_change(ctx, name, access.ADD, mapping.model_dump(mode="json", exclude_none=True))
    except Exception as exc:  # an AWS error as much as a refusal: said, never raised
        message = exc.message if isinstance(exc, EkspressError) else f"{type(exc).__name__}: {exc}"
        warnings.append(f"claimed, but not finished: {message}")
        ctx.store.add_event(name, record["clusterId"], "CLAIM_INCOMPLETE", warnings[-1])
    return {**record, **({"warnings": warnings} if warnings else {})}


class PoolCannotServe(ConflictError):
    """`whenPoolEmpty: fail` and the pool has no READY cluster of the requested shape."""

    code = "pool_cannot_serve"


def request_claim(
    ctx: Context, spec: ClusterSpec, caller: str, pool_name: str, when_empty: str, now: datetime
) -> dict[str, Any] | None:
    """Claim a READY cluster of `pool_name` for `spec`; None when the caller chose a fresh create instead.

    After the take (one conditional write), the claim scales the pool's node group to the requested
    sizes (the node group workflow, the record's operation while it runs) and maps the requested
    identities in aws-auth (the access workflow): no cluster stack is created. The lease starts at the
    take, from the request's `ttlHours` (else the default), as a fresh create's would.

    `whenPoolEmpty: wait` with no READY cluster records a WAITING claim under the requested name (no
    lease, nothing built) with its place in the pool's queue; the fill serves the queue in order as
    clusters become READY, keeps one more cluster per waiting claim, and fails a claim still waiting
    after `EKSPRESS_POOL_WAIT_MINUTES`. A request the pool's clusters can never fit is not queued.
    """
    found = pool_store(ctx).find_pool(pool_name)
    if found is None:
        raise SpecValidationError(
            f"pool {pool_name!r} does not exist",
            fields=[{"field": "pool", "rule": "pool_unknown", "message": f"no pool is named {pool_name!r}"}],
        )
    pool = PoolSpec.model_validate(_definition(found))
    problems = claim_problems(pool, spec)
    record = None
    if not problems:
        # Claims already waiting go first: a new one takes no READY cluster ahead of them.
        ahead = queued(ctx, pool.name)
        if not ahead:
            record = take_ready(ctx, pool.name, caller, spec.name, _lease_fields(ctx, spec, now))
        else:
            refill(ctx, pool.name)  # a fill serves the queue now, if a cluster is READY
        if record is None and when_empty == "wait":
            return wait_for_pool(ctx, pool, spec, caller, now)
        if record is None:
            problems = [
                f"{ahead} claims wait for pool {pool.name!r}" if ahead else f"pool {pool.name!r} has no READY cluster"
            ]
    if record is not None:
        refill(ctx, pool.name)
    if record is None:
        if when_empty in ("fail", "wait"):  # waiting would not help a request the pool can never serve
            raise PoolCannotServe(
                f"pool {pool.name!r} cannot serve this request: {'; '.join(problems)}",
                pool=pool.name,
                rule="pool_cannot_serve",
                reasons=problems,
            )
        return None
    return _follow_up(ctx, record, spec, caller)


def wait_for_pool(ctx: Context, pool: PoolSpec, spec: ClusterSpec, caller: str, now: datetime) -> dict[str, Any]:
    """Record a claim WAITING for `pool`'s next READY cluster (see `request_claim`); the record as answered."""
    until = now + timedelta(minutes=ctx.settings.pool_wait_minutes)
    record = {
        "name": spec.name,
        "clusterId": uuid.uuid4().hex,
        "status": WAITING,
        "phase": PHASE_WAITING,
        "region": spec.region,
        "version": spec.version,
        "owner": caller,
        "spec": spec.model_dump(mode="json", exclude_none=True),
        "waitingFor": {"pool": pool.name, "since": iso(now), "until": iso(until)},
    }
    return pool_store(ctx).wait(pool.name, record)


def _live_place(ctx: Context, place: dict[str, Any]) -> dict[str, Any] | None:
    """The WAITING claim a queue place stands for; None when it is gone (withdrawn, failed, name reused)."""
    record = ctx.store.find_cluster(place["name"])
    if record is None or record.get("clusterId") != place["clusterId"] or record.get("status") != WAITING:
        return None
    return record


def queued(ctx: Context, pool: str) -> int:
    """How many claims wait for `pool` (a new claim does not take a cluster ahead of them)."""
    return sum(1 for place in pool_store(ctx).waiting(pool) if _live_place(ctx, place) is not None)


def fail_waiting(ctx: Context, record: dict[str, Any], reason: str) -> bool:
    """End a WAITING claim as FAILED, saying why; False if it was withdrawn (or served) meanwhile."""
    try:
        ctx.store.update_cluster(
            record["name"],
            record["clusterId"],
            {"status": FAILED, "phase": PHASE_WAIT_FAILED, "failure": {"step": "WaitForPool", "reason": reason}},
            event=("FAILED", reason),
            expect_status=(WAITING,),
        )
    except ConflictError:
        return False
    return True


def end_queue(ctx: Context, pool: str, reason: str) -> list[str]:
    """Fail every claim waiting for `pool` (the pool is deleted) and empty its queue; the names failed."""
    store, failed = pool_store(ctx), []
    for place in store.waiting(pool):
        record = _live_place(ctx, place)
        if record is not None and fail_waiting(ctx, record, reason):
            failed.append(record["name"])
        store.leave_queue(pool, place)
    return failed


def serve_waiting(ctx: Context, pool: PoolSpec, now: datetime) -> dict[str, Any]:
    """Hand READY clusters of `pool` to its waiting claims, oldest first; fail those waited out.

    Returns what was done: `served` (claimed names), `failed` (timed out, or the pool changed shape
    under them) and `waiting` (still queued). A place whose claim is gone (withdrawn by a delete)
    just leaves the queue. One claim's trouble (a record that does not parse, an AWS error) is
    logged and leaves it queued for the next fill; it never stops the others or the fill.
    """
    store = pool_store(ctx)
    done: dict[str, Any] = {"served": [], "failed": [], "waiting": 0}
    empty = False
    for place in store.waiting(pool.name):
        try:
            record = _live_place(ctx, place)
            if record is None:
                store.leave_queue(pool.name, place)
                continue
            spec = ClusterSpec.model_validate(record["spec"])
            problems = claim_problems(pool, spec)  # the pool may have been changed since the claim came
            if now >= parse_iso(str(record["waitingFor"]["until"])) or problems:
                minutes = ctx.settings.pool_wait_minutes
                reason = (
                    f"pool {pool.name!r} no longer serves this request: {'; '.join(problems)}"
                    if problems
                    else f"no cluster of pool {pool.name!r} became READY within {minutes} minutes"
                )
                if fail_waiting(ctx, record, reason):
                    done["failed"].append(record["name"])
                store.leave_queue(pool.name, place)
                continue
            if empty:
                done["waiting"] += 1
                continue
            fields = _lease_fields(ctx, spec, now)
            try:
                taken = take_ready(ctx, pool.name, record["owner"], record["name"], fields, place)
            except ConflictError:  # the claim was withdrawn between the read and the take
                store.leave_queue(pool.name, place)
                continue
            if taken is None:
                empty = True
                done["waiting"] += 1
                continue
            _follow_up(ctx, taken, spec, str(record["owner"]))
            done["served"].append(record["name"])
        except Exception:  # this claim waits for the next fill; the others go on
            done["waiting"] += 1
            logger.exception("pool fill: a waiting claim not served", extra={"pool": pool.name, "claim": place["name"]})
    return done
