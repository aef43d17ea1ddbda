"""Who may grant cluster-wide admin, by any door, and who may act on clusters they do not own.

Each allow-list is set and tried with a caller inside it (allowed) and one outside it (refused):
a check that let anyone through once a list is set would fail here.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.model import policy, settings
from chalicelib.model.access_spec import AccessEntrySpec
from chalicelib.model.errors import ForbiddenError, SpecValidationError
from chalicelib.model.settings import Settings
from chalicelib.model.spec import ClusterSpec, IdentityMapping, validate

PLATFORM = "arn:aws:iam::123456789012:role/platform-admin"
DEV = "arn:aws:iam::123456789012:role/dev"
TARGET = "arn:aws:iam::123456789012:role/target"
POLICY = "arn:aws:eks::aws:cluster-access-policy/"
# Only platform-* roles may grant cluster-wide admin.
GUARDED = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0, masters_allowed=("*:role/platform-*",))


class NoClusters:
    def count_owned(self, owner: str) -> int:
        return 0


def _entry(policy_name: str, scope: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "principalARN": TARGET,
        "accessPolicies": [{"policyARN": POLICY + policy_name, "accessScope": scope or {"type": "cluster"}}],
        **fields,
    }


def _spec(**fields: Any) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "dev", **fields})


def _with_entries(*entries: dict[str, Any]) -> ClusterSpec:
    return validate(ClusterSpec, {"name": "dev", "accessConfig": {"accessEntries": list(entries)}}, "cluster request")


def _refused(spec: ClusterSpec, caller: str = DEV) -> ForbiddenError:
    with pytest.raises(ForbiddenError) as err:
        policy.check_request(spec, caller, GUARDED, NoClusters())
    return err.value


# -- access entries ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scope", [{"type": "cluster"}, {"type": "namespace", "namespaces": ["team-a"]}], ids=["cluster", "namespace"]
)
def test_cluster_admin_access_policy_at_any_scope_needs_the_masters_allow_list(scope: dict[str, Any]) -> None:
    spec = _with_entries(_entry("AmazonEKSViewPolicy"), _entry("AmazonEKSClusterAdminPolicy", scope))

    refused = _refused(spec)

    assert refused.status == 403
    body = refused.to_dict()
    assert body["field"] == "accessConfig.accessEntries[1].accessPolicies[0].policyARN"
    assert body["rule"] == policy.RULE_CLUSTER_ADMIN
    assert body["setting"] == settings.ENV_MASTERS_ALLOWED
    assert [f["field"] for f in body["fields"]] == [body["field"]]
    assert "AmazonEKSClusterAdminPolicy" in body["message"] and settings.ENV_MASTERS_ALLOWED in body["message"]
    policy.check_request(spec, PLATFORM, GUARDED, NoClusters())


def test_admin_access_policy_at_cluster_scope_is_cluster_admin() -> None:
    spec = _with_entries(_entry("AmazonEKSAdminPolicy"))

    refused = _refused(spec)

    assert refused.details["field"] == "accessConfig.accessEntries[0].accessPolicies[0].policyARN"
    policy.check_request(spec, PLATFORM, GUARDED, NoClusters())


def test_admin_access_policy_in_ordinary_namespaces_is_anyones_to_grant() -> None:
    spec = _with_entries(_entry("AmazonEKSAdminPolicy", {"type": "namespace", "namespaces": ["team-a", "team-b"]}))

    policy.check_request(spec, DEV, GUARDED, NoClusters())


@pytest.mark.parametrize("namespaces", [["team-a", "kube-system"], ["kube-*"], ["*"]])
def test_admin_access_policy_reaching_kube_system_is_cluster_admin(namespaces: list[str]) -> None:
    spec = _with_entries(_entry("AmazonEKSAdminPolicy", {"type": "namespace", "namespaces": namespaces}))

    refused = _refused(spec)

    assert "kube-system" in refused.message
    policy.check_request(spec, PLATFORM, GUARDED, NoClusters())


def test_the_view_policy_needs_no_permission() -> None:
    policy.check_request(_with_entries(_entry("AmazonEKSViewPolicy")), DEV, GUARDED, NoClusters())


@pytest.mark.parametrize("name", ["AmazonEKSEditPolicy", "AmazonEKSAdminViewPolicy", "amazoneksadminpolicy"])
def test_policies_that_reach_kube_system_secrets_at_cluster_scope_are_cluster_admin(name: str) -> None:
    """Edit runs pods as any service account and AdminView reads every Secret: in kube-system, that is admin."""
    spec = _with_entries(_entry(name))

    assert "kube-system" in _refused(spec).message
    policy.check_request(spec, PLATFORM, GUARDED, NoClusters())


@pytest.mark.parametrize("name", ["AmazonEKSEditPolicy", "AmazonEKSAdminViewPolicy"])
def test_policies_that_reach_kube_system_are_anyones_in_other_namespaces(name: str) -> None:
    spec = _with_entries(_entry(name, {"type": "namespace", "namespaces": ["team-a"]}))

    policy.check_request(spec, DEV, GUARDED, NoClusters())


def test_system_masters_in_an_access_entry_is_refused_for_everyone_by_the_model() -> None:
    with pytest.raises(SpecValidationError) as err:
        _with_entries({"principalARN": TARGET, "kubernetesGroups": ["system:masters"]})

    assert [(f["field"], f["rule"]) for f in err.value.details["fields"]] == [
        ("accessConfig.accessEntries[0].kubernetesGroups", "group_reserved")
    ]


def test_system_masters_in_an_access_entry_is_refused_by_the_policy_too() -> None:
    """Should the model ever accept the group, the policy still names it."""
    entry = AccessEntrySpec.model_construct(
        principal_arn=TARGET, kubernetes_groups=["system:masters"], kubernetes_username=None, access_policies=[]
    )

    with pytest.raises(ForbiddenError) as err:
        policy.check_access_entries([entry], DEV, GUARDED)

    assert err.value.details["field"] == "accessConfig.accessEntries[0].kubernetesGroups"
    policy.check_access_entries([entry], PLATFORM, GUARDED)


@pytest.mark.parametrize("username", ["system:admin", "eks:addon-manager", "amazon:x", "aws:x", "iam:x"])
def test_an_access_entry_username_eks_reserves_is_refused(username: str) -> None:
    with pytest.raises(SpecValidationError) as err:
        _with_entries({"principalARN": TARGET, "kubernetesUsername": username})

    assert [(f["field"], f["rule"]) for f in err.value.details["fields"]] == [
        ("accessConfig.accessEntries[0].kubernetesUsername", "username_reserved")
    ]


# -- aws-auth mappings -------------------------------------------------------------------------------------------


def test_system_masters_mapping_needs_the_masters_allow_list_and_names_its_field() -> None:
    spec = _spec(
        iamIdentityMappings=[{"arn": TARGET, "groups": ["viewers"]}, {"arn": DEV, "groups": ["system:masters"]}]
    )

    refused = _refused(spec)

    assert refused.details["field"] == "iamIdentityMappings[1].groups"
    assert "system:masters" in refused.message
    policy.check_request(spec, PLATFORM, GUARDED, NoClusters())


@pytest.mark.parametrize("username", ["system:kube-controller-manager", "system:serviceaccount:kube-system:x", "eks:x"])
def test_mapping_to_a_system_user_is_cluster_admin(username: str) -> None:
    spec = _spec(iamIdentityMappings=[{"arn": TARGET, "username": username}])

    assert _refused(spec).details["field"] == "iamIdentityMappings[0].username"
    policy.check_request(spec, PLATFORM, GUARDED, NoClusters())


def test_an_ordinary_mapping_needs_no_permission() -> None:
    spec = _spec(iamIdentityMappings=[{"arn": TARGET, "username": "dev:{{SessionName}}", "groups": ["developers"]}])

    policy.check_request(spec, DEV, GUARDED, NoClusters())


def test_a_mapping_sent_alone_names_its_fields_bare() -> None:
    """`POST /clusters/{name}/access`: the mapping is the body."""
    mapping = IdentityMapping.model_validate({"arn": TARGET, "groups": ["system:masters"]})

    with pytest.raises(ForbiddenError) as err:
        policy.check_mappings([mapping], DEV, GUARDED)

    assert err.value.details["field"] == "groups"
    assert err.value.details["rule"] == policy.RULE_CLUSTER_ADMIN
    policy.check_mappings([mapping], PLATFORM, GUARDED)


def test_every_grant_in_a_request_is_named_at_once_before_any_other_rule() -> None:
    spec = _spec(
        region="ap-south-1",
        iamIdentityMappings=[{"arn": DEV, "groups": ["system:masters"]}],
        accessConfig={"accessEntries": [_entry("AmazonEKSClusterAdminPolicy")]},
    )

    refused = _refused(spec)

    assert [f["field"] for f in refused.details["fields"]] == [
        "iamIdentityMappings[0].groups",
        "accessConfig.accessEntries[0].accessPolicies[0].policyARN",
    ]


def test_with_no_masters_allow_list_nobody_may_grant_admin() -> None:
    spec = _with_entries(_entry("AmazonEKSClusterAdminPolicy"))
    nobody = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0)

    with pytest.raises(ForbiddenError):
        policy.check_request(spec, PLATFORM, nobody, NoClusters())


# -- protected clusters and other people's clusters ------------------------------------------------------------


def test_protected_needs_the_protect_allow_list() -> None:
    guarded = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0, protect_allowed=(PLATFORM,))

    with pytest.raises(ForbiddenError) as err:
        policy.check_request(_spec(protected=True), DEV, guarded, NoClusters())

    assert err.value.details["field"] == "protected"
    policy.check_request(_spec(protected=True), PLATFORM, guarded, NoClusters())


def test_only_the_owner_or_a_named_admin_may_act_on_a_cluster() -> None:
    guarded = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0, admins=("*:role/platform-*",))
    record = {"name": "c", "owner": "arn:aws:iam::123456789012:role/owner"}

    with pytest.raises(ForbiddenError, match=settings.ENV_ADMINS):
        policy.check_owner(record, DEV, guarded, "delete")

    policy.check_owner(record, PLATFORM, guarded, "delete")
    policy.check_owner(record, "arn:aws:iam::123456789012:role/owner", guarded, "delete")


# -- IAM policy ARNs a request may attach ------------------------------------------------------------------------


def test_the_templates_policies_are_always_allowed_in_any_partition() -> None:
    nobody = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0)
    asked = [
        ("managedNodeGroups[0].iam.attachPolicyARNs[0]", "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"),
        ("managedNodeGroups[0].iam.attachPolicyARNs[1]", "arn:aws-cn:iam::aws:policy/AmazonEKS_CNI_Policy"),
    ]

    assert policy.policy_arn_problems(asked, nobody) == []


def test_unset_allows_no_other_policy_and_each_is_named() -> None:
    nobody = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0)
    asked = [
        ("a[0]", "arn:aws:iam::aws:policy/AdministratorAccess"),
        ("a[1]", "arn:aws:iam::123456789012:policy/AmazonEKSWorkerNodePolicy"),  # a look-alike in an account
    ]

    problems = policy.policy_arn_problems(asked, nobody)

    assert [(p["field"], p["rule"]) for p in problems] == [
        ("a[0]", "policy_arn_not_allowed"),
        ("a[1]", "policy_arn_not_allowed"),
    ]
    assert settings.ENV_ALLOWED_POLICY_ARNS in problems[0]["message"]


def test_the_policy_allow_list_admits_what_it_names_and_nothing_else() -> None:
    listed = Settings(
        table_name="t",
        create_state_machine_arn="",
        poll_scale=1.0,
        allowed_policy_arns=(
            "arn:aws:iam::123456789012:policy/team-*",
            "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        ),
    )
    inside = [
        ("f[0]", "arn:aws:iam::123456789012:policy/team-logs"),
        ("f[1]", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"),
    ]
    outside = [
        ("f[2]", "arn:aws:iam::123456789012:policy/other"),
        ("f[3]", "arn:aws:iam::aws:policy/AdministratorAccess"),
    ]

    assert policy.policy_arn_problems(inside, listed) == []
    assert [p["field"] for p in policy.policy_arn_problems(outside, listed)] == ["f[2]", "f[3]"]


def test_the_setting_reads_comma_separated_globs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.ENV_ALLOWED_POLICY_ARNS, " arn:aws:iam::1:policy/a-* , arn:aws:iam::aws:policy/B ")
    settings.get_settings.cache_clear()
    try:
        assert settings.get_settings().allowed_policy_arns == ("arn:aws:iam::1:policy/a-*", "arn:aws:iam::aws:policy/B")
    finally:
        settings.get_settings.cache_clear()


def test_the_policy_knows_the_policies_the_templates_attach() -> None:
    from chalicelib.cfn import iam

    assert set(policy.TEMPLATE_POLICY_NAMES) == set(iam.CLUSTER_POLICIES) | set(iam.WORKER_POLICIES)


def _property_paths(schema: dict[str, Any]) -> list[str]:
    """Every property name in a JSON Schema, with the definition it belongs to."""
    found = []
    for name, definition in {"": schema, **schema.get("$defs", {})}.items():
        found += [f"{name}.{prop}" for prop in definition.get("properties", {})]
    return found


def test_no_request_field_takes_iam_policy_arns_unchecked() -> None:
    """A field that names IAM policies to attach must be listed in policy.requested_policy_arns."""
    schema = ClusterSpec.model_json_schema(by_alias=True)
    # accessPolicies[].policyARN names an EKS access policy, held to the cluster-admin rule above.
    taking = [
        p
        for p in _property_paths(schema)
        if ("policyarn" in p.lower() or "permissionsboundary" in p.lower()) and p != "AccessPolicySpec.policyARN"
    ]

    # Each field listed in policy.requested_policy_arns, which the next test holds to the rule. A
    # permissions boundary only narrows what a role may do: any managed policy will do there.
    grants = sorted(p for p in taking if "permissionsboundary" not in p.lower())
    assert grants == [
        "AddonPodIdentitySpec.permissionPolicyARNs",
        "AddonSpec.attachPolicyARNs",
        "NodeGroupIamSpec.attachPolicyARNs",
        "PodIdentityAssociationSpec.permissionPolicyARNs",
        "ServiceAccountSpec.attachPolicyARNs",
    ], "list these fields in policy.requested_policy_arns"
    assert policy.requested_policy_arns(_spec()) == []


def test_check_request_refuses_the_policy_arns_a_request_names() -> None:
    """A self-managed group's iam.attachPolicyARNs: the worker policies pass, anything else needs the allow-list."""
    nobody = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0)
    arns = ["arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "arn:aws:iam::aws:policy/AdministratorAccess"]
    spec = ClusterSpec.model_validate(
        {"name": "dev", "nodeGroups": [{"name": "ng", "iam": {"attachPolicyARNs": arns}}]}
    )

    with pytest.raises(SpecValidationError) as err:
        policy.check_request(spec, DEV, nobody, NoClusters())

    field = "nodeGroups[0].iam.attachPolicyARNs[1]"
    assert [(f["field"], f["rule"]) for f in err.value.details["fields"]] == [(field, "policy_arn_not_allowed")]
    allowing = Settings(
        table_name="t", create_state_machine_arn="", poll_scale=1.0, allowed_policy_arns=("arn:aws:iam::aws:policy/*",)
    )
    policy.check_request(spec, DEV, allowing, NoClusters())


def test_add_on_policies_are_held_to_the_same_allow_list() -> None:
    """imageBuilder pushes to every ECR repository: a flag is a policy like any other, refused unless allowed."""
    spec = ClusterSpec.model_validate(
        {
            "name": "dev",
            "managedNodeGroups": [{"name": "m", "iam": {"withAddonPolicies": {"imageBuilder": True}}}],
            "nodeGroups": [{"name": "s", "iam": {"withAddonPolicies": {"autoScaler": True, "ebs": False}}}],
        }
    )
    nobody = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0)

    with pytest.raises(SpecValidationError) as err:
        policy.check_request(spec, DEV, nobody, NoClusters())

    assert [f["field"] for f in err.value.details["fields"]] == [
        "managedNodeGroups[0].iam.withAddonPolicies.imageBuilder",
        "nodeGroups[0].iam.withAddonPolicies.autoScaler",
    ]
    only_autoscaler = Settings(
        table_name="t",
        create_state_machine_arn="",
        poll_scale=1.0,
        allowed_policy_arns=(f"{policy.ADDON_POLICY_PREFIX}autoScaler",),
    )
    with pytest.raises(SpecValidationError) as err:
        policy.check_request(spec, DEV, only_autoscaler, NoClusters())
    assert [f["field"] for f in err.value.details["fields"]] == [
        "managedNodeGroups[0].iam.withAddonPolicies.imageBuilder"
    ]


def test_auto_mode_is_refused_where_the_deployment_limits_nodes() -> None:
    """Its NodePools choose the instances and a cluster admin edits them: instance and node limits cannot hold."""
    spec = ClusterSpec.model_validate({"name": "dev", "autoModeConfig": {"enabled": True}})
    free = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0)
    policy.check_request(spec, DEV, free, NoClusters())

    for limited in (
        Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0, allowed_instance_types=("m5.*",)),
        Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0, max_nodes_per_cluster=20),
    ):
        with pytest.raises(SpecValidationError) as err:
            policy.check_request(spec, DEV, limited, NoClusters())
        assert [(f["field"], f["rule"]) for f in err.value.details["fields"]] == [
            ("autoModeConfig.enabled", "auto_mode_not_allowed")
        ]


def test_a_launch_template_cannot_carry_an_instance_type_past_the_allow_list() -> None:
    group = {"name": "m", "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "1"}}
    spec = ClusterSpec.model_validate({"name": "dev", "managedNodeGroups": [group]})
    limited = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0, allowed_instance_types=("m5.*",))

    with pytest.raises(SpecValidationError) as err:
        policy.check_request(spec, DEV, limited, NoClusters())

    assert [(f["field"], f["rule"]) for f in err.value.details["fields"]] == [
        ("managedNodeGroups[0].launchTemplate", "instance_type_not_allowed")
    ]
    named = ClusterSpec.model_validate({"name": "dev", "managedNodeGroups": [{**group, "instanceTypes": ["m5.large"]}]})
    policy.check_request(named, DEV, limited, NoClusters())
