"""IAM roles for service accounts from a ClusterConfig: a stack and a role each, the ServiceAccounts in the
cluster annotated with their roles, GET .../config gives them back, and deleting the cluster deletes the stacks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from chalicelib.kube.serviceaccounts import ROLE_ARN_ANNOTATION
from local.kube.objects import NAMESPACES, SERVICEACCOUNTS
from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "service-accounts.yaml"
NAME = "irsa-yaml"
REGION = "eu-west-1"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
ACCOUNTS = {"default/s3-reader": "default-s3-reader", "jobs/queue-worker": "jobs-queue-worker"}


def stack_name(member: str) -> str:
    return f"eksctl-{NAME}-addon-iamserviceaccount-{member}"


def test_service_accounts_get_roles_trusting_only_them_and_are_deleted_with_the_cluster(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    policy(ENV_ALLOWED_POLICY_ARNS=S3_READ, ENV_ALLOWED_INLINE_ACTIONS="sqs:ReceiveMessage,sqs:DeleteMessage")
    raw = CONFIG.read_bytes()
    eks, cfn, iam = engine.client("eks", REGION), engine.client("cloudformation", REGION), engine.client("iam", REGION)

    status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/x-yaml"})
    assert status == 202, body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"}, timeout=180)
    assert record["status"] == "ACTIVE", record.get("failure")

    issuer = eks.describe_cluster(name=NAME)["cluster"]["identity"]["oidc"]["issuer"].removeprefix("https://")
    kube = engine.emulator(NAME, REGION)
    stacks: dict[str, dict[str, Any]] = {}
    for qualified, member in ACCOUNTS.items():
        (stack,) = cfn.describe_stacks(StackName=stack_name(member))["Stacks"]
        stacks[qualified] = stack
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        assert {t["Key"]: t["Value"] for t in stack["Tags"]}["ekspress.io/stack-kind"] == "iamserviceaccount"
        role_arn = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["Role1"]

        # The role trusts the cluster's OIDC provider for this service account only.
        role = iam.get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        namespace, name = qualified.split("/")
        assert statement["Principal"]["Federated"].endswith(f":oidc-provider/{issuer}")
        assert statement["Condition"]["StringEquals"] == {
            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{name}",
            f"{issuer}:aud": "sts.amazonaws.com",
        }

        # The ServiceAccount exists in the cluster with its role.
        account = kube.objects.get(SERVICEACCOUNTS, namespace, name)
        assert account["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == role_arn

    reader = iam.get_role(RoleName=_role_name(stacks["default/s3-reader"]))["Role"]
    # The local engine's IAM does not attach a CloudFormation role's ManagedPolicyArns: read the stack's role.
    template = cfn.get_template(StackName=stacks["default/s3-reader"]["StackId"])["TemplateBody"]
    assert template["Resources"]["Role1"]["Properties"]["ManagedPolicyArns"] == [S3_READ]
    assert {"Key": "team", "Value": "data"} in reader.get("Tags", [])
    worker = _role_name(stacks["jobs/queue-worker"])
    (inline,) = iam.list_role_policies(RoleName=worker)["PolicyNames"]
    assert inline == "Policy1"
    # The local engine's IAM keeps a CloudFormation role's inline document unparsed: read the stack's role.
    template = cfn.get_template(StackName=stacks["jobs/queue-worker"]["StackId"])["TemplateBody"]
    (policy_document,) = template["Resources"]["Role1"]["Properties"]["Policies"]
    assert (
        policy_document["PolicyDocument"]["Statement"]
        == yaml.safe_load(raw)["iam"]["serviceAccounts"][1]["attachPolicy"]["Statement"]
    )
    # The namespace that did not exist was made for its account; labels and annotations were kept.
    assert kube.objects.get(NAMESPACES, "", "jobs")["status"] == {"phase": "Active"}
    assert kube.objects.get(SERVICEACCOUNTS, "default", "s3-reader")["metadata"]["labels"] == {"app": "s3-reader"}
    assert kube.objects.get(SERVICEACCOUNTS, "jobs", "queue-worker")["metadata"]["annotations"]["owner"] == (
        "batch-team"
    )
    events = [e for e in api.call("GET", f"/clusters/{NAME}").body["events"] if e["type"] == "SERVICE_ACCOUNT_APPLIED"]
    assert len(events) == 2

    status, exported, _ = send(api, "GET", f"/clusters/{NAME}/config")
    assert status == 200
    given = yaml.safe_load(exported)
    assert given["iam"]["withOIDC"] is True  # implied by the service accounts
    asked = yaml.safe_load(raw)["iam"]["serviceAccounts"]
    for wanted, got in zip(asked, given["iam"]["serviceAccounts"], strict=True):
        assert {k: got[k] for k in wanted if k != "metadata"} == {k: v for k, v in wanted.items() if k != "metadata"}
        assert {k: got["metadata"][k] for k in wanted["metadata"]} == wanted["metadata"]

    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    assert api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=120)["status"] == "DELETED"
    for stack in stacks.values():
        deleted = cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]
        assert deleted["StackStatus"] == "DELETE_COMPLETE"
    assert NAME not in eks.list_clusters()["clusters"]


def test_a_policy_the_allow_list_does_not_name_is_refused(api: Api, policy: Callable[..., None]) -> None:
    policy(
        ENV_ALLOWED_POLICY_ARNS="arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess", ENV_ALLOWED_INLINE_ACTIONS="sqs:*"
    )

    status, body, _ = send(api, "POST", "/clusters", CONFIG.read_bytes(), **{"Content-Type": "application/x-yaml"})

    assert status == 422, body
    assert [(f["field"], f["rule"]) for f in body["fields"]] == [
        ("iam.serviceAccounts[0].attachPolicyARNs[0]", "policy_arn_not_allowed")
    ]


def _role_name(stack: dict[str, Any]) -> str:
    arn = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["Role1"]
    return str(arn.rsplit("/", 1)[-1])


def test_an_inline_policy_may_allow_only_actions_the_service_policy_names(
    api: Api, policy: Callable[..., None]
) -> None:
    # sqs:DeleteMessage is outside the allow-list: an inline policy could otherwise reach past the cluster.
    policy(ENV_ALLOWED_POLICY_ARNS=S3_READ, ENV_ALLOWED_INLINE_ACTIONS="sqs:ReceiveMessage")

    status, body, _ = send(api, "POST", "/clusters", CONFIG.read_bytes(), **{"Content-Type": "application/x-yaml"})

    assert status == 422, body
    assert [(f["field"], f["rule"]) for f in body["fields"]] == [
        ("iam.serviceAccounts[1].attachPolicy", "inline_action_not_allowed")
    ]
    assert "sqs:DeleteMessage" in body["fields"][0]["message"]
