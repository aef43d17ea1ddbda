"""Bottlerocket settings (`bottlerocket`) and load balancers (`targetGroupARNs`, `classicLoadBalancerNames`)
of node groups: the spec's rules, the TOML user data, the templates and the ClusterConfig round trip."""

from __future__ import annotations

import base64
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from chalicelib.cfn import bottlerocket_toml, templates
from chalicelib.model import clusterconfig
from chalicelib.model.nodegroup_spec import NodegroupSpec
from chalicelib.model.selfmanaged_spec import SelfManagedNodegroupSpec
from chalicelib.model.spec import ClusterSpec
from chalicelib.model.validation import describe_errors
from tests.unit.test_templates import TEST_IMAGE_ID, all_templates, cfn_lint

REGION = "us-west-2"
ZONES = ["us-west-2a", "us-west-2b", "us-west-2c"]
ENDPOINT = "https://ABCDEF.gr7.us-west-2.eks.amazonaws.com"
CA = "LS0tLS1CRUdJTi0tLS0t"
TG = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web-1/0123456789abcdef"
EXAMPLE_20 = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "eksctl-20-bottlerocket.yaml"
BR = {"amiFamily": "Bottlerocket"}


def problems(model: type[Any], body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate({"name": "ng", **body})
    return {f["field"]: f["rule"] for f in describe_errors(refused.value)}


# --- the spec's rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [SelfManagedNodegroupSpec, NodegroupSpec])
@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"bottlerocket": {"settings": {"motd": "x"}}}, "bottlerocket", "bottlerocket_family"),
        ({"amiFamily": "AmazonLinux2", "bottlerocket": {}}, "bottlerocket", "bottlerocket_family"),
        *[
            (
                {**BR, "bottlerocket": {"settings": {"kubernetes": {key: "x"}}}},
                f"bottlerocket.settings.kubernetes.{key}",
                "bottlerocket_reserved",
            )
            for key in (
                "cluster-name",
                "api-server",
                "cluster-certificate",
                "node-labels",
                "node-taints",
                "max-pods",
            )
        ],
        (
            {**BR, "bottlerocket": {"settings": {"kubernetes": "x"}}},
            "bottlerocket.settings.kubernetes",
            "bottlerocket_settings",
        ),
        (
            {
                **BR,
                "bottlerocket": {
                    "enableAdminContainer": True,
                    "settings": {"host-containers": {"admin": {"enabled": False}}},
                },
            },
            "bottlerocket.enableAdminContainer",
            "one_of",
        ),
        (
            {**BR, "bottlerocket": {"enableAdminContainer": True, "settings": {"host-containers": "x"}}},
            "bottlerocket.settings.host-containers",
            "bottlerocket_settings",
        ),
        ({**BR, "bottlerocket": {"settings": {"motd": None}}}, "bottlerocket.settings", "bottlerocket_settings"),
        (
            {**BR, "bottlerocket": {"settings": {"a": [1, {"b": None}]}}},
            "bottlerocket.settings",
            "bottlerocket_settings",
        ),
        ({**BR, "bottlerocket": {"settings": {"n": 2**64}}}, "bottlerocket.settings", "bottlerocket_settings"),
        ({**BR, "bottlerocket": {"settings": {"n": float("inf")}}}, "bottlerocket.settings", "bottlerocket_settings"),
        ({**BR, "bottlerocket": {"settings": {"": 1}}}, "bottlerocket.settings", "bottlerocket_settings"),
        (
            {**BR, "bottlerocket": {"settings": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}}},
            "bottlerocket.settings",
            "bottlerocket_settings",
        ),
        ({**BR, "bottlerocket": {"settings": {"motd": "x" * 9000}}}, "bottlerocket.settings", "bottlerocket_settings"),
        ({**BR, "bottlerocket": {"unknown": 1}}, "bottlerocket.unknown", "extra_forbidden"),
    ],
)
def test_bottlerocket_refusals_name_the_field(model: type[Any], body: dict[str, Any], field: str, rule: str) -> None:
    assert problems(model, body).get(field) == rule


def test_the_cluster_dns_address_is_a_self_managed_nodes_to_set_not_a_managed_ones() -> None:
    body = {"name": "ng", **BR, "bottlerocket": {"settings": {"kubernetes": {"cluster-dns-ip": "10.100.0.10"}}}}
    assert SelfManagedNodegroupSpec.model_validate(body).bottlerocket is not None
    field = "bottlerocket.settings.kubernetes.cluster-dns-ip"
    assert problems(NodegroupSpec, body) == {field: "bottlerocket_reserved"}


def test_bottlerocket_settings_are_taken_with_every_toml_type() -> None:
    settings = {"motd": "x", "n": -3, "f": 1.5, "b": False, "l": ["a", 1], "t": {"u": {"v": [{"w": 1}]}}}
    group = SelfManagedNodegroupSpec.model_validate({"name": "ng", **BR, "bottlerocket": {"settings": settings}})
    assert group.bottlerocket is not None and group.bottlerocket.settings == settings


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        (
            {
                "targetGroupARNs": [
                    "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/x/0123456789abcdef"
                ]
            },
            "targetGroupARNs[0]",
            "string_pattern_mismatch",
        ),
        (
            {"targetGroupARNs": ["arn:aws:elasticloadbalancing:us-west-2:01234567890:targetgroup/x/0123456789abcdef"]},
            "targetGroupARNs[0]",
            "string_pattern_mismatch",
        ),
        (
            {
                "targetGroupARNs": [
                    "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/-x/0123456789abcdef"
                ]
            },
            "targetGroupARNs[0]",
            "string_pattern_mismatch",
        ),
        ({"targetGroupARNs": []}, "targetGroupARNs", "too_short"),
        ({"targetGroupARNs": [TG, TG]}, "targetGroupARNs[1]", "duplicate"),
        ({"classicLoadBalancerNames": ["-edge"]}, "classicLoadBalancerNames[0]", "string_pattern_mismatch"),
        ({"classicLoadBalancerNames": ["a" * 33]}, "classicLoadBalancerNames[0]", "string_pattern_mismatch"),
        ({"classicLoadBalancerNames": ["under_score"]}, "classicLoadBalancerNames[0]", "string_pattern_mismatch"),
        ({"classicLoadBalancerNames": ["web", "web"]}, "classicLoadBalancerNames[1]", "duplicate"),
        ({"classicLoadBalancerNames": [f"lb-{i}" for i in range(51)]}, "classicLoadBalancerNames", "too_long"),
    ],
)
def test_load_balancer_shapes(body: dict[str, Any], field: str, rule: str) -> None:
    assert problems(SelfManagedNodegroupSpec, body).get(field) == rule


def test_managed_groups_take_no_load_balancers_and_no_bottlerocket_with_their_own_launch_template() -> None:
    assert problems(NodegroupSpec, {"targetGroupARNs": [TG]}) == {"targetGroupARNs": "extra_forbidden"}
    body = {**BR, "launchTemplate": {"id": "lt-0123456789abcdef0"}, "bottlerocket": {"settings": {"motd": "x"}}}
    assert problems(NodegroupSpec, body).get("bottlerocket") == "launch_template_conflict"
    # SSH needs EKS's RemoteAccess, which a launch template rules out; bottlerocket settings need one.
    body = {**BR, "ssh": {"allow": True, "publicKeyName": "k"}, "bottlerocket": {"enableAdminContainer": True}}
    assert problems(NodegroupSpec, body).get("ssh") == "ssh_with_launch_template"


# --- the TOML emitter ----------------------------------------------------------------------------------------


def test_the_emitter_writes_toml_that_reads_back_the_same() -> None:
    document = {
        "settings": {
            "motd": 'a "quoted" \\ value\n\x01',
            "int": -(2**63),
            "float": 0.1,
            "flag": True,
            "list": ["a", 1, [True, 2.5]],
            "tables": [{"a": 1, "b.c": {"d": "e"}}],
            "dotted.key": "kept whole",
            "empty": {},
            "kernel": {"sysctl": {"net.ipv4.ip_forward": "1"}},
            "ünïcode": "✓",
        }
    }
    assert tomllib.loads(bottlerocket_toml.dumps(document)) == document


def test_verbatim_values_go_between_quotes_untouched_and_top_level_values_are_not_written() -> None:
    text = bottlerocket_toml.dumps({"s": {"endpoint": bottlerocket_toml.Verbatim("${Endpoint}")}})
    assert text == '[s]\nendpoint = "${Endpoint}"\n'
    with pytest.raises(ValueError, match="top-level"):
        bottlerocket_toml.dumps({"x": 1})
    with pytest.raises(ValueError, match="no TOML form"):
        bottlerocket_toml.toml_value(None)


# --- user data ---------------------------------------------------------------------------------------------


def cluster_of(
    self_managed: list[dict[str, Any]] | None = None, managed: list[dict[str, Any]] | None = None
) -> ClusterSpec:
    body: dict[str, Any] = {"name": "br", "region": REGION, "availabilityZones": ZONES}
    body["nodeGroups"] = [{"imageId": TEST_IMAGE_ID, **g} for g in self_managed or []]
    body["managedNodeGroups"] = managed or []
    return ClusterSpec.model_validate(body)


def launch_data(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return dict(template["Resources"][logical_id]["Properties"]["LaunchTemplateData"])


def self_managed_settings(group: dict[str, Any]) -> dict[str, Any]:
    spec = cluster_of([{"name": "ng", **BR, **group}])
    user_data = launch_data(
        templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid"), "NodeGroupLaunchTemplate"
    )
    text, _ = user_data["UserData"]["Fn::Base64"]["Fn::Sub"]
    text = text.replace("${Endpoint}", ENDPOINT).replace("${CA}", CA).replace("${!", "${")
    return dict(tomllib.loads(text)["settings"])


def test_self_managed_user_data_merges_the_settings_with_the_clusters() -> None:
    settings = self_managed_settings(
        {
            "labels": {"team": "blue"},
            "taints": [{"key": "gpu", "effect": "NoSchedule"}],
            "maxPodsPerNode": 20,
            "bottlerocket": {
                "enableAdminContainer": True,
                "settings": {
                    "motd": "costs ${x}",
                    "kubernetes": {"eviction-hard": {"memory.available": "15%"}, "allowed-unsafe-sysctls": ["net.*"]},
                    "host-containers": {"control": {"enabled": False}},
                },
            },
        }
    )
    kubernetes = settings["kubernetes"]
    assert (kubernetes["cluster-name"], kubernetes["api-server"], kubernetes["cluster-certificate"]) == (
        "br",
        ENDPOINT,
        CA,
    )
    assert kubernetes["eviction-hard"] == {"memory.available": "15%"}
    assert kubernetes["allowed-unsafe-sysctls"] == ["net.*"]
    assert kubernetes["max-pods"] == 20
    assert kubernetes["node-labels"]["team"] == "blue"
    assert kubernetes["node-taints"] == {"gpu": ":NoSchedule"}
    assert settings["host-containers"] == {"control": {"enabled": False}, "admin": {"enabled": True}}
    assert settings["motd"] == "costs ${x}"


@pytest.mark.parametrize(
    ("group", "admin"),
    [
        ({}, None),
        ({"bottlerocket": {"enableAdminContainer": False}}, False),
        ({"ssh": {"allow": True, "publicKeyName": "k"}}, True),  # eksctl: ssh runs through the admin container
        ({"ssh": {"allow": True, "publicKeyName": "k"}, "bottlerocket": {"enableAdminContainer": False}}, False),
        (
            {
                "ssh": {"allow": True, "publicKeyName": "k"},
                "bottlerocket": {"settings": {"host-containers": {"admin": {"enabled": False}}}},
            },
            False,
        ),
    ],
)
def test_the_admin_container(group: dict[str, Any], admin: bool | None) -> None:
    settings = self_managed_settings(group)
    assert settings.get("host-containers", {}).get("admin", {}).get("enabled") == admin


def managed_user_data(group: dict[str, Any]) -> str | None:
    spec = cluster_of(managed=[{"name": "mng", **BR, **group}])
    template = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")
    if "LaunchTemplate" not in template["Resources"]:
        return None
    encoded = launch_data(template, "LaunchTemplate").get("UserData")
    return None if encoded is None else encoded["Fn::Base64"]


def test_a_managed_group_on_ekss_image_gets_only_its_settings_eks_adds_the_bootstrap() -> None:
    text = managed_user_data(
        {"maxPodsPerNode": 30, "bottlerocket": {"enableAdminContainer": True, "settings": {"motd": "hi"}}}
    )
    assert isinstance(text, str)
    assert tomllib.loads(text) == {
        "settings": {"motd": "hi", "kubernetes": {"max-pods": 30}, "host-containers": {"admin": {"enabled": True}}}
    }
    assert tomllib.loads(str(managed_user_data({"maxPodsPerNode": 30}))) == {
        "settings": {"kubernetes": {"max-pods": 30}}
    }
    assert tomllib.loads(str(managed_user_data({"bottlerocket": {"settings": {"motd": "m"}}}))) == {
        "settings": {"motd": "m"}
    }
    assert managed_user_data({"bottlerocket": {}}) is None  # nothing to add: no launch template user data


def test_a_managed_group_on_its_own_image_gets_the_whole_bootstrap_with_its_settings() -> None:
    spec = cluster_of(
        managed=[{"name": "mng", **BR, "ami": TEST_IMAGE_ID, "bottlerocket": {"settings": {"motd": "hi"}}}]
    )
    data = launch_data(templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid"), "LaunchTemplate")
    text, _ = data["UserData"]["Fn::Base64"]["Fn::Sub"]
    settings = tomllib.loads(text)["settings"]
    assert settings["motd"] == "hi" and settings["kubernetes"]["cluster-name"] == "br"


# --- templates ------------------------------------------------------------------------------------------------


def test_the_auto_scaling_group_names_its_target_groups_and_load_balancers() -> None:
    spec = cluster_of(
        [{"name": "web", "targetGroupARNs": [TG], "classicLoadBalancerNames": ["edge-1"]}, {"name": "plain"}]
    )
    web, plain = (
        templates.build_nodegroup_template(spec, g, "cid")["Resources"]["NodeGroup"]["Properties"]
        for g in spec.nodegroups
    )
    assert (web["TargetGroupARNs"], web["LoadBalancerNames"]) == ([TG], ["edge-1"])
    assert "TargetGroupARNs" not in plain and "LoadBalancerNames" not in plain


def test_every_template_passes_cfn_lint() -> None:
    spec = cluster_of(
        [
            {"name": "web", "targetGroupARNs": [TG], "classicLoadBalancerNames": ["edge-1"]},
            {"name": "br", **BR, "bottlerocket": {"enableAdminContainer": True, "settings": {"motd": "hi"}}},
        ],
        [{"name": "mng", **BR, "bottlerocket": {"settings": {"kernel": {"lockdown": "integrity"}}}}],
    )
    for template in all_templates(spec, ZONES):
        assert cfn_lint(template, REGION) == []


# --- ClusterConfig ------------------------------------------------------------------------------------------------


def test_eksctls_bottlerocket_example_parses_and_its_nodes_get_the_settings() -> None:
    spec = clusterconfig.parse(EXAMPLE_20.read_bytes())
    first, second = spec.nodegroups
    assert first.bottlerocket is not None and first.bottlerocket.settings == {"motd": "Hello, eksctl!"}
    assert second.bottlerocket is None and second.ssh is not None and second.ssh.allow


def test_get_config_gives_the_fields_back() -> None:
    body = {
        "apiVersion": "eksctl.io/v1alpha5",
        "kind": "ClusterConfig",
        "metadata": {"name": "rt", "region": REGION},
        "managedNodeGroups": [
            {"name": "mng", **BR, "bottlerocket": {"enableAdminContainer": False, "settings": {"motd": "m"}}}
        ],
        "nodeGroups": [
            {"name": "web", "targetGroupARNs": [TG], "classicLoadBalancerNames": ["edge-1"]},
            {
                "name": "br",
                **BR,
                "bottlerocket": {"settings": {"kernel": {"sysctl": {"vm.max_map_count": "262144"}}, "n": 1}},
            },
        ],
    }
    spec = clusterconfig.parse(yaml.safe_dump(body).encode())
    written = clusterconfig.from_spec(spec)
    assert written["nodeGroups"][0]["targetGroupARNs"] == [TG]
    assert written["nodeGroups"][0]["classicLoadBalancerNames"] == ["edge-1"]
    assert written["nodeGroups"][1]["bottlerocket"] == body["nodeGroups"][1]["bottlerocket"]
    assert written["managedNodeGroups"][0]["bottlerocket"] == body["managedNodeGroups"][0]["bottlerocket"]
    assert clusterconfig.parse(yaml.safe_dump(written).encode()) == spec


def test_user_data_is_base64_encodable_for_ec2() -> None:
    text = managed_user_data({"bottlerocket": {"settings": {"motd": "✓"}}})
    assert base64.b64decode(base64.b64encode(str(text).encode())).decode() == text
