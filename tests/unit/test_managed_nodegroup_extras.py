"""Managed node group extras: securityGroups.attachIDs, iam, a custom ami with its bootstrap, preBootstrapCommands
and the caller's launchTemplate — eksctl's names, defaults and rules, and templates that pass cfn-lint."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from chalicelib.cfn import templates
from chalicelib.model import clusterconfig, policy
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.model.validation import validate
from tests.unit.test_templates import ZONES, cfn_lint

AMI = "ami-0123456789abcdef0"
SG = "sg-0123456789abcdef0"
LT = "lt-0123456789abcdef0"
ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


def spec_with(*groups: dict[str, Any]) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "mz", "region": "ap-northeast-1", "managedNodeGroups": list(groups)})


def template(group: dict[str, Any]) -> dict[str, Any]:
    spec = spec_with({"name": "a", **group})
    built = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")
    assert cfn_lint(built, spec.region) == []
    return built


def refusals(group: dict[str, Any]) -> dict[str, tuple[str, str]]:
    with pytest.raises(SpecValidationError) as refused:
        validate(ClusterSpec, {"name": "mz", "managedNodeGroups": [{"name": "a", **group}]}, "cluster request")
    return {f["field"]: (f["rule"], f["message"]) for f in refused.value.details["fields"]}


def test_attached_groups_go_into_a_launch_template_with_the_cluster_security_group() -> None:
    resources = template({"securityGroups": {"attachIDs": [SG]}})["Resources"]

    data = resources["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["SecurityGroupIds"] == [SG, {"Fn::ImportValue": "eksctl-mz-cluster::ClusterSecurityGroupId"}]
    assert resources["ManagedNodeGroup"]["Properties"]["AmiType"] == "AL2023_x86_64_STANDARD"


def test_the_cluster_stack_exports_its_cluster_security_group() -> None:
    spec = spec_with({"name": "a"})
    outputs = templates.build_cluster_template(spec, "cid", ZONES)["Outputs"]

    assert outputs["ClusterSecurityGroupId"] == {
        "Value": {"Fn::GetAtt": ["ControlPlane", "ClusterSecurityGroupId"]},
        "Export": {"Name": "eksctl-mz-cluster::ClusterSecurityGroupId"},
    }


def test_iam_gives_the_node_role_the_policies_a_self_managed_groups_role_gets() -> None:
    resources = template({"iam": {"attachPolicyARNs": [ARN], "withAddonPolicies": {"externalDNS": True}}})["Resources"]

    role = resources["NodeInstanceRole"]["Properties"]
    assert role["ManagedPolicyArns"][0] == ARN
    assert {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"} in role[
        "ManagedPolicyArns"
    ]
    assert [p["PolicyName"] for p in role["Policies"]] == ["PolicyExternalDNS"]


def test_without_iam_the_node_role_is_unchanged() -> None:
    role = template({})["Resources"]["NodeInstanceRole"]["Properties"]
    assert "Policies" not in role
    assert len(role["ManagedPolicyArns"]) == 3


def test_the_managed_attach_policy_arns_are_requested_policy_arns() -> None:
    spec = spec_with({"name": "a", "iam": {"attachPolicyARNs": [ARN]}})
    assert policy.requested_policy_arns(spec) == [("managedNodeGroups[0].iam.attachPolicyARNs[0]", ARN)]


def test_a_custom_al2_ami_runs_the_override_in_a_launch_template_with_amitype_custom() -> None:
    resources = template(
        {
            "amiFamily": "AmazonLinux2",
            "ami": AMI,
            "preBootstrapCommands": ["echo pre"],
            "overrideBootstrapCommand": "#!/bin/bash\n/etc/eks/bootstrap.sh mz",
        }
    )["Resources"]

    data = resources["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["ImageId"] == AMI
    script = data["UserData"]["Fn::Base64"]
    assert script.index("echo pre") < script.index("/etc/eks/bootstrap.sh mz")
    assert resources["ManagedNodeGroup"]["Properties"]["AmiType"] == "CUSTOM"


def test_a_custom_al2023_ami_gets_a_node_config_with_the_clusters_endpoint() -> None:
    resources = template({"amiFamily": "AmazonLinux2023", "ami": AMI})["Resources"]

    text, imports = resources["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Sub"]
    assert "kind: NodeConfig" in text and "${Endpoint}" in text
    assert imports["Endpoint"] == {"Fn::ImportValue": "eksctl-mz-cluster::Endpoint"}


def test_pre_bootstrap_commands_without_an_ami_are_a_mime_part_eks_merges() -> None:
    resources = template({"preBootstrapCommands": ["echo one", "#!/bin/sh\necho two"]})["Resources"]

    text = resources["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
    assert text.startswith('MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="//"')
    assert "#!/bin/bash\necho one" in text and "#!/bin/sh\necho two" in text and text.endswith("--//--\n")
    assert "ImageId" not in resources["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert resources["ManagedNodeGroup"]["Properties"]["AmiType"] == "AL2023_x86_64_STANDARD"
    base64.b64encode(text.encode())  # plain text: the template base64s it


def test_the_callers_launch_template_is_used_instead_of_one_made() -> None:
    resources = template({"launchTemplate": {"id": LT, "version": 3}})["Resources"]

    assert "LaunchTemplate" not in resources
    properties = resources["ManagedNodeGroup"]["Properties"]
    assert properties["LaunchTemplate"] == {"Id": LT, "Version": "3"}
    assert "InstanceTypes" not in properties and "DiskSize" not in properties


def test_a_launch_template_whose_image_was_read_makes_the_amitype_custom() -> None:
    spec = spec_with({"name": "a", "launchTemplate": {"id": LT}, "instanceTypes": ["m5.large", "m5a.large"]})
    group = spec.nodegroups[0].model_copy(update={"image_id": AMI})
    properties = templates.build_nodegroup_template(spec, group, "cid")["Resources"]["ManagedNodeGroup"]["Properties"]

    assert properties["AmiType"] == "CUSTOM"
    assert properties["InstanceTypes"] == ["m5.large", "m5a.large"]
    assert properties["LaunchTemplate"] == {"Id": LT}


def test_a_stored_launch_template_group_reads_back_the_same() -> None:
    spec = spec_with({"name": "a", "launchTemplate": {"id": LT, "version": "2"}})
    stored = spec.model_dump(mode="json", exclude_none=True)

    assert "instanceType" not in stored["managedNodeGroups"][0] and "volumeSize" not in stored["managedNodeGroups"][0]
    assert ClusterSpec.model_validate(stored) == spec


@pytest.mark.parametrize(
    ("group", "field", "rule", "says"),
    [
        ({"launchTemplate": {"id": LT}, "instanceType": "m5.large"}, "instanceType", "launch_template_conflict", ""),
        (
            {"launchTemplate": {"id": LT}, "ami": AMI, "amiFamily": "AmazonLinux2023"},
            "ami",
            "launch_template_conflict",
            "",
        ),
        ({"launchTemplate": {"id": LT}, "volumeSize": 20}, "volumeSize", "launch_template_conflict", "launch template"),
        (
            {"launchTemplate": {"id": LT}, "securityGroups": {"attachIDs": [SG]}},
            "securityGroups",
            "launch_template_conflict",
            "",
        ),
        ({"launchTemplate": {"id": LT}, "maxPodsPerNode": 20}, "maxPodsPerNode", "launch_template_conflict", ""),
        (
            {"launchTemplate": {"id": LT}, "preBootstrapCommands": ["x"]},
            "preBootstrapCommands",
            "launch_template_conflict",
            "",
        ),
        ({"launchTemplate": {"id": LT, "version": "0"}}, "launchTemplate.version", "string_pattern_mismatch", ""),
        ({"launchTemplate": {"version": "1"}}, "launchTemplate.id", "missing", ""),
        ({"amiFamily": "AmazonLinux2", "ami": AMI}, "overrideBootstrapCommand", "bootstrap_required", "AmazonLinux2"),
        ({"ami": AMI}, "amiFamily", "ami_family_required", "explicitly"),
        ({"ami": "ami-custom"}, "ami", "string_pattern_mismatch", ""),
        (
            {"amiFamily": "AmazonLinux2023", "ami": AMI, "releaseVersion": "1.33.0-20250704"},
            "releaseVersion",
            "custom_ami_conflict",
            "",
        ),
        (
            {"amiFamily": "AmazonLinux2023", "ami": AMI, "maxPodsPerNode": 20},
            "maxPodsPerNode",
            "custom_ami_conflict",
            "",
        ),
        (
            {"amiFamily": "AmazonLinux2", "overrideBootstrapCommand": "x"},
            "overrideBootstrapCommand",
            "bootstrap_needs_ami",
            "",
        ),
        ({"amiFamily": "Bottlerocket", "preBootstrapCommands": ["x"]}, "preBootstrapCommands", "bootstrap_family", ""),
        ({"securityGroups": {"attachIDs": ["sg-1"]}}, "securityGroups.attachIDs[0]", "string_pattern_mismatch", ""),
        (
            {"securityGroups": {"attachIDs": [SG]}, "ssh": {"allow": True, "publicKeyName": "ops"}},
            "ssh",
            "ssh_with_launch_template",
            "securityGroups",
        ),
        (
            {
                "iam": {
                    "attachPolicyARNs": [f"arn:aws:iam::aws:policy/P{n}" for n in range(10)],
                    "withAddonPolicies": {"ebs": True},
                }
            },
            "iam.attachPolicyARNs",
            "too_many_role_policies",
            "IAM allows 10",
        ),
    ],
)
def test_each_rule_is_a_422_naming_the_field(group: dict[str, Any], field: str, rule: str, says: str) -> None:
    found = refusals(group)
    name = f"managedNodeGroups[0].{field}"
    assert name in found, found
    assert found[name][0] == rule
    assert says in found[name][1]


def test_the_clusterconfig_takes_the_fields_and_gives_them_back() -> None:
    document = {
        "apiVersion": "eksctl.io/v1alpha5",
        "kind": "ClusterConfig",
        "metadata": {"name": "mz", "region": "us-west-2"},
        "managedNodeGroups": [
            {
                "name": "a",
                "amiFamily": "AmazonLinux2",
                "ami": AMI,
                "overrideBootstrapCommand": "#!/bin/bash\n/etc/eks/bootstrap.sh mz",
                "preBootstrapCommands": ["echo pre"],
                "securityGroups": {"attachIDs": [SG]},
                "iam": {"attachPolicyARNs": [ARN], "withAddonPolicies": {"certManager": True}},
            },
            {"name": "b", "launchTemplate": {"id": LT, "version": "2"}},
        ],
    }
    import yaml

    spec = clusterconfig.parse(yaml.safe_dump(document).encode())
    back = clusterconfig.from_spec(spec)["managedNodeGroups"]

    for key in ("ami", "overrideBootstrapCommand", "preBootstrapCommands", "securityGroups", "iam"):
        assert back[0][key] == document["managedNodeGroups"][0][key]
    assert back[1]["launchTemplate"] == {"id": LT, "version": "2"}
    assert "instanceType" not in back[1] and "imageId" not in back[0]


def test_with_shared_and_with_local_are_refused_with_a_reason() -> None:
    import yaml

    document = {
        "apiVersion": "eksctl.io/v1alpha5",
        "kind": "ClusterConfig",
        "metadata": {"name": "mz"},
        "managedNodeGroups": [
            {"name": "a", "securityGroups": {"attachIDs": [SG], "withShared": True, "withLocal": True}}
        ],
    }
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(yaml.safe_dump(document).encode())
    fields = {f["field"]: f["message"] for f in refused.value.details["fields"]}
    assert set(fields) == {
        "managedNodeGroups[0].securityGroups.withShared",
        "managedNodeGroups[0].securityGroups.withLocal",
    }
    assert all("attachIDs" in message for message in fields.values())


def test_a_managed_group_added_through_the_api_has_its_policy_arns_checked() -> None:
    from chalicelib.model.settings import Settings

    before = spec_with({"name": "a"})
    after = spec_with({"name": "a"}, {"name": "b", "iam": {"attachPolicyARNs": [ARN]}})
    with pytest.raises(SpecValidationError) as refused:
        policy.check_nodegroup_change(
            before, after, "b", Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0)
        )

    assert [f["field"] for f in refused.value.details["fields"]] == ["iam.attachPolicyARNs[0]"]
