"""EMR on EKS from a ClusterConfig (`iamIdentityMappings[].serviceName: emr-containers`): the namespace, Role
and RoleBinding in the cluster, the service-linked role in aws-auth, GET .../config gives it back, and DELETE."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from chalicelib.kube import emr
from local.kube.objects import NAMESPACES, ROLEBINDINGS, ROLES
from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

NAME = "emr-mapping"
REGION = "eu-west-1"
DEV = "arn:aws:iam::123456789012:role/dev"
CONFIG = {
    "apiVersion": "eksctl.io/v1alpha5",
    "kind": "ClusterConfig",
    "metadata": {"name": NAME, "region": REGION},
    "managedNodeGroups": [{"name": "ng", "desiredCapacity": 1}],
    "iamIdentityMappings": [
        {"arn": DEV, "username": "dev", "groups": ["developers"]},
        {"serviceName": "emr-containers", "namespace": "spark-jobs"},
    ],
}


def test_an_emr_mapping_gives_emr_its_namespace_and_maps_its_service_linked_role(api: Api, engine: LocalEngine) -> None:
    raw = yaml.safe_dump(CONFIG).encode()
    status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/x-yaml"})
    assert status == 202, body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"}, timeout=180)
    assert record["status"] == "ACTIVE", record.get("failure")

    kube = engine.emulator(NAME, REGION)
    assert kube.objects.get(NAMESPACES, "", "spark-jobs")["status"] == {"phase": "Active"}
    role = kube.objects.get(ROLES, "spark-jobs", "emr-containers")
    assert role["apiVersion"] == "rbac.authorization.k8s.io/v1" and role["rules"] == emr.RULES
    binding = kube.objects.get(ROLEBINDINGS, "spark-jobs", "emr-containers")
    assert binding["roleRef"]["name"] == "emr-containers"
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "emr-containers"}]

    cluster_arn = engine.client("eks", REGION).describe_cluster(name=NAME)["cluster"]["arn"]
    account = cluster_arn.split(":")[4]
    service_role = f"arn:aws:iam::{account}:role/AWSServiceRoleForAmazonEMRContainers"
    mapped = yaml.safe_load(kube.objects.configmap_data("kube-system", "aws-auth")["mapRoles"])
    assert {"rolearn": service_role, "username": "emr-containers"} in mapped  # no groups: the Role only
    assert {"rolearn": DEV, "username": "dev", "groups": ["developers"]} in mapped
    read = api.call("GET", f"/clusters/{NAME}/access").body
    assert {"rolearn": service_role, "username": "emr-containers"} in read["mapRoles"]

    status, exported, _ = send(api, "GET", f"/clusters/{NAME}/config")
    assert status == 200
    given = yaml.safe_load(exported)["iamIdentityMappings"][1]
    assert (given["serviceName"], given["namespace"]) == ("emr-containers", "spark-jobs")

    # The namespace's objects are made at create only: the access route refuses a service mapping.
    refused = api.call("POST", f"/clusters/{NAME}/access", {"serviceName": "emr-containers", "namespace": "other"})
    assert refused.status == 422, refused.body
    assert [(f["field"], f["rule"]) for f in refused.body["fields"]] == [("serviceName", "create_only")]

    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    assert api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=120)["status"] == "DELETED"
