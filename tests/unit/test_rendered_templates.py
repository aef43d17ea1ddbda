"""Templates rendered at request time: kept compressed, read back as rendered, refused when AWS would refuse them."""

from __future__ import annotations

import json
import random

import pytest

from chalicelib.aws.template_store import (
    MAX_STORED_BYTES,
    PRIVATE,
    Rendered,
    from_stored,
    slot,
    template_key,
    to_stored,
)


def test_a_template_is_kept_compressed_and_read_back_as_it_was_rendered() -> None:
    body = json.dumps({"Resources": {f"R{i}": {"Type": "AWS::IAM::Role"} for i in range(2000)}})
    rendered = Rendered(slot("eksctl-a-cluster", PRIVATE), body, {"ekspress:kind": "cluster"}, "closing")

    item = to_stored("a", "op", rendered, now_epoch=1_000)

    assert item["sk"] == "TEMPLATE#op#eksctl-a-cluster#private" and item["pk"] == template_key("a", "op", "x")["pk"]
    assert len(item["body"]) < len(body) / 10
    assert item["expiresAtEpoch"] > 1_000
    assert from_stored(item) == rendered


def test_a_stack_the_operation_does_not_make_is_kept_as_skipped() -> None:
    item = to_stored("a", "op", Rendered("eksctl-a-addons", None), now_epoch=0)

    assert "body" not in item
    assert from_stored(item).skipped


def test_a_template_too_big_to_keep_even_compressed_is_refused() -> None:
    noise = random.Random(7).randbytes(MAX_STORED_BYTES).hex()  # hex of random bytes compresses about 2:1

    with pytest.raises(ValueError, match="too large to keep"):
        to_stored("a", "op", Rendered("eksctl-a-cluster", noise), now_epoch=0)


def test_a_template_over_what_cloudformation_takes_is_a_422_naming_the_field() -> None:
    from chalicelib.model.errors import SpecValidationError
    from chalicelib.operations import rendering

    with pytest.raises(SpecValidationError) as refused:
        rendering.render("nodeGroups[0]", "eksctl-a-nodegroup-ng", lambda: {"Description": "x" * 1_000_001})

    (problem,) = refused.value.details["fields"]
    assert (problem["field"], problem["rule"]) == ("nodeGroups[0]", "template_too_large")
    assert rendering.render("metadata", "eksctl-a-cluster", lambda: {"Description": "fits"}) == (
        '{"Description":"fits"}'
    )


def test_a_region_without_two_zones_eks_can_use_is_a_422_at_request() -> None:
    from types import SimpleNamespace

    from chalicelib.model.errors import SpecValidationError
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.operations import create

    class OneZone:
        def describe_availability_zones(self, **_: object) -> dict[str, object]:
            return {"AvailabilityZones": [{"ZoneName": "us-west-2a", "ZoneId": "usw2-az1"}]}

    ctx = SimpleNamespace(clients=SimpleNamespace(ec2=lambda region: OneZone()))

    with pytest.raises(SpecValidationError) as refused:
        create.cluster_layout(ctx, ClusterSpec.model_validate({"name": "a"}))  # type: ignore[arg-type]

    (problem,) = refused.value.details["fields"]
    assert (problem["field"], problem["rule"]) == ("region", "zones_unavailable")
