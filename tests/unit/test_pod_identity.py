"""iam.podIdentityAssociations: eksctl's rules, the stack of each association, the ClusterConfig round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from chalicelib.cfn import kinds, templates
from chalicelib.cfn.podidentity import add_pod_identity
from chalicelib.cfn.template import Template
from chalicelib.model import clusterconfig, naming, policy
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.model.validation import describe_errors
from tests.unit.test_templates import cfn_lint

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs"
AGENT = {"name": "eks-pod-identity-agent"}
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
PERMISSIONS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]}


def association(**fields: Any) -> dict[str, Any]:
    return {"namespace": "dev", "serviceAccountName": "app", "permissionPolicyARNs": [S3_READ], **fields}


def spec_of(*associations: dict[str, Any], **body: Any) -> ClusterSpec:
    return ClusterSpec.model_validate(
        {
            "name": "c",
            "region": "us-west-2",
            "addons": [AGENT],
            "iam": {"podIdentityAssociations": list(associations)},
            **body,
        }
    )


def problems(*associations: dict[str, Any], **body: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as refused:
        spec_of(*associations, **body)
    return {f["field"]: f["rule"] for f in describe_errors(refused.value)}


def stack(spec: ClusterSpec, index: int = 0) -> dict[str, Any]:
    association = spec.iam.pod_identity_associations[index]  # type: ignore[union-attr,index]
    t = Template(
        naming.podidentityrole_stack_name(spec.name, association.member), {"ekspress.io/cluster": spec.name}, "test"
    )
    add_pod_identity(t, spec, association)
    template = t.render()
    assert cfn_lint(template, spec.region) == []
    return template


# -- the rules ------------------------------------------------------------------------------------


def test_the_agent_add_on_is_required() -> None:
    assert problems(association(), addons=[]) == {"iam.podIdentityAssociations": "pod_identity_agent_required"}


def test_auto_mode_runs_the_agent_itself() -> None:
    spec_of(association(), addons=[], autoModeConfig={"enabled": True})


def test_the_role_needs_something_to_do() -> None:
    bare = {"namespace": "dev", "serviceAccountName": "app"}
    assert problems(bare) == {"iam.podIdentityAssociations[0]": "pod_identity_permissions"}
    assert problems({**bare, "wellKnownPolicies": {}}) == {"iam.podIdentityAssociations[0]": "pod_identity_permissions"}
    spec_of({**bare, "permissionPolicy": PERMISSIONS})
    spec_of({**bare, "wellKnownPolicies": {"certManager": True}})


def test_a_named_role_is_one_the_service_may_make() -> None:
    assert problems(association(roleName="app-role")) == {"iam.podIdentityAssociations[0].roleName": "role_name_prefix"}
    spec_of(association(roleName="eksctl-app-role"))


def test_the_inline_policy_may_not_escalate() -> None:
    escalating = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}],
    }
    assert problems(association(permissionPolicy=escalating)) == {
        "iam.podIdentityAssociations[0].permissionPolicy": "inline_policy"
    }


def test_one_association_per_service_account_and_per_stack_name() -> None:
    found = problems(
        association(),
        association(),
        association(namespace="dev-app", serviceAccountName="x"),
        association(namespace="dev", serviceAccountName="app-x"),
    )
    assert found == {
        "iam.podIdentityAssociations[1].serviceAccountName": "duplicate_association",
        "iam.podIdentityAssociations[3].serviceAccountName": "duplicate_stack_name",
    }


def test_the_stack_name_must_fit() -> None:
    found = problems(association(namespace="n" * 60, serviceAccountName="s" * 60))
    assert found == {"iam.podIdentityAssociations[0].serviceAccountName": "stack_name_too_long"}


@pytest.mark.parametrize(("field", "value"), [("namespace", "Dev"), ("serviceAccountName", "App_1")])
def test_kubernetes_names(field: str, value: str) -> None:
    assert f"iam.podIdentityAssociations[0].{field}" in problems(association(**{field: value}))


def test_disable_default_addons_without_vpc_cni_refuses_associations() -> None:
    found = problems(association(), addonsConfig={"disableDefaultAddons": True}, managedNodeGroups=[])
    assert found == {"addonsConfig.disableDefaultAddons": "bare_cluster"}


@pytest.mark.parametrize("field", ["roleARN", "targetRoleARN"])
def test_roles_the_service_did_not_make_are_refused_with_why(field: str) -> None:
    document = {
        "apiVersion": "eksctl.io/v1alpha5",
        "kind": "ClusterConfig",
        "metadata": {"name": "c"},
        "addons": [AGENT],
        "iam": {"podIdentityAssociations": [association(**{field: "arn:aws:iam::111122223333:role/r"})]},
    }
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(yaml.safe_dump(document).encode())
    (problem,) = refused.value.details["fields"]
    assert (problem["field"], problem["rule"]) == (f"iam.podIdentityAssociations[0].{field}", "unsupported_field")
    assert "cannot" in problem["message"]


def test_association_policies_are_held_to_the_allow_list() -> None:
    spec = spec_of(association(wellKnownPolicies={"autoScaler": True}))
    assert policy.requested_policy_arns(spec) == [
        ("iam.podIdentityAssociations[0].permissionPolicyARNs[0]", S3_READ),
        ("iam.podIdentityAssociations[0].wellKnownPolicies.autoScaler", "ekspress:wellKnownPolicies/autoScaler"),
    ]


# -- the stack ------------------------------------------------------------------------------------


def test_each_association_is_a_workload_stack_of_its_own() -> None:
    spec = spec_of(association(), association(namespace="ops", serviceAccountName="bot"))
    assert [i for i in templates.workload_stacks(spec) if i["kind"] == kinds.PODIDENTITY.name] == [
        {"kind": "podidentityrole", "member": "dev-app"},
        {"kind": "podidentityrole", "member": "ops-bot"},
    ]
    assert spec.iam.pod_identity_associations[1].member == "ops-bot"  # type: ignore[union-attr,index]
    assert naming.podidentityrole_stack_name("c", "ops-bot") == "eksctl-c-podidentityrole-ops-bot"


def test_the_stack_holds_the_role_trusting_eks_pod_identity_and_the_association() -> None:
    spec = spec_of(
        association(
            roleName="eksctl-app",
            permissionPolicy=PERMISSIONS,
            wellKnownPolicies={"imageBuilder": True, "externalDNS": True},
            permissionsBoundaryARN="arn:aws:iam::123456789012:policy/boundary",
            disableSessionTags=True,
            createServiceAccount=True,
            tags={"team": "data"},
        )
    )

    template = stack(spec)

    role = template["Resources"]["Role1"]["Properties"]
    assert role["AssumeRolePolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }
    assert role["ManagedPolicyArns"] == [
        S3_READ,
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser"},
    ]
    (inline,) = role["Policies"]
    actions = [
        a
        for s in inline["PolicyDocument"]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert "s3:GetObject" in actions and "route53:ChangeResourceRecordSets" in actions
    assert (role["RoleName"], role["PermissionsBoundary"]) == (
        "eksctl-app",
        "arn:aws:iam::123456789012:policy/boundary",
    )
    assert role["Tags"] == [{"Key": "team", "Value": "data"}]
    made = template["Resources"]["PodIdentityAssociation"]
    assert made["Type"] == "AWS::EKS::PodIdentityAssociation"
    assert made["Properties"] == {
        "ClusterName": {"Fn::ImportValue": "eksctl-c-cluster::ClusterName"},
        "Namespace": "dev",
        "ServiceAccount": "app",
        "RoleArn": {"Fn::GetAtt": ["Role1", "Arn"]},
        "DisableSessionTags": True,
        "Tags": [{"Key": "team", "Value": "data"}],
    }
    assert set(template["Outputs"]) == {"Role1", "PodIdentityAssociationARN"}


def test_a_plain_association_leaves_eks_defaults() -> None:
    template = stack(spec_of(association()))
    assert "DisableSessionTags" not in template["Resources"]["PodIdentityAssociation"]["Properties"]
    assert {"RoleName", "PermissionsBoundary", "Policies", "Tags"}.isdisjoint(
        template["Resources"]["Role1"]["Properties"]
    )


# -- ClusterConfig ---------------------------------------------------------------------------------


def test_every_field_comes_back_from_the_config() -> None:
    spec = clusterconfig.parse((EXAMPLES / "pod-identity.yaml").read_bytes())
    assert len(spec.iam.pod_identity_associations or []) == 3  # type: ignore[union-attr]

    exported = clusterconfig.from_spec(spec)

    assert exported["iam"]["podIdentityAssociations"][0]["createServiceAccount"] is True
    assert clusterconfig.parse(yaml.safe_dump(exported).encode()) == spec


def test_eksctl_example_39_is_refused_only_for_roles_the_service_did_not_make() -> None:
    raw = (EXAMPLES / "example-39-pod-identity-association.yaml").read_bytes()
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(raw)
    assert [f["field"] for f in refused.value.details["fields"]] == [
        "iam.podIdentityAssociations[0].roleARN",
        "iam.podIdentityAssociations[3].roleARN",
        "iam.podIdentityAssociations[3].targetRoleARN",
        "iam.podIdentityAssociations[4].targetRoleARN",
    ]

    # Without the associations of roles it did not make, only the role name is the service's to refuse.
    document = yaml.safe_load(raw)
    document["iam"]["podIdentityAssociations"] = [document["iam"]["podIdentityAssociations"][i] for i in (1, 2)]
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(yaml.safe_dump(document).encode())
    assert [(f["field"], f["rule"]) for f in refused.value.details["fields"]] == [
        ("iam.podIdentityAssociations[0].roleName", "role_name_prefix")
    ]
    document["iam"]["podIdentityAssociations"][0]["roleName"] = "eksctl-pod-identity-role-app-cache"
    spec = clusterconfig.parse(yaml.safe_dump(document).encode())
    for index in range(2):
        stack(spec, index)
