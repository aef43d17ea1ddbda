"""The cluster store against moto's DynamoDB: conditional writes, listing, timeline."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.aws import store
from chalicelib.model.errors import BadRequestError, ConflictError, NotFoundError

if TYPE_CHECKING:
    from chalicelib.aws.store import Store


def _record(name: str, cluster_id: str | None = None) -> dict[str, Any]:
    return {"name": name, "clusterId": cluster_id or uuid.uuid4().hex, "status": store.CREATING, "spec": {"name": name}}


def test_given_a_new_name_when_created_then_record_and_requested_event_exist(db: Store) -> None:
    created = db.create_cluster(_record("alpha", "id-1"))

    found = db.get_cluster("alpha")
    assert found["status"] == store.CREATING
    assert found["createdAt"] == created["createdAt"]
    assert "pk" not in found
    assert [e["type"] for e in db.list_events("alpha", "id-1")] == ["REQUESTED"]


def test_given_a_live_cluster_when_the_name_is_requested_again_then_conflict(db: Store) -> None:
    db.create_cluster(_record("alpha"))

    with pytest.raises(ConflictError) as err:
        db.create_cluster(_record("alpha"))
    assert err.value.details["status"] == store.CREATING


def test_given_a_deleted_cluster_when_the_name_is_requested_again_then_it_is_reused(db: Store) -> None:
    db.create_cluster(_record("alpha", "old"))
    db.update_cluster("alpha", "old", {"status": store.DELETED})

    db.create_cluster(_record("alpha", "new"))

    assert db.get_cluster("alpha")["clusterId"] == "new"


def test_given_racing_creates_of_one_name_then_exactly_one_wins(db: Store) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        try:
            db.create_cluster(_record("race"))
            outcomes.append("won")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]


def test_given_a_newer_cluster_when_a_stale_workflow_updates_then_it_is_refused(db: Store) -> None:
    db.create_cluster(_record("alpha", "current"))

    with pytest.raises(ConflictError):
        db.update_cluster("alpha", "stale", {"status": store.ACTIVE})
    assert db.get_cluster("alpha")["status"] == store.CREATING


def test_nested_updates_set_one_stack_without_touching_others(db: Store) -> None:
    db.create_cluster({**_record("alpha", "id"), "stacks": {}})
    db.update_cluster("alpha", "id", {"stacks.eksctl-alpha-cluster": {"status": "CREATE_IN_PROGRESS"}})
    db.update_cluster("alpha", "id", {"stacks.eksctl-alpha-nodegroup-ng": {"status": "CREATE_IN_PROGRESS"}})
    db.update_cluster("alpha", "id", {"stacks.eksctl-alpha-cluster": {"status": "CREATE_COMPLETE"}}, event=("X", "x"))

    stacks = db.get_cluster("alpha")["stacks"]
    assert stacks == {
        "eksctl-alpha-cluster": {"status": "CREATE_COMPLETE"},
        "eksctl-alpha-nodegroup-ng": {"status": "CREATE_IN_PROGRESS"},
    }
    assert [e["type"] for e in db.list_events("alpha", "id")] == ["REQUESTED", "X"]


def test_listing_pages_through_every_cluster_in_name_order(db: Store) -> None:
    names = [f"c{i:02d}" for i in range(7)]
    for name in reversed(names):
        db.create_cluster(_record(name))

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        items, token = db.list_clusters(limit=3, next_token=token)
        seen += [i["name"] for i in items]
        pages += 1
        if not token:
            break

    assert seen == names
    assert pages >= 3


def test_a_forged_page_token_is_a_bad_request(db: Store) -> None:
    with pytest.raises(BadRequestError):
        db.list_clusters(next_token="bm90LWEtdG9rZW4=")


@pytest.mark.parametrize(
    "key",
    [
        {"pk": "CLUSTER#a", "sk": "META", "gsi1pk": "CLUSTER", "gsi1sk": "a"},
        {"pk": {"N": "1"}, "sk": {"S": "META"}, "gsi1pk": {"S": "CLUSTER"}, "gsi1sk": {"S": "a"}},
        {"pk": {"S": "CLUSTER#a"}, "sk": {"S": "META"}, "gsi1pk": {"S": "OTHER"}, "gsi1sk": {"S": "a"}},
        {"pk": {"S": "CLUSTER#b"}, "sk": {"S": "META"}, "gsi1pk": {"S": "CLUSTER"}, "gsi1sk": {"S": "a"}},
        {"pk": {"S": "CLUSTER#a"}, "sk": {"S": "EVENT#x"}, "gsi1pk": {"S": "CLUSTER"}, "gsi1sk": {"S": "a"}},
    ],
)
def test_a_token_shaped_like_ours_but_not_a_cluster_key_is_a_bad_request(db: Store, key: dict[str, Any]) -> None:
    db.create_cluster(_record("a"))
    token = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()

    with pytest.raises(BadRequestError) as refused:
        db.list_clusters(next_token=token)
    assert refused.value.details["field"] == "nextToken"


def test_an_unknown_cluster_is_not_found(db: Store) -> None:
    with pytest.raises(NotFoundError):
        db.get_cluster("nope")


def test_given_clusters_of_two_owners_then_each_counts_only_their_live_ones(db: Store) -> None:
    for name, owner in (("a1", "alice"), ("a2", "alice"), ("b1", "bob")):
        db.create_cluster({**_record(name, f"id-{name}"), "owner": owner})

    db.update_cluster("a1", "id-a1", {"status": store.DELETED}, remove=store.OWNER_KEYS)

    assert (db.count_owned("alice"), db.count_owned("bob"), db.count_owned("carol")) == (1, 1, 0)
    assert not set(store.OWNER_KEYS) & set(db.get_cluster("a2"))


def test_given_a_deleted_name_taken_by_another_owner_then_it_counts_for_the_new_owner(db: Store) -> None:
    db.create_cluster({**_record("shared", "old"), "owner": "alice"})
    db.update_cluster("shared", "old", {"status": store.DELETED}, remove=store.OWNER_KEYS)

    db.create_cluster({**_record("shared", "new"), "owner": "bob"})

    assert (db.count_owned("alice"), db.count_owned("bob")) == (0, 1)


def test_an_update_without_an_event_is_one_conditional_write_and_with_one_a_transaction(db: Store) -> None:
    db.create_cluster(_record("solo", "id-1"))
    calls: list[str] = []
    db._ddb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))

    db.update_cluster("solo", "id-1", {"phase": "ONE"})
    db.update_cluster("solo", "id-1", {"phase": "TWO"}, event=("PHASE", "two"))

    assert calls == ["UpdateItem", "TransactWriteItems"]
    assert db.get_cluster("solo")["phase"] == "TWO"
    assert [e["type"] for e in db.list_events("solo", "id-1")] == ["REQUESTED", "PHASE"]


def test_an_update_without_an_event_still_refuses_another_cluster_of_the_same_name(db: Store) -> None:
    db.create_cluster(_record("solo", "id-1"))

    with pytest.raises(ConflictError, match="changed meanwhile"):
        db.update_cluster("solo", "an-earlier-cluster", {"phase": "STALE"})
    assert "phase" not in db.get_cluster("solo")


def test_every_query_follows_its_pages_and_a_limit_stops_them(db: Store) -> None:
    """DynamoDB answers a Query a page (1 MB) at a time: with pages of one item, nothing is missed."""
    pages: list[str] = []

    def one_item_pages(params: dict[str, Any], **_: Any) -> None:
        params["Limit"] = 1
        pages.append(params.get("IndexName", "table"))

    for name in ("p1", "p2", "p3"):
        db.create_cluster({**_record(name, f"id-{name}"), "owner": "alice"})
        db.update_cluster(name, f"id-{name}", {"status": store.ACTIVE, "gsi2pk": store.REAPABLE, "gsi2sk": "2026"})
    db.add_event("p1", "id-p1", "NOTE", "second event")
    db._ddb.meta.events.register("before-parameter-build.dynamodb.Query", one_item_pages)

    assert db.count_owned("alice") == 3
    assert [e["type"] for e in db.list_events("p1", "id-p1")] == ["REQUESTED", "NOTE"]
    assert [r["name"] for r in db.reapable("2027", limit=10)] == ["p1", "p2", "p3"]
    assert len(db.reapable("2027", limit=2)) == 2
    assert pages.count("byOwner") >= 3 and pages.count("table") >= 2
