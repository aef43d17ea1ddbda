"""A fully private cluster is refused when the region lacks an endpoint service it needs (as eksctl refuses
eu-south-1), naming them; otherwise each interface endpoint's zones are EC2's."""

from __future__ import annotations

from typing import Any

import pytest
from moto.ec2.models.vpcs import VPCBackend

from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations.network import private_endpoint_zones
from tests.functional.helpers import step_context

REGION = "us-west-2"


def spec() -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "p1", "region": REGION, "privateCluster": {"enabled": True}})


def test_each_interface_endpoint_gets_the_zones_ec2_offers_it_in() -> None:
    zones = private_endpoint_zones(step_context(), spec())

    assert sorted(zones) == ["ec2", "ecr.api", "ecr.dkr", "sts"]
    assert all(f"{REGION}a" in offered for offered in zones.values())
    assert private_endpoint_zones(step_context(), ClusterSpec.model_validate({"name": "p2", "region": REGION})) == {}


def test_a_region_without_a_service_is_a_422_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = VPCBackend._collect_default_endpoint_services

    def without_sts(account_id: str, region: str) -> list[dict[str, Any]]:
        return [s for s in catalogue(account_id, region) if not s["ServiceName"].endswith((".sts", ".s3"))]

    monkeypatch.setattr(VPCBackend, "_collect_default_endpoint_services", staticmethod(without_sts))
    with pytest.raises(SpecValidationError) as refused:
        private_endpoint_zones(step_context(), spec())

    (field,) = refused.value.details["fields"]
    assert (field["field"], field["rule"]) == ("privateCluster.enabled", "endpoint_service_unavailable")
    assert "sts, s3 (gateway)" in field["message"]


def test_zones_asked_for_must_hold_each_endpoint_service(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = VPCBackend._collect_default_endpoint_services

    def ec2_in_a_only(account_id: str, region: str) -> list[dict[str, Any]]:
        services = catalogue(account_id, region)
        for service in services:
            if service["ServiceName"].endswith(".ec2"):
                service["AvailabilityZones"] = [f"{REGION}a"]
        return services

    monkeypatch.setattr(VPCBackend, "_collect_default_endpoint_services", staticmethod(ec2_in_a_only))
    zoned = ClusterSpec.model_validate(
        {
            "name": "p1",
            "region": REGION,
            "privateCluster": {"enabled": True},
            "availabilityZones": [f"{REGION}b", f"{REGION}c"],
        }
    )
    with pytest.raises(SpecValidationError) as refused:
        private_endpoint_zones(step_context(), zoned)

    (field,) = refused.value.details["fields"]
    assert (field["field"], field["rule"]) == ("availabilityZones", "endpoint_service_unavailable")
    assert private_endpoint_zones(step_context(), spec())["ec2"] == [f"{REGION}a"]  # zones chosen later: a is one
