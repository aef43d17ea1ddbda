"""Self-managed node groups (`nodeGroups[]`) in the spec: eksctl's fields, defaults and rules."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.model import clusterconfig, images
from chalicelib.model.spec import ClusterSpec, SelfManagedNodegroupSpec
from chalicelib.model.validation import describe_errors


def spec(*groups: dict[str, Any], **fields: Any) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "c", "nodeGroups": list(groups), **fields})


def refused(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as err:
        ClusterSpec.model_validate(body)
    return {f["field"]: f["rule"] for f in describe_errors(err.value)}


def test_eksctl_defaults_and_no_default_managed_group_beside_self_managed_ones() -> None:
    cluster = spec({"name": "ng"})
    group = cluster.node_groups[0] if cluster.node_groups else None

    assert cluster.managed_node_groups is None
    assert group is not None and not group.managed
    assert (group.instance_type, group.desired_capacity, group.min_size, group.max_size) == ("m5.large", 2, 2, 2)
    assert (group.ami, group.ami_family, group.volume_size) == ("auto", "AmazonLinux2023", 80)
    assert group.disable_imds_v1 and not group.disable_pod_imds
    assert group.security_groups.with_shared and group.security_groups.with_local
    assert [g.name for g in cluster.nodegroups] == ["ng"]


def test_both_kinds_count_together_and_share_one_name_space() -> None:
    both = spec({"name": "a"}, managedNodeGroups=[{"name": "m"}])
    assert [(g.name, g.managed) for g in both.nodegroups] == [("m", True), ("a", False)]
    assert both.group_loc(0) == ("managedNodeGroups", 0) and both.group_loc(1) == ("nodeGroups", 0)

    clash = refused({"name": "c", "managedNodeGroups": [{"name": "x"}], "nodeGroups": [{"name": "x"}]})
    assert clash == {"nodeGroups[0].name": "duplicate_name"}
    many = refused(
        {
            "name": "c",
            "managedNodeGroups": [{"name": f"m{i}"} for i in range(6)],
            "nodeGroups": [{"name": f"s{i}"} for i in range(5)],
        }
    )
    assert many == {"nodeGroups": "too_many_nodegroups"}


def test_instances_distribution_names_the_types_and_instance_type_becomes_its_first() -> None:
    group = spec(
        {"name": "mix", "instanceType": "mixed", "instancesDistribution": {"instanceTypes": ["c5.large", "c5a.large"]}}
    ).nodegroups[0]

    assert group.types == ["c5.large", "c5a.large"] and group.instance_type == "c5.large"
    assert group.type_fields() == [
        (("instancesDistribution", "instanceTypes", 0), "c5.large"),
        (("instancesDistribution", "instanceTypes", 1), "c5a.large"),
    ]
    stored = SelfManagedNodegroupSpec.model_validate(group.model_dump(mode="json", exclude_none=True))
    assert stored == group, "a stored group reads back the same"
    both = refused(
        {
            "name": "c",
            "nodeGroups": [
                {"name": "m", "instanceType": "m5.large", "instancesDistribution": {"instanceTypes": ["c5.large"]}}
            ],
        }
    )
    assert both == {"nodeGroups[0].instanceType": "one_of"}
    pools = refused(
        {
            "name": "c",
            "nodeGroups": [
                {
                    "name": "m",
                    "instancesDistribution": {
                        "instanceTypes": ["c5.large"],
                        "spotInstancePools": 3,
                        "spotAllocationStrategy": "capacity-optimized",
                    },
                }
            ],
        }
    )
    assert pools == {"nodeGroups[0].instancesDistribution.spotInstancePools": "spot_pools"}


@pytest.mark.parametrize(
    ("group", "field", "rule"),
    [
        (
            {"ami": "ami-0123456789abcdef0", "amiFamily": "AmazonLinux2"},
            "overrideBootstrapCommand",
            "bootstrap_required",
        ),
        (
            {"amiFamily": "Bottlerocket", "overrideBootstrapCommand": "x"},
            "overrideBootstrapCommand",
            "bootstrap_family",
        ),
        ({"amiFamily": "Bottlerocket", "preBootstrapCommands": ["x"]}, "preBootstrapCommands", "bootstrap_family"),
        ({"volumeEncrypted": False, "volumeKmsKeyID": "alias/nodes"}, "volumeKmsKeyID", "kms_needs_encryption"),
        ({"ssh": {"allow": True}}, "ssh.publicKeyName", "ssh_key_required"),
        (
            {"ssh": {"allow": True, "publicKeyName": "k"}, "securityGroups": {"withLocal": False}},
            "ssh.allow",
            "ssh_needs_local_group",
        ),
        ({"securityGroups": {"withLocal": False, "withShared": False}}, "securityGroups", "no_security_group"),
        ({"ami": "latest"}, "ami", "string_pattern_mismatch"),
        ({"cpuCredits": "burst"}, "cpuCredits", "literal_error"),
        (
            {"asgMetricsCollection": [{"granularity": "1Minute", "metrics": ["GroupNodes"]}]},
            "asgMetricsCollection[0].metrics",
            "asg_metric",
        ),
        ({"maxInstanceLifetime": 3600}, "maxInstanceLifetime", "greater_than_equal"),
    ],
)
def test_eksctl_rules_are_a_422_naming_the_field(group: dict[str, Any], field: str, rule: str) -> None:
    found = refused({"name": "c", "nodeGroups": [{"name": "ng", **group}]})

    assert found.get(f"nodeGroups[0].{field}") == rule, found


def test_taints_as_eksctl_writes_them_either_way() -> None:
    as_map = spec({"name": "a", "taints": {"dedicated": "gpu:NoSchedule", "spot": ":PreferNoSchedule"}}).nodegroups[0]
    as_list = spec(
        {
            "name": "a",
            "taints": [
                {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                {"key": "spot", "effect": "PreferNoSchedule"},
            ],
        }
    ).nodegroups[0]

    assert as_map.taints == as_list.taints


def test_node_subnets_name_subnets_of_the_existing_vpc() -> None:
    vpc = {
        "id": "vpc-0123456789abcdef0",
        "subnets": {
            "private": {
                "a": {"id": "subnet-0123456789abcdef0", "az": "us-west-2a"},
                "b": {"id": "subnet-0123456789abcdef1", "az": "us-west-2b"},
            }
        },
    }
    ok = spec({"name": "ng", "privateNetworking": True, "subnets": ["a", "subnet-0123456789abcdef1"]}, vpc=vpc)
    assert ok.nodegroups[0].subnets == ["a", "subnet-0123456789abcdef1"]

    unknown = refused(
        {"name": "c", "vpc": vpc, "nodeGroups": [{"name": "ng", "privateNetworking": True, "subnets": ["z"]}]}
    )
    assert unknown == {"nodeGroups[0].subnets[0]": "unknown_subnet"}
    built = refused({"name": "c", "nodeGroups": [{"name": "ng", "subnets": ["a"]}]})
    assert built == {"nodeGroups[0].subnets[0]": "unknown_subnet"}


def test_the_image_parameter_is_the_one_eks_publishes() -> None:
    assert (
        images.image_parameter("AL2023_ARM_64_STANDARD", "1.33")
        == "/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/arm64/standard/recommended/image_id"
    )
    assert images.image_parameter("AL2_x86_64_GPU", "1.31") == (
        "/aws/service/eks/optimized-ami/1.31/amazon-linux-2-gpu/recommended/image_id"
    )
    assert images.image_parameter("BOTTLEROCKET_ARM_64_NVIDIA", "1.32") == (
        "/aws/service/bottlerocket/aws-k8s-1.32-nvidia/arm64/latest/image_id"
    )
    assert images.image_architecture("BOTTLEROCKET_ARM_64") == "arm64"
    assert images.image_architecture("AL2_x86_64") == "x86_64"


def test_a_clusterconfig_with_node_groups_round_trips() -> None:
    raw = b"""
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {name: rt, region: eu-west-1}
nodeGroups:
  - name: mix
    instancesDistribution: {instanceTypes: [m5.large, m5a.large], onDemandBaseCapacity: 1}
    iam: {withAddonPolicies: {autoScaler: true, externalDNS: true}}
  - name: plain
    instanceType: t3.medium
    unknownField: 1
"""
    with pytest.raises(Exception) as err:
        clusterconfig.parse(raw)
    assert "nodeGroups[1].unknownField" in str(err.value.details)  # type: ignore[attr-defined]

    parsed = clusterconfig.parse(raw.replace(b"    unknownField: 1\n", b""))
    again = clusterconfig.parse(__import__("yaml").safe_dump(clusterconfig.from_spec(parsed)).encode())
    assert again == parsed
    assert "instanceType" not in clusterconfig.from_spec(parsed)["nodeGroups"][0]


@pytest.mark.parametrize(
    "iam",
    [
        None,
        {"withAddonPolicies": {"ebs": True, "cloudWatch": True, "autoScaler": True}},
        {"withAddonPolicies": {"imageBuilder": True}},
        {"attachPolicyARNs": ["arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"]},
        {
            "attachPolicyARNs": ["arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"],
            "withAddonPolicies": {"ebs": True},
        },
    ],
)
def test_the_model_counts_the_role_policies_and_tags_the_template_gets(iam: dict[str, Any] | None) -> None:
    """The limits are checked on the request with counts that must match what the templates build."""
    from chalicelib.cfn import node_policies, templates
    from tests.unit.test_templates import with_image

    group_body = {"name": "ng", "labels": {"a": "b"}, "propagateASGTags": True, "tags": {"t": "1"}}
    cluster = spec({**group_body, **({"iam": iam} if iam else {})}, tags={"env": "dev"})
    group = with_image(cluster.nodegroups[0])
    assert isinstance(group, SelfManagedNodegroupSpec)

    assert group.role_policy_count == len(node_policies.managed_policies(group))
    stack = templates.stack_tags(cluster, "id", "nodegroup", "ng")
    template = templates.build_nodegroup_template(cluster, group, "id")
    asg = next(r for r in template["Resources"].values() if r["Type"] == "AWS::AutoScaling::AutoScalingGroup")
    assert group.asg_tag_count(len(cluster.tags)) == len(stack) + len(asg["Properties"]["Tags"])


def test_the_limits_are_a_422_before_any_template() -> None:
    arns = [f"arn:aws:iam::123456789012:policy/p{i}" for i in range(10)]
    assert refused({"name": "c", "nodeGroups": [{"name": "ng", "iam": {"attachPolicyARNs": arns}}]}) == {
        "nodeGroups[0].iam.attachPolicyARNs": "too_many_role_policies"
    }
    tags = {f"k{i}": "v" for i in range(35)}
    labels = {f"l{i}": "v" for i in range(10)}
    body = {"name": "c", "tags": tags, "nodeGroups": [{"name": "ng", "labels": labels, "propagateASGTags": True}]}
    assert refused(body) == {"nodeGroups[0].tags": "too_many_asg_tags"}
    body["nodeGroups"][0]["propagateASGTags"] = False
    assert ClusterSpec.model_validate(body)
    bottle = {"name": "ng", "amiFamily": "Bottlerocket", "kubeletExtraConfig": {"maxPods": 10}}
    assert refused({"name": "c", "nodeGroups": [bottle]}) == {
        "nodeGroups[0].kubeletExtraConfig": "kubelet_config_family"
    }
