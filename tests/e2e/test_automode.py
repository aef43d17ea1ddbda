"""EKS Auto Mode end to end: a ClusterConfig with autoModeConfig from POST to ACTIVE, exported, and DELETED."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml

from local import eks_models
from local.engine import ACCOUNT_ID
from local.nodes import nodes_of
from tests.e2e.test_clusterconfig import send
from tests.unit.test_clusterconfig import EXAMPLES

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "eu-west-1"


def nodes_of_cluster(name: str) -> list[dict[str, object]]:
    from moto.eks.models import eks_backends

    return nodes_of(eks_backends[ACCOUNT_ID][REGION].clusters[name], REGION)


NAME = "auto-mode"
YAML = {"Content-Type": "application/x-yaml"}


def test_an_auto_mode_cluster_becomes_active_with_its_node_pools(api: Api, engine: LocalEngine) -> None:
    raw = (EXAMPLES / "auto-mode.yaml").read_bytes()
    status, body, _ = send(api, "POST", "/clusters", raw, **YAML)
    assert status == 202, body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"}, timeout=120)
    assert record["status"] == "ACTIVE", record.get("failure")

    described = engine.client("eks", REGION).describe_cluster(name=NAME)["cluster"]
    compute = described["computeConfig"]
    assert compute["enabled"] is True
    assert compute["nodePools"] == ["general-purpose", "system"]
    role = compute["nodeRoleArn"]
    assert described["storageConfig"] == {"blockStorage": {"enabled": True}}
    assert described["kubernetesNetworkConfig"]["elasticLoadBalancing"] == {"enabled": True}
    # The node role is the cluster stack's, and no node group was made.
    stack = engine.client("cloudformation", REGION).describe_stack_resources(StackName=f"eksctl-{NAME}-cluster")
    made = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in stack["StackResources"]}
    assert engine.client("iam").get_role(RoleName=made["AutoModeNodeRole"])["Role"]["Arn"] == role
    assert engine.client("eks", REGION).list_nodegroups(clusterName=NAME)["nodegroups"] == []
    # The EBS CSI driver's controller runs on Auto Mode's nodes: its add-on is ACTIVE.
    made = eks_models.addons_of(ACCOUNT_ID, REGION, NAME)
    assert sorted(made) == ["aws-ebs-csi-driver", "eks-pod-identity-agent"]
    assert {a.status for a in made.values()} == {"ACTIVE"}
    cluster = engine.client("eks", REGION).describe_cluster(name=NAME)["cluster"]
    nodes = nodes_of_cluster(NAME)
    assert sorted(n["metadata"]["labels"]["karpenter.sh/nodepool"] for n in nodes) == ["general-purpose", "system"]
    assert {n["metadata"]["labels"]["eks.amazonaws.com/compute-type"] for n in nodes} == {"auto"}
    assert cluster["accessConfig"]["authenticationMode"] == "API"


def test_the_exported_config_gives_auto_mode_back(api: Api) -> None:
    if api.call("GET", f"/clusters/{NAME}").status == 404:  # run on its own
        send(api, "POST", "/clusters", (EXAMPLES / "auto-mode.yaml").read_bytes(), **YAML)
    api.wait_for(NAME, {"ACTIVE"}, timeout=120)

    status, exported, _ = send(api, "GET", f"/clusters/{NAME}/config")

    assert status == 200
    document = yaml.safe_load(exported)
    assert document["autoModeConfig"] == {"enabled": True, "nodePools": ["general-purpose", "system"]}
    assert "managedNodeGroups" not in document and "nodeGroups" not in document


def test_a_node_group_may_be_added_to_a_running_auto_mode_cluster(api: Api) -> None:
    """Refused with the cluster (as eksctl), but `create nodegroup` on the running cluster works."""
    from tests.e2e.test_nodegroups import settled

    added = api.call("POST", f"/clusters/{NAME}/nodegroups", {"name": "extra", "desiredCapacity": 1})
    assert added.status == 202, added.body
    record = settled(api, NAME, timeout=90)
    assert [g["name"] for g in record["spec"]["managedNodeGroups"]] == ["extra"]
    assert record["status"] == "ACTIVE" and "lastFailure" not in record


def test_an_auto_mode_cluster_is_deleted(api: Api, engine: LocalEngine) -> None:
    if api.call("GET", f"/clusters/{NAME}").status == 404:  # run on its own
        send(api, "POST", "/clusters", (EXAMPLES / "auto-mode.yaml").read_bytes(), **YAML)
    api.wait_for(NAME, {"ACTIVE"}, timeout=120)

    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    assert api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=120)["status"] == "DELETED"
    assert NAME not in engine.client("eks", REGION).list_clusters()["clusters"]


@pytest.mark.parametrize(
    ("auto", "field", "rule"),
    [
        (
            {"enabled": True, "nodePools": [], "nodeRoleARN": "arn:aws:iam::123456789012:role/eksctl-x"},
            "autoModeConfig.nodeRoleARN",
            "node_role_without_pools",
        ),
        (
            # Another cluster's node role, named as ours: its policies would reach these nodes.
            {"enabled": True, "nodeRoleARN": "arn:aws:iam::123456789012:role/eksctl-other-AutoModeNodeRole-1"},
            "autoModeConfig.nodeRoleARN",
            "node_role_not_passable",
        ),
    ],
)
def test_eksctls_refusals_are_a_422(api: Api, auto: dict[str, object], field: str, rule: str) -> None:
    document = {"apiVersion": "eksctl.io/v1alpha5", "kind": "ClusterConfig", "metadata": {"name": "refused-auto"}}
    status, body, _ = send(
        api, "POST", "/clusters", yaml.safe_dump({**document, "autoModeConfig": auto}).encode(), **YAML
    )

    assert status == 422, body
    assert (field, rule) in {(f["field"], f["rule"]) for f in body["fields"]}


def test_node_groups_with_auto_mode_are_a_422(api: Api) -> None:
    document = {
        "apiVersion": "eksctl.io/v1alpha5",
        "kind": "ClusterConfig",
        "metadata": {"name": "refused-auto"},
        "autoModeConfig": {"enabled": True},
        "managedNodeGroups": [{"name": "ng"}],
    }
    status, body, _ = send(api, "POST", "/clusters", yaml.safe_dump(document).encode(), **YAML)
    assert status == 422, body
    assert {(f["field"], f["rule"]) for f in body["fields"]} == {("managedNodeGroups", "auto_mode_nodegroups")}
    assert api.call("GET", "/clusters/refused-auto").status == 404

    document = {**document, "managedNodeGroups": [], "addons": [{"name": "coredns"}]}
    status, body, _ = send(api, "POST", "/clusters", yaml.safe_dump(document).encode(), **YAML)
    assert status == 422, body
    assert ("addons[0].name", "auto_mode_addon") in {(f["field"], f["rule"]) for f in body["fields"]}
