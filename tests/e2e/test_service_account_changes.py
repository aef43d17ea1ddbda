"""IAM service accounts added to and removed from a running cluster through the API (eksctl's
`create iamserviceaccount` / `delete iamserviceaccount`), one operation at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from chalicelib.kube.serviceaccounts import ROLE_ARN_ANNOTATION
from local.kube.objects import SERVICEACCOUNTS
from local.kube.status import ApiError
from tests.e2e.test_nodegroups import settled

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "eu-central-1"
NAME = "irsa-live"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
STACK = f"eksctl-{NAME}-addon-iamserviceaccount-apps-reader"
READER = {"metadata": {"name": "reader", "namespace": "apps"}, "attachPolicyARNs": [S3_READ]}


@pytest.fixture(scope="module")
def cluster(api: Api) -> str:
    body = {"name": NAME, "region": REGION, "iam": {"withOIDC": True}, "managedNodeGroups": [{"name": "base"}]}
    assert api.call("POST", "/clusters", body).status == 202
    assert api.wait_for(NAME, {"ACTIVE", "FAILED"}, timeout=180)["status"] == "ACTIVE"
    return NAME


def test_a_service_account_is_added_then_removed_with_its_role(
    api: Api, engine: LocalEngine, cluster: str, policy: Callable[..., None]
) -> None:
    policy(ENV_ALLOWED_POLICY_ARNS=S3_READ)
    cfn, kube = engine.client("cloudformation", REGION), engine.emulator(cluster, REGION)

    added = api.call("POST", f"/clusters/{cluster}/serviceaccounts", READER)
    assert added.status == 202, added.body
    assert added.body["operation"]["action"] == "add"
    assert added.body["operation"]["serviceAccount"] == "apps/reader"
    # One operation at a time: a second change waits for this one.
    busy = api.call("POST", f"/clusters/{cluster}/serviceaccounts", {**READER, "metadata": {"name": "other"}})
    assert busy.status == 409, busy.body
    record = settled(api, cluster, timeout=120)
    assert "lastFailure" not in record, record.get("lastFailure")

    (stack,) = cfn.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    role_arn = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["Role1"]
    account = kube.objects.get(SERVICEACCOUNTS, "apps", "reader")
    assert account["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == role_arn
    listed = api.call("GET", f"/clusters/{cluster}/serviceaccounts").body["serviceAccounts"]
    assert [(a["metadata"]["namespace"], a["metadata"]["name"], a["stack"]["status"]) for a in listed] == [
        ("apps", "reader", "CREATE_COMPLETE")
    ]
    assert record["spec"]["iam"]["serviceAccounts"][0]["metadata"]["name"] == "reader"
    again = api.call("POST", f"/clusters/{cluster}/serviceaccounts", READER)
    assert again.status == 409, again.body

    removed = api.call("DELETE", f"/clusters/{cluster}/serviceaccounts/apps/reader")
    assert removed.status == 202, removed.body
    record = settled(api, cluster, timeout=120)
    assert "lastFailure" not in record, record.get("lastFailure")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ApiError):
        kube.objects.get(SERVICEACCOUNTS, "apps", "reader")
    assert "serviceAccounts" not in record["spec"].get("iam", {})
    assert api.call("DELETE", f"/clusters/{cluster}/serviceaccounts/apps/reader").status == 404
    types = [e["type"] for e in api.call("GET", f"/clusters/{cluster}").body["events"]]
    assert types.count("SERVICE_ACCOUNT_ADDED") == 1 and types.count("SERVICE_ACCOUNT_DELETED") == 1


def test_a_service_account_asking_for_a_policy_the_service_does_not_allow_is_refused(
    api: Api, cluster: str, policy: Callable[..., None]
) -> None:
    policy(ENV_ALLOWED_POLICY_ARNS="arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess")

    refused = api.call("POST", f"/clusters/{cluster}/serviceaccounts", READER)

    assert refused.status == 422, refused.body
    assert [(f["field"], f["rule"]) for f in refused.body["fields"]] == [
        ("attachPolicyARNs[0]", "policy_arn_not_allowed")
    ]


def test_a_cluster_without_oidc_takes_no_service_account(api: Api, policy: Callable[..., None]) -> None:
    policy(ENV_ALLOWED_POLICY_ARNS=S3_READ)
    body = {"name": "no-oidc", "region": REGION, "managedNodeGroups": [{"name": "base"}]}
    assert api.call("POST", "/clusters", body).status == 202
    assert api.wait_for("no-oidc", {"ACTIVE", "FAILED"}, timeout=180)["status"] == "ACTIVE"

    refused = api.call("POST", "/clusters/no-oidc/serviceaccounts", READER)

    assert refused.status == 422, refused.body
    assert refused.body["fields"][0]["rule"] == "needs_oidc"
