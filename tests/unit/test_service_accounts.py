"""IAM roles for service accounts (`iam.serviceAccounts`): the spec's rules, the policy's, and the stack's template."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.cfn import kinds, well_known_policies
from chalicelib.cfn.irsa import add_irsa_role
from chalicelib.cfn.serviceaccounts import OUTPUT_ROLE, ROLE, add_service_account
from chalicelib.cfn.template import Template
from chalicelib.model import clusterconfig, naming, policy
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.serviceaccount_spec import WELL_KNOWN_MANAGED
from chalicelib.model.settings import Settings
from chalicelib.model.spec import ClusterSpec, validate
from tests.unit.test_templates import cfn_lint

S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
ROLE_ARN = "arn:aws:iam::123456789012:role/existing"
READ_BUCKET = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/*"}],
}
NOBODY = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0)
S3_ALLOWED = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0, allowed_policy_arns=(S3_READ,))


class NoClusters:
    def count_owned(self, owner: str) -> int:
        return 0


def account(name: str = "reader", namespace: str | None = "apps", **fields: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"metadata": metadata, **(fields or {"attachPolicyARNs": [S3_READ]})}


def body(*accounts: dict[str, Any], cluster: str = "dev", **iam: Any) -> dict[str, Any]:
    return {"name": cluster, "region": "ap-northeast-1", "iam": {**iam, "serviceAccounts": list(accounts)}}


def spec_of(*accounts: dict[str, Any], **iam: Any) -> ClusterSpec:
    return validate(ClusterSpec, body(*accounts, **iam), "cluster request")


def refused(request: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecValidationError) as err:
        validate(ClusterSpec, request, "cluster request")
    return [(f["field"], f["rule"]) for f in err.value.details["fields"]]


# --- the spec ---


def test_a_service_account_takes_eksctls_fields_and_implies_withoidc() -> None:
    spec = spec_of(
        account(
            attachPolicyARNs=[S3_READ],
            attachPolicy=READ_BUCKET,
            wellKnownPolicies={"autoScaler": True},
            permissionsBoundary="arn:aws:iam::123456789012:policy/boundary",
            roleName="eksctl-reader-role",
            roleOnly=False,
            tags={"team": "data"},
        )
        | {"metadata": {"name": "reader", "namespace": "apps", "labels": {"app": "r"}, "annotations": {"a/b": "c"}}}
    )

    assert spec.iam is not None and spec.iam.with_oidc
    [sa] = spec.iam.service_accounts or []
    assert (sa.member, sa.needs_stack, sa.qualified_name) == ("apps-reader", True, "apps/reader")
    dumped = spec.model_dump(mode="json", exclude_none=True)["iam"]
    assert dumped["withOIDC"] is True
    assert dumped["serviceAccounts"][0]["attachPolicy"] == READ_BUCKET
    # The recorded spec reads back as it was (GET .../config).
    assert ClusterSpec.model_validate(spec.model_dump(mode="json")) == spec


def test_the_namespace_defaults_to_default_and_an_existing_role_needs_no_stack() -> None:
    spec = spec_of(account(namespace=None, attachRoleARN=ROLE_ARN))

    [sa] = spec.iam.service_accounts or [] if spec.iam else []
    assert (sa.metadata.namespace, sa.member, sa.needs_stack) == ("default", "default-reader", False)


def test_withoidc_false_with_service_accounts_is_refused() -> None:
    assert refused(body(account(), withOIDC=False)) == [("iam.withOIDC", "service_accounts_need_oidc")]
    assert spec_of(account(), withOIDC=True).iam.with_oidc  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({}, "service_account_role"),
        ({"wellKnownPolicies": {}}, "service_account_role"),
        ({"roleName": "eksctl-r"}, "service_account_role"),
        ({"attachRoleARN": ROLE_ARN, "attachPolicyARNs": [S3_READ]}, "attach_role_exclusive"),
        ({"attachRoleARN": ROLE_ARN, "roleName": "eksctl-r"}, "attach_role_exclusive"),
        ({"attachRoleARN": ROLE_ARN, "roleOnly": True}, "attach_role_exclusive"),
        ({"attachPolicyARNs": [S3_READ] * 10, "wellKnownPolicies": {"imageBuilder": True}}, "too_many_role_policies"),
    ],
)
def test_a_role_needs_a_policy_or_an_existing_role_and_not_both(fields: dict[str, Any], rule: str) -> None:
    request = body({"metadata": {"name": "reader"}, **fields})

    assert refused(request) == [("iam.serviceAccounts[0]", rule)]


def test_a_role_name_must_be_one_the_stack_role_may_create() -> None:
    # The stack role creates and passes only eksctl-* roles: another name would fail on AWS, not locally.
    request = body({"metadata": {"name": "reader"}, "attachPolicyARNs": [S3_READ], "roleName": "reader-role"})

    assert refused(request) == [("iam.serviceAccounts[0].roleName", "role_name_prefix")]


@pytest.mark.parametrize(
    ("metadata", "field", "rule"),
    [
        ({"name": "Reader"}, "name", "service_account_name"),
        ({"name": "reader", "namespace": "Apps"}, "namespace", "namespace_name"),
        ({"name": "reader", "namespace": "a.b"}, "namespace", "namespace_name"),
        ({"name": "reader", "namespace": "n" * 64}, "namespace", "string_too_long"),
        ({"name": "reader", "labels": {"kubernetes.io/x": "y"}}, "labels", "label_reserved"),
        ({"name": "reader", "annotations": {"bad key!": "y"}}, "annotations", "annotation_key"),
        (
            {"name": "reader", "annotations": {"eks.amazonaws.com/role-arn": ROLE_ARN}},
            "annotations",
            "annotation_reserved",
        ),
    ],
)
def test_names_are_kubernetes_names(metadata: dict[str, Any], field: str, rule: str) -> None:
    request = body({"metadata": metadata, "attachPolicyARNs": [S3_READ]})

    assert refused(request) == [(f"iam.serviceAccounts[0].metadata.{field}", rule)]


def test_an_account_is_listed_once_and_one_stack_holds_one_account() -> None:
    request = body(
        account("b-c", "a"),
        account("c", "a-b"),
        account("b-c", "a", attachRoleARN=ROLE_ARN),
    )

    assert refused(request) == [
        ("iam.serviceAccounts[1].metadata.name", "duplicate_stack_name"),
        ("iam.serviceAccounts[2].metadata.name", "duplicate_name"),
    ]


def test_the_stack_name_must_fit() -> None:
    cluster = "c" * 60
    longest = naming.MAX_STACK_NAME - len(naming.iamserviceaccount_stack_name(cluster, "")) - 1
    fits = account("r" * (longest - 4), "apps")
    assert len(kinds.IAMSERVICEACCOUNT.stack_name(cluster, "apps-" + "r" * (longest - 4))) == naming.MAX_STACK_NAME
    validate(ClusterSpec, body(fits, cluster=cluster), "cluster request")

    assert refused(body(account("r" * (longest - 3), "apps"), cluster=cluster)) == [
        ("iam.serviceAccounts[0].metadata.name", "stack_name_too_long")
    ]


def test_an_inline_policy_is_held_to_the_inline_policy_rule() -> None:
    escalating = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}],
    }

    assert refused(body(account(attachPolicy=escalating))) == [("iam.serviceAccounts[0].attachPolicy", "inline_policy")]


def test_a_clusterconfig_file_builds_service_accounts() -> None:
    raw = b"""
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {name: dev, region: us-west-2}
iam:
  serviceAccounts:
    - metadata: {name: reader, namespace: apps}
      attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess]
"""
    spec = clusterconfig.parse(raw)

    assert spec.iam is not None and spec.iam.with_oidc
    assert [a.qualified_name for a in spec.iam.service_accounts or []] == ["apps/reader"]


# --- the service policy: managed policies and well-known flags are held to the allow-list ---


def test_attach_policy_arns_are_held_to_the_allow_list() -> None:
    spec = spec_of(account(), account("other", attachPolicyARNs=["arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"]))

    with pytest.raises(SpecValidationError) as err:
        policy.check_request(spec, "arn:aws:iam::123456789012:role/dev", NOBODY, NoClusters())

    assert [(f["field"], f["rule"]) for f in err.value.details["fields"]] == [
        ("iam.serviceAccounts[0].attachPolicyARNs[0]", "policy_arn_not_allowed")
    ]
    policy.check_request(spec, "arn:aws:iam::123456789012:role/dev", S3_ALLOWED, NoClusters())


def test_well_known_policies_are_held_to_the_allow_list() -> None:
    spec = spec_of(account(wellKnownPolicies={"imageBuilder": True, "autoScaler": True}))

    assert policy.requested_policy_arns(spec) == [
        ("iam.serviceAccounts[0].wellKnownPolicies.imageBuilder", "ekspress:wellKnownPolicies/imageBuilder"),
        ("iam.serviceAccounts[0].wellKnownPolicies.autoScaler", "ekspress:wellKnownPolicies/autoScaler"),
    ]
    with pytest.raises(SpecValidationError):
        policy.check_request(spec, "arn:aws:iam::123456789012:role/dev", NOBODY, NoClusters())
    allowing = Settings(
        table_name="t",
        create_state_machine_arn="",
        poll_scale=1.0,
        allowed_policy_arns=("ekspress:wellKnownPolicies/*",),
    )
    policy.check_request(spec, "arn:aws:iam::123456789012:role/dev", allowing, NoClusters())


def test_the_model_counts_the_well_known_flags_that_are_managed_policies() -> None:
    assert set(WELL_KNOWN_MANAGED) == set(well_known_policies.MANAGED_POLICIES)


# --- the template ---


def template_of(spec: ClusterSpec, index: int = 0) -> dict[str, Any]:
    sa = (spec.iam.service_accounts or [])[index] if spec.iam else None
    assert sa is not None
    t = Template(
        kinds.IAMSERVICEACCOUNT.stack_name(spec.name, sa.member),
        {"ekspress.io/cluster": spec.name, "team": "data"},
        "IAM role for a service account",
    )
    add_service_account(t, spec, sa)
    return t.render()


def trust_of(role: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    document, values = role["Properties"]["AssumeRolePolicyDocument"]["Fn::Sub"]
    return json.loads(document), values


def test_the_role_trusts_the_clusters_oidc_provider_for_that_service_account_only() -> None:
    template = template_of(spec_of(account()))

    assert list(template["Resources"]) == [ROLE]
    role = template["Resources"][ROLE]
    trust, values = trust_of(role)
    [statement] = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": "${ProviderArn}"}
    assert statement["Condition"] == {
        "StringEquals": {"${Issuer}:sub": "system:serviceaccount:apps:reader", "${Issuer}:aud": "sts.amazonaws.com"}
    }
    assert values["ProviderArn"] == {"Fn::ImportValue": "eksctl-dev-cluster::OIDCProviderARN"}
    assert values["Issuer"] == {"Fn::Select": [1, {"Fn::Split": [":oidc-provider/", values["ProviderArn"]]}]}
    assert role["Properties"]["ManagedPolicyArns"] == [S3_READ]
    assert "Policies" not in role["Properties"] and "RoleName" not in role["Properties"]
    assert template["Outputs"] == {OUTPUT_ROLE: {"Value": {"Fn::GetAtt": [ROLE, "Arn"]}}}
    assert cfn_lint(template, "ap-northeast-1") == []


def test_every_field_of_the_role_is_built_and_passes_cfn_lint() -> None:
    spec = spec_of(
        account(
            attachPolicyARNs=[S3_READ],
            attachPolicy=READ_BUCKET,
            wellKnownPolicies={"ebsCSIController": True, "autoScaler": True},
            permissionsBoundary="arn:aws:iam::123456789012:policy/boundary",
            roleName="eksctl-reader-role",
            tags={"team": "data", "owner": "alice"},
        )
    )

    template = template_of(spec)

    properties = template["Resources"][ROLE]["Properties"]
    assert properties["ManagedPolicyArns"][0] == S3_READ
    assert properties["ManagedPolicyArns"][1] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    }
    [inline] = properties["Policies"]
    statements = inline["PolicyDocument"]["Statement"]
    assert statements[0] == READ_BUCKET["Statement"][0]
    assert any("autoscaling:SetDesiredCapacity" in s["Action"] for s in statements[1:])
    assert properties["PermissionsBoundary"] == "arn:aws:iam::123456789012:policy/boundary"
    assert properties["RoleName"] == "eksctl-reader-role"
    # The stack's tags propagate: the role lists only the account's own that differ.
    assert properties["Tags"] == [{"Key": "owner", "Value": "alice"}]
    assert cfn_lint(template, "ap-northeast-1") == []


def test_an_account_with_an_existing_role_has_no_template() -> None:
    spec = spec_of(account(attachRoleARN=ROLE_ARN))

    with pytest.raises(ValueError, match="existing role"):
        template_of(spec)


def test_the_irsa_helper_builds_a_bare_role_for_any_service_account() -> None:
    t = Template("eksctl-dev-addons", {}, "add-ons")

    arn = add_irsa_role(t, "dev", "kube-system", "ebs-csi-controller-sa", "EbsRole", managed_policy_arns=[S3_READ])
    t.add_output("EbsRoleARN", arn)

    assert arn == {"Fn::GetAtt": ["EbsRole", "Arn"]}
    trust, _ = trust_of(t.resources["EbsRole"])
    assert trust["Statement"][0]["Condition"]["StringEquals"]["${Issuer}:sub"] == (
        "system:serviceaccount:kube-system:ebs-csi-controller-sa"
    )
    assert set(t.resources["EbsRole"]["Properties"]) == {"AssumeRolePolicyDocument", "ManagedPolicyArns"}
    assert cfn_lint(t.render(), "ap-northeast-1") == []
