"""Account quotas through the HTTP API on the local engine: GET /quotas, and the 409 before a create that cannot fit.

The engine enforces a fresh account's quotas (local/account_quotas.py) and serves Service
Quotas; tests lower a quota with `account_quotas.set_quota` as an approved request would set it.
Each test keeps to a region of its own: the engine is shared by the module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.operations import quotas as quota_check
from local import account_quotas

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

VPCS = "L-F678F1CE"


@pytest.fixture(scope="module", autouse=True)
def new_account(engine: LocalEngine) -> None:
    """A new account's quotas, whatever the engine fixture applied for the tests that build many clusters."""
    for code in account_quotas.QUOTAS:
        account_quotas.clear_quota(code, None)


def rows(reply_body: dict[str, Any], region: str) -> dict[tuple[str, str | None], dict[str, Any]]:
    [shown] = [r for r in reply_body["regions"] if r["region"] == region]
    return {(q["quotaCode"], q.get("zone")): q for q in shown["quotas"]}


def executions_of(engine: LocalEngine, name: str) -> list[str]:
    sfn = engine.client("stepfunctions")
    machine = engine.outputs["create_cluster"]
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    return [e["name"] for e in listed if e["name"].startswith(f"create-{name}-")]


def test_get_quotas_shows_each_quota_its_value_use_and_room_the_default_vpc_counting(api: Api) -> None:
    reply = api.call("GET", "/quotas")

    assert reply.status == 200
    assert [r["region"] for r in reply.body["regions"]] == ["us-west-2"]
    shown = rows(reply.body, "us-west-2")
    assert shown[(VPCS, None)] == {
        "quotaCode": VPCS,
        "serviceCode": "vpc",
        "name": "VPCs per Region",
        "value": 5,
        "used": 1,
        "available": 4,
        "source": "default",
    }
    assert shown[("L-A4707A72", None)]["available"] == 5
    assert shown[("L-0263D0A3", None)]["name"] == "EC2-VPC Elastic IPs"
    assert shown[("L-1194D53C", None)]["value"] == 100
    nat_zones = sorted(zone for code, zone in shown if code == "L-FE5A380F")
    assert nat_zones and all(zone and zone.startswith("us-west-2") for zone in nat_zones)


def test_get_quotas_of_one_region_and_of_no_region_at_all(api: Api) -> None:
    one = api.call("GET", "/quotas?region=eu-west-3")
    bad = api.call("GET", "/quotas?region=nowhere")
    unknown = api.call("GET", "/quotas?region=zz-nowhere-9")

    assert one.status == 200
    assert [r["region"] for r in one.body["regions"]] == ["eu-west-3"]
    assert (bad.status, bad.body["error"], bad.body["field"]) == (400, "BadRequest", "region")
    assert (unknown.status, unknown.body["field"]) == (400, "region")


def test_a_create_the_vpc_quota_has_no_room_for_is_a_409_naming_the_quota_and_records_nothing(
    api: Api, engine: LocalEngine
) -> None:
    region = "eu-west-1"
    account_quotas.set_quota(VPCS, 1, region)  # the default VPC fills it

    reply = api.call("POST", "/clusters", {"name": "no-room", "region": region})

    assert reply.status == 409
    assert reply.body["error"] == "quota_exceeded"
    assert reply.body["region"] == region
    assert reply.body["exceeded"] == [
        {
            "quotaCode": VPCS,
            "serviceCode": "vpc",
            "name": "VPCs per Region",
            "value": 1,
            "used": 1,
            "available": 0,
            "source": "applied",
            "needed": 1,
        }
    ]
    assert "VPCs per Region (vpc/L-F678F1CE) is 1, 1 in use, and the cluster needs 1" in reply.body["message"]
    assert api.call("GET", "/clusters/no-room").status == 404
    assert executions_of(engine, "no-room") == []
    assert rows(api.call("GET", f"/quotas?region={region}").body, region)[(VPCS, None)]["source"] == "applied"


def test_a_fresh_account_builds_four_clusters_in_a_region_and_refuses_the_fifth_before_anything_starts(
    api: Api, engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Default VPC + four clusters = the five VPCs a new account has; without the check the fifth fails at its VPC."""
    region = "eu-central-1"
    for i in range(4):
        assert api.call("POST", "/clusters", {"name": f"fits-{i}", "region": region}).status == 202
    for i in range(4):
        assert api.wait_for(f"fits-{i}", {"ACTIVE", "FAILED"})["status"] == "ACTIVE"

    refused = api.call("POST", "/clusters", {"name": "fifth", "region": region})

    assert refused.status == 409
    assert refused.body["error"] == "quota_exceeded"
    [vpcs] = [q for q in refused.body["exceeded"] if q["quotaCode"] == VPCS]
    assert (vpcs["value"], vpcs["used"], vpcs["needed"]) == (5, 5, 1)
    assert api.call("GET", "/clusters/fifth").status == 404

    # The engine's own rule: without the service's check the stack fails ten minutes in on AWS, here at once.
    monkeypatch.setattr(quota_check, "check_create", lambda ctx, spec, zones: None)
    assert api.call("POST", "/clusters", {"name": "fifth", "region": region}).status == 202
    record = api.wait_for("fifth", {"ACTIVE", "FAILED"})

    assert record["status"] == "FAILED"
    assert record["failure"]["stack"] == "eksctl-fifth-cluster"
    assert record["failure"]["resource"] == "VPC"
    assert "The maximum number of VPCs has been reached." in record["failure"]["reason"]
    assert record["stacks"]["eksctl-fifth-cluster"]["status"] == "ROLLBACK_COMPLETE"
