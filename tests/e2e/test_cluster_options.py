"""Cluster-wide options over HTTP: every one at once to ACTIVE, given back and deleted; the refusals before."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from chalicelib.model import clusterconfig
from local import eks_models, identity_provider_models
from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "cluster-options.yaml"
YAML = {"Content-Type": "application/x-yaml"}


def with_key(key_id: str, name: str = "opts-cluster") -> bytes:
    return CONFIG.read_text().replace("KEY_ID", key_id).replace("opts-cluster", name).encode()


def exported(api: Api, name: str) -> dict[str, Any]:
    status, body, _ = send(api, "GET", f"/clusters/{name}/config")
    assert status == 200, body
    config: dict[str, Any] = yaml.safe_load(body) if isinstance(body, str) else body
    return config


def test_every_option_at_once_is_built_given_back_and_deleted(api: Api, engine: LocalEngine) -> None:
    key = engine.client("kms", REGION).create_key(Description="opts-cluster secrets")["KeyMetadata"]

    status, body, _ = send(api, "POST", "/clusters", with_key(key["KeyId"]), **YAML)
    assert status == 202, body

    record = api.wait_for("opts-cluster", {"ACTIVE", "FAILED"}, timeout=120)
    assert record["status"] == "ACTIVE", record.get("failure")
    cluster = engine.client("eks", REGION).describe_cluster(name="opts-cluster")["cluster"]
    assert cluster["encryptionConfig"] == [{"resources": ["secrets"], "provider": {"keyArn": key["Arn"]}}]
    assert cluster["logging"]["clusterLogging"][0]["types"] == ["api", "audit", "authenticator"]
    logs = engine.client("logs", REGION)
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/eks/opts-cluster/")["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [("/aws/eks/opts-cluster/cluster", 90)]
    entries = eks_models.access_entries_of(ACCOUNT, REGION, "opts-cluster")
    assert entries[f"arn:aws:iam::{ACCOUNT}:role/opts-extra-nodes"].type == "EC2_LINUX"
    assert entries[f"arn:aws:iam::{ACCOUNT}:role/viewers"].type == "STANDARD"
    cfn = engine.client("cloudformation", REGION)
    role = cfn.describe_stack_resource(StackName="eksctl-opts-cluster-cluster", LogicalResourceId="ServiceRole")
    boundary = engine.client("iam", REGION).get_role(RoleName=role["StackResourceDetail"]["PhysicalResourceId"])
    assert boundary["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == (
        "arn:aws:iam::aws:policy/PowerUserAccess"
    )
    plane = cfn.get_template(StackName="eksctl-opts-cluster-cluster")["TemplateBody"]["Resources"]["ControlPlane"]
    assert plane["Properties"]["ZonalShiftConfig"] == {"Enabled": True}
    assert plane["Properties"]["UpgradePolicy"] == {"SupportType": "STANDARD"}
    assert plane["Properties"]["ControlPlaneScalingConfig"] == {"Tier": "tier-xl"}
    (provider,) = identity_provider_models.identity_providers_of(ACCOUNT, REGION, "opts-cluster").values()
    assert (provider.name, provider.oidc["IssuerUrl"]) == ("corp-idp", "https://idp.example.com/realms/eks")
    assert provider.oidc["GroupsPrefix"] == "oidc:"

    config = exported(api, "opts-cluster")
    assert config["secretsEncryption"] == {"keyARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key['KeyId']}"}
    assert config["cloudWatch"]["clusterLogging"]["logRetentionInDays"] == 90
    assert config["zonalShiftConfig"] == {"enabled": True}
    assert config["upgradePolicy"] == {"supportType": "STANDARD"}
    assert config["controlPlaneScalingConfig"] == {"tier": "tier-xl"}
    assert config["iam"]["serviceRolePermissionsBoundary"] == "arn:aws:iam::aws:policy/PowerUserAccess"
    assert [e.get("type") for e in config["accessConfig"]["accessEntries"]] == ["STANDARD", "EC2_LINUX"]
    assert config["identityProviders"] == [
        {
            "type": "oidc",
            "name": "corp-idp",
            "issuerURL": "https://idp.example.com/realms/eks",
            "clientID": "opts-cluster",
            "usernameClaim": "email",
            "usernamePrefix": "oidc:",
            "groupsClaim": "groups",
            "groupsPrefix": "oidc:",
            "requiredClaims": {"hd": "example.com"},
            "tags": {"idp": "corp"},
        }
    ]
    # Read back, the configuration is the recorded spec (ekspress's own fields aside).
    spec = clusterconfig.parse(yaml.safe_dump(config).encode()).model_dump(mode="json", exclude_none=True)
    recorded = api.call("GET", "/clusters/opts-cluster").body["spec"]
    options = ("cloudWatch", "secretsEncryption", "zonalShiftConfig", "upgradePolicy", "controlPlaneScalingConfig")
    for field in (*options, "iam", "accessConfig", "identityProviders"):
        assert spec[field] == recorded[field], field

    assert api.call("DELETE", "/clusters/opts-cluster").status == 202
    final = api.wait_for("opts-cluster", {"DELETED", "DELETE_FAILED"}, timeout=120)
    assert final["status"] == "DELETED", final.get("failure")
    # The stack made the group, so the stack takes it: a cluster of the name may be made again.
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/eks/opts-cluster/")["logGroups"] == []


def test_a_key_eks_could_not_use_is_a_422_naming_it_and_nothing_is_recorded(api: Api, engine: LocalEngine) -> None:
    kms = engine.client("kms", REGION)
    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    disabled = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=disabled)

    for key_id, rule in (
        (signing, "kms_key_usage"),
        (disabled, "kms_key_not_enabled"),
        ("00000000-0000-0000-0000-000000000000", "kms_key_not_found"),
    ):
        status, body, _ = send(api, "POST", "/clusters", with_key(key_id, "opts-badkey"), **YAML)

        assert status == 422, body
        assert [(f["field"], f["rule"]) for f in body["fields"]] == [("secretsEncryption.keyARN", rule)]
        assert api.call("GET", "/clusters/opts-badkey").status == 404


def test_a_log_group_an_earlier_cluster_left_is_a_409_naming_it(api: Api, engine: LocalEngine) -> None:
    key = engine.client("kms", REGION).create_key()["KeyMetadata"]["KeyId"]
    engine.client("logs", REGION).create_log_group(logGroupName="/aws/eks/opts-logs-left/cluster")

    status, body, _ = send(api, "POST", "/clusters", with_key(key, "opts-logs-left"), **YAML)

    assert status == 409, body
    assert body["logGroup"] == "/aws/eks/opts-logs-left/cluster"
    assert [(f["field"], f["rule"]) for f in body["fields"]] == [
        ("cloudWatch.clusterLogging.logRetentionInDays", "log_group_exists")
    ]
    assert api.call("GET", "/clusters/opts-logs-left").status == 404
