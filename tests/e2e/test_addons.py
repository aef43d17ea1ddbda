"""Add-ons over HTTP: those that need nodes are made after the node groups, and go first on delete.

The engine holds add-ons to what EKS does (local/eks_models.py): one that runs a Deployment on a
cluster with no ready node is DEGRADED, and its AWS::EKS::Addon fails. So a workflow that made
coredns before the node groups (as the cluster stack once did) ends FAILED here, as on AWS.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from local import eks_models, stack_timing
from local.engine import ACCOUNT_ID

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

# One OIDC cluster per region: the local EKS model gives a region's clusters one issuer (see test_large_templates).
REGION = "us-east-2"
ADDONS = ["vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"]


def request(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "region": REGION,
        "iam": {"withOIDC": True},
        "addons": [{"name": n} for n in ADDONS],
        "managedNodeGroups": [{"name": "workers", "desiredCapacity": 2}],
        **extra,
    }


def at(events: list[dict[str, Any]], kind: str, stack: str) -> int:
    """The position on the timeline of the first event of `kind` about `stack` (in its details or its message)."""

    def about(event: dict[str, Any]) -> bool:
        return (event.get("details") or {}).get("stack") == stack or stack in event["message"].split()

    found = [i for i, e in enumerate(events) if e["type"] == kind and about(e)]
    assert found, [(e["type"], e["message"]) for e in events]
    return found[0]


def stack_statuses(engine: LocalEngine, name: str) -> dict[str, str]:
    cfn = engine.client("cloudformation", REGION)
    return {
        s["StackName"]: s["StackStatus"]
        for s in cfn.describe_stacks()["Stacks"]
        if s["StackName"].startswith(f"eksctl-{name}-")
    }


def test_addons_that_need_nodes_are_made_after_the_node_group_and_deleted_before_it(
    api: Api, engine: LocalEngine
) -> None:
    # Given a cluster with add-ons, some of which need nodes, and a node group that takes a while
    stack_timing.behaviour.nodegroup_seconds = 1.0
    assert api.call("POST", "/clusters", request("shop")).status == 202

    # Then it becomes ACTIVE
    record = api.wait_for("shop", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    assert {name: (s["kind"], s["status"]) for name, s in record["stacks"].items()} == {
        "eksctl-shop-cluster": ("cluster", "CREATE_COMPLETE"),
        "eksctl-shop-nodegroup-workers": ("nodegroup", "CREATE_COMPLETE"),
        "eksctl-shop-addons": ("addons", "CREATE_COMPLETE"),
    }
    # ...with the add-ons that need nodes made once the node group stack was complete
    events = record["events"]
    assert at(events, "STACK_CREATE_COMPLETE", "eksctl-shop-nodegroup-workers") < at(
        events, "STACK_CREATING", "eksctl-shop-addons"
    )
    assert at(events, "STACK_CREATE_COMPLETE", "eksctl-shop-addons") < [e["type"] for e in events].index("ACTIVE")
    cfn = engine.client("cloudformation", REGION)
    cluster_template = cfn.get_template(StackName="eksctl-shop-cluster")["TemplateBody"]
    addons_template = cfn.get_template(StackName="eksctl-shop-addons")["TemplateBody"]

    def addons_in(template: dict[str, Any]) -> list[str]:
        resources = template["Resources"].values()
        return sorted(r["Properties"]["AddonName"] for r in resources if r["Type"] == "AWS::EKS::Addon")

    assert addons_in(cluster_template) == ["kube-proxy", "vpc-cni"]
    assert addons_in(addons_template) == ["aws-ebs-csi-driver", "coredns"]
    nodegroup_done = next(
        e["Timestamp"]
        for e in cfn.describe_stack_events(StackName="eksctl-shop-nodegroup-workers")["StackEvents"]
        if e["LogicalResourceId"] == "eksctl-shop-nodegroup-workers" and e["ResourceStatus"] == "CREATE_COMPLETE"
    )
    assert cfn.describe_stacks(StackName="eksctl-shop-addons")["Stacks"][0]["CreationTime"] >= nodegroup_done
    # ...every add-on ACTIVE, the EBS CSI driver's service account with its IRSA role
    made = eks_models.addons_of(ACCOUNT_ID, REGION, "shop")
    assert sorted(made) == sorted(ADDONS)
    assert {a.status for a in made.values()} == {"ACTIVE"}
    role_arn = made["aws-ebs-csi-driver"].service_account_role_arn
    assert role_arn is not None
    iam = engine.client("iam")
    role_name = role_arn.rsplit("/", 1)[1]
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    (statement,) = (json.loads(trust) if isinstance(trust, str) else trust)["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert "system:serviceaccount:kube-system:ebs-csi-controller-sa" in statement["Condition"]["StringEquals"].values()

    # When it is deleted
    assert api.call("DELETE", "/clusters/shop").status == 202
    final = api.wait_for("shop", {"DELETED", "DELETE_FAILED"})

    # Then every stack is gone, the add-ons stack first
    assert final["status"] == "DELETED", final.get("failure")
    assert set(stack_statuses(engine, "shop").values()) <= {"DELETE_COMPLETE"}
    events = final["events"]
    assert at(events, "STACK_DELETE_COMPLETE", "eksctl-shop-addons") < at(
        events, "STACK_DELETING", "eksctl-shop-nodegroup-workers"
    )
    assert at(events, "STACK_DELETE_COMPLETE", "eksctl-shop-nodegroup-workers") < at(
        events, "STACK_DELETING", "eksctl-shop-cluster"
    )
    assert "shop" not in engine.client("eks", REGION).list_clusters()["clusters"]
    assert role_name not in [r["RoleName"] for r in iam.list_roles()["Roles"]]


def test_addons_that_need_no_node_make_no_addons_stack(api: Api, engine: LocalEngine) -> None:
    body = request("lean", addons=[{"name": "vpc-cni"}, {"name": "kube-proxy"}], iam={"withOIDC": False})
    assert api.call("POST", "/clusters", body).status == 202

    record = api.wait_for("lean", {"ACTIVE", "FAILED"})

    assert record["status"] == "ACTIVE", record.get("failure")
    assert sorted(record["stacks"]) == ["eksctl-lean-cluster", "eksctl-lean-nodegroup-workers"]
    assert sorted(eks_models.addons_of(ACCOUNT_ID, REGION, "lean")) == ["kube-proxy", "vpc-cni"]


def test_addons_that_need_nodes_on_a_cluster_without_nodes_are_refused_before_anything_is_made(api: Api) -> None:
    body = request("nodeless", managedNodeGroups=[{"name": "idle", "desiredCapacity": 0, "minSize": 0}])

    reply = api.call("POST", "/clusters", body)

    assert reply.status == 422, reply.body
    assert [(f["field"], f["rule"]) for f in reply.body["fields"]] == [
        ("addons[1].name", "addon_needs_nodes"),
        ("addons[3].name", "addon_needs_nodes"),
    ]
    assert "DEGRADED" in reply.body["fields"][0]["message"]
    assert api.call("GET", "/clusters/nodeless").status == 404


def test_the_ebs_csi_driver_without_oidc_is_refused_naming_the_addon(api: Api) -> None:
    reply = api.call("POST", "/clusters", request("no-oidc", iam={"withOIDC": False}))

    assert reply.status == 422, reply.body
    assert [(f["field"], f["rule"]) for f in reply.body["fields"]] == [("addons[3].name", "addon_needs_oidc")]
    assert api.call("GET", "/clusters/no-oidc").status == 404
