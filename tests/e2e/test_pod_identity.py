"""EKS Pod Identity from a ClusterConfig: a stack per association with its role, made after the node groups,
the associations in EKS, GET .../config gives them back, and deleting the cluster deletes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from chalicelib.kube.serviceaccounts import ROLE_ARN_ANNOTATION
from local import podidentity_models
from local.engine import ACCOUNT_ID
from local.kube.objects import SERVICEACCOUNTS
from local.kube.status import ApiError
from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "pod-identity.yaml"
NAME = "pod-identity"
REGION = "eu-west-3"
MEMBERS = {
    ("default", "s3-reader"): "default-s3-reader",
    ("dev", "app-cache-access"): "dev-app-cache-access",
    ("dev", "nginx"): "dev-nginx",
}


def stack_name(member: str) -> str:
    return f"eksctl-{NAME}-podidentityrole-{member}"


def test_associations_get_roles_trusting_eks_pod_identity_and_go_with_the_cluster(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    # Given a ClusterConfig with pod identity associations (certManager is held to the allow-list)
    policy(ENV_ALLOWED_POLICY_ARNS="ekspress:wellKnownPolicies/*", ENV_ALLOWED_INLINE_ACTIONS="autoscaling:Describe*")
    cfn, iam = engine.client("cloudformation", REGION), engine.client("iam", REGION)

    # When it is posted
    status, body, _ = send(api, "POST", "/clusters", CONFIG.read_bytes(), **{"Content-Type": "application/x-yaml"})
    assert status == 202, body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"}, timeout=180)

    # Then the cluster is ACTIVE with a stack per association, made after the node group
    assert record["status"] == "ACTIVE", record.get("failure")
    nodegroup_done = next(
        e["Timestamp"]
        for e in cfn.describe_stack_events(StackName=f"eksctl-{NAME}-nodegroup-workers")["StackEvents"]
        if e["LogicalResourceId"] == f"eksctl-{NAME}-nodegroup-workers" and e["ResourceStatus"] == "CREATE_COMPLETE"
    )
    # ...the association with createServiceAccount has its ServiceAccount, which names no role (the association does)
    made = engine.emulator(NAME, REGION).objects.get(SERVICEACCOUNTS, "default", "s3-reader")
    assert ROLE_ARN_ANNOTATION not in (made["metadata"].get("annotations") or {})
    with pytest.raises(ApiError):  # the others were not asked for
        engine.emulator(NAME, REGION).objects.get(SERVICEACCOUNTS, "dev", "nginx")
    associations = podidentity_models.associations_of(ACCOUNT_ID, REGION, NAME)
    # ...EKS has each association (and vpc-cni's, made with the add-on) with a role trusting EKS Pod Identity
    assert sorted(associations) == sorted([*MEMBERS, ("kube-system", "aws-node")])
    roles: list[str] = []
    for key, member in MEMBERS.items():
        (stack,) = cfn.describe_stacks(StackName=stack_name(member))["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        assert stack["CreationTime"] >= nodegroup_done
        assert {t["Key"]: t["Value"] for t in stack["Tags"]}["ekspress.io/stack-kind"] == "podidentityrole"
        role_arn = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["Role1"]
        assert associations[key].role_arn == role_arn
        role = iam.get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]
        trust = role["AssumeRolePolicyDocument"]
        (statement,) = (json.loads(trust) if isinstance(trust, str) else trust)["Statement"]
        assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
        roles.append(role["RoleName"])
    assert roles[1] == "eksctl-pod-identity-app-cache"
    assert associations[("dev", "app-cache-access")].disable_session_tags is True
    assert associations[("default", "s3-reader")].tags == {"app": "reader"}
    (inline,) = iam.list_role_policies(RoleName=roles[2])["PolicyNames"]
    # (moto keeps a stack's inline policy as the text of what it was given)
    document = str(iam.get_role_policy(RoleName=roles[2], PolicyName=inline)["PolicyDocument"])
    assert "autoscaling:DescribeAutoScalingGroups" in document and "autoscaling:DescribeTags" in document

    # ...and GET .../config gives the associations back
    status, exported, _ = send(api, "GET", f"/clusters/{NAME}/config")
    assert status == 200
    given = yaml.safe_load(CONFIG.read_text())["iam"]["podIdentityAssociations"]
    returned: list[dict[str, Any]] = yaml.safe_load(exported)["iam"]["podIdentityAssociations"]
    for want, got in zip(given, returned, strict=True):
        if "wellKnownPolicies" in got:  # every flag is given back, those off as false
            got["wellKnownPolicies"] = {k: v for k, v in got["wellKnownPolicies"].items() if v}
        assert {k: got[k] for k in want} == want

    # When it is deleted
    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    final = api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=180)

    # Then the association stacks and their roles are gone
    assert final["status"] == "DELETED", final.get("failure")
    live = {s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"}
    assert not {stack_name(m) for m in MEMBERS} & live
    assert not set(roles) & {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert NAME not in engine.client("eks", REGION).list_clusters()["clusters"]


def test_associations_without_the_agent_add_on_are_refused_naming_the_field(api: Api) -> None:
    document = yaml.safe_load(CONFIG.read_text())
    document["metadata"]["name"] = "no-agent"
    document["addons"] = [a for a in document["addons"] if a["name"] != "eks-pod-identity-agent"]
    document["addons"][0].pop("useDefaultPodIdentityAssociations")

    status, body, _ = send(
        api, "POST", "/clusters", yaml.safe_dump(document).encode(), **{"Content-Type": "application/x-yaml"}
    )

    assert status == 422, body
    assert {(f["field"], f["rule"]) for f in body["fields"]} == {
        ("iam.podIdentityAssociations", "pod_identity_agent_required")
    }
