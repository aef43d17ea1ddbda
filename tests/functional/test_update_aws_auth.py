"""Tasks `update_aws_auth` and `change_access` against moto and the Kubernetes API emulator."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from chalicelib.kube import awsauth
from chalicelib.kube import client as kubeauth
from chalicelib.model import steps
from chalicelib.model.settings import get_settings
from chalicelib.operations import access, create
from tests.functional.helpers import given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

REGION = "us-east-2"
DEV = "arn:aws:iam::123456789012:role/Dev"


@pytest.fixture
def built(db: Store, clients: Clients, kube: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """A cluster whose stacks are complete, as the workflow leaves it before aws-auth."""
    body = {
        "name": "authz",
        "region": REGION,
        "managedNodeGroups": [{"name": "a"}, {"name": "b"}],
        "iamIdentityMappings": [{"arn": DEV, "username": "dev", "groups": ["developers"]}],
    }
    record = given_a_requested_cluster(db, body)
    cid = record["clusterId"]
    create.create_cluster_stack(step_context(db=db, clients=clients), steps.ClusterStep(name="authz", clusterId=cid))
    states = []
    for group in ("a", "b"):
        ref = create.create_nodegroup_stack(
            step_context(db=db, clients=clients), steps.NodegroupStep(name="authz", clusterId=cid, nodegroup=group)
        )
        states.append(
            create.describe_stack(
                step_context(db=db, clients=clients, settings=get_settings()),
                steps.StackStep(name="authz", clusterId=cid, region=REGION, stack=ref),
            )
        )
    assert (REGION, "authz") in kube
    return {"clusterId": cid, "nodegroupStacks": states}


def aws_auth(clients: Clients) -> dict[str, Any]:
    """aws-auth as the cluster's API server holds it, read with a fresh token."""
    configmap = access.connect(clients, REGION, "authz").get_configmap("kube-system", "aws-auth")
    assert configmap is not None
    return {k: yaml.safe_load(v) for k, v in configmap["data"].items()}


def test_node_roles_and_requested_identities_are_mapped(db: Store, clients: Clients, built: dict[str, Any]) -> None:
    clusters_roles = access.node_roles(built["nodegroupStacks"])

    access.configure_cluster_access(
        step_context(db=db, clients=clients),
        steps.NodegroupStacksDone(name="authz", clusterId=built["clusterId"], nodegroupStacks=built["nodegroupStacks"]),
    )

    mapped = aws_auth(clients)["mapRoles"]
    assert [m["rolearn"] for m in mapped] == [*clusters_roles, DEV]
    assert all(m["groups"] == ["system:bootstrappers", "system:nodes"] for m in mapped[:2])
    assert db.get_cluster("authz")["nodeRoles"] == clusters_roles
    assert db.list_events("authz", built["clusterId"])[-1]["type"] == "AWS_AUTH_UPDATED"


def test_a_retried_step_maps_nothing_twice(db: Store, clients: Clients, built: dict[str, Any]) -> None:
    access.configure_cluster_access(
        step_context(db=db, clients=clients),
        steps.NodegroupStacksDone(name="authz", clusterId=built["clusterId"], nodegroupStacks=built["nodegroupStacks"]),
    )
    access.configure_cluster_access(
        step_context(db=db, clients=clients),
        steps.NodegroupStacksDone(name="authz", clusterId=built["clusterId"], nodegroupStacks=built["nodegroupStacks"]),
    )

    assert len(aws_auth(clients)["mapRoles"]) == 3


def test_parallel_edits_through_the_task_are_all_kept(db: Store, clients: Clients, built: dict[str, Any]) -> None:
    access.configure_cluster_access(
        step_context(db=db, clients=clients),
        steps.NodegroupStacksDone(name="authz", clusterId=built["clusterId"], nodegroupStacks=built["nodegroupStacks"]),
    )
    arns = [f"arn:aws:iam::123456789012:role/Team{i}" for i in range(12)]
    errors: list[Exception] = []

    def add(arn: str) -> None:
        try:
            change = {"action": access.ADD, "arn": arn, "groups": ["team"]}
            access.apply_access_change(
                step_context(db=db, clients=clients),
                steps.AccessChangeStep(name="authz", clusterId=built["clusterId"], region=REGION, change=change),
            )
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(arn,)) for arn in arns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    mapped = {m["rolearn"] for m in aws_auth(clients)["mapRoles"]}
    assert set(arns) <= mapped
    assert len(mapped) == 3 + len(arns)


def test_a_concurrent_writer_between_read_and_write_is_not_lost(
    db: Store, clients: Clients, built: dict[str, Any]
) -> None:
    access.configure_cluster_access(
        step_context(db=db, clients=clients),
        steps.NodegroupStacksDone(name="authz", clusterId=built["clusterId"], nodegroupStacks=built["nodegroupStacks"]),
    )
    kube = access.connect(clients, REGION, "authz")
    calls = {"n": 0}

    def edit_with_interference(auth: awsauth.AuthMap) -> awsauth.AuthMap:
        calls["n"] += 1
        if calls["n"] == 1:  # someone else writes after our read, before our write
            other = kube.get_configmap("kube-system", "aws-auth")
            assert other is not None
            theirs = awsauth.parse(other)
            theirs.accounts.append("111122223333")
            kube.replace_configmap("kube-system", "aws-auth", awsauth.render(theirs, other))
        auth.users.append({"userarn": "arn:aws:iam::123456789012:user/me", "username": "me"})
        return auth

    kubeauth.update_aws_auth(kube, edit_with_interference, sleep=lambda _: None)

    final = aws_auth(clients)
    assert calls["n"] == 2
    assert final["mapAccounts"] == ["111122223333"]
    assert final["mapUsers"] == [{"userarn": "arn:aws:iam::123456789012:user/me", "username": "me"}]


def test_removing_a_node_role_through_the_task_is_refused(db: Store, clients: Clients, built: dict[str, Any]) -> None:
    access.configure_cluster_access(
        step_context(db=db, clients=clients),
        steps.NodegroupStacksDone(name="authz", clusterId=built["clusterId"], nodegroupStacks=built["nodegroupStacks"]),
    )
    node_role = db.get_cluster("authz")["nodeRoles"][0]

    with pytest.raises(awsauth.ProtectedMappingError):
        change = {"action": access.REMOVE, "arn": node_role}
        access.apply_access_change(
            step_context(db=db, clients=clients),
            steps.AccessChangeStep(name="authz", clusterId=built["clusterId"], region=REGION, change=change),
        )
    assert node_role in {m["rolearn"] for m in aws_auth(clients)["mapRoles"]}


def test_a_retried_removal_whose_first_attempt_removed_the_mapping_is_done(
    db: Store, clients: Clients, built: dict[str, Any]
) -> None:
    access.configure_cluster_access(
        step_context(db=db, clients=clients),
        steps.NodegroupStacksDone(name="authz", clusterId=built["clusterId"], nodegroupStacks=built["nodegroupStacks"]),
    )
    change = {"action": access.REMOVE, "arn": DEV}
    access.apply_access_change(
        step_context(db=db, clients=clients),
        steps.AccessChangeStep(name="authz", clusterId=built["clusterId"], region=REGION, change=change),
    )

    again = access.apply_access_change(
        step_context(db=db, clients=clients),
        steps.AccessChangeStep(name="authz", clusterId=built["clusterId"], region=REGION, change=change, retryCount=1),
    )

    assert DEV not in {m["rolearn"] for m in again["mapRoles"]}
    assert DEV not in {m["rolearn"] for m in aws_auth(clients)["mapRoles"]}


def test_removing_a_mapping_that_is_not_there_fails_on_the_first_attempt(
    db: Store, clients: Clients, built: dict[str, Any]
) -> None:
    access.configure_cluster_access(
        step_context(db=db, clients=clients),
        steps.NodegroupStacksDone(name="authz", clusterId=built["clusterId"], nodegroupStacks=built["nodegroupStacks"]),
    )

    with pytest.raises(awsauth.MappingNotFoundError):
        change = {"action": access.REMOVE, "arn": "arn:aws:iam::123456789012:role/Nobody"}
        access.apply_access_change(
            step_context(db=db, clients=clients),
            steps.AccessChangeStep(name="authz", clusterId=built["clusterId"], region=REGION, change=change),
        )
