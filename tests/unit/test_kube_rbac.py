"""The emulator's RBAC authorizer and aws-auth/access-entry identities (local.kube.authz), on a bare object store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from local.kube import authz
from local.kube.authz import Attributes, authorize_request, identity_of
from local.kube.objects import ObjectStore
from local.kube.status import ApiError

ACCOUNT = "123456789012"
CREATOR = f"arn:aws:iam::{ACCOUNT}:user/creator"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
DEV_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/carol@example.com"
AUTHENTICATED = ["system:authenticated"]


def create_pod(namespace: str = "default", name: str = "nginx") -> Attributes:
    return Attributes("create", "", "pods", namespace, name)


def put(store: ObjectStore, resource: str, namespace: str, obj: dict[str, Any]) -> None:
    store.objects[resource][(namespace, obj["metadata"]["name"])] = obj


def cluster_role(store: ObjectStore, name: str, *rules: dict[str, Any]) -> None:
    put(store, "clusterroles", "", {"kind": "ClusterRole", "metadata": {"name": name}, "rules": list(rules)})


def role(store: ObjectStore, namespace: str, name: str, *rules: dict[str, Any]) -> None:
    put(store, "roles", namespace, {"kind": "Role", "metadata": {"name": name}, "rules": list(rules)})


def bind(store: ObjectStore, role_name: str, *, kind: str = "User", name: str = "alice", namespace: str = "") -> None:
    """A ClusterRoleBinding (no namespace) or a RoleBinding (in namespace) of a ClusterRole to one subject."""
    subject = {"kind": kind, "name": name}
    binding = {
        "metadata": {"name": f"{role_name}-{name}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
        "subjects": [subject],
    }
    put(store, "rolebindings" if namespace else "clusterrolebindings", namespace, binding)


def allowed(store: ObjectStore, attrs: Attributes, user: str = "alice", groups: list[str] | None = None) -> bool:
    try:
        authorize_request(user, [*(groups or []), *AUTHENTICATED], attrs, store)
    except ApiError as error:
        assert error.code == 403
        return False
    return True


@pytest.fixture
def store() -> ObjectStore:
    return ObjectStore()


# --- the bootstrap policy ---


def test_the_built_in_roles_and_bindings_are_stored_objects_at_revision_zero(store: ObjectStore) -> None:
    roles = {name for _, name in store.objects["clusterroles"]}
    assert {"cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user"} <= roles
    admin_binding = store.objects["clusterrolebindings"][("", "cluster-admin")]
    assert admin_binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}
    ]
    assert admin_binding["roleRef"]["name"] == "cluster-admin"
    assert store.revision == 0
    assert admin_binding["metadata"]["resourceVersion"] == "0"
    assert admin_binding["apiVersion"] == "rbac.authorization.k8s.io/v1"


def test_system_masters_may_do_anything(store: ObjectStore) -> None:
    assert allowed(
        store, Attributes("delete", "apps", "deployments", "kube-system", "coredns"), "root", ["system:masters"]
    )
    assert allowed(store, Attributes("get", "", "", path="/metrics"), "root", ["system:masters"])


def test_system_masters_needs_no_binding(store: ObjectStore) -> None:
    del store.objects["clusterrolebindings"][("", "cluster-admin")]
    assert allowed(store, create_pod(), "root", ["system:masters"])
    assert not allowed(store, create_pod(), "root", ["developers"])


def test_a_user_subject_names_one_user(store: ObjectStore) -> None:
    bind(store, "edit", name="bob")
    assert allowed(store, create_pod(), "bob")
    assert not allowed(store, create_pod(), "alice")


def test_a_user_bound_to_cluster_admin_may_do_anything(store: ObjectStore) -> None:
    bind(store, "cluster-admin")
    assert allowed(store, Attributes("delete", "", "nodes", "", "n1"))
    assert allowed(store, Attributes("get", "", "", path="/logs/x"))


def test_every_authenticated_user_may_reach_discovery_but_nothing_else(store: ObjectStore) -> None:
    for path in ("/api", "/apis", "/apis/apps/v1", "/version", "/openapi/v2", "/openapi/v3/api/v1"):
        assert allowed(store, Attributes("get", "", "", path=path)), path
    assert not allowed(store, Attributes("get", "", "", path="/metrics"))
    assert not allowed(store, Attributes("list", "", "pods", "default"))
    assert not allowed(store, Attributes("list", "", "namespaces"))


def test_view_reads_workloads_but_not_secrets_and_writes_nothing(store: ObjectStore) -> None:
    bind(store, "view", kind="Group", name="readonly")
    reader = {"user": "bob", "groups": ["readonly"]}
    assert allowed(store, Attributes("list", "", "pods", "default"), **reader)
    assert allowed(store, Attributes("get", "apps", "deployments", "default", "web"), **reader)
    assert allowed(store, Attributes("list", "", "pods"), **reader)  # across namespaces, through a ClusterRoleBinding
    assert not allowed(store, Attributes("get", "", "secrets", "default", "token"), **reader)
    assert not allowed(store, create_pod(), **reader)
    assert not allowed(store, Attributes("delete", "", "services", "default", "web"), **reader)


def test_edit_writes_workloads_but_not_access_control(store: ObjectStore) -> None:
    bind(store, "edit")
    assert allowed(store, create_pod())
    assert allowed(store, Attributes("patch", "apps", "deployments", "default", "web", "scale"))
    assert allowed(store, Attributes("get", "", "secrets", "default", "token"))
    assert not allowed(store, Attributes("create", "rbac.authorization.k8s.io", "rolebindings", "default"))


def test_admin_adds_roles_and_rolebindings(store: ObjectStore) -> None:
    bind(store, "admin", namespace="team")
    assert allowed(store, Attributes("create", "rbac.authorization.k8s.io", "rolebindings", "team"))
    assert allowed(store, Attributes("create", "", "pods", "team"))
    assert not allowed(store, Attributes("create", "rbac.authorization.k8s.io", "clusterrolebindings", ""))


def test_a_rolebinding_grants_only_in_its_namespace(store: ObjectStore) -> None:
    bind(store, "edit", namespace="team")
    assert allowed(store, create_pod("team"))
    assert not allowed(store, create_pod("default"))
    assert not allowed(store, Attributes("list", "", "pods"))  # all namespaces: cluster scope


def test_a_rolebinding_may_name_a_role_of_its_namespace(store: ObjectStore) -> None:
    role(store, "team", "cm-reader", {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]})
    binding = {
        "metadata": {"name": "read"},
        "roleRef": {"kind": "Role", "name": "cm-reader"},
        "subjects": [{"kind": "User", "name": "alice"}],
    }
    put(store, "rolebindings", "team", binding)
    assert allowed(store, Attributes("get", "", "configmaps", "team", "x"))
    assert not allowed(store, Attributes("list", "", "configmaps", "team"))
    put(store, "rolebindings", "other", binding)  # no Role cm-reader in "other": nothing granted
    assert not allowed(store, Attributes("get", "", "configmaps", "other", "x"))


def test_subjects_users_groups_and_service_accounts(store: ObjectStore) -> None:
    cluster_role(store, "lister", {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]})
    attrs = Attributes("list", "", "pods", "team")
    bind(store, "lister", kind="ServiceAccount", name="builder", namespace="team")  # namespace from the binding
    assert allowed(store, attrs, "system:serviceaccount:team:builder")
    assert not allowed(store, attrs, "system:serviceaccount:other:builder")
    assert not allowed(store, attrs, "builder")
    bind(store, "lister", kind="Group", name="devs")
    assert allowed(store, attrs, "anyone", ["devs"])
    assert not allowed(store, attrs, "devs")  # a user named like the group is not in it


def r(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    return {**rule, "resourceNames": names} if names else rule


def url(urls: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"nonResourceURLs": urls, "verbs": verbs}


A = Attributes


@pytest.mark.parametrize(
    ("rule", "attrs", "expected"),
    [
        (r([""], ["pods"], ["*"]), A("delete", "", "pods", "d", "p"), True),
        (r([""], ["pods"], ["get"]), A("delete", "", "pods", "d", "p"), False),
        (r(["*"], ["deployments"], ["get"]), A("get", "apps", "deployments", "d", "x"), True),
        (r([""], ["deployments"], ["get"]), A("get", "apps", "deployments", "d", "x"), False),
        (r(["apps"], ["*"], ["get"]), A("get", "apps", "replicasets", "d", "x"), True),
        (r([""], ["pods"], ["get"]), A("get", "", "pods", "d", "p", "log"), False),
        (r([""], ["pods/log"], ["get"]), A("get", "", "pods", "d", "p", "log"), True),
        (r([""], ["pods/log"], ["get"]), A("get", "", "pods", "d", "p"), False),
        (r(["*"], ["*/scale"], ["update"]), A("update", "apps", "deployments", "d", "w", "scale"), True),
        (r([""], ["configmaps"], ["get"], ["a"]), A("get", "", "configmaps", "d", "a"), True),
        (r([""], ["configmaps"], ["get"], ["a"]), A("get", "", "configmaps", "d", "b"), False),
        (r([""], ["configmaps"], ["list"], ["a"]), A("list", "", "configmaps", "d"), False),
        (url(["/healthz/*"], ["get"]), A("get", "", "", path="/healthz/etcd"), True),
        (url(["/healthz"], ["get"]), A("get", "", "", path="/healthz/etcd"), False),
        (url(["/healthz/*"], ["post"]), A("get", "", "", path="/healthz/etcd"), False),
        (url(["*"], ["get"]), A("get", "", "pods", "d"), False),  # a non-resource rule grants no resource
    ],
)
def test_each_part_of_a_rule(rule: dict[str, Any], attrs: Attributes, expected: bool) -> None:
    assert authz.rule_allows(rule, attrs) is expected


def test_a_denial_is_kubernetes_forbidden_with_its_message(store: ObjectStore) -> None:
    with pytest.raises(ApiError) as denied:
        authorize_request("alice", AUTHENTICATED, create_pod(), store)
    error = denied.value
    assert (error.code, error.reason) == (403, "Forbidden")
    assert error.message == (
        'pods "nginx" is forbidden: User "alice" cannot create resource "pods" in API group "" '
        'in the namespace "default"'
    )
    assert error.details == {"name": "nginx", "kind": "pods"}


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        (Attributes("list", "", "pods", "default"),
         'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"'),
        (Attributes("list", "", "nodes"),
         'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope'),
        (Attributes("patch", "apps", "deployments", "web", "api", "scale"),
         'deployments.apps "api" is forbidden: User "alice" cannot patch resource "deployments/scale" in API group '
         '"apps" in the namespace "web"'),
        (Attributes("get", "", "", path="/metrics"), 'forbidden: User "alice" cannot get path "/metrics"'),
    ],
)  # fmt: skip
def test_denial_messages_for_collections_cluster_scope_subresources_and_paths(
    store: ObjectStore, attrs: Attributes, message: str
) -> None:
    with pytest.raises(ApiError) as denied:
        authorize_request("alice", AUTHENTICATED, attrs, store)
    assert denied.value.message == message


def test_a_binding_to_a_missing_role_grants_nothing(store: ObjectStore) -> None:
    bind(store, "no-such-role")
    assert not allowed(store, Attributes("get", "", "pods", "default", "p"))


# --- identities: the creator rule, aws-auth and access entries ---


def aws_auth(**data: str) -> Any:
    return lambda: data


def test_the_creator_is_a_master_named_by_its_arn() -> None:
    assert identity_of(CREATOR, CREATOR, aws_auth()) == (CREATOR, ["system:masters"])


def test_map_users_gives_the_username_and_groups() -> None:
    users = f"- userarn: {ALICE}\n  username: alice\n  groups: [readonly]\n"
    assert identity_of(ALICE, CREATOR, aws_auth(mapUsers=users)) == ("alice", ["readonly"])
    assert identity_of(ALICE.upper().replace("ARN:AWS:IAM", "arn:aws:iam"), CREATOR, aws_auth(mapUsers=users))
    assert identity_of(f"arn:aws:iam::{ACCOUNT}:user/bob", CREATOR, aws_auth(mapUsers=users)) is None


def test_a_mapping_without_a_username_is_named_by_the_canonical_arn() -> None:
    roles = f"- rolearn: arn:aws:iam::{ACCOUNT}:role/Dev\n  groups: [devs]\n"
    assert identity_of(DEV_SESSION, CREATOR, aws_auth(mapRoles=roles)) == (f"arn:aws:iam::{ACCOUNT}:role/Dev", ["devs"])


def test_map_roles_username_templates() -> None:
    roles = (
        f"- rolearn: arn:aws:iam::{ACCOUNT}:role/Dev\n"
        "  username: 'dev:{{AccountID}}:{{SessionName}}:{{SessionNameRaw}}'\n"
        "  groups: ['team-{{AccountID}}']\n"
    )
    found = identity_of(DEV_SESSION, CREATOR, aws_auth(mapRoles=roles))
    assert found == (f"dev:{ACCOUNT}:carol-example.com:carol@example.com", [f"team-{ACCOUNT}"])


def test_a_template_that_cannot_be_filled_maps_nobody() -> None:
    roles = f"- rolearn: arn:aws:iam::{ACCOUNT}:role/Dev\n  username: 'system:node:{{{{EC2PrivateDNSName}}}}'\n"
    assert identity_of(DEV_SESSION, CREATOR, aws_auth(mapRoles=roles)) is None


def test_map_accounts_lets_in_the_whole_account_with_no_groups() -> None:
    assert identity_of(ALICE, CREATOR, aws_auth(mapAccounts=f"- '{ACCOUNT}'\n")) == (ALICE, [])
    assert identity_of(ALICE, CREATOR, aws_auth(mapAccounts="- '999999999999'\n")) is None
    assert identity_of(ALICE, CREATOR, aws_auth(mapUsers="{not: [yaml")) is None


@dataclass
class Entry:
    principal_arn: str
    type: str = "STANDARD"
    username: str | None = None
    kubernetes_groups: list[str] = field(default_factory=list)


def test_access_entries_count_in_the_api_modes_only() -> None:
    entries = [Entry(ALICE, username="alice-k8s", kubernetes_groups=["viewers"])]
    assert identity_of(ALICE, CREATOR, aws_auth(), lambda: entries, "API") == ("alice-k8s", ["viewers"])
    assert identity_of(ALICE, CREATOR, aws_auth(), lambda: entries, "API_AND_CONFIG_MAP") == ("alice-k8s", ["viewers"])
    assert identity_of(ALICE, CREATOR, aws_auth(), lambda: entries, "CONFIG_MAP") is None
    users = f"- userarn: {ALICE}\n  username: alice\n"
    assert identity_of(ALICE, CREATOR, aws_auth(mapUsers=users), lambda: entries, "API") == ("alice-k8s", ["viewers"])
    assert identity_of(ALICE, CREATOR, aws_auth(mapUsers=users), lambda: [], "API") is None


def test_an_access_entry_without_a_username_gets_eks_defaults() -> None:
    role = Entry(f"arn:aws:iam::{ACCOUNT}:role/Dev")
    assert identity_of(DEV_SESSION, CREATOR, aws_auth(), lambda: [role]) == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/carol-example.com",
        [],
    )
    assert identity_of(ALICE, CREATOR, aws_auth(), lambda: [Entry(ALICE)]) == (ALICE, [])


def test_groups_of_keeps_its_contract() -> None:
    users = f"- userarn: {ALICE}\n  groups: [a, b]\n"
    assert authz.groups_of(ALICE, CREATOR, aws_auth(mapUsers=users)) == ["a", "b"]
    assert authz.groups_of(CREATOR, CREATOR, aws_auth()) == ["system:masters"]
    assert authz.groups_of(f"arn:aws:iam::{ACCOUNT}:user/bob", CREATOR, aws_auth(mapUsers=users)) is None


@dataclass
class PolicyEntry(Entry):
    access_policies: list[dict[str, Any]] = field(default_factory=list)


def policy(name: str, *namespaces: str) -> dict[str, Any]:
    scope = {"Type": "namespace", "Namespaces": list(namespaces)} if namespaces else {"Type": "cluster"}
    return {"PolicyArn": f"arn:aws:eks::aws:cluster-access-policy/{name}", "AccessScope": scope}


def test_access_policies_grant_what_they_stand_for_at_their_scope(store: ObjectStore) -> None:
    entry = PolicyEntry(ALICE, access_policies=[policy("AmazonEKSViewPolicy"), policy("AmazonEKSEditPolicy", "team-*")])
    found = identity_of(ALICE, CREATOR, aws_auth(), lambda: [entry])
    assert found is not None
    user, groups = found
    assert allowed(store, Attributes("list", "", "pods", "default"), user, groups)
    assert not allowed(store, create_pod("default"), user, groups)
    assert allowed(store, create_pod("team-a"), user, groups)
    assert not allowed(store, Attributes("get", "", "secrets", "default", "s"), user, groups)
    admin = PolicyEntry(ALICE, access_policies=[policy("AmazonEKSClusterAdminPolicy")])
    user, groups = identity_of(ALICE, CREATOR, aws_auth(), lambda: [admin]) or ("", [])
    assert allowed(store, Attributes("delete", "", "nodes", "", "n"), user, groups)


def test_nobody_writes_themselves_an_access_policy_as_a_group(store: ObjectStore) -> None:
    sneaky = ["eks:access-policy:AmazonEKSClusterAdminPolicy"]
    users = f"- userarn: {ALICE}\n  username: alice\n  groups: {sneaky}\n"
    assert identity_of(ALICE, CREATOR, aws_auth(mapUsers=users)) == ("alice", [])
    entry = PolicyEntry(ALICE, kubernetes_groups=sneaky)
    assert identity_of(ALICE, CREATOR, aws_auth(), lambda: [entry]) == (ALICE, [])
