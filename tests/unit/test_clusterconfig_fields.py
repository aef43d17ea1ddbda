"""Every top-level field of eksctl's ClusterConfig schema is built or refused with a reason, and README says which."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from chalicelib.model import clusterconfig
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.refusals import REASONS

ROOT = Path(__file__).resolve().parents[2]
# The property names of eksctl's definitions.ClusterConfig (its source is noted in the file).
SCHEMA_FIELDS: list[str] = json.loads((ROOT / "tests" / "data" / "eksctl-clusterconfig-toplevel.json").read_text())[
    "fields"
]
README_SECTION = "#### ClusterConfig fields"


def readme_rows() -> dict[str, tuple[str, str]]:
    """The README's ClusterConfig fields table: field → (built or refused, what or why)."""
    text = (ROOT / "README.md").read_text()
    section = text.split(README_SECTION, 1)[1].split("\n#", 1)[0]
    rows = {}
    for match in re.finditer(r"^\| `([A-Za-z0-9]+)` \| (built|refused) \| (.+) \|$", section, re.MULTILINE):
        rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def config(**fields: object) -> bytes:
    return yaml.safe_dump({"apiVersion": "eksctl.io/v1alpha5", "kind": "ClusterConfig", **fields}).encode()


def refusal(raw: bytes) -> dict[str, dict[str, str]]:
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(raw)
    return {f["field"]: f for f in refused.value.details["fields"]}


def test_the_schema_list_is_eksctls() -> None:
    assert len(SCHEMA_FIELDS) > 25
    assert {"metadata", "vpc", "managedNodeGroups", "nodeGroups", "outpost", "karpenter"} <= set(SCHEMA_FIELDS)


@pytest.mark.parametrize("field", SCHEMA_FIELDS)
def test_each_top_level_field_is_built_or_has_a_reason(field: str) -> None:
    assert (field in clusterconfig.SUPPORTED) != (field in REASONS), field


@pytest.mark.parametrize("field", SCHEMA_FIELDS)
def test_the_readme_table_lists_each_field_with_the_reason_the_service_gives(field: str) -> None:
    rows = readme_rows()

    assert field in rows, f"README's {README_SECTION} has no row for {field}"
    kind, text = rows[field]
    if field in clusterconfig.SUPPORTED:
        assert kind == "built"
    else:
        assert (kind, text) == ("refused", REASONS[field])


def test_the_readme_table_lists_nothing_else() -> None:
    assert sorted(readme_rows()) == sorted(SCHEMA_FIELDS)


@pytest.mark.parametrize("field", sorted(f for f in SCHEMA_FIELDS if f not in clusterconfig.SUPPORTED))
def test_a_refused_top_level_field_is_answered_with_its_reason(field: str) -> None:
    found = refusal(config(metadata={"name": "c"}, **{field: {}}))

    assert found[field]["rule"] == "unsupported_field"
    assert found[field]["message"] == REASONS[field]


@pytest.mark.parametrize(
    ("document", "path", "words"),
    [
        (
            {"iam": {"podIdentityAssociations": [{"namespace": "a", "serviceAccountName": "b", "roleARN": "r"}]}},
            "iam.podIdentityAssociations[0].roleARN",
            "cannot be passed safely",
        ),
        (
            {"addons": [{"name": "vpc-cni", "serviceAccountRoleARN": "arn:aws:iam::123456789012:role/r"}]},
            "addons[0].serviceAccountRoleARN",
            "iam:PassRole",
        ),
        (
            {"nodeGroups": [{"name": "a", "iam": {"instanceRoleARN": "arn:aws:iam::1:role/x"}}]},
            "nodeGroups[0].iam.instanceRoleARN",
            "cannot be passed safely",
        ),
        (
            {"nodeGroups": [{"name": "a", "iam": {"instanceProfileARN": "arn"}}]},
            "nodeGroups[0].iam.instanceProfileARN",
            "iam.attachPolicyARNs",
        ),
        (
            {"nodeGroups": [{"name": "a", "iam": {"instanceRoleName": "r"}}]},
            "nodeGroups[0].iam.instanceRoleName",
            "attachPolicyARNs",
        ),
        (
            {"managedNodeGroups": [{"name": "a", "containerRuntime": "containerd"}]},
            "managedNodeGroups[0].containerRuntime",
            "a nodeGroups field",
        ),
        (
            {"managedNodeGroups": [{"name": "a", "asgSuspendProcesses": ["Launch"]}]},
            "managedNodeGroups[0].asgSuspendProcesses",
            "for nodeGroups",
        ),
        (
            {"managedNodeGroups": [{"name": "a", "securityGroups": {"withShared": True}}]},
            "managedNodeGroups[0].securityGroups.withShared",
            "only securityGroups.attachIDs",
        ),
        (
            {"managedNodeGroups": [{"name": "a", "iam": {"instanceRoleARN": "arn:aws:iam::123456789012:role/r"}}]},
            "managedNodeGroups[0].iam.instanceRoleARN",
            "cannot be passed safely",
        ),
        ({"nodeGroups": [{"name": "a", "launchTemplate": {"id": "lt-1"}}]}, "nodeGroups[0].launchTemplate", "managed"),
        ({"vpc": {"ipv6Cidr": "2001:db8::/56"}}, "vpc.ipv6Cidr", "Amazon-provided"),
    ],
)
def test_a_refused_inner_field_says_why_and_what_instead(document: dict[str, object], path: str, words: str) -> None:
    found = refusal(config(metadata={"name": "c"}, **document))

    assert found[path]["rule"] == "unsupported_field"
    assert words in found[path]["message"]


@pytest.mark.parametrize(
    ("family", "words"),
    [
        ("Ubuntu2204", "choose amiFamily AmazonLinux2023"),
        ("WindowsServer2025FullContainer", "Kubernetes 1.35 and later"),
        ("WindowsServer2004CoreContainer", "choose WindowsServer2022CoreContainer"),
    ],
)
def test_an_ami_family_ekspress_does_not_build_gets_a_reason(family: str, words: str) -> None:
    found = refusal(config(metadata={"name": "c"}, nodeGroups=[{"name": "a", "amiFamily": family}]))

    assert found["nodeGroups[0].amiFamily"]["rule"] == "unsupported_value"
    assert words in found["nodeGroups[0].amiFamily"]["message"]
