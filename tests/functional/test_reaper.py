"""The idle-teardown sweep over many clusters, with a frozen clock: warn, wait out the grace, delete.

The clock is an argument (`now`), so each sweep below happens at a chosen moment;
`delete` and `notify` are recorders here (the e2e tests run the real delete).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.aws import store
from chalicelib.model import steps
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.settings import get_settings
from chalicelib.operations import create, leases
from tests.functional.helpers import given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Recorder:
    def __init__(self, db: Store) -> None:
        self.db = db
        self.deleted: list[str] = []
        self.notices: list[dict[str, Any]] = []

    def delete(self, name: str) -> dict[str, Any]:
        self.deleted.append(name)
        return {}

    def notify(self, message: dict[str, Any]) -> None:
        self.notices.append(message)

    def sweep(self, settings: Settings, at: datetime, busy: Any = lambda record: False) -> dict[str, list[str]]:
        return leases.sweep(self.db, settings, at, notify=self.notify, delete=self.delete, busy=busy)


def active(db: Store, name: str, **body: Any) -> dict[str, Any]:
    record = given_a_requested_cluster(db, {"name": name, **body}, now=T0)
    create.mark_active(
        step_context(db=db, settings=get_settings()),
        steps.ClusterStackDone(name=name, clusterId=record["clusterId"], clusterStack={"outputs": {}}),
    )
    return db.get_cluster(name)


def event_types(db: Store, name: str) -> list[str]:
    record = db.get_cluster(name)
    return [e["type"] for e in db.list_events(name, record["clusterId"])]


@pytest.fixture
def fleet(db: Store) -> dict[str, list[str]]:
    groups = {
        "short": [f"short-{i}" for i in range(12)],  # 1 h lease
        "long": [f"long-{i}" for i in range(12)],  # 20 h lease
        "protected": [f"keep-{i}" for i in range(6)],  # 1 h lease, but protected
        "extended": [f"ext-{i}" for i in range(6)],  # 1 h lease, extended after the warning
        "creating": [f"new-{i}" for i in range(4)],  # 1 h lease, never became ACTIVE
    }
    for name in groups["short"] + groups["extended"]:
        active(db, name, ttlHours=1)
    for name in groups["long"]:
        active(db, name, ttlHours=20)
    for name in groups["protected"]:
        active(db, name, ttlHours=1, protected=True)
    for name in groups["creating"]:
        given_a_requested_cluster(db, {"name": name, "ttlHours": 1}, now=T0)
    return groups


def test_only_expired_clusters_are_warned_then_deleted_after_the_grace_period(
    db: Store, fleet: dict[str, list[str]]
) -> None:
    settings = get_settings()  # grace: 60 minutes
    reaper = Recorder(db)
    scans: list[str] = []
    db._ddb.meta.events.register("before-call.dynamodb.Scan", lambda **kw: scans.append("scan"))

    first = reaper.sweep(settings, T0 + timedelta(hours=1, minutes=5))

    expired = fleet["short"] + fleet["extended"]
    assert sorted(first["warned"]) == sorted(expired)
    assert reaper.deleted == []
    assert {n["cluster"] for n in reaper.notices} == set(expired)
    assert all(n["type"] == "teardown_warning" and n["reason"] == "its lease ended" for n in reaper.notices)

    for name in fleet["extended"]:
        leases.extend(db, settings, name, 24, "owner", T0 + timedelta(hours=1, minutes=20))

    within_grace = reaper.sweep(settings, T0 + timedelta(hours=1, minutes=50))
    assert sorted(within_grace["waiting"]) == sorted(fleet["short"])
    assert reaper.deleted == []

    after_grace = reaper.sweep(settings, T0 + timedelta(hours=2, minutes=6))
    assert sorted(after_grace["deleted"]) == sorted(fleet["short"]) == sorted(reaper.deleted)
    assert scans == [], "the sweep must query the reap index, never scan the table"

    assert event_types(db, "short-0")[-2:] == ["TEARDOWN_WARNING", "TEARDOWN"]
    assert "TEARDOWN" not in event_types(db, "ext-0")
    assert event_types(db, "ext-0")[-1] == "LEASE_EXTENDED"
    for name in fleet["protected"] + fleet["long"] + fleet["creating"]:
        assert not {"TEARDOWN_WARNING", "TEARDOWN"} & set(event_types(db, name)), name


def test_the_index_holds_only_active_unprotected_clusters(db: Store, fleet: dict[str, list[str]]) -> None:
    due = {r["name"] for r in db.reapable(leases.iso(T0 + timedelta(days=30)), limit=1000)}

    assert due == set(fleet["short"] + fleet["extended"] + fleet["long"])


def test_an_idle_cluster_is_warned_unless_its_nodes_are_busy(db: Store) -> None:
    settings = get_settings()  # idle after 24 hours without activity
    active(db, "quiet", ttlHours=100)
    active(db, "working", ttlHours=100)
    reaper = Recorder(db)
    at = T0 + timedelta(hours=25)

    outcome = reaper.sweep(settings, at, busy=lambda record: record["name"] == "working")

    assert outcome["warned"] == ["quiet"]
    assert outcome["busy"] == ["working"]
    assert reaper.notices[0]["reason"] == "no activity for 24 hours"
    working = db.get_cluster("working")
    assert working["lastActivityAt"] == leases.iso(at)
    assert working["reapAt"] == leases.iso(at + timedelta(hours=24))
    assert event_types(db, "working")[-1] == "IDLE_CHECK_BUSY"


def test_activity_after_an_idle_warning_cancels_it_but_not_an_expired_lease(db: Store) -> None:
    settings = get_settings()
    active(db, "idle", ttlHours=100)
    active(db, "expired", ttlHours=1)
    reaper = Recorder(db)
    reaper.sweep(settings, T0 + timedelta(hours=25))

    at = T0 + timedelta(hours=25, minutes=10)
    for name in ("idle", "expired"):
        leases.record_activity(db, settings, db.get_cluster(name), "kubeconfig fetched", at)

    assert "leaseWarnedAt" not in db.get_cluster("idle")
    assert event_types(db, "idle")[-1] == "ACTIVITY"
    assert "leaseWarnedAt" in db.get_cluster("expired")
    later = reaper.sweep(settings, T0 + timedelta(hours=26, minutes=30))
    assert later["deleted"] == ["expired"]


def test_a_cluster_that_changed_under_the_sweep_is_skipped(db: Store) -> None:
    settings = get_settings()
    active(db, "racing", ttlHours=100)  # idle by then, so the busy check runs first
    reaper = Recorder(db)

    def deleted_meanwhile(record: dict[str, Any]) -> bool:
        db.update_cluster("racing", record["clusterId"], {"status": store.DELETING})
        return False

    outcome = reaper.sweep(settings, T0 + timedelta(hours=30), busy=deleted_meanwhile)

    assert outcome["warned"] == [] and reaper.notices == []


def test_extending_a_lease_never_shortens_it_and_respects_the_maximum(db: Store) -> None:
    settings = get_settings()
    active(db, "leased", ttlHours=48)

    result = leases.extend(db, settings, "leased", 2, "owner", T0 + timedelta(hours=1))
    assert result["expiresAt"] == leases.iso(T0 + timedelta(hours=48))

    with pytest.raises(SpecValidationError) as refused:
        leases.extend(db, settings, "leased", settings.max_lease_hours + 1, "owner", T0)
    assert refused.value.details["fields"][0]["field"] == "hours"
