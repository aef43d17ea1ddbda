"""The cluster request model: eksctl's defaults, and every rule naming its field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.model import naming
from chalicelib.model.spec import ClusterSpec
from chalicelib.model.validation import describe_errors, field_path


def errors_of(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as err:
        ClusterSpec.model_validate(body)
    return {e["field"]: e["rule"] for e in describe_errors(err.value)}


def test_given_only_a_name_then_eksctl_defaults_apply() -> None:
    spec = ClusterSpec.model_validate({"name": "mz-k8s", "region": "ap-northeast-1"})

    assert spec.vpc.cidr == "192.168.0.0/16"
    (group,) = spec.nodegroups
    assert group.name == naming.default_nodegroup_name("mz-k8s")
    assert group.name.startswith("ng-") and len(group.name) == 11
    assert (group.instance_type, group.desired_capacity, group.min_size, group.max_size) == ("m5.large", 2, 2, 2)
    assert group.volume_size == 80


def test_the_default_nodegroup_name_is_stable_for_a_cluster_name() -> None:
    first = ClusterSpec.model_validate({"name": "a"}).nodegroups[0].name
    assert ClusterSpec.model_validate({"name": "a"}).nodegroups[0].name == first
    assert ClusterSpec.model_validate({"name": "b"}).nodegroups[0].name != first


def test_the_issue_example_names_both_bad_fields() -> None:
    body = {"name": "-bad", "managedNodeGroups": [{"name": "a", "minSize": 3, "desiredCapacity": 1}]}

    assert errors_of(body) == {"name": "name_format", "managedNodeGroups[0].desiredCapacity": "size_order"}


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"name": "x" * 101}, "name", "string_too_long"),
        ({"name": "has space"}, "name", "name_format"),
        ({"name": "ok", "region": "Mars"}, "region", "string_pattern_mismatch"),
        ({"name": "ok", "version": "1.10"}, "version", "version_unsupported"),
        ({"name": "ok", "vpc": {"cidr": "8.8.0.0/16"}}, "vpc.cidr", "cidr_not_private"),
        ({"name": "ok", "vpc": {"cidr": "10.0.0.0/8"}}, "vpc.cidr", "cidr_size"),
        ({"name": "ok", "vpc": {"cidr": "10.0.0.0/28"}}, "vpc.cidr", "cidr_size"),
        ({"name": "ok", "vpc": {"cidr": "10.0.0.1/16"}}, "vpc.cidr", "cidr_invalid"),
        ({"name": "ok", "tags": {"aws:owner": "me"}}, "tags", "reserved_tag"),
        ({"name": "ok", "tags": {"ekspress.io/owner": "me"}}, "tags", "reserved_tag"),
        ({"name": "ok", "surprise": 1}, "surprise", "extra_forbidden"),
        (
            {"name": "ok", "managedNodeGroups": [{"name": "a", "securityGroups": {"withShared": True}}]},
            "managedNodeGroups[0].securityGroups.withShared",
            "extra_forbidden",
        ),
        (
            {"name": "ok", "managedNodeGroups": [{"name": "a", "maxSize": 1, "minSize": 2}]},
            "managedNodeGroups[0].maxSize",
            "size_order",
        ),
        (
            {"name": "ok", "managedNodeGroups": [{"name": "a", "maxSize": 2, "desiredCapacity": 3}]},
            "managedNodeGroups[0].desiredCapacity",
            "size_order",
        ),
        (
            {"name": "ok", "managedNodeGroups": [{"name": "a", "instanceType": "M5 large"}]},
            "managedNodeGroups[0].instanceType",
            "string_pattern_mismatch",
        ),
        (
            {"name": "ok", "managedNodeGroups": [{"name": "a", "labels": {"kubernetes.io/role": "x"}}]},
            "managedNodeGroups[0].labels",
            "label_reserved",
        ),
        (
            {"name": "ok", "managedNodeGroups": [{"name": "a", "labels": {"team": "a b"}}]},
            "managedNodeGroups[0].labels",
            "label_value",
        ),
        (
            {"name": "ok", "managedNodeGroups": [{"name": "a"}, {"name": "a"}]},
            "managedNodeGroups[1].name",
            "duplicate_name",
        ),
    ],
)
def test_each_rule_names_its_field(body: dict[str, Any], field: str, rule: str) -> None:
    assert errors_of(body).get(field) == rule


def test_snake_case_field_names_are_refused_not_silently_mapped() -> None:
    assert errors_of({"name": "ok", "managed_node_groups": []}) == {"managed_node_groups": "extra_forbidden"}


def test_node_group_names_are_limited_so_stack_names_fit_128() -> None:
    name = "c" * 100
    limit = naming.longest_nodegroup_name(name)
    assert len(naming.nodegroup_stack_name(name, "n" * limit)) == 128

    ClusterSpec.model_validate({"name": name, "managedNodeGroups": [{"name": "n" * limit}]})
    assert errors_of({"name": name, "managedNodeGroups": [{"name": "n" * (limit + 1)}]}) == {
        "managedNodeGroups[0].name": "stack_name_too_long"
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"minSize": 3}, (3, 3, 3)),
        ({"maxSize": 1}, (1, 1, 1)),
        ({"minSize": 0, "maxSize": 5}, (0, 2, 5)),
        ({"desiredCapacity": 4}, (4, 4, 4)),
        ({"minSize": 1, "desiredCapacity": 2, "maxSize": 3}, (1, 2, 3)),
        ({"desiredCapacity": 0, "minSize": 0}, (0, 0, 1)),
    ],
)
def test_sizes_fill_in_like_eksctl(given: dict[str, int], expected: tuple[int, int, int]) -> None:
    group = ClusterSpec.model_validate({"name": "ok", "managedNodeGroups": [{"name": "a", **given}]}).nodegroups[0]

    assert (group.min_size, group.desired_capacity, group.max_size) == expected
    assert group.min_size <= group.desired_capacity <= group.max_size  # type: ignore[operator]


def test_an_explicit_empty_list_means_no_node_groups_as_in_eksctl() -> None:
    assert ClusterSpec.model_validate({"name": "ok", "managedNodeGroups": []}).nodegroups == []


def test_a_numeric_version_is_read_as_text() -> None:
    assert ClusterSpec.model_validate({"name": "ok", "version": 1.31}).version == "1.31"


def test_the_stored_form_validates_back_to_the_same_spec() -> None:
    spec = ClusterSpec.model_validate(
        {"name": "ok", "tags": {"team": "a"}, "managedNodeGroups": [{"name": "a", "labels": {"x": "y"}}]}
    )
    assert ClusterSpec.model_validate(spec.model_dump(mode="json")) == spec


def test_field_paths_read_like_eksctl_config() -> None:
    assert field_path(("managedNodeGroups", 0, "minSize")) == "managedNodeGroups[0].minSize"
    assert field_path(("name",)) == "name"


def test_the_ami_type_is_read_only_and_kept_through_the_stored_form() -> None:
    spec = ClusterSpec.model_validate(
        {
            "name": "ok",
            "managedNodeGroups": [{"name": "a", "instanceType": "g5.xlarge", "amiType": "AL2023_x86_64_NVIDIA"}],
        }
    )

    stored = spec.model_dump(mode="json", exclude_none=True)
    assert stored["managedNodeGroups"][0]["amiType"] == "AL2023_x86_64_NVIDIA"
    assert ClusterSpec.model_validate(stored) == spec
    schema = ClusterSpec.model_json_schema(by_alias=True)["$defs"]["NodegroupSpec"]["properties"]["amiType"]
    assert schema["readOnly"] is True
    assert errors_of({"name": "ok", "managedNodeGroups": [{"name": "a", "amiType": "CUSTOM"}]}) == {
        "managedNodeGroups[0].amiType": "literal_error"
    }


def test_the_public_endpoint_admits_networks_inside_its_cidrs_and_everyone_without_any() -> None:
    open_vpc = ClusterSpec.model_validate({"name": "ok"}).vpc
    narrow = ClusterSpec.model_validate({"name": "ok", "vpc": {"publicAccessCIDRs": ["10.0.0.0/8"]}}).vpc

    assert open_vpc.public_access_refuses(("0.0.0.0/0",)) == []
    assert narrow.public_access_refuses(("10.1.0.0/16", "11.0.0.0/8", "0.0.0.0/0")) == ["11.0.0.0/8", "0.0.0.0/0"]
