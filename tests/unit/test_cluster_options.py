"""Cluster-wide options: the spec's rules, what the cluster stack builds (cfn-lint clean), the round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.cfn import templates
from chalicelib.model import clusterconfig
from chalicelib.model.cluster_options_spec import LOG_RETENTION_DAYS
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.refusals import REASONS
from chalicelib.model.spec import ClusterSpec, validate
from tests.unit.test_templates import cfn_lint, resources_of_type

REGION = "eu-west-1"
ZONES = ["eu-west-1a", "eu-west-1b"]
ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/teams/eks-boundary"
CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "cluster-options.yaml"

ALL_OPTIONS: dict[str, Any] = {
    "name": "options",
    "region": REGION,
    "cloudWatch": {"clusterLogging": {"enableTypes": ["api", "audit"], "logRetentionInDays": 90}},
    "iam": {"withOIDC": True, "serviceRolePermissionsBoundary": BOUNDARY},
    "secretsEncryption": {"keyARN": KEY},
    "zonalShiftConfig": {"enabled": True},
    "upgradePolicy": {"supportType": "STANDARD"},
    "controlPlaneScalingConfig": {"tier": "tier-xl"},
    "accessConfig": {
        "accessEntries": [
            {"principalARN": f"arn:aws:iam::{ACCOUNT}:role/ops", "kubernetesGroups": ["ops"]},
            {"principalARN": f"arn:aws:iam::{ACCOUNT}:role/nodes", "type": "EC2_LINUX"},
        ]
    },
    "identityProviders": [
        {
            "type": "oidc",
            "name": "corp",
            "issuerURL": "https://idp.example.com/realms/eks",
            "clientID": "eks",
            "usernameClaim": "email",
            "usernamePrefix": "oidc:",
            "groupsClaim": "groups",
            "groupsPrefix": "oidc:",
            "requiredClaims": {"hd": "example.com"},
            "tags": {"idp": "corp"},
        }
    ],
}
IDP = ALL_OPTIONS["identityProviders"][0]


def problems(body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecValidationError) as refused:
        validate(ClusterSpec, {"name": "x", "region": REGION, **body}, "cluster request")
    return [(f["field"], f["rule"]) for f in refused.value.details["fields"]]


# --- the spec's rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("days", LOG_RETENTION_DAYS)
def test_every_retention_cloudwatch_logs_takes_is_accepted(days: int) -> None:
    spec = ClusterSpec.model_validate(
        {"name": "x", "cloudWatch": {"clusterLogging": {"enableTypes": ["api"], "logRetentionInDays": days}}}
    )
    assert spec.cloud_watch and spec.cloud_watch.cluster_logging.log_retention_in_days == days


@pytest.mark.parametrize("days", [0, 2, 31, 1095, 3654, -1])
def test_other_retentions_are_refused_naming_the_field(days: int) -> None:
    logs = {"enableTypes": ["api"], "logRetentionInDays": days}
    assert problems({"cloudWatch": {"clusterLogging": logs}}) == [
        ("cloudWatch.clusterLogging.logRetentionInDays", "log_retention_days")
    ]


def test_a_retention_without_log_types_is_refused_as_eksctl_refuses_it() -> None:
    for logs in ({"logRetentionInDays": 30}, {"enableTypes": [], "logRetentionInDays": 30}):
        assert problems({"cloudWatch": {"clusterLogging": logs}}) == [
            ("cloudWatch.clusterLogging.logRetentionInDays", "retention_without_logging")
        ]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:kms:eu-west-1:123456789012",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "alias/secrets",
        "arn:aws:kms:eu-west-1:12345:key/abc",
        "arn:aws:s3:::bucket",
    ],
)
def test_a_key_is_named_by_its_arn_or_an_alias_arn(arn: str) -> None:
    assert problems({"secretsEncryption": {"keyARN": arn}}) == [("secretsEncryption.keyARN", "kms_key_arn")]


def test_a_key_arn_and_an_alias_arn_are_accepted() -> None:
    for arn in (KEY, f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/team/secrets"):
        spec = ClusterSpec.model_validate({"name": "x", "secretsEncryption": {"keyARN": arn}})
        assert spec.secrets_encryption and spec.secrets_encryption.key_region == REGION


def test_secrets_encryption_needs_its_key() -> None:
    assert problems({"secretsEncryption": {}}) == [("secretsEncryption.keyARN", "missing")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"upgradePolicy": {"supportType": "LTS"}}, "upgradePolicy.supportType"),
        ({"controlPlaneScalingConfig": {"tier": "tier-3xl"}}, "controlPlaneScalingConfig.tier"),
        ({"zonalShiftConfig": {"enabled": "sometimes"}}, "zonalShiftConfig.enabled"),
        ({"zonalShiftConfig": {"enable": True}}, "zonalShiftConfig.enable"),
    ],
)
def test_option_values_are_eks_own(body: dict[str, Any], field: str) -> None:
    assert [f for f, _ in problems(body)] == [field]


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:iam::{ACCOUNT}:role/boundary",
        "arn:aws:iam::aws:policy",
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/x",
        "boundary",
        f"arn:aws:iam::{ACCOUNT}:policy/",
    ],
)
def test_a_permissions_boundary_must_be_a_policy_arn(arn: str) -> None:
    (problem,) = problems({"iam": {"serviceRolePermissionsBoundary": arn}})
    assert problem[0] == "iam.serviceRolePermissionsBoundary"


def test_any_managed_policy_may_be_a_boundary() -> None:
    for arn in (BOUNDARY, "arn:aws:iam::aws:policy/PowerUserAccess", f"arn:aws-cn:iam::{ACCOUNT}:policy/b"):
        spec = ClusterSpec.model_validate({"name": "x", "iam": {"serviceRolePermissionsBoundary": arn}})
        assert spec.iam and spec.iam.service_role_permissions_boundary == arn


@pytest.mark.parametrize("kind", ["EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX"])
def test_node_and_fargate_entries_take_no_groups_username_or_policies(kind: str) -> None:
    policy = {
        "policyARN": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
        "accessScope": {"type": "cluster"},
    }
    entry = {
        "principalARN": f"arn:aws:iam::{ACCOUNT}:role/nodes",
        "type": kind,
        "kubernetesGroups": ["ops"],
        "kubernetesUsername": "node",
        "accessPolicies": [policy],
    }
    where = "accessConfig.accessEntries[0]"
    assert problems({"accessConfig": {"accessEntries": [entry]}}) == [
        (f"{where}.kubernetesGroups", "access_entry_type"),
        (f"{where}.kubernetesUsername", "access_entry_type"),
        (f"{where}.accessPolicies", "access_entry_type"),
    ]


def test_an_auto_mode_node_entry_takes_its_access_policy_but_no_groups() -> None:
    entry = {
        "principalARN": f"arn:aws:iam::{ACCOUNT}:role/auto-nodes",
        "type": "EC2",
        "accessPolicies": [
            {
                "policyARN": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAutoNodePolicy",
                "accessScope": {"type": "cluster"},
            }
        ],
    }
    ClusterSpec.model_validate({"name": "x", "accessConfig": {"accessEntries": [entry]}})
    assert problems({"accessConfig": {"accessEntries": [{**entry, "kubernetesGroups": ["g"]}]}}) == [
        ("accessConfig.accessEntries[0].kubernetesGroups", "access_entry_type")
    ]


def test_an_unknown_entry_type_is_refused_and_standard_is_the_default() -> None:
    entry = {"principalARN": f"arn:aws:iam::{ACCOUNT}:role/x"}
    assert problems({"accessConfig": {"accessEntries": [{**entry, "type": "ROBOT"}]}}) == [
        ("accessConfig.accessEntries[0].type", "literal_error")
    ]
    spec = ClusterSpec.model_validate({"name": "x", "accessConfig": {"accessEntries": [entry]}})
    assert spec.access_config and spec.access_config.access_entries[0].type == "STANDARD"


def test_an_identity_provider_needs_eksctls_fields_and_an_https_issuer() -> None:
    where = "identityProviders[0]"
    assert problems({"identityProviders": [{"type": "oidc", "name": "corp"}]}) == [
        (f"{where}.issuerURL", "missing"),
        (f"{where}.clientID", "missing"),
    ]
    assert problems({"identityProviders": [{**IDP, "issuerURL": "http://idp.example.com"}]}) == [
        (f"{where}.issuerURL", "string_pattern_mismatch")
    ]
    assert problems({"identityProviders": [{**IDP, "type": "saml"}]}) == [(f"{where}.type", "literal_error")]


def test_eks_associates_one_oidc_provider_per_cluster() -> None:
    assert problems({"identityProviders": [IDP, {**IDP, "name": "other"}]}) == [("identityProviders", "too_long")]


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"groupsPrefix": None}, "groupsPrefix", "oidc_groups_prefix"),
        ({"groupsPrefix": "system:"}, "groupsPrefix", "oidc_reserved_prefix"),
        ({"groupsPrefix": "-"}, "groupsPrefix", "oidc_reserved_prefix"),
        ({"usernamePrefix": "-"}, "usernamePrefix", "oidc_reserved_prefix"),
        ({"usernamePrefix": "system:oidc:"}, "usernamePrefix", "oidc_reserved_prefix"),
        ({"usernameClaim": "email", "usernamePrefix": None}, "usernamePrefix", "oidc_username_prefix"),
    ],
)
def test_an_identity_provider_cannot_hand_out_kubernetes_own_groups_or_users(
    fields: dict[str, Any], field: str, rule: str
) -> None:
    provider = {k: v for k, v in {**IDP, **fields}.items() if v is not None}
    assert problems({"identityProviders": [provider]}) == [(f"identityProviders[0].{field}", rule)]


def test_an_identity_provider_without_groups_needs_no_prefix() -> None:
    provider = {k: v for k, v in IDP.items() if k not in ("groupsClaim", "groupsPrefix")}
    spec = ClusterSpec.model_validate({"name": "x", "identityProviders": [provider]})
    assert spec.identity_providers and spec.identity_providers[0].groups_prefix is None


# --- the cluster stack ----------------------------------------------------------------------------------


def cluster_template(body: dict[str, Any]) -> dict[str, Any]:
    return templates.build_cluster_template(ClusterSpec.model_validate(body), "cid", ZONES)


def test_every_option_reaches_the_cluster_stack_and_passes_cfn_lint() -> None:
    template = cluster_template(ALL_OPTIONS)
    resources = template["Resources"]
    plane = resources["ControlPlane"]
    props = plane["Properties"]

    assert props["EncryptionConfig"] == [{"Resources": ["secrets"], "Provider": {"KeyArn": KEY}}]
    assert props["ZonalShiftConfig"] == {"Enabled": True}
    assert props["UpgradePolicy"] == {"SupportType": "STANDARD"}
    assert props["ControlPlaneScalingConfig"] == {"Tier": "tier-xl"}
    assert props["Logging"] == {"ClusterLogging": {"EnabledTypes": [{"Type": "api"}, {"Type": "audit"}]}}
    assert resources["ControlPlaneLogGroup"] == {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": "/aws/eks/options/cluster", "RetentionInDays": 90},
    }
    assert plane["DependsOn"] == ["ControlPlaneLogGroup"]  # made before EKS would make it
    assert resources["ServiceRole"]["Properties"]["PermissionsBoundary"] == BOUNDARY
    entries = resources_of_type(template, "AWS::EKS::AccessEntry")
    assert [(e["Properties"]["PrincipalArn"].rsplit("/", 1)[1], e["Properties"]["Type"]) for e in entries.values()] == [
        ("ops", "STANDARD"),
        ("nodes", "EC2_LINUX"),
    ]
    assert resources["IdentityProviderConfig1"] == {
        "Type": "AWS::EKS::IdentityProviderConfig",
        "Properties": {
            "ClusterName": {"Ref": "ControlPlane"},
            "Type": "oidc",
            "IdentityProviderConfigName": "corp",
            "Oidc": {
                "ClientId": "eks",
                "IssuerUrl": "https://idp.example.com/realms/eks",
                "UsernameClaim": "email",
                "UsernamePrefix": "oidc:",
                "GroupsClaim": "groups",
                "GroupsPrefix": "oidc:",
                "RequiredClaims": [{"Key": "hd", "Value": "example.com"}],
            },
            "Tags": [{"Key": "idp", "Value": "corp"}],
        },
    }
    assert cfn_lint(template, REGION) == []


def test_without_the_options_the_cluster_stack_is_as_before() -> None:
    template = cluster_template({"name": "plain", "region": REGION, "zonalShiftConfig": {"enabled": False}})
    props = template["Resources"]["ControlPlane"]["Properties"]

    assert not {"EncryptionConfig", "ZonalShiftConfig", "UpgradePolicy", "ControlPlaneScalingConfig"} & set(props)
    assert "DependsOn" not in template["Resources"]["ControlPlane"]
    assert resources_of_type(template, "AWS::Logs::LogGroup") == {}
    assert resources_of_type(template, "AWS::EKS::IdentityProviderConfig") == {}
    assert "PermissionsBoundary" not in template["Resources"]["ServiceRole"]["Properties"]


def test_logging_without_a_retention_leaves_the_log_group_to_eks() -> None:
    body = {"name": "logs", "region": REGION, "cloudWatch": {"clusterLogging": {"enableTypes": ["*"]}}}
    template = cluster_template(body)

    assert resources_of_type(template, "AWS::Logs::LogGroup") == {}
    assert cfn_lint(template, REGION) == []


# --- ClusterConfig -------------------------------------------------------------------------------------


def test_the_fields_are_no_longer_refused() -> None:
    for field in (
        "secretsEncryption",
        "zonalShiftConfig",
        "upgradePolicy",
        "controlPlaneScalingConfig",
        "iam.serviceRolePermissionsBoundary",
        "identityProviders",
    ):
        assert field not in REASONS
    assert clusterconfig.unsupported_fields(yaml.safe_load(CONFIG.read_bytes())) == []


def test_the_test_clusterconfig_uses_every_option_and_reads_back_the_same() -> None:
    spec = clusterconfig.parse(CONFIG.read_bytes())
    assert spec.secrets_encryption and spec.zonal_shift_config and spec.upgrade_policy
    assert spec.control_plane_scaling_config and spec.iam and spec.iam.service_role_permissions_boundary
    assert spec.cloud_watch and spec.cloud_watch.cluster_logging.log_retention_in_days
    assert spec.access_config and {e.type for e in spec.access_config.access_entries} > {"STANDARD"}
    assert spec.identity_providers

    exported = clusterconfig.from_spec(spec)
    assert clusterconfig.parse(yaml.safe_dump(exported, sort_keys=False).encode()) == spec


def test_export_then_import_gives_every_option_back() -> None:
    spec = ClusterSpec.model_validate(ALL_OPTIONS)

    exported = clusterconfig.from_spec(spec)

    assert exported["secretsEncryption"] == {"keyARN": KEY}
    assert exported["zonalShiftConfig"] == {"enabled": True}
    assert exported["upgradePolicy"] == {"supportType": "STANDARD"}
    assert exported["controlPlaneScalingConfig"] == {"tier": "tier-xl"}
    assert exported["cloudWatch"]["clusterLogging"]["logRetentionInDays"] == 90
    assert exported["iam"]["serviceRolePermissionsBoundary"] == BOUNDARY
    assert [e["type"] for e in exported["accessConfig"]["accessEntries"]] == ["STANDARD", "EC2_LINUX"]
    assert exported["identityProviders"] == [IDP]
    assert clusterconfig.parse(yaml.safe_dump(exported, sort_keys=False).encode()) == spec


def test_a_clusterconfig_error_names_the_clusterconfig_path() -> None:
    raw = yaml.safe_dump(
        {
            "apiVersion": "eksctl.io/v1alpha5",
            "kind": "ClusterConfig",
            "metadata": {"name": "x", "region": REGION},
            "cloudWatch": {"clusterLogging": {"logRetentionInDays": 30}},
            "secretsEncryption": {"keyARN": "alias/secrets"},
        }
    ).encode()
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(raw)

    assert sorted((f["field"], f["rule"]) for f in refused.value.details["fields"]) == [
        ("cloudWatch.clusterLogging.logRetentionInDays", "retention_without_logging"),
        ("secretsEncryption.keyARN", "kms_key_arn"),
    ]
