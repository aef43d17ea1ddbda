"""Guardrails: each request field the service policy limits is named with its rule and setting."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.model import policy, settings
from chalicelib.model.errors import ForbiddenError, SpecValidationError
from chalicelib.model.settings import Settings
from chalicelib.model.spec import ClusterSpec

CALLER = "arn:aws:iam::123456789012:role/dev"
OPEN = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0)


class Owned:
    """A store that only counts: `held` clusters for every owner."""

    def __init__(self, held: int) -> None:
        self.held = held
        self.asked: list[str] = []

    def count_owned(self, owner: str) -> int:
        self.asked.append(owner)
        return self.held


def _spec(**fields: Any) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "dev", **fields})


def _fields(err: pytest.ExceptionInfo[SpecValidationError]) -> dict[str, dict[str, str]]:
    return {f["field"]: f for f in err.value.details["fields"]}


def test_given_default_settings_then_any_valid_request_passes_without_counting() -> None:
    db = Owned(held=1000)
    groups = [{"name": f"ng{i}", "instanceType": "x2iedn.32xlarge", "maxSize": 450} for i in range(10)]

    policy.check_request(_spec(region="sa-east-1", version="1.30", managedNodeGroups=groups), CALLER, OPEN, db)

    assert db.asked == []


def test_given_allowed_regions_when_another_is_asked_then_422_names_region_rule_and_setting() -> None:
    limited = replace(OPEN, allowed_regions=("us-west-2", "eu-west-1"))

    with pytest.raises(SpecValidationError) as err:
        policy.check_request(_spec(region="ap-south-1"), CALLER, limited, Owned(0))

    problem = _fields(err)["region"]
    assert problem["rule"] == "region_not_allowed"
    assert settings.ENV_ALLOWED_REGIONS in problem["message"] and "eu-west-1" in problem["message"]
    policy.check_request(_spec(region="eu-west-1"), CALLER, limited, Owned(0))


def test_given_allowed_versions_when_another_is_asked_then_422_on_version() -> None:
    limited = replace(OPEN, allowed_versions=("1.33", "1.34"))

    with pytest.raises(SpecValidationError) as err:
        policy.check_request(_spec(version="1.31"), CALLER, limited, Owned(0))

    assert _fields(err)["version"]["rule"] == "version_not_allowed"
    assert settings.ENV_ALLOWED_VERSIONS in _fields(err)["version"]["message"]


def test_given_instance_type_globs_then_each_disallowed_type_is_named_where_it_was_written() -> None:
    limited = replace(OPEN, allowed_instance_types=("m5.*", "t3.large"))
    groups = [
        {"name": "a", "instanceType": "m5.xlarge"},
        {"name": "b", "instanceType": "p4d.24xlarge"},
        {"name": "c", "instanceTypes": ["t3.large", "t3.2xlarge"]},
    ]

    with pytest.raises(SpecValidationError) as err:
        policy.check_request(_spec(managedNodeGroups=groups), CALLER, limited, Owned(0))

    found = _fields(err)
    assert set(found) == {"managedNodeGroups[1].instanceType", "managedNodeGroups[2].instanceTypes[1]"}
    assert {f["rule"] for f in found.values()} == {"instance_type_not_allowed"}
    assert settings.ENV_ALLOWED_INSTANCE_TYPES in found["managedNodeGroups[1].instanceType"]["message"]


def test_given_node_limits_then_group_and_cluster_totals_are_refused_together() -> None:
    limited = replace(OPEN, max_nodes_per_nodegroup=10, max_nodes_per_cluster=15)
    groups = [{"name": "a", "maxSize": 12, "desiredCapacity": 2}, {"name": "b", "maxSize": 8, "desiredCapacity": 2}]

    with pytest.raises(SpecValidationError) as err:
        policy.check_request(_spec(managedNodeGroups=groups), CALLER, limited, Owned(0))

    found = _fields(err)
    assert found["managedNodeGroups[0].maxSize"]["rule"] == "nodes_per_nodegroup"
    assert settings.ENV_MAX_NODES_PER_NODEGROUP in found["managedNodeGroups[0].maxSize"]["message"]
    assert found["managedNodeGroups"]["rule"] == "nodes_per_cluster"
    assert "20" in found["managedNodeGroups"]["message"]
    assert "managedNodeGroups[1].maxSize" not in found


def test_given_an_owner_at_the_limit_then_403_names_rule_and_setting() -> None:
    limited = replace(OPEN, max_clusters_per_owner=3)

    policy.check_request(_spec(), CALLER, limited, Owned(2))
    with pytest.raises(ForbiddenError) as err:
        policy.check_request(_spec(), CALLER, limited, Owned(3))

    assert err.value.status == 403
    assert err.value.details["rule"] == "clusters_per_owner"
    assert err.value.details["setting"] == settings.ENV_MAX_CLUSTERS_PER_OWNER


def test_given_a_request_breaking_a_field_rule_then_the_owner_is_not_counted() -> None:
    db = Owned(0)

    with pytest.raises(SpecValidationError):
        policy.check_request(
            _spec(region="ap-south-1"),
            CALLER,
            replace(OPEN, allowed_regions=("us-west-2",), max_clusters_per_owner=1),
            db,
        )
    assert db.asked == []


def _with_group(spec: ClusterSpec, group: dict[str, Any]) -> ClusterSpec:
    body = spec.model_dump(mode="json", exclude_none=True)
    body["managedNodeGroups"] = [g for g in body["managedNodeGroups"] if g["name"] != group["name"]] + [group]
    return ClusterSpec.model_validate(body)


def test_given_a_new_node_group_then_its_fields_are_named_as_in_its_own_body() -> None:
    limited = replace(OPEN, allowed_instance_types=("m5.*",), max_nodes_per_nodegroup=5, max_nodes_per_cluster=8)
    before = _spec(managedNodeGroups=[{"name": "a", "maxSize": 4, "desiredCapacity": 2}])
    after = _with_group(before, {"name": "b", "instanceType": "c5.large", "maxSize": 6, "desiredCapacity": 1})

    with pytest.raises(SpecValidationError) as err:
        policy.check_nodegroup_change(before, after, "b", limited)

    found = _fields(err)
    assert found["instanceType"]["rule"] == "instance_type_not_allowed"
    assert found["maxSize"]["rule"] in {"nodes_per_nodegroup", "nodes_per_cluster"}
    assert {f["rule"] for f in err.value.details["fields"]} == {
        "instance_type_not_allowed",
        "nodes_per_nodegroup",
        "nodes_per_cluster",
    }


def test_given_a_cluster_over_a_tightened_limit_then_scaling_down_is_allowed_and_up_is_not() -> None:
    limited = replace(OPEN, allowed_instance_types=("t3.*",), max_nodes_per_nodegroup=5, max_nodes_per_cluster=5)
    before = _spec(managedNodeGroups=[{"name": "a", "instanceType": "m5.large", "maxSize": 9, "desiredCapacity": 2}])

    down = _with_group(before, {"name": "a", "instanceType": "m5.large", "maxSize": 7, "desiredCapacity": 2})
    policy.check_nodegroup_change(before, down, "a", limited)

    up = _with_group(before, {"name": "a", "instanceType": "m5.large", "maxSize": 10, "desiredCapacity": 2})
    with pytest.raises(SpecValidationError) as err:
        policy.check_nodegroup_change(before, up, "a", limited)
    assert {f["rule"] for f in err.value.details["fields"]} == {"nodes_per_nodegroup", "nodes_per_cluster"}


def test_given_a_private_only_endpoint_then_422_says_the_service_cannot_reach_it() -> None:
    spec = _spec(vpc={"clusterEndpoints": {"publicAccess": False, "privateAccess": True}})

    with pytest.raises(SpecValidationError) as err:
        policy.check_request(spec, CALLER, OPEN, Owned(0))

    problem = _fields(err)["vpc.clusterEndpoints.publicAccess"]
    assert problem["rule"] == "endpoint_unreachable_by_service"
    assert "keep publicAccess true" in problem["message"]


def test_given_no_declared_egress_then_any_cidr_short_of_everyone_is_refused() -> None:
    with pytest.raises(SpecValidationError) as err:
        policy.check_request(_spec(vpc={"publicAccessCIDRs": ["198.51.100.0/24"]}), CALLER, OPEN, Owned(0))

    problem = _fields(err)["vpc.publicAccessCIDRs"]
    assert problem["rule"] == "endpoint_unreachable_by_service"
    assert settings.ENV_SERVICE_EGRESS_CIDRS in problem["message"]
    policy.check_request(_spec(vpc={"publicAccessCIDRs": ["0.0.0.0/0"]}), CALLER, OPEN, Owned(0))
    policy.check_request(_spec(vpc={"clusterEndpoints": {"privateAccess": True}}), CALLER, OPEN, Owned(0))


def test_given_declared_egress_then_public_access_cidrs_must_cover_it() -> None:
    declared = replace(OPEN, service_egress_cidrs=("203.0.113.10/32", "203.0.113.20/32"))
    covering = _spec(vpc={"publicAccessCIDRs": ["203.0.113.0/24", "198.51.100.0/24"]})
    partial = _spec(vpc={"publicAccessCIDRs": ["203.0.113.0/29", "203.0.113.20/32"]})

    policy.check_request(covering, CALLER, declared, Owned(0))
    with pytest.raises(SpecValidationError) as err:
        policy.check_request(partial, CALLER, declared, Owned(0))

    message = _fields(err)["vpc.publicAccessCIDRs"]["message"]
    assert "203.0.113.10/32" in message and "203.0.113.20/32" not in message


def test_the_egress_setting_reads_networks_and_refuses_what_is_not_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.ENV_TABLE_NAME, "t")
    monkeypatch.setenv(settings.ENV_SERVICE_EGRESS_CIDRS, " 203.0.113.7 , 198.51.100.0/24")
    settings.get_settings.cache_clear()
    try:
        assert settings.get_settings().service_egress_cidrs == ("203.0.113.7/32", "198.51.100.0/24")
        monkeypatch.setenv(settings.ENV_SERVICE_EGRESS_CIDRS, "203.0.113.0/33")
        settings.get_settings.cache_clear()
        with pytest.raises(ValueError, match=settings.ENV_SERVICE_EGRESS_CIDRS):
            settings.get_settings()
    finally:
        settings.get_settings.cache_clear()
