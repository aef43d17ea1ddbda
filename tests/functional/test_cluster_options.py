"""Cluster-wide options against moto: the KMS key and the log group are checked when a cluster is requested,
and the local engine refuses what EKS and CloudFormation refuse."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from chalicelib.cfn import templates
from chalicelib.model.errors import ConflictError, SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import encryption, logging
from local import eks_models, identity_provider_models
from local.cfn_models import ResourceFailed
from tests.functional.helpers import step_context

if TYPE_CHECKING:
    from chalicelib.operations.context import Context

REGION = "us-west-2"
ACCOUNT = "123456789012"


@pytest.fixture
def ctx() -> Context:
    return step_context()


@pytest.fixture
def kms() -> Any:
    return boto3.client("kms", region_name=REGION)


def spec_with_key(arn: str, region: str = REGION) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "sealed", "region": region, "secretsEncryption": {"keyARN": arn}})


def refusal(ctx: Context, spec: ClusterSpec) -> dict[str, str]:
    with pytest.raises(SpecValidationError) as refused:
        encryption.check_secrets_key(ctx, spec)
    (field,) = refused.value.details["fields"]
    assert field["field"] == "secretsEncryption.keyARN"
    return dict(field)


# --- the KMS key -------------------------------------------------------------------------------------


def test_an_enabled_symmetric_key_in_the_cluster_region_passes(ctx: Context, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/secrets", TargetKeyId=key)

    encryption.check_secrets_key(ctx, spec_with_key(key))
    encryption.check_secrets_key(ctx, spec_with_key(f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/secrets"))


def test_a_spec_without_secrets_encryption_asks_nothing(ctx: Context) -> None:
    encryption.check_secrets_key(ctx, ClusterSpec.model_validate({"name": "plain"}))


def test_a_key_that_does_not_exist_is_refused(ctx: Context) -> None:
    arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"

    assert refusal(ctx, spec_with_key(arn))["rule"] == "kms_key_not_found"


def test_a_key_in_another_region_is_refused_without_asking_kms(ctx: Context) -> None:
    key = boto3.client("kms", region_name="eu-west-1").create_key()["KeyMetadata"]["Arn"]

    field = refusal(ctx, spec_with_key(key))

    assert field["rule"] == "kms_key_region"
    assert "eu-west-1" in field["message"] and REGION in field["message"]


def test_a_disabled_key_or_one_pending_deletion_is_refused(ctx: Context, kms: Any) -> None:
    disabled = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=disabled["KeyId"])
    doomed = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=doomed["KeyId"], PendingWindowInDays=7)

    assert refusal(ctx, spec_with_key(disabled["Arn"]))["rule"] == "kms_key_not_enabled"
    field = refusal(ctx, spec_with_key(doomed["Arn"]))
    assert field["rule"] == "kms_key_not_enabled"
    assert "PendingDeletion" in field["message"]


def test_a_signing_key_or_an_asymmetric_encryption_key_is_refused(ctx: Context, kms: Any) -> None:
    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["Arn"]
    asymmetric = kms.create_key(KeyUsage="ENCRYPT_DECRYPT", KeySpec="RSA_2048")["KeyMetadata"]["Arn"]

    assert refusal(ctx, spec_with_key(signing))["rule"] == "kms_key_usage"
    assert refusal(ctx, spec_with_key(asymmetric))["rule"] == "kms_key_spec"


# --- the control plane's log group ---------------------------------------------------------------------


def logging_spec(retention: int | None) -> ClusterSpec:
    logs: dict[str, Any] = {"enableTypes": ["api"]}
    if retention is not None:
        logs["logRetentionInDays"] = retention
    return ClusterSpec.model_validate({"name": "logged", "region": REGION, "cloudWatch": {"clusterLogging": logs}})


def test_a_log_group_left_by_an_earlier_cluster_is_a_409_naming_it(ctx: Context) -> None:
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/aws/eks/logged/cluster")

    with pytest.raises(ConflictError) as refused:
        logging.check_log_group(ctx, logging_spec(30))

    details = refused.value.details
    assert details["logGroup"] == "/aws/eks/logged/cluster"
    assert details["fields"][0]["rule"] == "log_group_exists"
    assert details["fields"][0]["field"] == "cloudWatch.clusterLogging.logRetentionInDays"
    # Without a retention the stack makes no group: EKS writes to the one it finds.
    logging.check_log_group(ctx, logging_spec(None))


def test_a_free_log_group_name_passes_even_beside_a_longer_one(ctx: Context) -> None:
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/aws/eks/logged/cluster-other")

    logging.check_log_group(ctx, logging_spec(30))


# --- the local engine, as strict as AWS ----------------------------------------------------------------

LOG_GROUP_TEMPLATE = {
    "Resources": {
        "ControlPlaneLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": "/aws/eks/taken/cluster", "RetentionInDays": 30},
        }
    }
}


def test_a_log_group_whose_name_is_taken_fails_its_stack_as_cloudformation_does() -> None:
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/aws/eks/taken/cluster")
    cfn = boto3.client("cloudformation", region_name=REGION)

    cfn.create_stack(StackName="taken", TemplateBody=json.dumps(LOG_GROUP_TEMPLATE))  # accepted, as on AWS

    stack = cfn.describe_stacks(StackName="taken")["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="taken")["StackEvents"]
    (failed,) = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed["LogicalResourceId"] == "ControlPlaneLogGroup"
    assert "already exists" in failed["ResourceStatusReason"]
    assert "HandlerErrorCode: AlreadyExists" in failed["ResourceStatusReason"]


def test_a_free_log_group_is_made_with_its_retention() -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)

    cfn.create_stack(StackName="free", TemplateBody=json.dumps(LOG_GROUP_TEMPLATE))

    assert cfn.describe_stacks(StackName="free")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    groups = boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [("/aws/eks/taken/cluster", 30)]


def cluster_props(key_arn: str) -> dict[str, Any]:
    return {"EncryptionConfig": [{"Resources": ["secrets"], "Provider": {"KeyArn": key_arn}}]}


def test_the_engine_refuses_a_cluster_key_eks_could_not_use(kms: Any) -> None:
    good = kms.create_key()["KeyMetadata"]["Arn"]
    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    disabled = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=disabled["KeyId"])
    missing = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
    elsewhere = boto3.client("kms", region_name="eu-west-1").create_key()["KeyMetadata"]["Arn"]

    check = eks_models._check_encryption_key
    assert check(ACCOUNT, REGION, cluster_props(good)) == [{"resources": ["secrets"], "provider": {"keyArn": good}}]
    for bad in (signing, disabled["Arn"], missing):
        with pytest.raises(ResourceFailed, match="HandlerErrorCode: InvalidRequest"):
            check(ACCOUNT, REGION, cluster_props(bad))
    with pytest.raises(ResourceFailed, match="is not a KMS key ARN in the cluster's region us-west-2"):
        check(ACCOUNT, REGION, cluster_props(elsewhere))


def test_the_cluster_stack_makes_the_log_group_before_the_cluster_that_writes_to_it() -> None:
    """EKS makes a logging cluster's group when there is none: made first (DependsOn), the stack's group is it.

    moto makes a resource when an output first refers to it; the engine still makes its DependsOn first.
    """
    spec = ClusterSpec.model_validate(
        {
            "name": "ordered",
            "region": REGION,
            "cloudWatch": {"clusterLogging": {"enableTypes": ["api"], "logRetentionInDays": 14}},
            "managedNodeGroups": [],
        }
    )
    template = templates.build_cluster_template(spec, "cid", ["us-west-2a", "us-west-2b"])
    cfn = boto3.client("cloudformation", region_name=REGION)

    cfn.create_stack(StackName="eksctl-ordered-cluster", TemplateBody=json.dumps(template))

    assert cfn.describe_stacks(StackName="eksctl-ordered-cluster")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    (group,) = boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"]
    assert (group["logGroupName"], group["retentionInDays"]) == ("/aws/eks/ordered/cluster", 14)


@pytest.mark.parametrize("kind", ["EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX"])
def test_the_engine_refuses_access_policies_on_node_and_fargate_entries(kind: str) -> None:
    # A hybrid cluster's remote networks: EKS takes HYBRID_LINUX entries on no other cluster.
    remote = {"remoteNodeNetworks": [{"cidrs": ["10.80.0.0/24"]}]}
    cluster = type("Cluster", (), {"access_config": {"authenticationMode": "API"}, "remote_network_config": remote})()
    policy = {
        "PolicyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
        "AccessScope": {"Type": "cluster"},
    }
    props = {"PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/nodes", "Type": kind}

    eks_models._check_access_entry(cluster, props)
    with pytest.raises(ResourceFailed, match=f"Access policies cannot be associated with type {kind}"):
        eks_models._check_access_entry(cluster, {**props, "AccessPolicies": [policy]})
    with pytest.raises(ResourceFailed, match="Kubernetes groups and username cannot be specified"):
        eks_models._check_access_entry(cluster, {**props, "KubernetesGroups": ["ops"]})


def test_eks_makes_a_logging_cluster_its_log_group_and_leaves_it_behind() -> None:
    """Without a retention the stack makes no group: EKS makes it, keeps logs forever, and never deletes it."""
    spec = ClusterSpec.model_validate(
        {"name": "chatty", "region": REGION, "cloudWatch": {"clusterLogging": {"enableTypes": ["audit"]}}}
    )
    template = templates.build_cluster_template(spec, "cid", ["us-west-2a", "us-west-2b"])
    cfn, logs = boto3.client("cloudformation", region_name=REGION), boto3.client("logs", region_name=REGION)

    cfn.create_stack(StackName="eksctl-chatty-cluster", TemplateBody=json.dumps(template))
    cfn.delete_stack(StackName="eksctl-chatty-cluster")

    (group,) = logs.describe_log_groups()["logGroups"]
    assert group["logGroupName"] == "/aws/eks/chatty/cluster"
    assert "retentionInDays" not in group


# --- identity providers on the engine -----------------------------------------------------------------

OIDC = {"ClientId": "eks", "IssuerUrl": "https://idp.example.com", "GroupsClaim": "groups", "GroupsPrefix": "oidc:"}


def test_an_identity_provider_is_associated_with_its_cluster_and_goes_with_its_stack() -> None:
    identity_provider_models.register()
    provider = {
        "type": "oidc",
        "name": "corp",
        "issuerURL": "https://idp.example.com",
        "clientID": "eks",
        "groupsClaim": "groups",
        "groupsPrefix": "oidc:",
    }
    spec = ClusterSpec.model_validate(
        {"name": "sso", "region": REGION, "identityProviders": [provider], "managedNodeGroups": []}
    )
    template = templates.build_cluster_template(spec, "cid", ["us-west-2a", "us-west-2b"])
    cfn = boto3.client("cloudformation", region_name=REGION)

    cfn.create_stack(StackName="eksctl-sso-cluster", TemplateBody=json.dumps(template))

    assert cfn.describe_stacks(StackName="eksctl-sso-cluster")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    (config,) = identity_provider_models.identity_providers_of(ACCOUNT, REGION, "sso").values()
    assert (config.name, config.type, config.oidc) == ("corp", "oidc", OIDC)
    model = identity_provider_models.IdentityProviderConfigModel
    props = {"ClusterName": "sso", "Type": "oidc", "IdentityProviderConfigName": "second", "Oidc": OIDC}
    with pytest.raises(ResourceFailed, match="already has 1 OIDC identity provider config"):
        model.create(props, "second", ACCOUNT, REGION)  # EKS associates one OIDC provider per cluster
    with pytest.raises(ResourceFailed, match="HandlerErrorCode: AlreadyExists"):
        model.create({**props, "IdentityProviderConfigName": "corp"}, "corp", ACCOUNT, REGION)

    cfn.delete_stack(StackName="eksctl-sso-cluster")
    assert identity_provider_models.identity_providers_of(ACCOUNT, REGION, "sso") == {}


def test_the_engine_refuses_an_identity_provider_eks_would_refuse() -> None:
    model = identity_provider_models.IdentityProviderConfigModel
    props = {"ClusterName": "nowhere", "Type": "oidc", "IdentityProviderConfigName": "corp", "Oidc": OIDC}

    with pytest.raises(ResourceFailed, match="No cluster found for name: nowhere"):
        model.create(props, "corp", ACCOUNT, REGION)
    boto3.client("eks", region_name=REGION).create_cluster(
        name="plain", roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks", resourcesVpcConfig={}
    )
    with pytest.raises(ResourceFailed, match="must be a valid https URL"):
        model.create(
            {**props, "ClusterName": "plain", "Oidc": {**OIDC, "IssuerUrl": "http://idp"}}, "c", ACCOUNT, REGION
        )
