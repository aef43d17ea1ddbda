"""IAM service accounts added to and removed from a running cluster through the API (eksctl's
`create iamserviceaccount` / `delete iamserviceaccount`), one operation at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from chalicelib.kube.serviceaccounts import ROLE_ARN_ANNOTATION
from local import stack_timing
from local.kube.objects import SERVICEACCOUNTS
from local.kube.status import ApiError
from tests.e2e.test_nodegroups import settled
from tests.e2e.test_stack_events import entered_states

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
    # The role's stack is learnt from its CloudFormation event: no describe loop, no wait.
    entered = entered_states(engine, added.body["operation"]["executionArn"])
    assert "Create Service Account Stack" in entered and not _polled(entered), entered

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
    entered = entered_states(engine, removed.body["operation"]["executionArn"])
    assert "Delete Service Account Stack" in entered and not _polled(entered), entered
    with pytest.raises(ApiError):
        kube.objects.get(SERVICEACCOUNTS, "apps", "reader")
    assert "serviceAccounts" not in record["spec"].get("iam", {})
    assert api.call("DELETE", f"/clusters/{cluster}/serviceaccounts/apps/reader").status == 404
    types = [e["type"] for e in api.call("GET", f"/clusters/{cluster}").body["events"]]
    assert types.count("SERVICE_ACCOUNT_ADDED") == 1 and types.count("SERVICE_ACCOUNT_DELETED") == 1


def _polled(entered: list[str]) -> list[str]:
    return [s for s in entered if s.endswith("Event Missed") or s.startswith(("Describe ", "Wait "))]


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


def test_a_role_stack_that_fails_is_answered_removed_and_recorded(
    api: Api, engine: LocalEngine, cluster: str, policy: Callable[..., None]
) -> None:
    policy(ENV_ALLOWED_POLICY_ARNS=S3_READ)
    failing = {**READER, "metadata": {"name": "broken", "namespace": "apps"}}
    stack_name = f"eksctl-{NAME}-addon-iamserviceaccount-apps-broken"
    stack_timing.behaviour.fail(stack_name, "Role1", "Maximum policy size exceeded")

    added = api.call("POST", f"/clusters/{cluster}/serviceaccounts", failing)
    assert added.status == 202, added.body
    record = settled(api, cluster, timeout=120)

    # The event brings the failure to the waiting step, which takes it as its answer: no polling.
    entered = entered_states(engine, added.body["operation"]["executionArn"])
    assert "Remove Failed Service Account Stack" in entered and not _polled(entered), entered
    assert "Maximum policy size exceeded" in record["lastFailure"]["reason"], record["lastFailure"]
    assert record["events"][-1]["type"] == "SERVICE_ACCOUNT_CHANGE_FAILED", record["events"][-1]
    assert "serviceAccounts" not in record["spec"].get("iam", {})
    cfn = engine.client("cloudformation", REGION)
    live = {s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"}
    assert stack_name not in live
