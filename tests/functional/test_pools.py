"""Warm pools on moto: the definitions' conditional writes, the one-write take, the fill, and the routes.

The routes run in Chalice's test client with the local engine's caller headers (an admin and a
developer); the fill runs with its start and retire paths real (the create and delete workflows
are started, not run: moto only records executions here).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.aws import identity
from chalicelib.aws.pool_store import PoolStore
from chalicelib.aws.store import as_claimed
from chalicelib.model import naming, settings, steps
from chalicelib.model.errors import ConflictError, NotFoundError
from chalicelib.model.pool_spec import POOL_NODEGROUP, PoolSpec
from chalicelib.model.settings import get_settings
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import create, leases, pools
from tests.functional.conftest import TABLE
from tests.functional.helpers import settings_with_workflows, step_context

if TYPE_CHECKING:
    from collections.abc import Iterator

    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings

ADMIN = "arn:aws:iam::123456789012:role/platform-admin"
DEV = "arn:aws:iam::123456789012:role/dev"
OTHER_DEV = "arn:aws:iam::123456789012:role/other-dev"
KEY = "pool-test-key"
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
POOL = {"name": "ci", "size": 1, "nodeGroup": {"instanceTypes": ["m5.large"], "maxSize": 3}}


@pytest.fixture
def pool_db(db: Store) -> PoolStore:
    import boto3

    return PoolStore(boto3.client("dynamodb", region_name="us-west-2"), TABLE)


def pool_cluster(db: Store, pool: str, name: str, *, active: bool = True, at: datetime = NOW) -> dict[str, Any]:
    """A pool cluster as the fill leaves it (owner: the pool), ACTIVE (READY) unless told otherwise."""
    spec = pools.cluster_spec(PoolSpec.model_validate({**POOL, "name": pool}), name)
    record = db.create_cluster(create.new_record(spec, naming.pool_owner(pool), get_settings(), at))
    db.update_cluster(name, record["clusterId"], {"pool": pool})
    if active:
        create.mark_active(
            step_context(db=db, settings=get_settings()),
            steps.ClusterStackDone(name=name, clusterId=record["clusterId"], clusterStack={"outputs": {}}),
        )
    return db.get_cluster(name)


# -- definitions -----------------------------------------------------------------------------


def test_a_pool_name_is_taken_once_and_changes_need_the_pool(pool_db: PoolStore) -> None:
    made = pool_db.create_pool(POOL, ADMIN)
    assert (made["revision"], made["createdBy"]) == (1, ADMIN)
    with pytest.raises(ConflictError, match="already exists"):
        pool_db.create_pool({**POOL, "size": 2}, ADMIN)
    assert pool_db.get_pool("ci")["size"] == 1

    changed = pool_db.update_pool("ci", {"size": 2, "maxAgeHours": 12})
    assert (changed["size"], changed["maxAgeHours"], changed["revision"]) == (2, 12, 2)
    assert "maxAgeHours" not in pool_db.update_pool("ci", {}, remove=("maxAgeHours",))
    with pytest.raises(NotFoundError):
        pool_db.update_pool("nope", {"size": 1})

    assert [p["name"] for p in pool_db.list_pools()] == ["ci"]
    pool_db.delete_pool("ci")
    with pytest.raises(NotFoundError):
        pool_db.delete_pool("ci")
    assert pool_db.list_pools() == []


def test_pools_never_show_as_clusters_nor_clusters_as_pools(db: Store, pool_db: PoolStore) -> None:
    pool_db.create_pool(POOL, ADMIN)
    assert db.list_clusters() == ([], None)
    assert db.find_cluster("ci") is None


# -- the take --------------------------------------------------------------------------------


def test_a_ready_cluster_is_taken_by_one_write_and_then_belongs_to_the_caller(db: Store, pool_db: PoolStore) -> None:
    ready = pool_cluster(db, "ci", "ci-aaaaaa")
    assert ready["reapAt"]  # ACTIVE: it had a reaper entry while it waited
    assert pool_db.cluster_names("ci") == ["ci-aaaaaa"]

    assert pool_db.take("ci-aaaaaa", ready["clusterId"], "ci", DEV, "mine", {})

    taken = db.get_cluster("ci-aaaaaa")
    assert (taken["owner"], taken["pool"], taken["poolState"], taken["claimedAs"]) == (DEV, "ci", "CLAIMED", "mine")
    assert "reapAt" not in taken  # the claim starts a lease of its own
    assert pool_db.cluster_names("ci") == []  # no longer the pool's
    assert db.count_owned(DEV) == 1
    events = [e["type"] for e in db.list_events("ci-aaaaaa", ready["clusterId"])]
    assert events[-1] == "CLAIMED"


def test_two_sequential_claims_on_one_ready_cluster_give_one_owner(db: Store, pool_db: PoolStore) -> None:
    ready = pool_cluster(db, "ci", "ci-aaaaaa")
    assert pool_db.take("ci-aaaaaa", ready["clusterId"], "ci", DEV, "mine", {})
    assert not pool_db.take("ci-aaaaaa", ready["clusterId"], "ci", OTHER_DEV, "theirs", {})
    assert db.find_cluster("theirs") is None
    assert db.get_cluster("ci-aaaaaa")["owner"] == DEV


def test_two_racing_claims_on_a_pool_with_one_ready_cluster_give_one_claim_and_one_none(
    db: Store, pool_db: PoolStore, clients: Any
) -> None:
    pool_cluster(db, "ci", "ci-aaaaaa")
    ctx = step_context(db=db)
    got: dict[str, Any] = {}
    barrier = threading.Barrier(2)

    def claim(caller: str) -> None:
        barrier.wait()
        got[caller] = pools.take_ready(ctx, "ci", caller, claimed_as=caller.rsplit("/", 1)[1])

    threads = [threading.Thread(target=claim, args=(who,)) for who in (DEV, OTHER_DEV)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [caller for caller, record in got.items() if record is not None]
    assert len(winners) == 1, got
    assert db.get_cluster("ci-aaaaaa")["owner"] == winners[0]


def test_only_a_ready_cluster_of_the_pool_can_be_taken(db: Store, pool_db: PoolStore) -> None:
    warming = pool_cluster(db, "ci", "ci-bbbbbb", active=False)
    assert not pool_db.take("ci-bbbbbb", warming["clusterId"], "ci", DEV, "mine", {})  # CREATING
    other = pool_cluster(db, "other", "other-cccccc")
    assert not pool_db.take("other-cccccc", other["clusterId"], "ci", DEV, "mine", {})  # another pool's
    stale = pool_cluster(db, "ci", "ci-dddddd")
    assert not pool_db.take("ci-dddddd", "an-earlier-cluster", "ci", DEV, "mine", {})  # another incarnation
    assert db.get_cluster("ci-dddddd")["owner"] == naming.pool_owner("ci") == stale["owner"]
    assert pools.take_ready(step_context(db=db), "empty", DEV, "mine") is None


# -- pool clusters are the service's, not a caller's ---------------------------------------------


def test_unclaimed_pool_clusters_are_not_listed_but_claimed_ones_are(db: Store, pool_db: PoolStore) -> None:
    mine = create.new_record(ClusterSpec.model_validate({"name": "mine"}), DEV, get_settings(), NOW)
    db.create_cluster(mine)
    ready = pool_cluster(db, "ci", "ci-aaaaaa")
    pool_cluster(db, "ci", "ci-bbbbbb", active=False)
    assert [c["name"] for c in db.list_clusters()[0]] == ["mine"]
    pool_db.take("ci-aaaaaa", ready["clusterId"], "ci", DEV, "yours", {})
    listed = db.list_clusters()[0]
    assert [(c["name"], c.get("eksName")) for c in listed] == [("mine", None), ("yours", "ci-aaaaaa")]


def test_the_idle_teardown_never_touches_an_unclaimed_pool_cluster(db: Store) -> None:
    pool_cluster(db, "ci", "ci-aaaaaa")
    mine = create.new_record(ClusterSpec.model_validate({"name": "mine"}), DEV, get_settings(), NOW)
    db.create_cluster(mine)
    create.mark_active(
        step_context(db=db, settings=get_settings()),
        steps.ClusterStackDone(name="mine", clusterId=mine["clusterId"], clusterStack={"outputs": {}}),
    )
    later = NOW + timedelta(days=30)  # both leases are long over
    outcome = leases.sweep(db, get_settings(), later, notify=lambda message: None, delete=lambda name: {})
    assert outcome["warned"] == ["mine"]
    assert "leaseWarnedAt" not in db.get_cluster("ci-aaaaaa")


# -- the fill --------------------------------------------------------------------------------


@pytest.fixture
def workflows() -> Settings:
    return settings_with_workflows("create_state_machine_arn", "delete_state_machine_arn")


def test_the_fill_starts_pool_clusters_through_the_create_path_and_retires_through_delete(
    db: Store, pool_db: PoolStore, workflows: Settings
) -> None:
    pool_db.create_pool({**POOL, "size": 2}, ADMIN)
    ctx = step_context(db=db, settings=workflows)

    outcome = pools.fill(ctx, NOW, fits=lambda spec: None)

    started = outcome["ci"]["started"]
    assert len(started) == 2 and all(n.startswith("ci-") and len(n) == 9 for n in started)
    for name in started:
        record = db.get_cluster(name)
        assert (record["owner"], record["pool"], record["status"]) == (naming.pool_owner("ci"), "ci", "CREATING")
        (group,) = record["spec"]["managedNodeGroups"]
        assert (group["minSize"], group["desiredCapacity"], group["maxSize"]) == (0, 0, 3)
        assert record["executionArn"]  # the create workflow a POST /clusters starts

    assert pools.fill(ctx, NOW, fits=lambda spec: None)["ci"]["started"] == []  # both warming count
    pool_db.update_pool("ci", {"size": 0})
    retired = pools.fill(ctx, NOW, fits=lambda spec: None)["ci"]["retired"]
    assert sorted(retired) == sorted(started)
    assert {db.get_cluster(n)["status"] for n in started} == {"DELETING"}


def test_the_fill_keeps_to_the_in_flight_limit_over_all_pools(
    db: Store, pool_db: PoolStore, workflows: Settings
) -> None:
    pool_db.create_pool({**POOL, "name": "a", "size": 2}, ADMIN)
    pool_db.create_pool({**POOL, "name": "b", "size": 2}, ADMIN)
    ctx = step_context(db=db, settings=type(workflows)(**{**workflows.__dict__, "pool_max_in_flight": 3}))
    outcome = pools.fill(ctx, NOW, fits=lambda spec: None)
    assert len(outcome["a"]["started"]) + len(outcome["b"]["started"]) == 3


def test_the_fill_leaves_the_last_quota_room_to_creates(db: Store, pool_db: PoolStore, workflows: Settings) -> None:
    pool_db.create_pool({**POOL, "size": 2}, ADMIN)
    ctx = step_context(db=db, settings=workflows)
    assert pools.fill(ctx, NOW, fits=lambda spec: 1)["ci"]["started"] == []
    assert len(pools.fill(ctx, NOW, fits=lambda spec: 2)["ci"]["started"]) == 1


def test_the_fill_reads_the_account_quotas_of_the_pool_s_region(db: Store, workflows: Settings) -> None:
    spec = pools.cluster_spec(PoolSpec.model_validate(POOL), "ci-000000")
    room = pools._fits(step_context(db=db, settings=workflows), spec)
    assert room is not None and room >= 1


# -- the routes ------------------------------------------------------------------------------


@pytest.fixture
def http(db: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    monkeypatch.setenv(settings.ENV_LOCAL_IDENTITY_KEY, KEY)
    monkeypatch.setenv(settings.ENV_ADMINS, "arn:aws:iam::123456789012:role/platform-*")
    settings.get_settings.cache_clear()
    with Client(app) as client:
        yield client
    settings.get_settings.cache_clear()


def call(http: Any, method: str, path: str, body: Any = None, caller: str = ADMIN) -> tuple[int, Any]:
    headers = {
        "content-type": "application/json",
        identity.CALLER_HEADER: caller,
        identity.SIGNATURE_HEADER: identity.sign(KEY, caller),
    }
    data = json.dumps(body) if body is not None else None
    reply = http.http.request(method, path, headers=headers, body=data.encode() if data else b"")
    return reply.status_code, json.loads(reply.body or b"null")


def test_an_admin_defines_reads_changes_and_deletes_a_pool(http: Any, db: Store) -> None:
    status, made = call(http, "POST", "/pools", POOL)
    assert status == 201, made
    assert made["nodeGroup"] == {"instanceTypes": ["m5.large"], "amiFamily": "AmazonLinux2023", "maxSize": 3}
    assert call(http, "POST", "/pools", POOL)[0] == 409

    ready = pool_cluster(db, "ci", "ci-aaaaaa")
    status, shown = call(http, "GET", "/pools/ci")
    assert status == 200
    assert shown["sizeNow"] == 1
    assert shown["clusters"] == [
        {
            "name": "ci-aaaaaa",
            "clusterId": ready["clusterId"],
            "state": "READY",
            "status": "ACTIVE",
            "createdAt": ready["createdAt"],
        }
    ]
    assert call(http, "GET", "/pools")[1] == {"pools": [made]}

    status, changed = call(http, "PATCH", "/pools/ci", {"size": 2, "maxAgeHours": 8})
    assert status == 200 and (changed["size"], changed["maxAgeHours"], changed["revision"]) == (2, 8, 2)
    status, changed = call(http, "PATCH", "/pools/ci", {"maxAgeHours": None})
    assert status == 200 and "maxAgeHours" not in changed

    assert call(http, "GET", "/pools/nope")[0] == 404
    assert call(http, "PATCH", "/pools/nope", {"size": 1})[0] == 404


def test_only_admins_reach_the_pool_routes(http: Any) -> None:
    assert call(http, "POST", "/pools", POOL)[0] == 201
    for method, path, body in [
        ("POST", "/pools", {**POOL, "name": "mine"}),
        ("GET", "/pools", None),
        ("GET", "/pools/ci", None),
        ("PATCH", "/pools/ci", {"size": 0}),
        ("DELETE", "/pools/ci", None),
    ]:
        status, body_ = call(http, method, path, body, caller=DEV)
        assert status == 403, (method, path, body_)
        assert (body_["error"], body_["rule"], body_["setting"]) == ("Forbidden", "admin_only", "EKSPRESS_ADMINS")


def test_a_bad_pool_gets_a_422_naming_the_field_and_rule(http: Any) -> None:
    status, body = call(http, "POST", "/pools", {**POOL, "name": "Bad_Name", "size": 99})
    assert status == 422
    assert {(f["field"], f["rule"]) for f in body["fields"]} == {
        ("name", "string_pattern_mismatch"),
        ("size", "less_than_equal"),
    }
    windows = {**POOL, "nodeGroup": {"amiFamily": "WindowsServer2022CoreContainer"}}
    status, body = call(http, "POST", "/pools", windows)  # its one node group could never be alone
    assert status == 422, body
    assert [(f["field"], f["rule"]) for f in body["fields"]] == [("nodeGroup.amiFamily", "windows_needs_linux")]
    status, body = call(http, "POST", "/pools", {**POOL, "size": 6})  # within the model, over the policy
    assert status == 422 and body["fields"][0]["rule"] == "pool_size_too_large"
    assert call(http, "POST", "/pools", POOL)[0] == 201
    status, body = call(http, "PATCH", "/pools/ci", {"size": 1, "region": "eu-west-1"})
    assert status == 422 and body["fields"][0] == {
        "field": "region",
        "rule": "extra_forbidden",
        "message": "Extra inputs are not permitted",
    }


def test_a_pool_s_clusters_meet_the_guardrails_a_create_would(http: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.ENV_ALLOWED_INSTANCE_TYPES, "t3.*")
    settings.get_settings.cache_clear()
    status, body = call(http, "POST", "/pools", POOL)
    assert status == 422
    assert body["fields"][0]["field"] == "nodeGroup.instanceTypes[0]"
    assert body["fields"][0]["rule"] == "instance_type_not_allowed"


def test_deleting_a_pool_retires_its_unclaimed_clusters_only(
    http: Any, db: Store, pool_db: PoolStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    machines = settings_with_workflows("delete_state_machine_arn")
    monkeypatch.setenv(settings.ENV_DELETE_STATE_MACHINE_ARN, machines.delete_state_machine_arn)
    settings.get_settings.cache_clear()
    assert call(http, "POST", "/pools", POOL)[0] == 201
    pool_cluster(db, "ci", "ci-aaaaaa")
    claimed = pool_cluster(db, "ci", "ci-bbbbbb")
    pool_db.take("ci-bbbbbb", claimed["clusterId"], "ci", DEV, "mine", {})

    status, body = call(http, "DELETE", "/pools/ci")
    assert status == 202 and body == {"name": "ci", "retiring": ["ci-aaaaaa"], "failedClaims": []}
    assert db.get_cluster("ci-aaaaaa")["status"] == "DELETING"
    assert db.get_cluster("ci-bbbbbb")["status"] == "ACTIVE"
    assert call(http, "GET", "/pools/ci")[0] == 404


# -- claims ----------------------------------------------------------------------------------


def test_a_claimed_cluster_answers_to_the_name_its_caller_asked_for(db: Store, pool_db: PoolStore) -> None:
    ready = pool_cluster(db, "ci", "ci-aaaaaa")
    pool_db.take("ci-aaaaaa", ready["clusterId"], "ci", DEV, "mine", {})
    assert db.served_name("mine") == "ci-aaaaaa"
    assert db.served_name("ci-aaaaaa") == "ci-aaaaaa"
    assert db.served_name("unknown") == "unknown"
    shown = as_claimed(db.get_cluster("ci-aaaaaa"))
    assert (shown["name"], shown["eksName"], shown["owner"]) == ("mine", "ci-aaaaaa", DEV)


def test_a_claim_under_a_name_held_by_a_live_cluster_is_a_conflict_and_takes_nothing(
    db: Store, pool_db: PoolStore
) -> None:
    db.create_cluster(create.new_record(ClusterSpec.model_validate({"name": "mine"}), DEV, get_settings(), NOW))
    ready = pool_cluster(db, "ci", "ci-aaaaaa")
    with pytest.raises(ConflictError, match="'mine' already exists"):
        pool_db.take("ci-aaaaaa", ready["clusterId"], "ci", OTHER_DEV, "mine", {})
    assert db.get_cluster("ci-aaaaaa")["owner"] == naming.pool_owner("ci")


def test_the_name_is_free_again_once_the_claimed_cluster_is_deleted(db: Store, pool_db: PoolStore) -> None:
    ready = pool_cluster(db, "ci", "ci-aaaaaa")
    pool_db.take("ci-aaaaaa", ready["clusterId"], "ci", DEV, "mine", {})
    again = create.new_record(ClusterSpec.model_validate({"name": "mine"}), DEV, get_settings(), NOW)
    with pytest.raises(ConflictError):
        db.create_cluster(again)  # the claimed cluster still answers to it
    db.update_cluster("ci-aaaaaa", ready["clusterId"], {"status": "DELETED"})
    db.create_cluster(again)
    assert db.served_name("mine") == "mine"
    assert db.get_cluster("mine")["clusterId"] == again["clusterId"]


@pytest.fixture
def machines(monkeypatch: pytest.MonkeyPatch) -> Settings:
    made = settings_with_workflows(
        "create_state_machine_arn",
        "nodegroup_state_machine_arn",
        "access_state_machine_arn",
        "delete_state_machine_arn",
    )
    monkeypatch.setenv(settings.ENV_CREATE_STATE_MACHINE_ARN, made.create_state_machine_arn)
    monkeypatch.setenv(settings.ENV_NODEGROUP_STATE_MACHINE_ARN, made.nodegroup_state_machine_arn)
    monkeypatch.setenv(settings.ENV_ACCESS_STATE_MACHINE_ARN, made.access_state_machine_arn)
    monkeypatch.setenv(settings.ENV_DELETE_STATE_MACHINE_ARN, made.delete_state_machine_arn)
    settings.get_settings.cache_clear()
    return made


def ready_with_stacks(db: Store, name: str) -> dict[str, Any]:
    """A READY pool cluster whose node group stack is on record (a node group scale needs it)."""
    ready = pool_cluster(db, "ci", name)
    stack = naming.nodegroup_stack_name(name, POOL_NODEGROUP)
    entry = {
        "kind": "nodegroup",
        "nodegroup": POOL_NODEGROUP,
        "stackId": f"arn:stack/{stack}",
        "status": "CREATE_COMPLETE",
    }
    db.update_cluster(name, ready["clusterId"], {f"stacks.{stack}": entry})
    return ready


CLAIM = {
    "name": "mine",
    "pool": "ci",
    "managedNodeGroups": [{"name": "ng", "instanceTypes": ["m5.large"], "desiredCapacity": 2, "maxSize": 3}],
    "iamIdentityMappings": [{"arn": "arn:aws:iam::123456789012:role/viewer", "username": "viewer", "groups": ["view"]}],
}


def test_a_claim_takes_a_ready_cluster_scales_its_nodes_and_maps_the_identities(
    http: Any, db: Store, machines: Settings
) -> None:
    assert call(http, "POST", "/pools", POOL)[0] == 201
    ready = ready_with_stacks(db, "ci-aaaaaa")

    status, claimed = call(http, "POST", "/clusters", CLAIM, caller=DEV)

    assert status == 202, claimed
    assert (claimed["name"], claimed["eksName"], claimed["owner"], claimed["status"]) == (
        "mine",
        "ci-aaaaaa",
        DEV,
        "ACTIVE",
    )
    assert claimed["operation"]["type"] == "nodegroup" and claimed["operation"]["action"] == "scale"
    record = db.get_cluster("ci-aaaaaa")
    assert record["operation"]["spec"]["managedNodeGroups"][0]["desiredCapacity"] == 2
    assert record["expiresAt"] != ready["expiresAt"] and record["reapAt"]  # the caller's lease, from the claim
    types = [e["type"] for e in db.list_events("ci-aaaaaa", ready["clusterId"])]
    assert types[-3:] == ["CLAIMED", "NODEGROUP_CHANGE_REQUESTED", "ACCESS_CHANGE_REQUESTED"]
    assert "STACK_CREATING" not in types[types.index("CLAIMED") :]

    status, shown = call(http, "GET", "/clusters/mine", caller=DEV)
    assert status == 200 and (shown["name"], shown["eksName"]) == ("mine", "ci-aaaaaa")
    assert [c["name"] for c in call(http, "GET", "/clusters", caller=DEV)[1]["clusters"]] == ["mine"]
    assert call(http, "GET", "/pools/ci")[1]["clusters"] == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({}, "has no READY cluster"),
        ({"region": "eu-west-1"}, "region eu-west-1 is not the pool's us-west-2"),
        ({"tags": {"team": "a"}}, "tags cannot be given to a pool cluster"),
    ],
)
def test_a_pool_that_cannot_serve_fails_or_falls_back_as_the_caller_chose(
    http: Any, db: Store, machines: Settings, change: dict[str, Any], reason: str
) -> None:
    assert call(http, "POST", "/pools", POOL)[0] == 201
    if change:
        ready_with_stacks(db, "ci-aaaaaa")
    request = {**CLAIM, **change}

    status, refused_ = call(http, "POST", "/clusters", {**request, "whenPoolEmpty": "fail"}, caller=DEV)
    assert status == 409, refused_
    assert refused_["error"] == "pool_cannot_serve" and refused_["rule"] == "pool_cannot_serve"
    assert any(reason in r for r in refused_["reasons"]), refused_
    assert db.find_cluster("mine") is None

    status, fresh = call(http, "POST", "/clusters", request, caller=DEV)  # whenPoolEmpty defaults to create
    assert status == 202, fresh
    assert (fresh["name"], fresh["status"], fresh.get("eksName")) == ("mine", "CREATING", None)


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({**CLAIM, "whenPoolEmpty": "later"}, "whenPoolEmpty", "literal_error"),
        ({**CLAIM, "pool": "Not_A_Pool"}, "pool", "string_pattern_mismatch"),
        ({**CLAIM, "pool": "nope"}, "pool", "pool_unknown"),
        ({"name": "mine", "whenPoolEmpty": "fail"}, "whenPoolEmpty", "pool_required"),
    ],
)
def test_a_bad_claim_is_a_422_naming_the_field(
    http: Any, machines: Settings, body: dict[str, Any], field: str, rule: str
) -> None:
    status, refused_ = call(http, "POST", "/clusters", body, caller=DEV)
    assert status == 422, refused_
    assert [(f["field"], f["rule"]) for f in refused_["fields"]] == [(field, rule)]


def test_a_pool_retiring_from_a_stale_list_never_deletes_a_cluster_claimed_meanwhile(
    db: Store, pool_db: PoolStore
) -> None:
    from chalicelib.operations import delete

    ready = pool_cluster(db, "ci", "ci-bbbbbb")
    assert pool_db.take("ci-bbbbbb", ready["clusterId"], "ci", DEV, "mine", {})  # claimed after the fill listed it

    with pytest.raises(ConflictError):
        delete.request_delete(
            step_context(db=db), "ci-bbbbbb", naming.pool_owner("ci"), expect_owner=naming.pool_owner("ci")
        )

    kept = db.get_cluster("ci-bbbbbb")
    assert (kept["status"], kept["owner"], kept.get("operation")) == ("ACTIVE", DEV, None)


def test_a_claimed_name_stops_leading_to_its_cluster_once_that_is_deleted(db: Store, pool_db: PoolStore) -> None:
    ready = pool_cluster(db, "ci", "ci-cccccc")
    assert pool_db.take("ci-cccccc", ready["clusterId"], "ci", DEV, "mine", {})
    assert db.served_name("mine") == "ci-cccccc"

    db.update_cluster("ci-cccccc", ready["clusterId"], {"status": "DELETED"})
    assert db.served_name("mine") == "ci-cccccc"  # its record, DELETED, still answers to the name
    db.create_cluster(create.new_record(ClusterSpec.model_validate({"name": "ci-cccccc"}), DEV, get_settings(), NOW))

    # The name ci-cccccc is now another cluster's: "mine" no longer leads there.
    assert db.served_name("mine") == "mine"
    with pytest.raises(NotFoundError):  # and reading it finds no cluster (the alias is stale)
        db.get_cluster("mine")


def test_a_claim_whose_follow_up_is_refused_after_the_take_says_so_and_keeps_the_cluster(
    http: Any, db: Store, machines: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert call(http, "POST", "/pools", POOL)[0] == 201
    ready = ready_with_stacks(db, "ci-aaaaaa")
    # The node group workflow cannot start: the scale is refused after the cluster was taken.
    monkeypatch.setenv(settings.ENV_NODEGROUP_STATE_MACHINE_ARN, machines.nodegroup_state_machine_arn + "-gone")
    settings.get_settings.cache_clear()

    status, claimed = call(http, "POST", "/clusters", CLAIM, caller=DEV)

    assert status == 202, claimed
    assert (claimed["name"], claimed["owner"], claimed["status"]) == ("mine", DEV, "ACTIVE")
    (warning,) = claimed["warnings"]
    assert warning.startswith("claimed, but not finished: could not start the node group workflow"), warning
    events = db.list_events("ci-aaaaaa", ready["clusterId"])
    assert [e["type"] for e in events][-1] == "CLAIM_INCOMPLETE"
    assert events[-1]["message"] == warning
    # The caller owns it all the same, and can retry the scale themselves.
    assert call(http, "GET", "/clusters/mine", caller=DEV)[1]["owner"] == DEV


# -- claims that wait ------------------------------------------------------------------------


def _fill(machines: Settings, db: Store, now: datetime) -> dict[str, Any]:
    return pools.fill(step_context(db=db, settings=get_settings()), now, fits=lambda spec: None)


def test_a_claim_that_waits_holds_its_name_and_the_next_fill_serves_it(
    http: Any, db: Store, pool_db: PoolStore, machines: Settings
) -> None:
    assert call(http, "POST", "/pools", {**POOL, "size": 0})[0] == 201

    status, waiting = call(http, "POST", "/clusters", {**CLAIM, "whenPoolEmpty": "wait"}, caller=DEV)

    assert status == 202, waiting
    assert (waiting["name"], waiting["status"], waiting["owner"]) == ("mine", "WAITING", DEV)
    assert waiting["waitingFor"]["pool"] == "ci" and "expiresAt" not in waiting  # no lease until it is served
    assert call(http, "POST", "/clusters", {"name": "mine"}, caller=OTHER_DEV)[0] == 409  # the name is held
    assert [c["status"] for c in call(http, "GET", "/clusters", caller=DEV)[1]["clusters"]] == ["WAITING"]
    # A size-0 pool with a waiting claim builds one cluster for it.
    built = _fill(machines, db, datetime.now(UTC))["ci"]
    assert built["target"] == 1 and len(built["started"]) == 1 and built["claims"]["waiting"] == 1

    ready_with_stacks(db, "ci-aaaaaa")
    served = _fill(machines, db, datetime.now(UTC))["ci"]

    assert served["claims"] == {"served": ["mine"], "failed": [], "waiting": 0}
    # A request that resolved the name just before the take reads the alias: it is followed.
    assert db.get_cluster("mine")["name"] == "ci-aaaaaa"
    status, shown = call(http, "GET", "/clusters/mine", caller=DEV)
    assert status == 200, shown
    assert (shown["status"], shown["eksName"], shown["owner"]) == ("ACTIVE", "ci-aaaaaa", DEV)
    assert shown["operation"]["action"] == "scale" and shown["expiresAt"]  # the follow-up and the lease
    assert pool_db.waiting("ci") == []
    types = [e["type"] for e in db.list_events("ci-aaaaaa", db.get_cluster("ci-aaaaaa")["clusterId"])]
    assert types[-3:] == ["CLAIMED", "NODEGROUP_CHANGE_REQUESTED", "ACCESS_CHANGE_REQUESTED"]


def test_waiting_claims_are_served_in_the_order_they_came(
    http: Any, db: Store, pool_db: PoolStore, machines: Settings
) -> None:
    assert call(http, "POST", "/pools", {**POOL, "size": 0})[0] == 201
    for name in ("first", "second"):
        body = {**CLAIM, "name": name, "whenPoolEmpty": "wait"}
        assert call(http, "POST", "/clusters", body, caller=DEV)[1]["status"] == "WAITING"
    ready_with_stacks(db, "ci-aaaaaa")

    claims = _fill(machines, db, datetime.now(UTC))["ci"]["claims"]

    assert claims == {"served": ["first"], "failed": [], "waiting": 1}
    assert call(http, "GET", "/clusters/second", caller=DEV)[1]["status"] == "WAITING"


def test_a_claim_waiting_too_long_fails_saying_why_and_its_delete_frees_the_name(
    http: Any, db: Store, pool_db: PoolStore, machines: Settings
) -> None:
    assert call(http, "POST", "/pools", {**POOL, "size": 0})[0] == 201
    assert call(http, "POST", "/clusters", {**CLAIM, "whenPoolEmpty": "wait"}, caller=DEV)[0] == 202
    later = datetime.now(UTC) + timedelta(minutes=get_settings().pool_wait_minutes + 1)
    ready_with_stacks(db, "ci-aaaaaa")  # too late: it does not go to a claim that has failed

    claims = _fill(machines, db, later)["ci"]["claims"]

    assert claims == {"served": [], "failed": ["mine"], "waiting": 0}
    failed = call(http, "GET", "/clusters/mine", caller=DEV)[1]
    assert failed["status"] == "FAILED"
    assert failed["failure"]["reason"] == "no cluster of pool 'ci' became READY within 60 minutes"
    assert db.get_cluster("ci-aaaaaa")["owner"] == naming.pool_owner("ci")
    status, deleted = call(http, "DELETE", "/clusters/mine", caller=DEV)
    assert status == 202 and deleted["status"] == "DELETED", deleted
    assert call(http, "POST", "/clusters", {"name": "mine"}, caller=DEV)[0] == 202  # the name is free again


def test_a_withdrawn_claim_is_never_served(http: Any, db: Store, pool_db: PoolStore, machines: Settings) -> None:
    assert call(http, "POST", "/pools", {**POOL, "size": 0})[0] == 201
    assert call(http, "POST", "/clusters", {**CLAIM, "whenPoolEmpty": "wait"}, caller=DEV)[0] == 202
    status, withdrawn = call(http, "DELETE", "/clusters/mine", caller=DEV)
    assert status == 202 and withdrawn["status"] == "DELETED", withdrawn
    ready_with_stacks(db, "ci-aaaaaa")

    claims = _fill(machines, db, datetime.now(UTC))["ci"]["claims"]

    assert claims == {"served": [], "failed": [], "waiting": 0}
    assert pool_db.waiting("ci") == []
    assert db.get_cluster("ci-aaaaaa")["owner"] == naming.pool_owner("ci")


def test_a_take_for_a_claim_withdrawn_meanwhile_takes_nothing(db: Store, pool_db: PoolStore) -> None:
    pool_db.create_pool(POOL, ADMIN)
    ready = pool_cluster(db, "ci", "ci-aaaaaa")
    spec = ClusterSpec.model_validate({"name": "mine", "region": "us-west-2"})
    ctx = step_context(db=db, settings=get_settings())
    waiting = pools.wait_for_pool(ctx, PoolSpec.model_validate(POOL), spec, DEV, datetime.now(UTC))
    (place,) = pool_db.waiting("ci")
    db.update_cluster("mine", waiting["clusterId"], {"status": "DELETED"})

    with pytest.raises(ConflictError):
        pool_db.take("ci-aaaaaa", ready["clusterId"], "ci", DEV, "mine", {}, place)

    assert db.get_cluster("ci-aaaaaa")["owner"] == naming.pool_owner("ci")


def test_a_waiting_claim_the_pool_can_never_serve_is_refused_not_queued(
    http: Any, pool_db: PoolStore, machines: Settings
) -> None:
    assert call(http, "POST", "/pools", POOL)[0] == 201

    status, refused_ = call(
        http, "POST", "/clusters", {**CLAIM, "region": "eu-west-1", "whenPoolEmpty": "wait"}, caller=DEV
    )

    assert status == 409 and refused_["error"] == "pool_cannot_serve", refused_
    assert pool_db.waiting("ci") == []


def test_a_new_claim_takes_no_cluster_ahead_of_claims_already_waiting(
    http: Any, db: Store, pool_db: PoolStore, machines: Settings
) -> None:
    assert call(http, "POST", "/pools", {**POOL, "size": 0})[0] == 201
    assert call(http, "POST", "/clusters", {**CLAIM, "whenPoolEmpty": "wait"}, caller=DEV)[0] == 202
    ready_with_stacks(db, "ci-aaaaaa")  # built for the claim that waits

    status, refused_ = call(http, "POST", "/clusters", {**CLAIM, "name": "late", "whenPoolEmpty": "fail"}, caller=DEV)

    assert status == 409 and "1 claims wait for pool 'ci'" in refused_["reasons"], refused_
    assert _fill(machines, db, datetime.now(UTC))["ci"]["claims"]["served"] == ["mine"]


def test_a_waiting_claim_the_pool_no_longer_fits_fails_and_a_bad_one_stops_nothing(
    http: Any, db: Store, pool_db: PoolStore, machines: Settings
) -> None:
    assert call(http, "POST", "/pools", {**POOL, "size": 0})[0] == 201
    for name in ("broken", "mine"):
        assert call(http, "POST", "/clusters", {**CLAIM, "name": name, "whenPoolEmpty": "wait"}, caller=DEV)[0] == 202
    broken, good_spec = db.get_cluster("broken"), db.get_cluster("mine")["spec"]
    db.update_cluster("broken", broken["clusterId"], {"spec.managedNodeGroups": "not a list"})
    ready_with_stacks(db, "ci-aaaaaa")

    claims = _fill(machines, db, datetime.now(UTC))["ci"]["claims"]

    assert claims == {"served": ["mine"], "failed": [], "waiting": 1}  # the broken one waits, logged
    pool_db.update_pool("ci", {"nodeGroup": {"instanceTypes": ["c5.large"], "maxSize": 3}})
    claims = _fill(machines, db, datetime.now(UTC))["ci"]["claims"]
    assert claims["waiting"] == 1  # it still cannot be read, so it is neither served nor failed
    db.update_cluster("broken", broken["clusterId"], {"spec": good_spec})
    claims = _fill(machines, db, datetime.now(UTC))["ci"]["claims"]
    assert claims["failed"] == ["broken"]
    reason = call(http, "GET", "/clusters/broken", caller=DEV)[1]["failure"]["reason"]
    assert reason.startswith("pool 'ci' no longer serves this request: instance types"), reason


def test_deleting_a_pool_fails_the_claims_that_wait_for_it(
    http: Any, db: Store, pool_db: PoolStore, machines: Settings
) -> None:
    assert call(http, "POST", "/pools", {**POOL, "size": 0})[0] == 201
    assert call(http, "POST", "/clusters", {**CLAIM, "whenPoolEmpty": "wait"}, caller=DEV)[0] == 202

    status, gone = call(http, "DELETE", "/pools/ci")

    assert status == 202 and gone["failedClaims"] == ["mine"], gone
    failed = call(http, "GET", "/clusters/mine", caller=DEV)[1]
    assert failed["status"] == "FAILED" and "was deleted" in failed["failure"]["reason"]
    assert pool_db.waiting("ci") == []
