"""EMR on EKS's namespace access against the API emulator: the emulator's Roles and RoleBindings, and the grant."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml

from chalicelib.kube import emr
from chalicelib.kube.client import KubeClient, KubeConflictError
from chalicelib.model import steps
from chalicelib.operations import access, create
from local.kube import KubeEmulator
from local.kube.objects import NAMESPACES, ROLEBINDINGS, ROLES
from tests.functional.helpers import given_a_requested_cluster, step_context
from tests.functional.test_kube_emulator import (
    CLUSTER,
    CREATOR,
    IDENTITIES,
    REGION,
    SECRETS,
    STS_HOST,
    Client,
    make_token,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

RBAC = "/apis/rbac.authorization.k8s.io/v1"
STEP_REGION = "us-east-2"


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    emulator = KubeEmulator(
        CLUSTER, REGION, sts_hosts={STS_HOST}, secrets=SECRETS, identities=IDENTITIES, creator_arn=CREATOR
    )
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def client(emulator: KubeEmulator) -> KubeClient:
    return KubeClient(emulator.endpoint, emulator.ca_data, make_token)


# --- the emulator serves Roles and RoleBindings under the RBAC group ---


def test_roles_are_created_read_listed_and_replaced_under_their_resource_version(emulator: KubeEmulator) -> None:
    http, token = Client(emulator), make_token()
    status, created = http.call("POST", f"{RBAC}/namespaces/default/roles", token, emr.role("default"))
    assert status == 201
    assert created["apiVersion"] == "rbac.authorization.k8s.io/v1" and created["kind"] == "Role"
    assert created["rules"] == emr.RULES

    status, listed = http.call("GET", f"{RBAC}/namespaces/default/roles", token)
    assert status == 200 and listed["kind"] == "RoleList"
    assert [r["metadata"]["name"] for r in listed["items"]] == ["emr-containers"]

    stale = {**created, "rules": []}
    fresh = http.call("PUT", f"{RBAC}/namespaces/default/roles/emr-containers", token, stale)
    assert fresh[0] == 200 and fresh[1]["rules"] == []
    status, refused = http.call("PUT", f"{RBAC}/namespaces/default/roles/emr-containers", token, stale)
    assert status == 409 and refused["reason"] == "Conflict"
    status, again = http.call("POST", f"{RBAC}/namespaces/default/roles", token, emr.role("default"))
    assert status == 409 and again["reason"] == "AlreadyExists"


def test_rbac_objects_need_their_namespace_and_are_not_served_under_the_core_api(emulator: KubeEmulator) -> None:
    http, token = Client(emulator), make_token()

    status, body = http.call("POST", f"{RBAC}/namespaces/nowhere/rolebindings", token, emr.role_binding("nowhere"))
    assert status == 404 and body["details"]["kind"] == "namespaces"
    assert http.call("GET", "/api/v1/namespaces/default/roles", token)[0] == 404
    assert http.call("GET", f"{RBAC}/namespaces/default/configmaps", token)[0] == 404
    assert http.call("GET", f"{RBAC}/namespaces/default/roles/missing", token)[0] == 404


# --- the grant ---


def test_the_grant_makes_the_namespace_role_and_binding_and_a_second_one_changes_nothing(
    emulator: KubeEmulator, client: KubeClient
) -> None:
    emr.grant(client, "emr")
    revision = emulator.objects.revision
    emr.grant(client, "emr")

    assert emulator.objects.revision == revision
    assert emulator.objects.get(NAMESPACES, "", "emr")["status"] == {"phase": "Active"}
    assert emulator.objects.get(ROLES, "emr", "emr-containers")["rules"] == emr.RULES
    binding = emulator.objects.get(ROLEBINDINGS, "emr", "emr-containers")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "emr-containers"}
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "emr-containers"}]


def test_a_changed_role_is_put_back_and_keeps_its_own_metadata(emulator: KubeEmulator, client: KubeClient) -> None:
    emr.grant(client, "emr")
    current = client.get_rbac("roles", "emr", "emr-containers")
    assert current is not None
    current["metadata"]["labels"] = {"team": "data"}
    client.replace_rbac("roles", "emr", "emr-containers", {**current, "rules": []})

    assert emr.apply(client, "roles", emr.role("emr")) == "updated"

    role = emulator.objects.get(ROLES, "emr", "emr-containers")
    assert role["rules"] == emr.RULES and role["metadata"]["labels"] == {"team": "data"}


def test_a_write_that_loses_a_race_reads_and_compares_again(emulator: KubeEmulator, client: KubeClient) -> None:
    emr.grant(client, "emr")
    current = client.get_rbac("roles", "emr", "emr-containers")
    assert current is not None
    client.replace_rbac("roles", "emr", "emr-containers", {**current, "rules": []})
    calls = {"n": 0}
    replace = client.replace_rbac

    def racing(resource: str, namespace: str, name: str, body: dict[str, object]) -> dict[str, object]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KubeConflictError("the object has been modified")
        return replace(resource, namespace, name, body)

    client.replace_rbac = racing  # type: ignore[method-assign]

    assert emr.apply(client, "roles", emr.role("emr"), sleep=lambda _: None) == "updated"
    assert calls["n"] == 2
    assert emulator.objects.get(ROLES, "emr", "emr-containers")["rules"] == emr.RULES


# --- the workflow step, on moto and the emulator ---


def test_the_aws_auth_step_grants_emr_once_however_often_it_runs(
    db: Store, clients: Clients, kube: dict[tuple[str, str], KubeEmulator]
) -> None:
    body = {
        "name": "emr",
        "region": STEP_REGION,
        "managedNodeGroups": [{"name": "a"}],
        "iamIdentityMappings": [{"serviceName": "emr-containers", "namespace": "spark"}],
    }
    cid = given_a_requested_cluster(db, body)["clusterId"]
    create.create_cluster_stack(step_context(db=db, clients=clients), steps.ClusterStep(name="emr", clusterId=cid))
    done = steps.NodegroupStacksDone(name="emr", clusterId=cid, nodegroupStacks=[])

    for _ in range(2):  # a retried step finds its own earlier writes
        access.configure_cluster_access(step_context(db=db, clients=clients), done)

    cluster_arn = clients.eks(STEP_REGION).describe_cluster(name="emr")["cluster"]["arn"]
    configmap = access.connect(clients, STEP_REGION, "emr").get_configmap("kube-system", "aws-auth")
    assert configmap is not None
    assert yaml.safe_load(configmap["data"]["mapRoles"]) == [
        {"rolearn": emr.service_role_arn(cluster_arn), "username": "emr-containers"}
    ]
    emulator = kube[(STEP_REGION, "emr")]
    assert emulator.objects.get(ROLES, "spark", "emr-containers")["rules"] == emr.RULES
    assert emulator.objects.get(ROLEBINDINGS, "spark", "emr-containers")["subjects"][0]["name"] == "emr-containers"
