"""The request-time check of the EC2 key pairs node groups name (ssh.publicKeyName), against moto's EC2."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations.key_pairs import check_key_pairs
from tests.functional.helpers import step_context

if TYPE_CHECKING:
    from chalicelib.operations.context import Context

REGION = "us-west-2"
KEYS = Path(__file__).resolve().parents[1] / "data" / "ssh"


@pytest.fixture
def ctx() -> Context:
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.import_key_pair(KeyName="ops-rsa", PublicKeyMaterial=(KEYS / "id_rsa.pub").read_bytes())
    ec2.import_key_pair(KeyName="ops-ed25519", PublicKeyMaterial=(KEYS / "id_ed25519.pub").read_bytes())
    return step_context()


def spec_of(*groups: dict[str, Any]) -> ClusterSpec:
    linux = {"name": "linux", "ssh": {"publicKeyName": "ops-ed25519"}}
    return ClusterSpec.model_validate({"name": "keys", "region": REGION, "managedNodeGroups": [linux, *groups]})


def problems(ctx: Context, spec: ClusterSpec, only: str | None = None) -> list[tuple[str, str]]:
    with pytest.raises(SpecValidationError) as refused:
        check_key_pairs(ctx, spec, only)
    return [(f["field"], f["rule"]) for f in refused.value.details["fields"]]


def test_key_pairs_the_region_has_pass_and_one_it_does_not_is_named(ctx: Context) -> None:
    check_key_pairs(
        ctx,
        spec_of({"name": "win", "amiFamily": "WindowsServer2022CoreContainer", "ssh": {"publicKeyName": "ops-rsa"}}),
    )

    spec = spec_of(
        {"name": "b", "ssh": {"publicKeyName": "nobody"}}, {"name": "c", "ssh": {"publicKeyName": "ops-rsa"}}
    )
    assert problems(ctx, spec) == [("managedNodeGroups[1].ssh.publicKeyName", "key_pair_not_found")]
    assert problems(ctx, spec, only="b") == [("ssh.publicKeyName", "key_pair_not_found")]  # a group's own body
    check_key_pairs(ctx, spec, only="c")


def test_a_windows_group_gets_no_ed25519_key(ctx: Context) -> None:
    spec = spec_of(
        {"name": "win", "amiFamily": "WindowsServer2022CoreContainer", "ssh": {"publicKeyName": "ops-ed25519"}}
    )

    assert problems(ctx, spec) == [("managedNodeGroups[1].ssh.publicKeyName", "windows_key_type")]


def test_a_key_pair_the_stack_would_import_must_not_exist_yet(ctx: Context) -> None:
    key = (KEYS / "id_rsa.pub").read_text().strip()
    spec = spec_of({"name": "imported", "ssh": {"publicKey": key}})
    check_key_pairs(ctx, spec)
    name = spec.nodegroups[1].ssh.key_pair_name("keys", "imported") if spec.nodegroups[1].ssh else ""
    boto3.client("ec2", region_name=REGION).import_key_pair(KeyName=str(name), PublicKeyMaterial=key.encode())

    assert problems(ctx, spec) == [("managedNodeGroups[1].ssh.publicKey", "key_pair_exists")]
