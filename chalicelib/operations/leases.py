"""Leases and idle teardown: every cluster ends unless someone still wants it.

A cluster's *reap time* is the earlier of its lease end (`expiresAt`) and its idle
deadline (`lastActivityAt` + idle hours). ACTIVE, unprotected clusters carry it in
the sparse `byReapAt` index, so the hourly sweep is one Query however large the
fleet. The sweep warns the owner first and deletes only after the grace period,
unless the lease was extended (which moves the reap time and clears the warning).
Every decision is written to the cluster's timeline.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.aws import store
from chalicelib.model.errors import ConflictError
from chalicelib.model.naming import pool_of_owner
from chalicelib.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings
    from chalicelib.model.spec import ClusterSpec


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def initial_fields(spec: ClusterSpec, settings: Settings, now: datetime) -> dict[str, Any]:
    """Lease fields of a new record."""
    hours = spec.ttl_hours or settings.default_lease_hours
    return {
        "ttlHours": hours,
        "expiresAt": iso(now + timedelta(hours=hours)),
        "lastActivityAt": iso(now),
        "protected": spec.protected,
    }


def reap_fields(record: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The index entry that puts an ACTIVE, unprotected cluster in front of the reaper."""
    if record.get("protected"):
        return {}
    idle_deadline = parse_iso(record["lastActivityAt"]) + timedelta(hours=settings.idle_hours)
    reap_at = min(parse_iso(record["expiresAt"]), idle_deadline)
    return {"gsi2pk": store.REAPABLE, "gsi2sk": iso(reap_at), "reapAt": iso(reap_at)}


def extend(db: Store, settings: Settings, name: str, hours: int, caller: str, now: datetime) -> dict[str, Any]:
    """Extend the lease to `hours` from now (never shortening it) and clear any warning."""
    # Imported here: the policy loads the request models, which the steps that only read leases never need.
    from chalicelib.model.policy import check_lease_hours

    check_lease_hours(hours, settings, "hours")
    record = db.get_cluster(name)
    if record["status"] not in (store.ACTIVE, store.CREATING):
        raise ConflictError(
            f"cluster {name!r} is {record['status']}; only a live cluster's lease can be extended",
            cluster=name,
            status=record["status"],
        )
    expires = max(parse_iso(record["expiresAt"]), now + timedelta(hours=hours))
    updated = {**record, "expiresAt": iso(expires), "lastActivityAt": iso(now)}
    fields: dict[str, Any] = {"expiresAt": updated["expiresAt"], "lastActivityAt": updated["lastActivityAt"]}
    if record["status"] == store.ACTIVE:
        fields.update(reap_fields(updated, settings))
    db.update_cluster(
        name,
        record["clusterId"],
        fields,
        event=("LEASE_EXTENDED", f"Lease extended to {updated['expiresAt']} by {caller}"),
        remove=("leaseWarnedAt",),
        expect_status=(record["status"],),
    )
    return {"name": name, "expiresAt": updated["expiresAt"]}


ACTIVITY_RESOLUTION = timedelta(minutes=5)


def record_activity(db: Store, settings: Settings, record: dict[str, Any], what: str, now: datetime) -> None:
    """Someone used the cluster through us: it is not idle. At most one write per few minutes.

    Activity moves the idle deadline, never the lease: a cluster past its lease is
    still torn down (after its warning), however busy.
    """
    if record.get("status") != store.ACTIVE:
        return
    last = record.get("lastActivityAt")
    if last and now - parse_iso(last) < ACTIVITY_RESOLUTION:
        return
    touched = {**record, "lastActivityAt": iso(now)}
    fields = {"lastActivityAt": touched["lastActivityAt"], **reap_fields(touched, settings)}
    still_due = bool(fields.get("reapAt")) and parse_iso(fields["reapAt"]) <= now
    # A conflict means it changed meanwhile (deleting): activity no longer matters.
    with contextlib.suppress(ConflictError):
        db.update_cluster(
            record["name"],
            record["clusterId"],
            fields,
            remove=() if still_due or "leaseWarnedAt" not in record else ("leaseWarnedAt",),
            event=("ACTIVITY", f"Activity: {what}") if "leaseWarnedAt" in record and not still_due else None,
            expect_status=(store.ACTIVE,),
        )


def sweep(
    db: Store,
    settings: Settings,
    now: datetime,
    notify: Callable[[dict[str, Any]], None],
    delete: Callable[[str], dict[str, Any]],
    busy: Callable[[dict[str, Any]], bool] = lambda record: False,
    limit: int = 500,
) -> dict[str, list[str]]:
    """One pass of idle teardown. Returns the names warned, deleted and kept, by decision."""
    outcome: dict[str, list[str]] = {"warned": [], "deleted": [], "waiting": [], "busy": []}
    grace = timedelta(minutes=settings.reap_grace_minutes)
    for record in db.reapable(iso(now), limit=limit):
        name, cluster_id = record["name"], record["clusterId"]
        if pool_of_owner(record.get("owner")) is not None:
            continue  # a warm pool's unclaimed cluster: its pool's fill replaces it, never the idle teardown
        expired = parse_iso(record["expiresAt"]) <= now
        reason = "its lease ended" if expired else f"no activity for {settings.idle_hours} hours"
        try:
            if not expired and busy(record):
                # The nodes are working even if nobody called us: that is activity.
                touched = {**record, "lastActivityAt": iso(now)}
                db.update_cluster(
                    name,
                    cluster_id,
                    {"lastActivityAt": iso(now), **reap_fields(touched, settings)},
                    event=("IDLE_CHECK_BUSY", "Nodes are busy; not idle"),
                    remove=("leaseWarnedAt",),  # a later idle spell gets its own warning
                    expect_status=(store.ACTIVE,),
                )
                outcome["busy"].append(name)
            elif "leaseWarnedAt" not in record:
                delete_after = iso(now + grace)
                db.update_cluster(
                    name,
                    cluster_id,
                    {"leaseWarnedAt": iso(now)},
                    event=("TEARDOWN_WARNING", f"Will be deleted after {delete_after}: {reason}"),
                    event_details={"reason": reason, "deleteAfter": delete_after},
                    expect_status=(store.ACTIVE,),
                )
                notify(
                    {
                        "type": "teardown_warning",
                        "cluster": name,
                        "owner": record.get("owner"),
                        "reason": reason,
                        "deleteAfter": delete_after,
                        "expiresAt": record["expiresAt"],
                    }
                )
                outcome["warned"].append(name)
            elif parse_iso(record["leaseWarnedAt"]) + grace <= now:
                db.add_event(name, cluster_id, "TEARDOWN", f"Deleting: {reason}; warned at {record['leaseWarnedAt']}")
                delete(name)
                notify({"type": "teardown_started", "cluster": name, "owner": record.get("owner"), "reason": reason})
                outcome["deleted"].append(name)
            else:
                outcome["waiting"].append(name)
        except ConflictError:
            # The cluster changed under us (extended, deleted, busy): the next sweep sees it as it is now.
            logger.info("reaper skipped a cluster that changed", extra={"cluster": name})
    logger.info("reaper sweep", extra={k: len(v) for k, v in outcome.items()})
    return outcome


CPU_WINDOW = timedelta(hours=1)
CPU_PERIOD_SECONDS = 300


def node_cpu_busy(clients: Clients, settings: Settings, now: datetime) -> Callable[[dict[str, Any]], bool]:
    """A check the sweep runs before calling a cluster idle: is any node group's CPU above the threshold?

    Managed node groups run in Auto Scaling groups, for which EC2 publishes
    `CPUUtilization`; a cluster is busy when any 5-minute average of any of its
    groups over the last hour exceeded `idle_cpu_percent`. A cluster whose metrics
    cannot be read is taken as busy (the lease still ends it): a missing permission
    must never delete someone's working cluster.
    """

    def busy(record: dict[str, Any]) -> bool:
        name, region = record["name"], record["region"]
        try:
            groups = _autoscaling_groups(clients.eks(region), name)
            if not groups:
                return False
            peak = _peak_cpu(clients.client("cloudwatch", region), groups, now)
        except Exception as exc:  # any AWS error: keep the cluster, say why
            logger.warning("idle check failed", extra={"cluster": name, "error": type(exc).__name__})
            return True
        logger.info("idle check", extra={"cluster": name, "peakCpu": peak, "groups": len(groups)})
        return peak is not None and peak > settings.idle_cpu_percent

    return busy


def _autoscaling_groups(eks: Any, cluster: str) -> list[str]:
    names: list[str] = []
    for page in eks.get_paginator("list_nodegroups").paginate(clusterName=cluster):
        for nodegroup in page["nodegroups"]:
            found = eks.describe_nodegroup(clusterName=cluster, nodegroupName=nodegroup)["nodegroup"]
            names.extend(g["name"] for g in (found.get("resources") or {}).get("autoScalingGroups", []))
    return names


def _peak_cpu(cloudwatch: Any, groups: list[str], now: datetime) -> float | None:
    """The highest 5-minute average CPU of any of the groups over the window (None: no data)."""
    queries = [
        {
            "Id": f"g{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/EC2",
                    "MetricName": "CPUUtilization",
                    "Dimensions": [{"Name": "AutoScalingGroupName", "Value": group}],
                },
                "Period": CPU_PERIOD_SECONDS,
                "Stat": "Average",
            },
        }
        for i, group in enumerate(groups[:500])  # GetMetricData takes up to 500 queries
    ]
    values: list[float] = []
    for page in cloudwatch.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, StartTime=now - CPU_WINDOW, EndTime=now
    ):
        for result in page["MetricDataResults"]:
            values.extend(result.get("Values", []))
    return max(values) if values else None
