"""Names and tags come from one place and follow eksctl's conventions."""

from __future__ import annotations

import re

from chalicelib import naming


def test_stack_names_are_eksctls() -> None:
    assert naming.cluster_stack_name("mz") == "eksctl-mz-cluster"
    assert naming.nodegroup_stack_name("mz", "ng-1") == "eksctl-mz-nodegroup-ng-1"


def test_execution_names_are_deterministic_and_within_step_functions_rules() -> None:
    name = naming.execution_name("create", "c" * 100, "0123456789abcdef0123456789abcdef")

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
