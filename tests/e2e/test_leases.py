"""Leases over HTTP, and the scheduled teardown deleting an expired cluster on the local engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.handlers.schedules import run_sweep
from chalicelib.model import settings
from chalicelib.operations import leases
from local.slack import Receiver

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.e2e.conftest import Api


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    hook = Receiver()
    monkeypatch.setenv(settings.ENV_NOTIFY_URL, hook.url)
    settings.get_settings.cache_clear()
    yield hook
    hook.close()
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def active(api: Api, name: str, **extra: Any) -> dict[str, Any]:
    reply = api.call("POST", "/clusters", {"name": name, **extra})
    assert reply.status == 202, reply.body
    return api.wait_for(name, {"ACTIVE", "FAILED"})


def test_a_lease_is_set_at_creation_and_extended_through_the_api(api: Api) -> None:
    before = datetime.now(UTC)
    record = active(api, "leased", ttlHours=2)
    assert record["ttlHours"] == 2
    assert leases.parse_iso(record["expiresAt"]) - before >= timedelta(hours=2)

    reply = api.call("POST", "/clusters/leased/lease", {"hours": 72})

    assert reply.status == 200, reply.body
    assert leases.parse_iso(reply.body["expiresAt"]) - before >= timedelta(hours=72)
    stored = api.call("GET", "/clusters/leased").body
    assert stored["expiresAt"] == reply.body["expiresAt"]
    assert stored["events"][-1]["type"] == "LEASE_EXTENDED"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"hours": 0}, "hours"), ({"hours": 100000}, "hours"), ({"hours": 2, "days": 1}, "days"), ({}, "hours")],
)
def test_a_bad_lease_request_names_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    reply = api.call("POST", "/clusters/anything/lease", body)

    assert reply.status == 422, reply.body
    assert [f["field"] for f in reply.body["fields"]] == [field]


def test_a_lease_longer_than_the_policy_allows_is_refused_before_anything_starts(api: Api) -> None:
    reply = api.call("POST", "/clusters", {"name": "forever", "ttlHours": 10000})

    assert reply.status == 422
    assert reply.body["fields"][0]["field"] == "ttlHours"
    assert api.call("GET", "/clusters/forever").status == 404


def test_protected_clusters_need_the_policy_to_allow_the_caller(api: Api) -> None:
    reply = api.call("POST", "/clusters", {"name": "precious", "protected": True})

    assert reply.status == 403
    assert reply.body["field"] == "protected"


def test_the_schedule_warns_then_deletes_an_expired_cluster(api: Api, receiver: Receiver) -> None:
    active(api, "expiring", ttlHours=1)
    later = datetime.now(UTC) + timedelta(hours=1, minutes=1)

    assert run_sweep(later)["warned"] == ["expiring"]
    assert api.call("GET", "/clusters/expiring").body["status"] == "ACTIVE"
    assert run_sweep(later + timedelta(minutes=30))["waiting"] == ["expiring"]
    assert run_sweep(later + timedelta(minutes=61))["deleted"] == ["expiring"]

    final = api.wait_for("expiring", {"DELETED", "DELETE_FAILED"})
    assert final["status"] == "DELETED", final.get("failure")
    types = [e["type"] for e in final["events"]]
    assert types.index("TEARDOWN_WARNING") < types.index("TEARDOWN") < types.index("DELETED")
    teardown = [m for m in receiver.messages if m["type"].startswith("teardown")]
    assert [m["type"] for m in teardown] == ["teardown_warning", "teardown_started"]
    assert teardown[0]["cluster"] == "expiring"
    assert teardown[0]["reason"] == "its lease ended"
    assert receiver.wait_for(lambda m: m["type"] == "cluster_deleted", timeout=30) is not None
