"""EKS Auto Mode (`autoModeConfig`): eksctl's rules, its templates, and the ClusterConfig round trip."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from chalicelib.cfn import iam, templates
from chalicelib.model import clusterconfig
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import ClusterSpec, addon_problems, refuse_addons_that_cannot_run
from infra import policies
from tests.unit.test_templates import ZONES, all_templates, cfn_lint, resources_of_type

ACCOUNT = "123456789012"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eksctl-other-cluster-AutoModeNodeRole-ABC"


def spec_of(**fields: Any) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "auto", "region": "ap-northeast-1", **fields})


def rules(**fields: Any) -> dict[str, str]:
    """The refused field paths → rule."""
    with pytest.raises(ValidationError) as refused:
        spec_of(**fields)
    return {".".join(str(p) for p in e["loc"]): e["type"] for e in refused.value.errors()}


def cluster(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"]["ControlPlane"]["Properties"])


# -- the spec -------------------------------------------------------------------------------


def test_enabled_gets_eksctls_node_pools_and_no_default_node_group() -> None:
    spec = spec_of(autoModeConfig={"enabled": True})

    assert spec.auto_mode_config is not None
    assert spec.auto_mode_config.node_pools == ["general-purpose", "system"]
    assert spec.nodegroups == []


def test_without_auto_mode_the_default_node_group_stays() -> None:
    assert len(spec_of().nodegroups) == 1
    assert len(spec_of(autoModeConfig={"enabled": False}).nodegroups) == 1


def test_an_empty_node_pool_list_is_kept() -> None:
    spec = spec_of(autoModeConfig={"enabled": True, "nodePools": []})

    assert spec.auto_mode_config is not None
    assert spec.auto_mode_config.node_pools == []
    assert not spec.auto_mode_config.makes_nodes


@pytest.mark.parametrize(
    ("auto", "where", "rule"),
    [
        (
            {"enabled": True, "nodePools": [], "nodeRoleARN": NODE_ROLE},
            "autoModeConfig.nodeRoleARN",
            "node_role_without_pools",
        ),
        ({"enabled": True, "nodePools": ["system", "system"]}, "autoModeConfig.nodePools", "duplicate_node_pool"),
        ({"enabled": True, "nodePools": ["gpu"]}, "autoModeConfig.nodePools.0", "literal_error"),
        ({"enabled": False, "nodePools": ["system"]}, "autoModeConfig.enabled", "auto_mode_disabled"),
        ({"nodeRoleARN": NODE_ROLE}, "autoModeConfig.enabled", "auto_mode_disabled"),
        (
            {"enabled": True, "nodeRoleARN": f"arn:aws:iam::{ACCOUNT}:role/Admin"},
            "autoModeConfig.nodeRoleARN",
            "node_role_not_passable",
        ),
        ({"enabled": True, "nodeRoleARN": "not-an-arn"}, "autoModeConfig.nodeRoleARN", "string_pattern_mismatch"),
        (
            {"enabled": True, "permissionsBoundaryARN": NODE_ROLE},
            "autoModeConfig.permissionsBoundaryARN",
            "extra_forbidden",
        ),
    ],
)
def test_eksctls_auto_mode_rules(auto: dict[str, Any], where: str, rule: str) -> None:
    assert rules(autoModeConfig=auto).get(where) == rule


def test_node_groups_are_refused_with_a_new_auto_mode_cluster_but_may_be_added_later() -> None:
    from chalicelib.model.spec import refuse_nodegroups_with_auto_mode

    both = spec_of(
        autoModeConfig={"enabled": True},
        managedNodeGroups=[{"name": "m"}],
        nodeGroups=[{"name": "s", "imageId": "ami-0123456789abcdef0"}],
    )
    assert both.nodegroups, "a stored spec with groups added to a running cluster is valid"

    with pytest.raises(SpecValidationError) as err:
        refuse_nodegroups_with_auto_mode(both)
    assert [(f["field"], f["rule"]) for f in err.value.details["fields"]] == [
        ("managedNodeGroups", "auto_mode_nodegroups"),
        ("nodeGroups", "auto_mode_nodegroups"),
    ]
    refuse_nodegroups_with_auto_mode(spec_of(autoModeConfig={"enabled": True}))


def test_empty_node_group_lists_are_not_node_groups() -> None:
    assert spec_of(autoModeConfig={"enabled": True}, managedNodeGroups=[], nodeGroups=[]).nodegroups == []


@pytest.mark.parametrize("name", ["vpc-cni", "kube-proxy", "coredns"])
def test_the_networking_addons_auto_mode_runs_itself_are_refused(name: str) -> None:
    assert rules(autoModeConfig={"enabled": True}, addons=[{"name": name}])["addons.0.name"] == "auto_mode_addon"


def test_config_map_authentication_is_refused() -> None:
    found = rules(autoModeConfig={"enabled": True}, accessConfig={"authenticationMode": "CONFIG_MAP"})

    assert found["accessConfig.authenticationMode"] == "auto_mode_access"


def test_auto_mode_node_pools_run_the_addons_that_need_nodes() -> None:
    spec = spec_of(
        autoModeConfig={"enabled": True},
        iam={"withOIDC": True},
        addons=[{"name": "aws-ebs-csi-driver"}, {"name": "eks-pod-identity-agent"}],
    )

    assert addon_problems(spec) == []
    refuse_addons_that_cannot_run(spec)


def test_without_node_pools_an_addon_that_needs_nodes_is_refused() -> None:
    spec = spec_of(
        autoModeConfig={"enabled": True, "nodePools": []},
        iam={"withOIDC": True},
        addons=[{"name": "aws-ebs-csi-driver"}],
    )

    with pytest.raises(SpecValidationError) as refused:
        refuse_addons_that_cannot_run(spec)
    (field,) = refused.value.details["fields"]
    assert (field["field"], field["rule"]) == ("addons[0].name", "addon_needs_nodes")
    assert "nodePools" in field["message"]


# -- the ClusterConfig ------------------------------------------------------------------------


def config(**fields: Any) -> bytes:
    return yaml.safe_dump(
        {"apiVersion": "eksctl.io/v1alpha5", "kind": "ClusterConfig", "metadata": {"name": "auto"}, **fields}
    ).encode()


def test_the_clusterconfig_reads_auto_mode_and_gives_it_back() -> None:
    spec = clusterconfig.parse(config(autoModeConfig={"enabled": True, "nodePools": ["system"]}))
    back = clusterconfig.from_spec(spec)

    assert back["autoModeConfig"] == {"enabled": True, "nodePools": ["system"]}
    assert "managedNodeGroups" not in back
    assert clusterconfig.parse(yaml.safe_dump(back).encode()) == spec


def test_permissions_boundary_is_refused_with_a_reason() -> None:
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(config(autoModeConfig={"enabled": True, "permissionsBoundaryARN": NODE_ROLE}))
    (field,) = refused.value.details["fields"]
    assert field["field"] == "autoModeConfig.permissionsBoundaryARN"
    assert "permissions boundaries" in field["message"]


# -- the templates --------------------------------------------------------------------------


def test_the_cluster_stack_builds_auto_mode_as_eksctl_does() -> None:
    template = templates.build_cluster_template(spec_of(autoModeConfig={"enabled": True}), "cid", ZONES[:2])
    properties = cluster(template)

    assert properties["ComputeConfig"] == {
        "Enabled": True,
        "NodePools": ["general-purpose", "system"],
        "NodeRoleArn": {"Fn::GetAtt": ["AutoModeNodeRole", "Arn"]},
    }
    assert properties["StorageConfig"] == {"BlockStorage": {"Enabled": True}}
    assert properties["KubernetesNetworkConfig"] == {"ElasticLoadBalancing": {"Enabled": True}}
    # EKS makes the node role's access entry (and refuses Auto Mode with CONFIG_MAP, its default).
    assert properties["AccessConfig"]["AuthenticationMode"] == "API_AND_CONFIG_MAP"
    assert not [
        e for e in resources_of_type(template, "AWS::EKS::AccessEntry").values() if e["Properties"]["Type"] == "EC2"
    ]
    role = template["Resources"]["AutoModeNodeRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["ec2.amazonaws.com"]}
    assert role["ManagedPolicyArns"] == [iam.policy_arn(p) for p in iam.AUTO_MODE_NODE_POLICIES]
    service = template["Resources"]["ServiceRole"]["Properties"]
    assert service["ManagedPolicyArns"] == [
        iam.policy_arn(p)
        for p in ("AmazonEKSClusterPolicy", "AmazonEKSVPCResourceController", *iam.AUTO_MODE_CLUSTER_POLICIES)
    ]
    assert service["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == ["sts:AssumeRole", "sts:TagSession"]


def test_the_service_cidr_and_load_balancing_share_the_network_config() -> None:
    spec = spec_of(autoModeConfig={"enabled": True}, kubernetesNetworkConfig={"serviceIPv4CIDR": "172.20.0.0/16"})

    assert cluster(templates.build_cluster_template(spec, "cid", ZONES[:2]))["KubernetesNetworkConfig"] == {
        "ServiceIpv4Cidr": "172.20.0.0/16",
        "ElasticLoadBalancing": {"Enabled": True},
    }


def test_a_given_node_role_is_refused_even_one_named_like_ours() -> None:
    """Another cluster's eksctl-* node role would carry its policies onto these nodes."""
    with pytest.raises(ValidationError) as err:
        spec_of(autoModeConfig={"enabled": True, "nodeRoleARN": NODE_ROLE})

    assert "node_role_not_passable" in str(err.value)


def test_without_node_pools_there_is_no_node_role() -> None:
    template = templates.build_cluster_template(
        spec_of(autoModeConfig={"enabled": True, "nodePools": []}), "cid", ZONES[:2]
    )

    assert cluster(template)["ComputeConfig"] == {"Enabled": True}
    assert "AutoModeNodeRole" not in template["Resources"]
    assert cluster(template)["StorageConfig"] == {"BlockStorage": {"Enabled": True}}


def test_without_auto_mode_the_cluster_has_none_of_it() -> None:
    template = templates.build_cluster_template(spec_of(autoModeConfig={"enabled": False}), "cid", ZONES[:2])

    assert not {"ComputeConfig", "StorageConfig", "KubernetesNetworkConfig"} & set(cluster(template))
    assert "AutoModeNodeRole" not in template["Resources"]
    assert template["Resources"]["ServiceRole"]["Properties"]["ManagedPolicyArns"] == [
        iam.policy_arn("AmazonEKSClusterPolicy"),
        iam.policy_arn("AmazonEKSVPCResourceController"),
    ]


@pytest.mark.parametrize(
    "auto",
    [
        {"enabled": True},
        {"enabled": True, "nodePools": []},
        {"enabled": True, "nodePools": ["system"]},
    ],
)
def test_auto_mode_templates_pass_cfn_lint(auto: dict[str, Any]) -> None:
    spec = spec_of(autoModeConfig=auto, iam={"withOIDC": True}, addons=[{"name": "aws-ebs-csi-driver"}])

    for template in all_templates(spec, ZONES[:2]):
        assert cfn_lint(template, spec.region) == []


def test_the_stack_role_may_attach_the_auto_mode_policies() -> None:
    names = policies.template_policy_names()

    assert set(iam.AUTO_MODE_CLUSTER_POLICIES) | set(iam.AUTO_MODE_NODE_POLICIES) <= set(names)


# -- the local engine's EKS ------------------------------------------------------------------


@pytest.mark.parametrize(
    "props",
    [
        {"ComputeConfig": {"Enabled": True}},
        {"ComputeConfig": {"Enabled": True}, "StorageConfig": {"BlockStorage": {"Enabled": True}}},
        {"KubernetesNetworkConfig": {"ElasticLoadBalancing": {"Enabled": True}}},
        {
            "StorageConfig": {"BlockStorage": {"Enabled": True}},
            "KubernetesNetworkConfig": {"ElasticLoadBalancing": {"Enabled": True}},
        },
    ],
)
def test_the_local_eks_refuses_a_partial_auto_mode_as_eks_does(props: dict[str, Any]) -> None:
    from local.cfn_models import ResourceFailed
    from local.eks_models import AUTO_MODE_PARTIAL, _cluster_auto_mode

    with pytest.raises(ResourceFailed) as refused:
        _cluster_auto_mode(ACCOUNT, "eu-west-1", props)
    assert AUTO_MODE_PARTIAL in str(refused.value)
    assert "HandlerErrorCode: InvalidRequest" in str(refused.value)  # EKS's InvalidParameterException


def test_the_local_eks_takes_a_whole_auto_mode_without_node_pools() -> None:
    from local.eks_models import _cluster_auto_mode

    props = cluster(
        templates.build_cluster_template(spec_of(autoModeConfig={"enabled": True, "nodePools": []}), "c", ZONES[:2])
    )

    assert _cluster_auto_mode(ACCOUNT, "eu-west-1", props)["compute_config"] == {
        "enabled": True,
        "nodePools": [],
        "nodeRoleArn": None,
    }
    assert _cluster_auto_mode(ACCOUNT, "eu-west-1", {}) == {}
