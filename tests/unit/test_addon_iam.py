"""Add-ons' IAM, configuration values, conflicts and addonsConfig: eksctl's rules, the templates, the allow-list."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from chalicelib.cfn import templates
from chalicelib.model import clusterconfig, policy
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.settings import Settings
from chalicelib.model.spec import ClusterSpec, addon_problems
from chalicelib.model.validation import describe_errors
from tests.unit.test_templates import cfn_lint

ZONES = ["us-west-2a", "us-west-2b"]
CNI_POLICY = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
EBS_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
AGENT = {"name": "eks-pod-identity-agent"}
NOBODY = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0)
PERMISSIONS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeVolumes", "Resource": "*"}],
}


def spec_of(addons: list[dict[str, Any]], **body: Any) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "c", "region": "us-west-2", "addons": addons, **body})


def oidc(addons: list[dict[str, Any]], **body: Any) -> ClusterSpec:
    return spec_of(addons, iam={"withOIDC": True}, **body)


def problems(addons: list[dict[str, Any]], **body: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as refused:
        spec_of(addons, **body)
    return {f["field"]: f["rule"] for f in describe_errors(refused.value)}


def resources(template: dict[str, Any] | None, kind: str) -> dict[str, dict[str, Any]]:
    assert template is not None
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == kind}


def built(spec: ClusterSpec) -> tuple[dict[str, Any], dict[str, Any] | None]:
    cluster = templates.build_cluster_template(spec, "cid", ZONES)
    addons = templates.build_addons_template(spec, "cid")
    for template in (cluster, addons):
        if template is not None:
            assert cfn_lint(template, spec.region) == []
    return cluster, addons


# -- the rules ------------------------------------------------------------------------------------


def test_an_add_on_that_makes_no_aws_call_takes_no_iam() -> None:
    found = problems(
        [{"name": "coredns", "attachPolicyARNs": [S3_READ]}, {"name": "kube-proxy", "attachPolicy": PERMISSIONS}]
    )

    assert found == {"addons[0].attachPolicyARNs": "addon_takes_no_iam", "addons[1].attachPolicy": "addon_takes_no_iam"}


def test_pod_identity_agent_takes_no_associations() -> None:
    agent = {**AGENT, "podIdentityAssociations": [{"serviceAccountName": "x", "permissionPolicyARNs": [S3_READ]}]}
    assert problems([agent]) == {"addons[0].podIdentityAssociations": "addon_takes_no_iam"}


def test_at_most_one_irsa_policy_source() -> None:
    addon = {"name": "vpc-cni", "attachPolicyARNs": [CNI_POLICY], "wellKnownPolicies": {"autoScaler": True}}

    assert problems([addon], iam={"withOIDC": True}) == {"addons[0].wellKnownPolicies": "one_of"}


def test_irsa_and_pod_identity_are_exclusive() -> None:
    addon = {
        "name": "aws-ebs-csi-driver",
        "attachPolicyARNs": [EBS_POLICY],
        "podIdentityAssociations": [
            {"serviceAccountName": "ebs-csi-controller-sa", "permissionPolicyARNs": [EBS_POLICY]}
        ],
    }

    found = problems([addon, AGENT], iam={"withOIDC": True})

    assert found == {"addons[0].podIdentityAssociations": "addon_iam_exclusive"}


def test_an_irsa_role_needs_the_oidc_provider() -> None:
    found = problems([{"name": "vpc-cni", "attachPolicyARNs": [CNI_POLICY]}])

    assert found == {"addons[0].attachPolicyARNs": "addon_needs_oidc"}


def test_the_ebs_driver_needs_oidc_unless_its_role_comes_through_pod_identity() -> None:
    groups = {"managedNodeGroups": [{"name": "ng"}]}
    found = addon_problems(spec_of([{"name": "aws-ebs-csi-driver"}], **groups))
    assert [(loc, rule) for loc, rule, _, _ in found] == [(("addons", 0, "name"), "addon_needs_oidc")]
    default = spec_of([{"name": "aws-ebs-csi-driver", "useDefaultPodIdentityAssociations": True}, AGENT], **groups)
    automatic = spec_of(
        [{"name": "aws-ebs-csi-driver"}, AGENT], addonsConfig={"autoApplyPodIdentityAssociations": True}, **groups
    )
    assert addon_problems(default) == addon_problems(automatic) == []


def test_an_add_ons_associations_name_its_own_service_account_once() -> None:
    association = {"serviceAccountName": "ebs-csi-node-sa", "permissionPolicyARNs": [EBS_POLICY]}
    found = problems([{"name": "aws-ebs-csi-driver", "podIdentityAssociations": [association, association]}, AGENT])

    assert found == {"addons[0].podIdentityAssociations[1].serviceAccountName": "duplicate_association"} | {
        "addons[0].podIdentityAssociations[0].serviceAccountName": "addon_service_account"
    }


def test_an_add_ons_association_is_in_kube_system() -> None:
    association = {"serviceAccountName": "aws-node", "namespace": "default", "permissionPolicyARNs": [CNI_POLICY]}

    found = problems([{"name": "vpc-cni", "podIdentityAssociations": [association]}, AGENT])

    assert found == {"addons[0].podIdentityAssociations[0].namespace": "addon_namespace"}


@pytest.mark.parametrize(
    ("addon", "body", "field"),
    [
        (
            {"podIdentityAssociations": [{"serviceAccountName": "aws-node", "permissionPolicyARNs": [CNI_POLICY]}]},
            {},
            "podIdentityAssociations",
        ),
        ({"useDefaultPodIdentityAssociations": True}, {}, "useDefaultPodIdentityAssociations"),
        ({}, {"addonsConfig": {"autoApplyPodIdentityAssociations": True}}, "name"),
    ],
)
def test_pod_identity_needs_the_agent_add_on(addon: dict[str, Any], body: dict[str, Any], field: str) -> None:
    found = problems([{"name": "vpc-cni", **addon}], **body)

    assert found == {f"addons[0].{field}": "pod_identity_agent_required"}
    spec_of([{"name": "vpc-cni", **addon}, AGENT], **body)


def test_auto_apply_leaves_add_ons_with_irsa_or_no_aws_calls_alone() -> None:
    spec = oidc(
        [{"name": "coredns"}, {"name": "vpc-cni", "attachPolicyARNs": [CNI_POLICY]}],
        addonsConfig={"autoApplyPodIdentityAssociations": True},
    )
    cluster, _ = built(spec)
    (cni,) = [p for p in resources(cluster, "AWS::EKS::Addon").values() if p["AddonName"] == "vpc-cni"]
    assert "PodIdentityAssociations" not in cni and "ServiceAccountRoleArn" in cni


@pytest.mark.parametrize("values", ["[1, 2]", "env: [unclosed", "plain words", "{", "42"])
def test_configuration_values_must_be_a_json_object_or_yaml_mapping(values: str) -> None:
    assert problems([{"name": "coredns", "configurationValues": values}]) == {
        "addons[0].configurationValues": "configuration_values"
    }


def test_configuration_values_reach_eks_as_json() -> None:
    yaml_values = "replicaCount: 3\nresources:\n  limits:\n    memory: 170Mi\n"
    spec = oidc(
        [
            {"name": "vpc-cni", "configurationValues": '{"env": {"A": "1"}}'},
            {"name": "coredns", "configurationValues": yaml_values},
        ],
        managedNodeGroups=[{"name": "ng"}],
    )

    cluster, addons = built(spec)

    (cni,) = resources(cluster, "AWS::EKS::Addon").values()
    assert json.loads(cni["ConfigurationValues"]) == {"env": {"A": "1"}}
    coredns = resources(addons, "AWS::EKS::Addon")["AddonCoredns"]
    assert json.loads(coredns["ConfigurationValues"]) == {
        "replicaCount": 3,
        "resources": {"limits": {"memory": "170Mi"}},
    }


def test_resolve_conflicts_takes_eksctls_values_in_either_case() -> None:
    spec = spec_of(
        [{"name": "vpc-cni", "resolveConflicts": "PRESERVE"}, {"name": "kube-proxy", "resolveConflicts": "none"}]
    )
    assert [a.resolve_conflicts for a in spec.addons] == ["preserve", "none"]
    cluster, _ = built(spec)
    assert {p["AddonName"]: p["ResolveConflicts"] for p in resources(cluster, "AWS::EKS::Addon").values()} == {
        "vpc-cni": "PRESERVE",
        "kube-proxy": "NONE",
    }
    assert problems([{"name": "vpc-cni", "resolveConflicts": "sometimes"}]) == {
        "addons[0].resolveConflicts": "literal_error"
    }


def test_unset_resolve_conflicts_overwrites_only_what_eks_bootstrapped() -> None:
    """EKS's self-managed vpc-cni, kube-proxy and coredns are taken over; the others get EKS's default (eksctl's)."""
    spec = oidc(
        [{"name": n} for n in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "aws-ebs-csi-driver")]
    )
    cluster, addons = built(spec)
    made = resources(cluster, "AWS::EKS::Addon") | resources(addons, "AWS::EKS::Addon")
    assert {p["AddonName"]: p.get("ResolveConflicts") for p in made.values()} == {
        "vpc-cni": "OVERWRITE",
        "kube-proxy": "OVERWRITE",
        "coredns": "OVERWRITE",
        "eks-pod-identity-agent": None,
        "aws-ebs-csi-driver": None,
    }
    bare = oidc([{"name": "vpc-cni"}], addonsConfig={"disableDefaultAddons": True})
    cluster, _ = built(bare)
    (cni,) = resources(cluster, "AWS::EKS::Addon").values()
    assert "ResolveConflicts" not in cni


def test_disable_default_addons_makes_the_cluster_without_eks_self_managed_ones() -> None:
    cluster, _ = built(spec_of([{"name": "vpc-cni"}], addonsConfig={"disableDefaultAddons": True}))
    assert resources(cluster, "AWS::EKS::Cluster")["ControlPlane"]["BootstrapSelfManagedAddons"] is False
    cluster, _ = built(spec_of([{"name": "vpc-cni"}]))
    assert "BootstrapSelfManagedAddons" not in resources(cluster, "AWS::EKS::Cluster")["ControlPlane"]


def test_without_vpc_cni_disable_default_addons_leaves_no_pod_network() -> None:
    found = problems([], addonsConfig={"disableDefaultAddons": True})
    assert found == {"addonsConfig.disableDefaultAddons": "bare_cluster"}
    spec_of(
        [], addonsConfig={"disableDefaultAddons": True}, managedNodeGroups=[]
    )  # nothing runs pods: eksctl's bare cluster


# -- the roles --------------------------------------------------------------------------------------


def test_vpc_cni_gets_its_recommended_irsa_role_in_the_cluster_stack_trusting_the_provider_there() -> None:
    cluster, _ = built(oidc([{"name": "vpc-cni"}]))

    role = resources(cluster, "AWS::IAM::Role")["VpcCniRole"]
    document, variables = role["AssumeRolePolicyDocument"]["Fn::Sub"]
    assert variables["ProviderArn"] == {"Ref": "OIDCProvider"}
    assert "system:serviceaccount:kube-system:aws-node" in document
    assert role["ManagedPolicyArns"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonEKS_CNI_Policy"}]
    (cni,) = resources(cluster, "AWS::EKS::Addon").values()
    assert cni["ServiceAccountRoleArn"] == {"Fn::GetAtt": ["VpcCniRole", "Arn"]}
    assert "VpcCniRoleARN" in cluster["Outputs"]


def test_without_oidc_vpc_cni_keeps_the_node_roles_cni_policy() -> None:
    cluster, _ = built(spec_of([{"name": "vpc-cni"}]))
    assert resources(cluster, "AWS::IAM::Role").keys() == {"ServiceRole"}
    (cni,) = resources(cluster, "AWS::EKS::Addon").values()
    assert "ServiceAccountRoleArn" not in cni


@pytest.mark.parametrize(
    ("iam", "managed", "statements"),
    [
        ({"attachPolicyARNs": [EBS_POLICY, S3_READ]}, [EBS_POLICY, S3_READ], 0),
        ({"attachPolicy": PERMISSIONS}, None, 1),
        (
            {"wellKnownPolicies": {"ebsCSIController": True}},
            [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"}],
            0,
        ),
        ({"wellKnownPolicies": {"efsCSIController": True}}, None, 4),
    ],
)
def test_the_ebs_drivers_irsa_role_holds_what_is_asked(iam: dict[str, Any], managed: Any, statements: int) -> None:
    _, addons = built(oidc([{"name": "aws-ebs-csi-driver", **iam}], managedNodeGroups=[{"name": "ng"}]))

    role = resources(addons, "AWS::IAM::Role")["AwsEbsCsiDriverRole"]
    assert role.get("ManagedPolicyArns") == managed
    assert (
        len(role["Policies"][0]["PolicyDocument"]["Statement"]) == statements if statements else "Policies" not in role
    )
    document, variables = role["AssumeRolePolicyDocument"]["Fn::Sub"]
    assert variables["ProviderArn"] == {"Fn::ImportValue": "eksctl-c-cluster::OIDCProviderARN"}
    assert "system:serviceaccount:kube-system:ebs-csi-controller-sa" in document


def test_pod_identity_roles_trust_eks_pod_identity_and_go_to_eks_with_the_add_on() -> None:
    association = {
        "serviceAccountName": "ebs-csi-controller-sa",
        "wellKnownPolicies": {"ebsCSIController": True},
        "permissionPolicy": PERMISSIONS,
        "permissionsBoundaryARN": "arn:aws:iam::123456789012:policy/boundary",
        "roleName": "eksctl-ebs-driver",
        "tags": {"app": "ebs"},
    }
    spec = spec_of(
        [
            {"name": "vpc-cni", "useDefaultPodIdentityAssociations": True},
            AGENT,
            {"name": "aws-ebs-csi-driver", "podIdentityAssociations": [association]},
        ]
    )

    cluster, addons = built(spec)

    cni = resources(cluster, "AWS::EKS::Addon")["AddonVpcCni"]
    (cni_association,) = cni["PodIdentityAssociations"]
    assert cni_association["ServiceAccount"] == "aws-node"
    cni_role = resources(cluster, "AWS::IAM::Role")[cni_association["RoleArn"]["Fn::GetAtt"][0]]
    assert cni_role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    ]
    assert cni_role["ManagedPolicyArns"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonEKS_CNI_Policy"}]
    assert "ServiceAccountRoleArn" not in cni
    ebs = resources(addons, "AWS::EKS::Addon")["AddonAwsEbsCsiDriver"]
    (ebs_association,) = ebs["PodIdentityAssociations"]
    role = resources(addons, "AWS::IAM::Role")[ebs_association["RoleArn"]["Fn::GetAtt"][0]]
    assert role["RoleName"] == "eksctl-ebs-driver"
    assert role["PermissionsBoundary"] == "arn:aws:iam::123456789012:policy/boundary"
    assert role["Tags"] == [{"Key": "app", "Value": "ebs"}]
    assert role["Policies"][0]["PolicyDocument"]["Statement"] == PERMISSIONS["Statement"]


def test_add_on_tags_are_the_add_ons_own() -> None:
    cluster, _ = built(spec_of([{"name": "kube-proxy", "tags": {"team": "net"}}], tags={"env": "dev"}))
    (proxy,) = resources(cluster, "AWS::EKS::Addon").values()
    assert proxy["Tags"] == [{"Key": "team", "Value": "net"}]


# -- the allow-list --------------------------------------------------------------------------------


def test_add_on_policies_are_held_to_the_allow_list_but_their_own_recommended_ones() -> None:
    spec = oidc(
        [
            {"name": "vpc-cni", "attachPolicyARNs": [CNI_POLICY, S3_READ]},
            {"name": "aws-ebs-csi-driver", "wellKnownPolicies": {"ebsCSIController": True}},
        ]
    )
    assert policy.requested_policy_arns(spec) == [("addons[0].attachPolicyARNs[1]", S3_READ)]
    other = oidc(
        [
            {"name": "aws-ebs-csi-driver", "wellKnownPolicies": {"externalDNS": True}},
            {"name": "vpc-cni", "attachPolicyARNs": [EBS_POLICY]},
        ]
    )
    assert policy.requested_policy_arns(other) == [
        ("addons[0].wellKnownPolicies.externalDNS", "ekspress:wellKnownPolicies/externalDNS"),
        ("addons[1].attachPolicyARNs[0]", EBS_POLICY),
    ]
    pods = spec_of(
        [
            AGENT,
            {
                "name": "aws-ebs-csi-driver",
                "podIdentityAssociations": [
                    {"serviceAccountName": "ebs-csi-controller-sa", "permissionPolicyARNs": [EBS_POLICY, S3_READ]}
                ],
            },
        ]
    )
    assert policy.requested_policy_arns(pods) == [
        ("addons[1].podIdentityAssociations[0].permissionPolicyARNs[1]", S3_READ)
    ]
    assert [p["field"] for p in policy.policy_arn_problems(policy.requested_policy_arns(pods), NOBODY)] == [
        "addons[1].podIdentityAssociations[0].permissionPolicyARNs[1]"
    ]


# -- ClusterConfig ---------------------------------------------------------------------------------


def test_every_add_on_field_comes_back_from_the_config() -> None:
    spec = oidc(
        [
            {
                "name": "vpc-cni",
                "attachPolicyARNs": [CNI_POLICY],
                "configurationValues": "a: 1",
                "resolveConflicts": "preserve",
                "tags": {"t": "1"},
            },
            {"name": "kube-proxy", "version": "latest"},
            AGENT,
            {"name": "coredns"},
            {
                "name": "aws-ebs-csi-driver",
                "podIdentityAssociations": [
                    {
                        "serviceAccountName": "ebs-csi-controller-sa",
                        "wellKnownPolicies": {"ebsCSIController": True},
                        "permissionPolicy": PERMISSIONS,
                        "tags": {"a": "b"},
                        "namespace": "kube-system",
                    }
                ],
            },
        ],
        addonsConfig={"autoApplyPodIdentityAssociations": True, "disableDefaultAddons": True},
    )

    again = clusterconfig.parse(yaml.safe_dump(clusterconfig.from_spec(spec)).encode())

    assert again == spec


def test_a_service_account_role_arn_is_refused_with_why() -> None:
    raw = yaml.safe_dump(
        {
            "apiVersion": "eksctl.io/v1alpha5",
            "kind": "ClusterConfig",
            "metadata": {"name": "c"},
            "addons": [
                {
                    "name": "vpc-cni",
                    "serviceAccountRoleARN": "arn:aws:iam::123456789012:role/r",
                    "permissionsBoundary": "x",
                }
            ],
        }
    ).encode()
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(raw)
    fields = {f["field"]: f for f in refused.value.details["fields"]}
    assert set(fields) == {"addons[0].serviceAccountRoleARN", "addons[0].permissionsBoundary"}
    assert "iam:PassRole" in fields["addons[0].serviceAccountRoleARN"]["message"]


def test_eksctl_example_25_builds_once_its_kubernetes_version_is_one_ekspress_offers() -> None:
    raw = (clusterconfig_examples() / "example-25-addons.yaml").read_bytes()
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(raw)
    assert [(f["field"], f["rule"]) for f in refused.value.details["fields"]] == [
        ("metadata.version", "version_unsupported")
    ]

    document = yaml.safe_load(raw)
    document["metadata"]["version"] = "1.33"
    spec = clusterconfig.parse(yaml.safe_dump(document).encode())
    cluster, addons = built(spec)
    assert policy.policy_arn_problems(policy.requested_policy_arns(spec), NOBODY) == []
    assert resources(cluster, "AWS::EKS::Addon")["AddonVpcCni"]["ServiceAccountRoleArn"] == {
        "Fn::GetAtt": ["VpcCniRole", "Arn"]
    }
    assert resources(addons, "AWS::IAM::Role")["AwsEbsCsiDriverRole"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"}
    ]


def clusterconfig_examples() -> Any:
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "data" / "clusterconfigs"
