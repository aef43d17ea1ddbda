"""Service accounts with IAM roles: the Kubernetes part against the API emulator, and the workflow step on moto."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.cfn import kinds
from chalicelib.cfn.serviceaccounts import OUTPUT_ROLE
from chalicelib.kube.client import KubeClient, KubeConflictError
from chalicelib.kube.serviceaccounts import ROLE_ARN_ANNOTATION, apply_service_account
from chalicelib.model import steps
from chalicelib.model.settings import get_settings
from chalicelib.operations import create, serviceaccounts
from local.kube import KubeEmulator
from local.kube.objects import SERVICEACCOUNTS
from tests.functional.helpers import given_a_requested_cluster, stack_outputs, step_context
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

ROLE = "arn:aws:iam::123456789012:role/reader"
OTHER_ROLE = "arn:aws:iam::123456789012:role/other"


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


def service_account(namespace: str, name: str, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace, **metadata},
    }


# --- the emulator serves namespaces and service accounts ---


def test_the_emulator_starts_with_the_clusters_namespaces(emulator: KubeEmulator) -> None:
    status, listed = Client(emulator).call("GET", "/api/v1/namespaces", make_token())

    assert status == 200 and listed["kind"] == "NamespaceList"
    assert [n["metadata"]["name"] for n in listed["items"]] == [
        "default",
        "kube-node-lease",
        "kube-public",
        "kube-system",
    ]
    assert all(n["status"] == {"phase": "Active"} for n in listed["items"])
    status, resources = Client(emulator).call("GET", "/api/v1", make_token())
    assert {"namespaces", "serviceaccounts"} <= {r["name"] for r in resources["resources"]}


def test_service_accounts_need_their_namespace_and_keep_to_resource_versions(emulator: KubeEmulator) -> None:
    client, token = Client(emulator), make_token()
    path = "/api/v1/namespaces/apps/serviceaccounts"

    status, body = client.call("POST", path, token, service_account("apps", "reader"))
    assert (status, body["reason"], body["details"]["kind"]) == (404, "NotFound", "namespaces")

    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}
    assert client.call("POST", "/api/v1/namespaces", token, namespace)[0] == 201
    assert client.call("POST", "/api/v1/namespaces", token, namespace)[1]["reason"] == "AlreadyExists"
    status, created = client.call("POST", path, token, service_account("apps", "reader"))
    assert status == 201 and created["metadata"]["namespace"] == "apps"
    status, body = client.call("POST", path, token, service_account("apps", "reader"))
    assert (status, body["reason"]) == (409, "AlreadyExists")

    stale = {**created, "metadata": {**created["metadata"], "labels": {"a": "b"}}}
    assert client.call("PUT", f"{path}/reader", token, stale)[0] == 200
    status, body = client.call("PUT", f"{path}/reader", token, stale)
    assert (status, body["reason"]) == (409, "Conflict")
    assert client.call("GET", f"{path}/absent", token)[0] == 404
    assert [s["metadata"]["name"] for s in client.call("GET", path, token)[1]["items"]] == ["reader"]


def test_a_read_only_caller_cannot_write_service_accounts(emulator: KubeEmulator) -> None:
    status, _ = Client(emulator).call(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts",
        make_token(akid="AKIDREADER"),
        service_account("default", "x"),
    )

    assert status == 401  # the reader is not mapped in aws-auth


# --- create, or merge into what exists ---


def test_a_service_account_is_created_with_its_namespace_labels_and_role(client: KubeClient) -> None:
    outcome = apply_service_account(
        client, "apps", "reader", role_arn=ROLE, labels={"app": "reader"}, annotations={"team": "data"}
    )

    assert outcome == "created"
    assert client.get_namespace("apps") is not None
    made = client.get_serviceaccount("apps", "reader")
    assert made is not None
    assert made["metadata"]["labels"] == {"app": "reader"}
    assert made["metadata"]["annotations"] == {"team": "data", ROLE_ARN_ANNOTATION: ROLE}
    assert apply_service_account(client, "apps", "reader", role_arn=ROLE, labels={"app": "reader"}) == "unchanged"


def test_an_existing_service_account_keeps_its_own_labels_and_annotations(client: KubeClient) -> None:
    client.create_serviceaccount(
        "default",
        service_account(
            "default", "reader", labels={"keep": "me"}, annotations={"kept": "too", ROLE_ARN_ANNOTATION: OTHER_ROLE}
        )
        | {"automountServiceAccountToken": False},
    )

    outcome = apply_service_account(client, "default", "reader", role_arn=ROLE, labels={"app": "reader"})

    assert outcome == "updated"
    merged = client.get_serviceaccount("default", "reader")
    assert merged is not None
    assert merged["metadata"]["labels"] == {"keep": "me", "app": "reader"}
    assert merged["metadata"]["annotations"] == {"kept": "too", ROLE_ARN_ANNOTATION: ROLE}
    assert merged["automountServiceAccountToken"] is False


def test_a_racing_writer_is_read_again_not_overwritten(emulator: KubeEmulator, client: KubeClient) -> None:
    client.create_serviceaccount("default", service_account("default", "reader"))
    original = emulator.objects.replace
    raced: list[bool] = []

    def replace(namespace: str, name: str, obj: dict[str, Any], kind: Any = None) -> dict[str, Any]:
        if kind is SERVICEACCOUNTS and not raced:
            raced.append(True)  # another writer labels the account between our read and our write
            current = emulator.objects.get(SERVICEACCOUNTS, namespace, name)
            current["metadata"]["labels"] = {"racer": "won"}
            original(namespace, name, current, SERVICEACCOUNTS)
        return original(namespace, name, obj, kind) if kind else original(namespace, name, obj)

    emulator.objects.replace = replace  # type: ignore[method-assign]
    outcome = apply_service_account(client, "default", "reader", role_arn=ROLE, sleep=lambda _: None)

    assert (outcome, raced) == ("updated", [True])
    merged = client.get_serviceaccount("default", "reader")
    assert merged is not None
    assert merged["metadata"]["labels"] == {"racer": "won"}
    assert merged["metadata"]["annotations"] == {ROLE_ARN_ANNOTATION: ROLE}


def test_a_writer_that_keeps_losing_gives_up(client: KubeClient) -> None:
    class Racing:
        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

        def replace_serviceaccount(self, *_: Any) -> dict[str, Any]:
            raise KubeConflictError("conflict")

    client.create_serviceaccount("default", service_account("default", "reader"))

    with pytest.raises(KubeConflictError, match="gave up after 3"):
        apply_service_account(Racing(), "default", "reader", role_arn=ROLE, sleep=lambda _: None, attempts=3)  # type: ignore[arg-type]


# --- the workflow step, on moto with the emulator behind the cluster ---


def test_apply_service_accounts_annotates_each_account_with_its_stacks_role(
    db: Store, clients: Clients, kube: dict[tuple[str, str], Any]
) -> None:
    region = "us-east-2"
    body = {
        "name": "irsa",
        "region": region,
        "managedNodeGroups": [],
        "iam": {
            "serviceAccounts": [
                {
                    "metadata": {"name": "reader", "namespace": "apps"},
                    "attachPolicyARNs": ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
                },
                {"metadata": {"name": "existing"}, "attachRoleARN": OTHER_ROLE},
                {
                    "metadata": {"name": "only", "namespace": "apps"},
                    "attachPolicyARNs": ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
                    "roleOnly": True,
                },
            ]
        },
    }
    record = given_a_requested_cluster(db, body)
    cid = record["clusterId"]
    ctx = step_context(db=db, clients=clients)
    create.create_cluster_stack(ctx, steps.ClusterStep(name="irsa", clusterId=cid))
    for member in ("apps-reader", "apps-only"):
        create.create_cluster_stack(
            ctx, steps.ClusterStackStep(name="irsa", clusterId=cid, kind=kinds.IAMSERVICEACCOUNT.name, member=member)
        )
    cfn = clients.cloudformation(region)
    roles = {
        m: stack_outputs(cfn, kinds.IAMSERVICEACCOUNT.stack_name("irsa", m))[OUTPUT_ROLE]
        for m in ("apps-reader", "apps-only")
    }

    summary = serviceaccounts.apply_service_accounts(
        step_context(db=db, clients=clients, settings=get_settings()), steps.ClusterStep(name="irsa", clusterId=cid)
    )

    assert [(a["namespace"], a["serviceAccount"], a["outcome"]) for a in summary["serviceAccounts"]] == [
        ("apps", "reader", "created"),
        ("default", "existing", "created"),
        ("apps", "only", "roleOnly"),
    ]
    emulator = kube[(region, "irsa")]
    made = emulator.objects.get(SERVICEACCOUNTS, "apps", "reader")
    assert made["metadata"]["annotations"] == {ROLE_ARN_ANNOTATION: roles["apps-reader"]}
    assert emulator.objects.get(SERVICEACCOUNTS, "default", "existing")["metadata"]["annotations"] == {
        ROLE_ARN_ANNOTATION: OTHER_ROLE
    }
    with pytest.raises(Exception, match="not found"):
        emulator.objects.get(SERVICEACCOUNTS, "apps", "only")
    events = [e["type"] for e in db.list_events("irsa", cid)]
    assert events.count(serviceaccounts.EVENT_APPLIED) == 2 and events.count(serviceaccounts.EVENT_ROLE_ONLY) == 1
    again = serviceaccounts.apply_service_accounts(ctx, steps.ClusterStep(name="irsa", clusterId=cid))
    assert [a["outcome"] for a in again["serviceAccounts"]] == ["unchanged", "unchanged", "roleOnly"]
    # Once a fully private cluster's public endpoint is off, only roleOnly accounts are handled: the others
    # were made before it closed, and the API server can no longer be reached (nothing tries to).
    db.update_cluster("irsa", cid, {"endpointAccess": "private"})
    emulator.reachable = lambda: False
    closed = serviceaccounts.apply_service_accounts(ctx, steps.ClusterStep(name="irsa", clusterId=cid))
    assert [a["outcome"] for a in closed["serviceAccounts"]] == ["roleOnly"]
