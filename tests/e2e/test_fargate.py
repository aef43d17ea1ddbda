"""Fargate profiles from a ClusterConfig: the Fargate stack makes them in EKS, GET .../config gives them back,
and deleting the cluster deletes them first."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "fargate-profiles.yaml"
NAME = "fargate-yaml"
REGION = "eu-west-1"
FARGATE_STACK = f"eksctl-{NAME}-fargate"


def test_fargate_profiles_are_made_given_back_and_deleted(api: Api, engine: LocalEngine) -> None:
    raw = CONFIG.read_bytes()
    eks, cfn, iam = engine.client("eks", REGION), engine.client("cloudformation", REGION), engine.client("iam", REGION)

    status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/x-yaml"})
    assert status == 202, body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"}, timeout=180)
    assert record["status"] == "ACTIVE", record.get("failure")

    assert sorted(eks.list_fargate_profiles(clusterName=NAME)["fargateProfileNames"]) == ["fp-default", "fp-dev"]
    default = eks.describe_fargate_profile(clusterName=NAME, fargateProfileName="fp-default")["fargateProfile"]
    dev = eks.describe_fargate_profile(clusterName=NAME, fargateProfileName="fp-dev")["fargateProfile"]
    assert default["selectors"] == [{"namespace": "default"}, {"namespace": "kube-system"}]
    assert dev["selectors"] == [{"namespace": "dev", "labels": {"env": "dev", "checks": "passed"}}]
    assert dev["tags"]["env"] == "dev"
    cluster_outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName=f"eksctl-{NAME}-cluster")["Stacks"][0]["Outputs"]
    }
    private = sorted(cluster_outputs["SubnetsPrivate"].split(","))
    assert sorted(default["subnets"]) == private
    assert sorted(dev["subnets"]) == private
    role = iam.get_role(RoleName=dev["podExecutionRoleArn"].rsplit("/", 1)[-1])["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"].endswith(
        ":policy/AmazonEKSFargatePodExecutionRolePolicy"
    )
    (fargate_stack,) = cfn.describe_stacks(StackName=FARGATE_STACK)["Stacks"]
    assert {t["Key"]: t["Value"] for t in fargate_stack["Tags"]}["ekspress.io/stack-kind"] == "fargate"

    status, exported, _ = send(api, "GET", f"/clusters/{NAME}/config")
    assert status == 200
    given = yaml.safe_load(exported)
    assert [p["name"] for p in given["fargateProfiles"]] == ["fp-default", "fp-dev"]
    asked = yaml.safe_load(raw)
    for wanted, got in zip(asked["fargateProfiles"], given["fargateProfiles"], strict=True):
        assert {k: got[k] for k in wanted} == wanted
    assert (
        given["iam"]["fargatePodExecutionRolePermissionsBoundary"]
        == asked["iam"]["fargatePodExecutionRolePermissionsBoundary"]
    )

    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    assert api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=120)["status"] == "DELETED"
    deleted = cfn.describe_stacks(StackName=fargate_stack["StackId"])["Stacks"][0]
    assert deleted["StackStatus"] == "DELETE_COMPLETE"
    assert NAME not in eks.list_clusters()["clusters"]
