"""Warm pools, pure: the definition's rules, the schedule, the pool cluster's request and the fill's planner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.model import naming
from chalicelib.model.errors import ForbiddenError, SpecValidationError
from chalicelib.model.pool_spec import PoolPatch, PoolSpec, check_admin, check_pool_policy
from chalicelib.model.quotas import EKS_CLUSTERS, VPCS, Headroom, Need
from chalicelib.model.settings import Settings
from chalicelib.model.spec import ClusterSpec
from chalicelib.model.validation import validate
from chalicelib.operations import pools

# A Wednesday, 10:00 UTC.
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
SETTINGS = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0)


def pool(**fields: Any) -> PoolSpec:
    return PoolSpec.model_validate({"name": "ci", "size": 2, **fields})


def cluster(name: str, status: str, age_hours: float = 1, updated_hours: float | None = None) -> dict[str, Any]:
    created = NOW - timedelta(hours=age_hours)
    updated = NOW - timedelta(hours=updated_hours) if updated_hours is not None else created
    return {
        "name": name,
        "clusterId": f"id-{name}",
        "status": status,
        "createdAt": created.isoformat(),
        "updatedAt": updated.isoformat(),
    }


def refused(model: type[Any], body: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(SpecValidationError) as caught:
        validate(model, body, "pool")
    return list(caught.value.details["fields"])


# -- the definition ------------------------------------------------------------------------


def test_a_pool_takes_eksctl_style_camel_case_names_and_defaults() -> None:
    defined = PoolSpec.model_validate(
        {
            "name": "ci-small",
            "region": "eu-west-1",
            "version": "1.32",
            "nodeGroup": {"instanceTypes": ["t3.large"], "amiFamily": "Bottlerocket", "maxSize": 4},
            "size": 3,
            "maxAgeHours": 24,
        }
    )
    assert defined.node_group.instance_types == ["t3.large"]
    assert defined.model_dump(mode="json", exclude_none=True)["nodeGroup"]["maxSize"] == 4
    assert pool().version == "1.33" and pool().region == "us-west-2"


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"name": "CI", "size": 1}, "name", "string_pattern_mismatch"),
        ({"name": "ci_pool", "size": 1}, "name", "string_pattern_mismatch"),
        ({"name": "-ci", "size": 1}, "name", "string_pattern_mismatch"),
        ({"name": "x" * 41, "size": 1}, "name", "string_too_long"),
        ({"name": "ci", "size": -1}, "size", "greater_than_equal"),
        ({"name": "ci", "size": 51}, "size", "less_than_equal"),
        ({"name": "ci"}, "size", "missing"),
        ({"name": "ci", "size": 1, "version": "1.20"}, "version", "version_unsupported"),
        ({"name": "ci", "size": 1, "region": "mars"}, "region", "string_pattern_mismatch"),
        ({"name": "ci", "size": 1, "nodeGroup": {"maxSize": 0}}, "nodeGroup.maxSize", "greater_than_equal"),
        ({"name": "ci", "size": 1, "nodeGroup": {"amiFamily": "Windows"}}, "nodeGroup.amiFamily", "literal_error"),
        ({"name": "ci", "size": 1, "nodes": 3}, "nodes", "extra_forbidden"),
        ({"name": "ci", "size": 1, "maxAgeHours": 0}, "maxAgeHours", "greater_than_equal"),
        (
            {"name": "ci", "size": 1, "schedule": [{"days": ["Mon"], "fromHour": 9, "toHour": 9, "size": 1}]},
            "schedule[0]",
            "hour_order",
        ),
        (
            {"name": "ci", "size": 1, "schedule": [{"days": ["Funday"], "fromHour": 9, "toHour": 10, "size": 1}]},
            "schedule[0].days[0]",
            "literal_error",
        ),
        (
            {"name": "ci", "size": 1, "schedule": [{"days": ["Mon", "Mon"], "fromHour": 9, "toHour": 10, "size": 1}]},
            "schedule[0]",
            "duplicate_day",
        ),
    ],
)
def test_a_bad_pool_is_refused_naming_the_field_and_rule(body: dict[str, Any], field: str, rule: str) -> None:
    assert {"field": field, "rule": rule} in [{"field": f["field"], "rule": f["rule"]} for f in refused(PoolSpec, body)]


def test_the_longest_pool_name_still_makes_cluster_names_within_every_rule() -> None:
    longest = pool(name="a" * 40)
    name = pools.new_cluster_name(longest.name)
    assert len(name) == 47
    spec = pools.cluster_spec(longest, name)  # the cluster request's own rules (name, stack name lengths)
    assert spec.name == name


def test_a_pool_change_names_what_it_changes_and_cannot_remove_the_size() -> None:
    assert [f["rule"] for f in refused(PoolPatch, {})] == ["empty_patch"]
    assert [f["rule"] for f in refused(PoolPatch, {"size": None})] == ["size_required"]
    assert [f["field"] for f in refused(PoolPatch, {"name": "other"})] == ["name"]
    assert PoolPatch.model_validate({"maxAgeHours": None}).model_fields_set == {"max_age_hours"}


def test_only_admins_may_define_pools() -> None:
    admins = Settings(**{**SETTINGS.__dict__, "admins": ("arn:aws:iam::123456789012:role/platform-*",)})
    check_admin("arn:aws:iam::123456789012:role/platform-ops", admins, "define pools")
    with pytest.raises(ForbiddenError) as caught:
        check_admin("arn:aws:iam::123456789012:role/dev", admins, "define pools")
    assert caught.value.details == {"rule": "admin_only", "setting": "EKSPRESS_ADMINS"}
    with pytest.raises(ForbiddenError):
        check_admin("arn:aws:iam::123456789012:role/platform-ops", SETTINGS, "define pools")  # nobody by default


def test_the_policy_bounds_a_pool_s_size_and_each_scheduled_size() -> None:
    check_pool_policy(pool(size=5), SETTINGS)
    entry = {"days": ["Mon"], "fromHour": 8, "toHour": 12, "size": 6}
    with pytest.raises(SpecValidationError) as caught:
        check_pool_policy(pool(size=6, schedule=[entry]), SETTINGS)
    fields = caught.value.details["fields"]
    assert [(f["field"], f["rule"]) for f in fields] == [
        ("size", "pool_size_too_large"),
        ("schedule[0].size", "pool_size_too_large"),
    ]
    assert "EKSPRESS_MAX_POOL_SIZE" in fields[0]["message"]


# -- the schedule --------------------------------------------------------------------------


def test_the_first_schedule_entry_covering_the_hour_sets_the_size_else_size() -> None:
    weekday_mornings = {"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "fromHour": 7, "toHour": 12, "size": 4}
    nights = {"days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "fromHour": 20, "toHour": 24, "size": 0}
    everything = {"days": ["Wed"], "fromHour": 0, "toHour": 24, "size": 1}
    scheduled = pool(size=2, schedule=[weekday_mornings, nights, everything])
    assert scheduled.size_at(NOW) == 4  # Wednesday 10:00: the first entry, though the third covers it too
    assert scheduled.size_at(NOW.replace(hour=12)) == 1  # toHour is excluded; the third entry
    assert scheduled.size_at(NOW.replace(hour=23)) == 0
    assert scheduled.size_at(NOW + timedelta(days=3)) == 2  # Saturday 10:00: no entry, `size`
    assert scheduled.largest_size() == 4


# -- the pool cluster ------------------------------------------------------------------------


def test_a_pool_cluster_is_the_pool_s_shape_with_its_node_group_at_zero_nodes() -> None:
    shaped = pool(
        region="eu-west-1", version="1.32", nodeGroup={"instanceTypes": ["t3.large", "t3a.large"], "maxSize": 5}
    )
    spec = pools.cluster_spec(shaped, "ci-0a1b2c")
    assert isinstance(spec, ClusterSpec)
    assert (spec.name, spec.region, spec.version) == ("ci-0a1b2c", "eu-west-1", "1.32")
    (group,) = spec.managed_node_groups or []
    assert (group.min_size, group.desired_capacity, group.max_size) == (0, 0, 5)
    assert group.instance_types == ["t3.large", "t3a.large"]
    assert not spec.protected


def test_generated_names_are_the_pool_and_six_hex_digits() -> None:
    names = {pools.new_cluster_name("ci") for _ in range(20)}
    assert len(names) == 20
    assert all(n.startswith("ci-") and len(n) == 9 and int(n[3:], 16) >= 0 for n in names)
    assert pools.new_cluster_name("ci", lambda size: "ab" * size) == "ci-ababab"


def test_a_pool_serves_only_requests_of_its_shape() -> None:
    shaped = pool(nodeGroup={"instanceTypes": ["m5.large"], "maxSize": 4})

    def request(**fields: Any) -> ClusterSpec:
        group = {"name": "ng", "instanceTypes": ["m5.large"], "maxSize": 3, **fields.pop("group", {})}
        return ClusterSpec.model_validate({"name": "mine", "managedNodeGroups": [group], **fields})

    assert pools.shape_problems(shaped, request()) == []
    assert pools.shape_problems(shaped, request(region="eu-west-1")) == ["region eu-west-1 is not the pool's us-west-2"]
    assert pools.shape_problems(shaped, request(version="1.32")) == ["version 1.32 is not the pool's 1.33"]
    assert pools.shape_problems(shaped, request(group={"maxSize": 5})) == ["maxSize 5 is over the pool's 4"]
    assert pools.shape_problems(shaped, request(group={"instanceTypes": ["t3.large"]}))


def test_pool_owners_name_their_pool_and_nothing_else_does() -> None:
    assert naming.pool_of_owner(naming.pool_owner("ci")) == "ci"
    assert naming.pool_of_owner("arn:aws:iam::123456789012:role/ci") is None
    assert naming.pool_of_owner(None) is None


# -- the planner -----------------------------------------------------------------------------


def test_an_empty_pool_starts_its_size() -> None:
    assert pools.plan(pool(size=2), [], NOW, in_flight=0, max_in_flight=5, fits=None) == pools.Plan(2, 2)


def test_warming_and_ready_clusters_count_toward_the_size() -> None:
    members = [cluster("a", "ACTIVE"), cluster("b", "CREATING")]
    assert pools.plan(pool(size=3), members, NOW, 1, 5, None).start == 1
    assert pools.plan(pool(size=2), members, NOW, 1, 5, None) == pools.Plan(2)


def test_failed_clusters_do_not_count_and_hold_the_next_start_back_with_a_growing_backoff() -> None:
    one_failure = [cluster("f1", "FAILED", age_hours=1, updated_hours=0.1)]
    held = pools.plan(pool(size=1), one_failure, NOW, 0, 5, None)
    assert held.start == 0 and "failed" in held.notes[0]
    later = [cluster("f1", "FAILED", age_hours=1, updated_hours=0.5)]  # 30 min > 15 min
    assert pools.plan(pool(size=1), later, NOW, 0, 5, None).start == 1
    two = [*later, cluster("f2", "FAILED", age_hours=1, updated_hours=0.4)]  # second failure: 30 min
    assert pools.plan(pool(size=1), two, NOW, 0, 5, None).start == 0
    stale = [cluster("f1", "FAILED", age_hours=30, updated_hours=25)]  # a day old: forgotten
    assert pools.plan(pool(size=1), stale, NOW, 0, 5, None).start == 1


def test_at_most_the_in_flight_limit_of_pool_clusters_build_at_once() -> None:
    decided = pools.plan(pool(size=5), [cluster("a", "CREATING")], NOW, in_flight=2, max_in_flight=3, fits=None)
    assert decided.start == 1
    assert "at most 3 at once" in decided.notes[0]
    assert pools.plan(pool(size=5), [], NOW, in_flight=3, max_in_flight=3, fits=None).start == 0


def test_fills_leave_a_cluster_s_worth_of_quota_to_fresh_creates() -> None:
    assert pools.plan(pool(size=3), [], NOW, 0, 5, fits=10).start == 3
    assert pools.plan(pool(size=3), [], NOW, 0, 5, fits=3).start == 2
    starved = pools.plan(pool(size=3), [], NOW, 0, 5, fits=1)
    assert starved.start == 0
    assert "kept for creates" in starved.notes[0]
    assert pools.plan(pool(size=3), [], NOW, 0, 5, fits=0).start == 0


def test_a_cluster_past_max_age_is_retired_only_when_another_is_ready() -> None:
    aged = pool(size=1, maxAgeHours=24)
    alone = [cluster("old", "ACTIVE", age_hours=30)]
    decided = pools.plan(aged, alone, NOW, 0, 5, None)
    assert decided.retire == () and decided.start == 1  # a replacement builds; the old one still serves
    building = [*alone, cluster("new", "CREATING", age_hours=0.2)]
    assert pools.plan(aged, building, NOW, 1, 5, None) == pools.Plan(1, notes=decided.notes)
    replaced = [*alone, cluster("new", "ACTIVE", age_hours=0.1)]
    assert pools.plan(aged, replaced, NOW, 0, 5, None).retire == ("old",)


def test_of_several_old_clusters_only_the_youngest_waits_for_a_replacement() -> None:
    aged = pool(size=2, maxAgeHours=24)
    members = [cluster("oldest", "ACTIVE", age_hours=50), cluster("older", "ACTIVE", age_hours=30)]
    decided = pools.plan(aged, members, NOW, 0, 5, None)
    assert decided.retire == ("oldest",)
    assert decided.start == 2


def test_a_pool_shrinks_to_zero_on_its_schedule_and_grows_back() -> None:
    nightly = pool(size=2, schedule=[{"days": ["Wed"], "fromHour": 20, "toHour": 24, "size": 0}])
    members = [cluster("a", "ACTIVE"), cluster("b", "CREATING")]
    night = pools.plan(nightly, members, NOW.replace(hour=21), 1, 5, None)
    assert night.target == 0 and set(night.retire) == {"a", "b"} and night.start == 0
    morning = pools.plan(nightly, [], NOW + timedelta(days=1), 0, 5, None)
    assert (morning.target, morning.start) == (2, 2)


def test_a_smaller_size_retires_the_surplus_oldest_ready_first() -> None:
    members = [cluster("old", "ACTIVE", 5), cluster("new", "ACTIVE", 1), cluster("warm", "CREATING", 0.1)]
    assert pools.plan(pool(size=1), members, NOW, 1, 5, None).retire == ("old", "new")
    assert pools.plan(pool(size=2), members, NOW, 1, 5, None).retire == ("old",)


def test_clusters_that_fit_is_the_scarcest_quota_s_room() -> None:
    rooms: dict[tuple[str, str | None], Headroom] = {
        (VPCS.code, None): Headroom(VPCS, 5, 2, "default"),
        (EKS_CLUSTERS.code, None): Headroom(EKS_CLUSTERS, 100, 1, "default"),
    }
    assert pools.clusters_that_fit([Need(VPCS, 1), Need(EKS_CLUSTERS, 1)], rooms) == 3
    assert pools.clusters_that_fit([Need(VPCS, 2), Need(EKS_CLUSTERS, 1)], rooms) == 1


def test_pool_states_follow_the_record_s_status() -> None:
    assert [pools.pool_state({"status": s}) for s in ("CREATING", "ACTIVE", "FAILED", "DELETING")] == [
        "WARMING",
        "READY",
        "FAILED",
        "RETIRING",
    ]


# -- the command line ------------------------------------------------------------------------


def test_the_cli_claims_from_a_pool_with_its_flags(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from ekspress import cli, models

    sent: list[dict[str, Any]] = []

    class Fake:
        def create_cluster(self, spec: dict[str, Any]) -> models.ClusterRecord:
            sent.append(spec)
            return models.ClusterRecord.model_validate(
                {
                    "name": "mine",
                    "clusterId": "c1",
                    "status": "ACTIVE",
                    "region": "us-west-2",
                    "eksName": "ci-0a1b2c",
                    "pool": "ci",
                    "operation": {"type": "nodegroup", "id": "op-1", "action": "scale"},
                }
            )

    monkeypatch.setattr(cli.State, "client", property(lambda self: Fake()))
    argv = ["create", "cluster", "--name", "mine", "--pool", "ci", "--when-pool-empty", "fail", "--nodes", "2"]
    assert cli.main([*argv, "--wait=false"]) == 0
    assert sent[0]["pool"] == "ci" and sent[0]["whenPoolEmpty"] == "fail"
    assert sent[0]["managedNodeGroups"][0]["desiredCapacity"] == 2
    assert 'claimed EKS cluster "ci-0a1b2c" from pool "ci" as "mine"' in capsys.readouterr().out

    assert cli.main(["create", "cluster", "--name", "mine", "--when-pool-empty", "fail"]) == 2


def test_the_python_client_has_a_method_per_pool_route() -> None:
    import json

    from ekspress.client import Client, RawResponse, Retry

    calls: list[tuple[str, str, Any]] = []

    def transport(method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float) -> RawResponse:
        calls.append((method, url.removeprefix("https://api.example"), json.loads(body) if body else None))
        reply = {"pools": [{"name": "ci"}]} if method == "GET" and url.endswith("/pools") else {"name": "ci"}
        return RawResponse(200, {"Content-Type": "application/json"}, json.dumps(reply).encode())

    api = Client("https://api.example", sign=False, transport=transport, retry=Retry(sleep=lambda _: None))
    api.create_pool({"name": "ci", "size": 1})
    assert api.list_pools() == [{"name": "ci"}]
    api.get_pool("ci")
    api.update_pool("ci", {"maxAgeHours": None})
    api.delete_pool("ci")
    assert calls == [
        ("POST", "/pools", {"name": "ci", "size": 1}),
        ("GET", "/pools", None),
        ("GET", "/pools/ci", None),
        ("PATCH", "/pools/ci", {"maxAgeHours": None}),
        ("DELETE", "/pools/ci", None),
    ]


def test_the_cli_waits_for_a_served_claim_s_nodes_before_saying_ready(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A waiting claim is ACTIVE from its take, then its node group scale is requested (a second write):
    --wait ends when that scale has, and says so when it failed or could not start."""
    from ekspress import cli, models

    base = {"name": "mine", "clusterId": "c1", "region": "us-west-2", "pool": "ci", "eksName": "ci-0a1b2c"}
    claimed = {"at": "t1", "type": "CLAIMED", "message": "Claimed from pool ci"}
    requested = {"at": "t2", "type": "NODEGROUP_CHANGE_REQUESTED", "message": "scale", "details": {"operation": "op-1"}}
    incomplete = {"at": "t2", "type": "CLAIM_INCOMPLETE", "message": "claimed, but not finished: quota"}
    followed: list[str] = []

    class Fake:
        def __init__(self, timelines: list[list[dict[str, Any]]], failure: dict[str, Any] | None = None) -> None:
            self.timelines, self.failure = timelines, failure

        def create_cluster(self, spec: dict[str, Any]) -> models.ClusterRecord:
            return models.ClusterRecord.model_validate({**base, "status": "WAITING", "waitingFor": {"until": "soon"}})

        def wait_until(self, name: str, status: str, timeout: float, **_: Any) -> models.ClusterRecord:
            return models.ClusterRecord.model_validate({**base, "status": "ACTIVE"})  # the take, no operation yet

        def get_cluster(self, name: str) -> models.ClusterRecord:
            events = self.timelines.pop(0) if len(self.timelines) > 1 else self.timelines[0]
            return models.ClusterRecord.model_validate({**base, "status": "ACTIVE", "events": events})

        def wait_for_operation(self, name: str, operation_id: str, timeout: float, **_: Any) -> models.ClusterRecord:
            followed.append(operation_id)
            return models.ClusterRecord.model_validate({**base, "status": "ACTIVE", "lastFailure": self.failure})

    monkeypatch.setattr(cli.time, "sleep", lambda _: None)
    argv = ["create", "cluster", "--name", "mine", "--pool", "ci", "--when-pool-empty", "wait"]
    # A poll between the take and the scale's request sees no operation: the CLI waits for the request.
    monkeypatch.setattr(cli.State, "client", property(lambda self: Fake([[claimed], [claimed, requested]])))
    assert cli.main(argv) == 0
    assert followed == ["op-1"]
    assert 'EKS cluster "mine" in "us-west-2" region is ready' in capsys.readouterr().out

    # The failure as the server records it: the change's action and its operation's id.
    failed = {"reason": "scale refused", "operation": "scale", "operationId": "op-1", "nodegroup": "workers"}
    for fake, said in (
        (Fake([[claimed, requested]], failed), "scaling its nodes failed: scale refused"),
        (Fake([[claimed, incomplete]]), 'cluster "mine": claimed, but not finished: quota'),
    ):
        monkeypatch.setattr(cli.State, "client", property(lambda self, fake=fake: fake))
        with pytest.raises(SystemExit) as exited:
            cli.main(argv)
        assert exited.value.code == 1
        captured = capsys.readouterr()
        assert "is ready" not in captured.out
        assert said in captured.err
