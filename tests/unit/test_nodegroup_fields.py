"""Managed node group fields: volume IOPS and throughput, detailed monitoring, release version, ssh, node repair."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from chalicelib.cfn import templates
from chalicelib.model import clusterconfig
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.model.validation import validate
from tests.unit.test_templates import ZONES, all_templates, cfn_lint

KEY = {"allow": True, "publicKeyName": "ops", "sourceSecurityGroupIds": ["sg-0123456789abcdef0"]}


def spec_with(*groups: dict[str, Any]) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "mz", "region": "ap-northeast-1", "managedNodeGroups": list(groups)})


def resources(group: dict[str, Any]) -> dict[str, Any]:
    spec = spec_with({"name": "a", **group})
    return templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")["Resources"]


def refusal(group: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecValidationError) as refused:
        validate(ClusterSpec, {"name": "mz", "managedNodeGroups": [{"name": "a", **group}]}, "cluster request")
    (field,) = refused.value.details["fields"]
    return {"field": field["field"], "rule": field["rule"], "message": field["message"]}


@pytest.mark.parametrize(
    ("group", "field", "rule", "says"),
    [
        ({"volumeIOPS": 2999}, "volumeIOPS", "volume_iops_range", "gp3 must be within range 3000-16000"),
        ({"volumeType": "gp3", "volumeIOPS": 16001}, "volumeIOPS", "volume_iops_range", "3000-16000"),
        (
            {"volumeType": "io1", "volumeIOPS": 99},
            "volumeIOPS",
            "volume_iops_range",
            "io1 must be within range 100-64000",
        ),
        ({"volumeType": "io1", "volumeIOPS": 64001}, "volumeIOPS", "volume_iops_range", "100-64000"),
        ({"volumeType": "io2", "volumeIOPS": 256001}, "volumeIOPS", "volume_iops_range", "io2 must be within range"),
        ({"volumeType": "gp2", "volumeIOPS": 3000}, "volumeIOPS", "volume_iops_type", "gp3, io1 and io2"),
        ({"volumeType": "st1", "volumeIOPS": 3000}, "volumeIOPS", "volume_iops_type", "not st1"),
        ({"volumeType": "io2", "volumeThroughput": 200}, "volumeThroughput", "volume_throughput_type", "gp3"),
        ({"volumeThroughput": 124}, "volumeThroughput", "volume_throughput_range", "125-1000"),
        ({"volumeType": "gp3", "volumeThroughput": 1001}, "volumeThroughput", "volume_throughput_range", "125-1000"),
        ({"releaseVersion": "latest"}, "releaseVersion", "string_pattern_mismatch", "pattern"),
        ({"enableDetailedMonitoring": "sometimes"}, "enableDetailedMonitoring", "bool_parsing", ""),
        ({"ssh": {"allow": True}}, "ssh.publicKeyName", "ssh_key_required", "EC2 key pair"),
        ({"ssh": {"enableSsm": False}}, "ssh.enableSsm", "ssm_always_on", "cannot be disabled"),
        (
            {"ssh": {"allow": False, "sourceSecurityGroupIds": ["sg-0123abcd"]}},
            "ssh.sourceSecurityGroupIds",
            "ssh_not_allowed",
            "",
        ),
        (
            {"ssh": {**KEY, "sourceSecurityGroupIds": ["default"]}},
            "ssh.sourceSecurityGroupIds[0]",
            "string_pattern_mismatch",
            "",
        ),
        ({"ssh": {**KEY, "publicKeyPath": "~/.ssh/id_rsa.pub"}}, "ssh.publicKeyPath", "extra_forbidden", ""),
        ({"ssh": KEY, "volumeType": "gp3"}, "ssh", "ssh_with_launch_template", "launch template"),
        ({"ssh": KEY, "enableDetailedMonitoring": True}, "ssh", "ssh_with_launch_template", "RemoteAccess"),
        ({"ssh": KEY, "maxPodsPerNode": 30}, "ssh", "ssh_with_launch_template", ""),
        ({"nodeRepairConfig": {}}, "nodeRepairConfig.enabled", "missing", ""),
        (
            {"nodeRepairConfig": {"enabled": True, "maxParallelNodesRepairedCount": 0}},
            "nodeRepairConfig.maxParallelNodesRepairedCount",
            "greater_than_equal",
            "",
        ),
        (
            {"securityGroups": {"attachIDs": ["sg-0123abcd"], "withLocal": True}},
            "securityGroups.withLocal",
            "extra_forbidden",
            "",
        ),
        (
            {"iam": {"instanceRoleARN": "arn:aws:iam::123456789012:role/r"}},
            "iam.instanceRoleARN",
            "extra_forbidden",
            "",
        ),
    ],
)
def test_each_rule_is_a_422_naming_the_field(group: dict[str, Any], field: str, rule: str, says: str) -> None:
    problem = refusal(group)
    assert (problem["field"], problem["rule"]) == (f"managedNodeGroups[0].{field}", rule)
    assert says in problem["message"]


@pytest.mark.parametrize(
    "group",
    [
        {"volumeIOPS": 3000},
        {"volumeIOPS": 16000, "volumeThroughput": 1000},
        {"volumeType": "io1", "volumeIOPS": 64000},
        {"volumeType": "io2", "volumeIOPS": 256000},
        {"volumeType": "io2"},
        {"ssh": {"allow": False}},
        {"ssh": KEY, "nodeRepairConfig": {"enabled": False}, "releaseVersion": "1.33.0-20250704"},
        {"amiFamily": "Bottlerocket", "releaseVersion": "1.42.0-a1b2c3d4"},
    ],
)
def test_what_eksctl_accepts_is_accepted(group: dict[str, Any]) -> None:
    spec_with({"name": "a", **group})


def test_iops_throughput_and_monitoring_go_in_the_launch_template() -> None:
    built = resources({"volumeIOPS": 6000, "volumeThroughput": 250, "enableDetailedMonitoring": True})

    data = built["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["BlockDeviceMappings"][0]["Ebs"] == {
        "VolumeSize": 80,
        "VolumeType": "gp3",
        "Encrypted": True,
        "Iops": 6000,
        "Throughput": 250,
    }
    assert data["Monitoring"] == {"Enabled": True}
    group = built["ManagedNodeGroup"]["Properties"]
    assert "DiskSize" not in group
    assert group["LaunchTemplate"]["Id"] == {"Ref": "LaunchTemplate"}


def test_io_volumes_get_eksctls_default_iops() -> None:
    ebs = resources({"volumeType": "io1"})["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert ebs["BlockDeviceMappings"][0]["Ebs"]["Iops"] == 100


def test_monitoring_alone_makes_a_launch_template_and_off_makes_none() -> None:
    assert "LaunchTemplate" in resources({"enableDetailedMonitoring": True})
    built = resources({"enableDetailedMonitoring": False})
    assert "LaunchTemplate" not in built
    assert built["ManagedNodeGroup"]["Properties"]["DiskSize"] == 80


def test_release_version_ssh_and_repair_are_node_group_properties() -> None:
    built = resources({"ssh": KEY, "releaseVersion": "1.33.0-20250704", "nodeRepairConfig": {"enabled": True}})

    assert "LaunchTemplate" not in built
    group = built["ManagedNodeGroup"]["Properties"]
    assert group["ReleaseVersion"] == "1.33.0-20250704"
    assert group["RemoteAccess"] == {"Ec2SshKey": "ops", "SourceSecurityGroups": ["sg-0123456789abcdef0"]}
    assert group["NodeRepairConfig"] == {"Enabled": True}
    assert group["DiskSize"] == 80


def test_ssh_not_allowed_and_unset_fields_add_nothing() -> None:
    group = resources({"ssh": {"allow": False}})["ManagedNodeGroup"]["Properties"]
    for absent in ("RemoteAccess", "ReleaseVersion", "NodeRepairConfig", "LaunchTemplate"):
        assert absent not in group
    assert "RemoteAccess" not in resources({"ssh": {"allow": True, "publicKeyName": "ops"}, "volumeSize": 30}).get(
        "LaunchTemplate", {}
    )


GROUPS = [
    {
        "name": "fast",
        "volumeType": "gp3",
        "volumeIOPS": 4000,
        "volumeThroughput": 500,
        "enableDetailedMonitoring": True,
        "releaseVersion": "1.33.0-20250704",
        "nodeRepairConfig": {"enabled": True},
    },
    {"name": "io", "volumeType": "io2", "volumeIOPS": 8000, "amiFamily": "Bottlerocket"},
    {"name": "ssh", "ssh": KEY, "nodeRepairConfig": {"enabled": False}},
]


def test_the_templates_pass_cfn_lint() -> None:
    # The engine checks resolved properties against the registry schema (tests/e2e/test_nodegroup_fields.py).
    spec = spec_with(*GROUPS)
    for template in all_templates(spec, ZONES):
        assert cfn_lint(template, spec.region) == []


def test_the_clusterconfig_takes_them_and_gives_them_back() -> None:
    document = {
        "apiVersion": "eksctl.io/v1alpha5",
        "kind": "ClusterConfig",
        "metadata": {"name": "mz", "region": "ap-northeast-1"},
        "managedNodeGroups": GROUPS,
    }
    spec = clusterconfig.parse(yaml.safe_dump(document).encode())
    back = clusterconfig.from_spec(spec)

    for asked, given in zip(GROUPS, back["managedNodeGroups"], strict=True):
        assert {k: given[k] for k in asked} == asked
    assert clusterconfig.parse(yaml.safe_dump(back).encode()) == spec


def test_the_clusterconfig_still_refuses_key_files_and_attached_groups_by_name() -> None:
    document = {
        "apiVersion": "eksctl.io/v1alpha5",
        "kind": "ClusterConfig",
        "metadata": {"name": "mz"},
        "managedNodeGroups": [
            {
                "name": "a",
                "ssh": {"allow": True, "publicKeyPath": "~/.ssh/id_rsa.pub"},
                "securityGroups": {"attachIDs": ["sg-0123abcd"], "withShared": True},
            }
        ],
    }
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(yaml.safe_dump(document).encode())
    fields = {f["field"]: f["message"] for f in refused.value.details["fields"]}
    assert set(fields) == {
        "managedNodeGroups[0].ssh.publicKeyPath",
        "managedNodeGroups[0].securityGroups.withShared",
    }
    assert "ekspress create cluster -f` reads it" in fields["managedNodeGroups[0].ssh.publicKeyPath"]
