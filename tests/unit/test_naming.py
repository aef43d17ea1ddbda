"""Names, tags and stack kinds come from one place and follow eksctl's conventions."""

from __future__ import annotations

import re

import pytest

from chalicelib.cfn import kinds, stacks
from chalicelib.model import naming
from tests.processes import outputs_under_hash_seeds


def test_stack_names_are_eksctls() -> None:
    assert naming.cluster_stack_name("mz") == "eksctl-mz-cluster"
    assert naming.nodegroup_stack_name("mz", "ng-1") == "eksctl-mz-nodegroup-ng-1"


def test_each_kind_names_its_stacks_through_naming() -> None:
    assert kinds.CLUSTER.stack_name("mz") == naming.cluster_stack_name("mz")
    assert kinds.NODEGROUP.stack_name("mz", "ng-1") == naming.nodegroup_stack_name("mz", "ng-1")
    with pytest.raises(ValueError, match="member"):
        kinds.NODEGROUP.stack_name("mz")


def test_kind_names_are_the_strings_records_and_payloads_already_hold() -> None:
    assert (kinds.CLUSTER.name, kinds.NODEGROUP.name) == ("cluster", "nodegroup")
    assert (stacks.KIND_CLUSTER, stacks.KIND_NODEGROUP) == ("cluster", "nodegroup")


def test_the_registry_finds_every_kind_by_its_name() -> None:
    assert all(kinds.kind(name) is kind and kind.name == name for name, kind in kinds.KINDS.items())
    assert kinds.kind("nodegroup") is kinds.NODEGROUP


def test_an_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(kinds.UnknownStackKindError, match=r"unknown stack kind 'karpenter'.*cluster, fargate"):
        kinds.kind("karpenter")


def test_each_workload_stack_is_named_as_eksctl_names_it_and_told_apart_from_the_others() -> None:
    names = {
        "eksctl-c-fargate": "fargate",
        "eksctl-c-addon-iamserviceaccount-apps-reader": "iamserviceaccount",
        "eksctl-c-podidentityrole-apps-reader": "podidentityrole",
        "eksctl-c-addons": "addons",
        "eksctl-c-nodegroup-ng": "nodegroup",
    }
    assert {name: getattr(kinds.by_stack_name("c", name), "name", None) for name in names} == names
    assert kinds.IAMSERVICEACCOUNT.stack_name("c", naming.service_account_member("apps", "reader")) == (
        "eksctl-c-addon-iamserviceaccount-apps-reader"
    )
    # Deleted before the node groups, which go before the cluster stack.
    for kind in (kinds.FARGATE, kinds.IAMSERVICEACCOUNT, kinds.PODIDENTITY, kinds.ADDONS):
        assert kind.delete_order < kinds.NODEGROUP.delete_order


def test_node_groups_are_deleted_before_the_cluster_stack() -> None:
    assert kinds.NODEGROUP.delete_order < kinds.CLUSTER.delete_order
    assert max(kinds.KINDS.values(), key=lambda k: k.delete_order) is kinds.CLUSTER


def test_a_stack_name_tells_its_kind_only_for_that_cluster() -> None:
    assert kinds.by_stack_name("mz", "eksctl-mz-cluster") is kinds.CLUSTER
    assert kinds.by_stack_name("mz", "eksctl-mz-nodegroup-a") is kinds.NODEGROUP
    assert kinds.by_stack_name("mz", "eksctl-mzz-cluster") is None
    assert kinds.by_stack_name("mz", "eksctl-mz-nodegroup-") is None
    assert kinds.by_stack_name("mz", "eksctl-other-cluster") is None


def test_execution_names_are_deterministic_and_within_step_functions_rules() -> None:
    """The same in any process: a retried start, in another Lambda, must find the first execution."""
    code = (
        "from chalicelib.model import naming\n"
        "for cluster in ('c' * 100, 'mz_k8s.prod', 'a-b'):\n"
        "    print(naming.execution_name('create', cluster, '0123456789abcdef0123456789abcdef'))"
    )

    runs = outputs_under_hash_seeds(code)

    (names,) = set(runs.values())
    name = names.splitlines()[0]
    assert name == naming.execution_name("create", "c" * 100, "0123456789abcdef0123456789abcdef")
    assert len(name) <= 80
    assert re.fullmatch(r"[A-Za-z0-9_-]+", name)
    assert name.endswith("0123456789abcdef0123456789abcdef")


def test_execution_names_differ_per_operation() -> None:
    assert naming.execution_name("create", "mz", "a") != naming.execution_name("create", "mz", "b")


def test_ownership_is_recognised_only_with_our_tags_for_that_cluster() -> None:
    tags = naming.ownership_tags("mz", "id")

    assert naming.is_ours(tags, "mz")
    assert not naming.is_ours(tags, "other")
    assert not naming.is_ours({naming.TAG_CLUSTER: "mz"}, "mz")


def test_asl_placeholders_come_from_task_names() -> None:
    assert naming.function_arn_placeholder("create_cluster_stack") == "CreateClusterStackFunctionArn"


def test_a_dotted_service_account_gets_a_stack_name_cloudformation_takes() -> None:
    stack = kinds.IAMSERVICEACCOUNT.stack_name("c", naming.service_account_member("apps", "my.reader"))

    assert stack == "eksctl-c-addon-iamserviceaccount-apps-my-reader"
    assert re.fullmatch(r"[a-zA-Z][-a-zA-Z0-9]*", stack)
