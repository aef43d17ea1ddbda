"""Label and field selectors as the emulator parses and matches them."""

from __future__ import annotations

import pytest

from local.kube.selectors import (
    field_value,
    labels_of_selector,
    match_fields,
    match_labels,
    parse_fields,
    parse_labels,
)
from local.kube.status import ApiError

LABELS = {"app": "web", "tier": "front", "example.com/team": "a"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("app!=web", False),
        ("missing!=x", True),
        ("tier in (front, back)", True),
        ("tier in (back)", False),
        ("tier notin (back)", True),
        ("tier notin (front,back)", False),
        ("missing notin (x)", True),
        ("example.com/team", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier in (front),!missing", True),
        ("app=web,tier=back", False),
    ],
)
def test_label_selector_operators(selector: str, matches: bool) -> None:
    assert match_labels(parse_labels(selector), LABELS) is matches


@pytest.mark.parametrize("selector", ["app in (web", "app=(x)", "=web", "bad key=1", "app=" + "x" * 64, "app=a b"])
def test_malformed_label_selector_is_400(selector: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_labels(selector)
    assert raised.value.code == 400


def test_label_selector_object_of_a_deployment() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front"]},
            {"key": "x", "operator": "DoesNotExist"},
        ],
    }
    assert match_labels(labels_of_selector(selector), LABELS)
    assert not match_labels(labels_of_selector({"matchLabels": {"app": "db"}}), LABELS)
    assert match_labels(labels_of_selector(None), LABELS)


POD = {
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "node-a"},
    "status": {"phase": "Running"},
}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("metadata.name=web-1", True),
        ("metadata.name==web-2", False),
        ("metadata.namespace!=kube-system", True),
        ("spec.nodeName=node-a,status.phase=Running", True),
        ("status.phase!=Running", False),
        ("spec.nodeName=", False),
    ],
)
def test_field_selector_on_pods(selector: str, matches: bool) -> None:
    assert match_fields(parse_fields(selector, "Pod"), POD) is matches


def test_unsupported_field_is_400_naming_it() -> None:
    with pytest.raises(ApiError) as raised:
        parse_fields("spec.nodeName=x", "ConfigMap")
    assert raised.value.code == 400 and "field label not supported: spec.nodeName" in raised.value.message


def test_field_value_of_missing_and_boolean_fields() -> None:
    assert field_value({"spec": {}}, "spec.nodeName") == ""
    assert field_value({"spec": {"unschedulable": True}}, "spec.unschedulable") == "true"
