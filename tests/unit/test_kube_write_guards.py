"""The emulator's API server on writes that need more than RBAC's yes or no: escalation prevention for roles and
bindings, impersonation, status writes, patch and scale retries, and watches across revisions nothing recorded.

Requests go straight to KubeEmulator._handle (no HTTP) with the caller's identity fixed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.kube import KubeEmulator, authz
from local.kube.api import ResourceApi
from local.kube.objects import CONFIGMAPS, DEPLOYMENTS, NAMESPACES, PODS, ObjectStore
from local.kube.selectors import parse_fields, parse_labels
from local.kube.status import ApiError
from local.kube.transport import Request

RBAC = "/apis/rbac.authorization.k8s.io/v1"
TEAM_BINDINGS = f"{RBAC}/namespaces/team/rolebindings"
TEAM_ROLES = f"{RBAC}/namespaces/team/roles"
PODS_PATH = "/api/v1/namespaces/team/pods"
DEPLOYMENTS_PATH = "/apis/apps/v1/namespaces/team/deployments"
ALICE = ("alice", ["team", "system:authenticated"])


@pytest.fixture
def kube() -> KubeEmulator:
    emulator = KubeEmulator("c", "us-west-2", sts_hosts=set(), creator_arn="arn:aws:iam::123456789012:user/creator")
    emulator.objects.create("", {"metadata": {"name": "team"}}, NAMESPACES)
    # alice is bound to the built-in `admin` ClusterRole in namespace team, and to nothing else.
    emulator.objects.create("team", binding("alice-admin", "ClusterRole", "admin", "alice"), _kind("rolebindings"))
    return emulator


def _kind(resource: str) -> Any:
    from local.kube.objects import KINDS

    return KINDS[resource]


def binding(name: str, kind: str, role: str, user: str = "mallory") -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"kind": "User", "name": user}],
    }


def role(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name}, "rules": rules}


def call(
    kube: KubeEmulator,
    method: str,
    path: str,
    body: Any = None,
    *,
    as_: tuple[str, list[str]] = ALICE,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    kube._authenticate = lambda authorization: (as_[0], list(as_[1]))  # type: ignore[method-assign]
    data = b"" if body is None else json.dumps(body).encode()
    all_headers = {"content-type": content_type, **(headers or {})}
    try:
        return kube._handle(Request(method, path, {}, all_headers, data))
    except ApiError as error:
        return error.code, {"message": error.message, "reason": error.reason}


# --- 1. RBAC escalation prevention ---


def test_a_namespace_admin_cannot_bind_cluster_admin_or_write_a_wildcard_role(kube: KubeEmulator) -> None:
    code, answer = call(kube, "POST", TEAM_BINDINGS, binding("esc", "ClusterRole", "cluster-admin"))
    assert code == 403
    assert answer["message"].startswith(
        'rolebindings.rbac.authorization.k8s.io "esc" is forbidden: user "alice" '
        '(groups=["team" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:'
    )
    assert 'Resources:["*"]' in answer["message"]
    wildcard = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
    assert call(kube, "POST", TEAM_ROLES, role("everything", wildcard))[0] == 403
    # Nothing was stored, and dry runs are refused alike.
    assert call(kube, "GET", f"{TEAM_BINDINGS}/esc")[0] == 404
    assert kube.objects.objects["roles"].get(("team", "everything")) is None


def test_a_namespace_admin_may_bind_admin_edit_and_view_and_write_roles_within_its_rights(kube: KubeEmulator) -> None:
    for name in ("admin", "edit", "view"):
        assert call(kube, "POST", TEAM_BINDINGS, binding(f"b-{name}", "ClusterRole", name))[0] == 201
    pods = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "create"]}
    logs = {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]}
    assert call(kube, "POST", TEAM_ROLES, role("pods", pods, logs))[0] == 201
    # One verb more than admin holds (creating pods/log) is refused.
    assert call(kube, "POST", TEAM_ROLES, role("logs", {**logs, "verbs": ["create"]}))[0] == 403
    assert call(kube, "POST", TEAM_BINDINGS, binding("b-pods", "Role", "pods"))[0] == 201
    # A binding to a role that is not there is Kubernetes' 404 for that role.
    assert call(kube, "POST", TEAM_BINDINGS, binding("b-none", "Role", "none"))[0] == 404


def test_growing_a_role_past_the_callers_rights_by_update_or_patch_is_refused(kube: KubeEmulator) -> None:
    pods = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
    created = call(kube, "POST", TEAM_ROLES, role("grow", pods))[1]
    nodes = {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}
    assert call(kube, "PUT", f"{TEAM_ROLES}/grow", {**created, "rules": [pods, nodes]})[0] == 403
    patch = {"rules": [pods, nodes]}
    code, _ = call(kube, "PATCH", f"{TEAM_ROLES}/grow", patch, content_type="application/merge-patch+json")
    assert code == 403
    assert kube.objects.objects["roles"][("team", "grow")]["rules"] == [pods]


def test_bind_and_escalate_verbs_and_system_masters_skip_the_check(kube: KubeEmulator) -> None:
    creator = ("creator", [authz.MASTERS, "system:authenticated"])
    grants = role(
        "grants",
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "verbs": ["bind"],
            "resourceNames": ["cluster-admin"],
        },
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]},
    )
    assert call(kube, "POST", TEAM_ROLES, grants, as_=creator)[0] == 201
    assert call(kube, "POST", TEAM_BINDINGS, binding("alice-grants", "Role", "grants", "alice"), as_=creator)[0] == 201
    assert call(kube, "POST", TEAM_BINDINGS, binding("esc", "ClusterRole", "cluster-admin"))[0] == 201
    wildcard = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
    assert call(kube, "POST", TEAM_ROLES, role("everything", wildcard))[0] == 201
    # bind on cluster-admin only: binding another role beyond alice's rights is still refused.
    node_reader = {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}
    call(kube, "POST", f"{RBAC}/clusterroles", {**role("nodes", node_reader), "kind": "ClusterRole"}, as_=creator)
    assert call(kube, "POST", TEAM_BINDINGS, binding("nodes", "ClusterRole", "nodes"))[0] == 403


def test_held_rules_cover_granted_rules_atom_by_atom() -> None:
    held = [
        {"apiGroups": [""], "resources": ["pods", "*/status"], "verbs": ["get", "list"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"], "resourceNames": ["web"]},
        {"nonResourceURLs": ["/healthz*"], "verbs": ["get"]},
    ]
    covered = [
        {"apiGroups": [""], "resources": ["pods", "services/status"], "verbs": ["list"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"], "resourceNames": ["web"]},
        {"nonResourceURLs": ["/healthz/ready"], "verbs": ["get"]},
    ]
    assert authz.rules_not_held(held, covered) == []
    not_covered = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]},
        {"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]},
        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
    ]
    assert authz.rules_not_held(held, not_covered) == not_covered


# --- 5. impersonation ---


def test_impersonation_needs_the_impersonate_verb_then_acts_as_the_user_named(kube: KubeEmulator) -> None:
    as_bob = {"impersonate-user": "bob", "impersonate-group": "devs\nops"}
    code, answer = call(kube, "GET", PODS_PATH, headers=as_bob)
    assert code == 403
    assert answer["message"] == (
        'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" '
        "at the cluster scope"
    )
    creator = ("creator", [authz.MASTERS, "system:authenticated"])
    # The creator may impersonate anyone; acting as bob (no rights of his own) it may not list pods in team.
    code, answer = call(kube, "GET", PODS_PATH, headers=as_bob, as_=creator)
    assert code == 403 and 'User "bob" cannot list resource "pods"' in answer["message"]
    call(
        kube,
        "POST",
        TEAM_BINDINGS,
        {**binding("ops-view", "ClusterRole", "view"), "subjects": [{"kind": "Group", "name": "ops"}]},
        as_=creator,
    )
    assert call(kube, "GET", PODS_PATH, headers=as_bob, as_=creator)[0] == 200
    # Impersonating system:masters makes the caller a cluster admin: only with the right to impersonate that group.
    as_master = {"impersonate-user": "bob", "impersonate-group": authz.MASTERS}
    assert call(kube, "GET", "/api/v1/nodes", headers=as_master)[0] == 403
    assert call(kube, "GET", PODS_PATH, headers={"impersonate-group": "ops"}, as_=creator)[0] == 400


def test_impersonating_a_service_account_uid_and_extra_checks_each(kube: KubeEmulator) -> None:
    creator = ("creator", [authz.MASTERS, "system:authenticated"])
    rules = [
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"], "resourceNames": ["ci"]},
    ]
    call(kube, "POST", TEAM_ROLES, {**role("imp"), "rules": rules}, as_=creator)
    call(kube, "POST", TEAM_BINDINGS, binding("alice-imp", "Role", "imp", "alice"), as_=creator)
    as_ci = {"impersonate-user": "system:serviceaccount:team:ci"}
    # ci may do nothing, but the impersonation itself was allowed: the 403 names ci.
    code, answer = call(kube, "GET", PODS_PATH, headers=as_ci)
    assert code == 403 and 'User "system:serviceaccount:team:ci"' in answer["message"]
    assert call(kube, "GET", PODS_PATH, headers={**as_ci, "impersonate-uid": "1234"})[1]["message"].startswith(
        'uids.authentication.k8s.io "1234" is forbidden'
    )
    code, answer = call(kube, "GET", PODS_PATH, headers={**as_ci, "impersonate-extra-scopes": "view"})
    assert code == 403 and 'cannot impersonate resource "userextras/scopes"' in answer["message"]


# --- 2. status writes keep the stored metadata ---


def pod(name: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }


def test_a_status_write_changes_status_only_not_labels_annotations_owners_or_finalizers(kube: KubeEmulator) -> None:
    creator = ("creator", [authz.MASTERS, "system:authenticated"])
    created = call(kube, "POST", PODS_PATH, pod(), as_=creator)[1]
    meta = {
        **created["metadata"],
        "labels": {"app": "evil"},
        "annotations": {"a": "b"},
        "finalizers": ["x/y"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "o", "uid": "u"}],
    }
    body = {**created, "metadata": meta, "status": {"phase": "Running"}}
    code, written = call(kube, "PUT", f"{PODS_PATH}/web/status", body, as_=creator)
    assert code == 200 and written["status"]["phase"] == "Running"
    stored = kube.objects.get(PODS, "team", "web")["metadata"]
    assert stored["labels"] == {"app": "web"}
    assert not {"annotations", "finalizers", "ownerReferences"} & set(stored)
    # The resourceVersion is still the caller's precondition.
    assert call(kube, "PUT", f"{PODS_PATH}/web/status", body, as_=creator)[0] == 409


# --- 3. patch and scale retry when someone wrote in between, unless the body names a resourceVersion ---


def racing(kube: KubeEmulator, monkeypatch: pytest.MonkeyPatch, kind: Any, name: str) -> list[int]:
    """Make the store's next replace of `name` lose a race: a controller's write lands just before it."""
    store, real = kube.objects, kube.objects.replace
    raced: list[int] = []

    def replace(namespace: str, obj_name: str, obj: dict[str, Any], obj_kind: Any = CONFIGMAPS) -> dict[str, Any]:
        if obj_name == name and not raced:
            current = store.get(kind, namespace, obj_name)
            real(namespace, obj_name, {**current, "status": {**(current.get("status") or {}), "x": 1}}, obj_kind)
            raced.append(store.revision)
        return real(namespace, obj_name, obj, obj_kind)

    monkeypatch.setattr(store, "replace", replace)
    return raced


def test_a_patch_racing_a_controller_write_is_retried_on_the_newest_version(
    kube: KubeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    creator = ("creator", [authz.MASTERS, "system:authenticated"])
    call(kube, "POST", PODS_PATH, pod(), as_=creator)
    raced = racing(kube, monkeypatch, PODS, "web")
    patch = {"metadata": {"labels": {"tier": "front"}}}
    code, answer = call(
        kube, "PATCH", f"{PODS_PATH}/web", patch, as_=creator, content_type="application/merge-patch+json"
    )
    assert raced and code == 200, answer
    assert answer["metadata"]["labels"] == {"app": "web", "tier": "front"}
    # A patch naming a stale resourceVersion is the caller's precondition: 409.
    stale = {"metadata": {"resourceVersion": "1", "labels": {"tier": "back"}}}
    assert (
        call(kube, "PATCH", f"{PODS_PATH}/web", stale, as_=creator, content_type="application/merge-patch+json")[0]
        == 409
    )
    json_patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}]
    assert call(kube, "PATCH", f"{PODS_PATH}/web", json_patch, as_=creator, content_type="application/json-patch+json")[
        0
    ] in {409, 422}


def test_a_scale_racing_a_controller_write_is_retried(kube: KubeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    creator = ("creator", [authz.MASTERS, "system:authenticated"])
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod()["spec"]},
        },
    }
    assert call(kube, "POST", DEPLOYMENTS_PATH, deployment, as_=creator)[0] == 201
    raced = racing(kube, monkeypatch, DEPLOYMENTS, "web")
    code, answer = call(
        kube,
        "PATCH",
        f"{DEPLOYMENTS_PATH}/web/scale",
        {"spec": {"replicas": 3}},
        as_=creator,
        content_type="application/merge-patch+json",
    )
    assert raced and code == 200, answer
    assert kube.objects.get(DEPLOYMENTS, "team", "web")["spec"]["replicas"] == 3
    scale = call(kube, "GET", f"{DEPLOYMENTS_PATH}/web/scale", as_=creator)[1]
    raced.clear()
    code, answer = call(kube, "PUT", f"{DEPLOYMENTS_PATH}/web/scale", {**scale, "spec": {"replicas": 4}}, as_=creator)
    assert raced and code == 409  # the Scale it sent named the version it read


# --- 4. a watch moves past revisions no change was recorded for ---


def test_a_watch_advances_past_a_revision_bumped_without_a_recorded_change(kube: KubeEmulator) -> None:
    store = kube.objects
    store.create("team", {"metadata": {"name": "first"}})
    since = store.revision
    with store.lock:  # as a fault hook does: a write that stores without recording a change
        current = store.configmaps[("team", "first")]
        meta = current["metadata"]
        store.configmaps[("team", "first")] = store.stored(
            {"metadata": {"name": "first"}, "data": {"k": "v"}}, "team", meta["uid"], meta["creationTimestamp"]
        )
    assert store.changes_and_revision(since) == ([], store.revision)
    api = ResourceApi(store, list, store.create, store.replace, lambda: True)
    labels, fields = parse_labels(""), parse_fields("", "ConfigMap")
    calls: list[int] = []
    real_wait = store.wait_for_change

    def wait(revision: int, timeout: float) -> int:
        calls.append(revision)
        return real_wait(revision, timeout)

    store.wait_for_change = wait  # type: ignore[method-assign]
    assert list(api._events(CONFIGMAPS, "team", str(since), labels, fields, None, "", 1.5)) == []
    # It waited up to a second at a time at the store's revision, not spinning on the unrecorded one.
    assert 1 <= len(calls) <= 3 and calls[-1] == store.revision
    # Changes recorded after it still reach a watch from before it.
    store.create("team", {"metadata": {"name": "second"}})
    events = api._events(CONFIGMAPS, "team", str(since), labels, fields, None, "", 0.5)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "second")]


# --- 6. Services take addresses in the cluster's Service range ---


def test_service_ips_follow_the_clusters_service_cidr() -> None:
    from local.kube.controllers import KubeControllers
    from local.kube.objects import SERVICES

    emulator = KubeEmulator(
        "c",
        "us-west-2",
        sts_hosts=set(),
        creator_arn="arn:aws:iam::123456789012:user/creator",
        service_cidr="172.20.0.0/16",
        controllers=lambda kube: KubeControllers(kube.objects, list),
    )
    store = emulator.objects
    assert store.get(SERVICES, "default", "kubernetes")["spec"]["clusterIP"] == "172.20.0.1"
    assert emulator.controllers is not None
    emulator.controllers.seed()
    assert store.get(SERVICES, "kube-system", "kube-dns")["spec"]["clusterIP"] == "172.20.0.10"
    store.create("default", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}, SERVICES)
    assert store.get(SERVICES, "default", "web")["spec"]["clusterIP"].startswith("172.20.")
    # Without a range named, EKS's 10.100.0.0/16.
    assert ObjectStore().get(SERVICES, "default", "kubernetes")["spec"]["clusterIP"] == "10.100.0.1"
