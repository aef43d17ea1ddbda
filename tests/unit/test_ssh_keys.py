"""SSH keys on nodes: `ssh.publicKey` imported by the group's stack, eksctl's defaults, the CLI reading key files."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from chalicelib.cfn import templates
from chalicelib.model import clusterconfig, keys
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.model.validation import validate
from ekspress import ssh_keys
from tests.unit.test_templates import TEST_IMAGE_ID, ZONES, all_templates, cfn_lint

DATA = Path(__file__).resolve().parents[1] / "data" / "ssh"
RSA = (DATA / "id_rsa.pub").read_text().strip()
ED25519 = (DATA / "id_ed25519.pub").read_text().strip()
# What `ssh-keygen -lf` prints for them.
RSA_FINGERPRINT = "s7LXn6yrq6Kh54jfKpZyUlB0DrUL0etVOfy0+VF+Xhc"
ED25519_FINGERPRINT = "ESxvolKZvygVxXvcrdyMzRRoWEWN1S6P0LKGz/0caUI"


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def rsa_line(modulus_bits: int) -> str:
    blob = (
        _field(b"ssh-rsa")
        + _field(b"\x01\x00\x01")
        + _field(b"\x00" + (1 << (modulus_bits - 1)).to_bytes(modulus_bits // 8, "big"))
    )
    return "ssh-rsa " + base64.b64encode(blob).decode()


def spec_with(kind: str, group: dict[str, Any]) -> ClusterSpec:
    if kind == "nodeGroups":
        group = {"imageId": TEST_IMAGE_ID, **group}
    return ClusterSpec.model_validate({"name": "mz", "region": "ap-northeast-1", kind: [{"name": "ng", **group}]})


def refusal(group: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecValidationError) as refused:
        validate(ClusterSpec, {"name": "mz", "managedNodeGroups": [{"name": "ng", **group}]}, "cluster request")
    return [(f["field"], f["rule"]) for f in refused.value.details["fields"]]


def test_keys_ec2_imports_pass_with_ssh_keygens_fingerprint() -> None:
    assert keys.fingerprint(keys.check_public_key(RSA)) == RSA_FINGERPRINT
    assert keys.fingerprint(keys.check_public_key(" " + ED25519 + "\n")) == ED25519_FINGERPRINT
    assert keys.check_public_key(rsa_line(1024)) and keys.check_public_key(rsa_line(3072))
    assert keys.imported_key_name("mz", "ng", RSA) == f"eksctl-mz-nodegroup-ng-{RSA_FINGERPRINT}"


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ((DATA / "id_ecdsa.pub").read_text(), "ssh-rsa or ssh-ed25519"),
        ("ssh-rsa", "OpenSSH public key line"),
        ("ssh-rsa not*base64", "base64 part"),
        ("ssh-ed25519 " + RSA.split()[1], "not an ssh-ed25519 key"),
        (rsa_line(512), "512 bits"),
        (rsa_line(8192), "8192 bits"),
        (RSA + "\n" + ED25519, "one OpenSSH public key line"),
        ("ssh-ed25519 " + base64.b64encode(_field(b"ssh-ed25519") + _field(b"x" * 31)).decode(), "ssh-ed25519"),
    ],
)
def test_keys_ec2_would_refuse_are_a_422_saying_why(key: str, says: str) -> None:
    (problem,) = refusal({"ssh": {"publicKey": key}})
    assert problem == ("managedNodeGroups[0].ssh.publicKey", "ssh_public_key")
    with pytest.raises(Exception, match=says.replace("*", r"\*")):
        keys.check_public_key(key)


def test_a_key_turns_ssh_on_as_in_eksctl_and_allow_false_keeps_the_key_without_port_22() -> None:
    on = spec_with("managedNodeGroups", {"ssh": {"publicKey": RSA}}).nodegroups[0]
    assert on.ssh is not None and on.ssh.allow is True
    off = spec_with("managedNodeGroups", {"ssh": {"publicKeyName": "ops", "allow": False}}).nodegroups[0]
    assert off.ssh is not None and off.ssh.allow is False and off.key_without_remote_access


@pytest.mark.parametrize(
    ("ssh", "problem"),
    [
        ({"publicKey": RSA, "publicKeyName": "ops"}, ("managedNodeGroups[0].ssh.publicKey", "one_of")),
        ({"allow": True}, ("managedNodeGroups[0].ssh.publicKeyName", "ssh_key_required")),
        ({"enableSsm": False}, ("managedNodeGroups[0].ssh.enableSsm", "ssm_always_on")),
        (
            {"allow": False, "publicKey": RSA, "sourceSecurityGroupIds": ["sg-0123abcd"]},
            ("managedNodeGroups[0].ssh.sourceSecurityGroupIds", "ssh_not_allowed"),
        ),
    ],
)
def test_ssh_rules(ssh: dict[str, Any], problem: tuple[str, str]) -> None:
    assert refusal({"ssh": ssh}) == [problem]


def test_a_managed_group_imports_its_key_in_its_stack_and_remote_access_names_it() -> None:
    spec = spec_with("managedNodeGroups", {"ssh": {"publicKey": ED25519, "sourceSecurityGroupIds": ["sg-0123abcd"]}})
    built = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")["Resources"]
    key = built["SSHKeyPair"]
    assert key["Type"] == "AWS::EC2::KeyPair"
    assert key["Properties"]["KeyName"] == f"eksctl-mz-nodegroup-ng-{ED25519_FINGERPRINT}"
    assert key["Properties"]["PublicKeyMaterial"] == ED25519
    remote = built["ManagedNodeGroup"]["Properties"]["RemoteAccess"]
    assert remote == {"Ec2SshKey": {"Ref": "SSHKeyPair"}, "SourceSecurityGroups": ["sg-0123abcd"]}


def test_a_managed_group_with_port_22_closed_gets_its_key_through_a_launch_template() -> None:
    spec = spec_with("managedNodeGroups", {"ssh": {"publicKey": RSA, "allow": False}})
    built = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")["Resources"]
    assert "RemoteAccess" not in built["ManagedNodeGroup"]["Properties"]
    assert built["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["KeyName"] == {"Ref": "SSHKeyPair"}


def test_a_self_managed_group_gets_the_key_and_opens_port_22_only_when_allowed() -> None:
    for allow, rules in ((True, 2), (False, 0)):
        spec = spec_with("nodeGroups", {"ssh": {"publicKey": RSA, "allow": allow}})
        built = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")["Resources"]
        data = built["NodeGroupLaunchTemplate"]["Properties"]["LaunchTemplateData"]
        assert data["KeyName"] == {"Ref": "SSHKeyPair"}
        ingress = built["SG"]["Properties"]["SecurityGroupIngress"]
        assert len([r for r in ingress if r["FromPort"] == 22]) == rules
    named = spec_with("nodeGroups", {"ssh": {"publicKeyName": "ops", "allow": False}})
    built = templates.build_nodegroup_template(named, named.nodegroups[0], "cid")["Resources"]
    assert built["NodeGroupLaunchTemplate"]["Properties"]["LaunchTemplateData"]["KeyName"] == "ops"
    assert "SSHKeyPair" not in built


def test_the_templates_pass_cfn_lint() -> None:
    spec = ClusterSpec.model_validate(
        {
            "name": "mz",
            "region": "ap-northeast-1",
            "availabilityZones": ZONES,
            "managedNodeGroups": [
                {"name": "open", "ssh": {"publicKey": RSA}},
                {"name": "closed", "ssh": {"publicKey": ED25519, "allow": False}},
            ],
            "nodeGroups": [{"name": "self", "imageId": TEST_IMAGE_ID, "ssh": {"publicKey": RSA}}],
        }
    )
    for template in all_templates(spec, ZONES):
        assert cfn_lint(template, spec.region) == []


def test_the_clusterconfig_takes_the_key_and_enable_ssm_and_gives_them_back() -> None:
    document = {
        "apiVersion": "eksctl.io/v1alpha5",
        "kind": "ClusterConfig",
        "metadata": {"name": "mz", "region": "ap-northeast-1"},
        "nodeGroups": [{"name": "ng", "ssh": {"publicKey": RSA, "enableSsm": True}}],
    }
    spec = clusterconfig.parse(yaml.safe_dump(document).encode())
    back = clusterconfig.from_spec(spec)
    assert back["nodeGroups"][0]["ssh"] == {"allow": True, "publicKey": RSA, "enableSsm": True}
    assert clusterconfig.parse(yaml.safe_dump(back).encode()) == spec


# -- the CLI reads what names a file on the caller's machine ------------------------------------------------


def config(*groups: dict[str, Any], kind: str = "nodeGroups") -> bytes:
    document = {"apiVersion": "eksctl.io/v1alpha5", "kind": "ClusterConfig", "metadata": {"name": "mz"}, kind: groups}
    return yaml.safe_dump(document, sort_keys=False).encode()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    return tmp_path


def groups_of(raw: bytes, kind: str = "nodeGroups") -> list[dict[str, Any]]:
    return list(yaml.safe_load(raw)[kind])


def test_the_cli_reads_public_key_path_and_eksctls_default_key(home: Path) -> None:
    (home / ".ssh" / "id_rsa.pub").write_text(RSA + "\n")
    (home / "team.pub").write_text(ED25519 + "\n")
    raw = config(
        {"name": "a", "ssh": {"publicKeyPath": "~/team.pub"}},
        {"name": "b", "ssh": {"allow": True}},
        {"name": "c", "ssh": {"publicKeyPath": "ops-key"}},  # not a file: an EC2 key pair's name, as in eksctl
        kind="managedNodeGroups",
    )
    sent, notes = ssh_keys.with_local_keys(raw)
    assert [g["ssh"] for g in groups_of(sent, "managedNodeGroups")] == [
        {"publicKey": ED25519},
        {"allow": True, "publicKey": RSA},
        {"publicKeyName": "ops-key"},
    ]
    assert len(notes) == 3 and "~/team.pub" in notes[0] and "eksctl's default" in notes[1]
    assert clusterconfig.parse(sent).nodegroups[0].ssh is not None


def test_the_cli_sends_a_file_without_local_keys_byte_for_byte(home: Path) -> None:
    raw = b"# ours\n" + config({"name": "a", "ssh": {"publicKeyName": "ops"}})
    assert ssh_keys.with_local_keys(raw) == (raw, [])
    assert ssh_keys.with_local_keys(b"not: [valid") == (b"not: [valid", [])


def test_the_cli_says_when_eksctls_default_key_is_missing(home: Path) -> None:
    with pytest.raises(click.ClickException, match=r"nodeGroups\[0\]\.ssh\.allow: no key given"):
        ssh_keys.with_local_keys(config({"name": "a", "ssh": {"allow": True}}))


def test_a_windows_groups_key_is_rsa_as_ec2_takes_no_ed25519_key_for_windows() -> None:
    linux = {"name": "linux"}
    windows = {"name": "win", "amiFamily": "WindowsServer2022FullContainer", "ssh": {"publicKey": ED25519}}
    with pytest.raises(SpecValidationError) as refused:
        validate(ClusterSpec, {"name": "mz", "managedNodeGroups": [linux, windows]}, "cluster request")
    assert [(f["field"], f["rule"]) for f in refused.value.details["fields"]] == [
        ("managedNodeGroups[1].ssh.publicKey", "windows_key_type")
    ]
    ClusterSpec.model_validate({"name": "mz", "managedNodeGroups": [linux, {**windows, "ssh": {"publicKey": RSA}}]})


def test_the_cli_sends_only_a_public_key_line_and_one_kind_of_key(home: Path) -> None:
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n")
    (home / "notes.txt").write_text("hello\n")
    for path, says in (("~/.ssh/id_rsa", "is a private key"), ("~/notes.txt", "not one OpenSSH public key line")):
        with pytest.raises(click.ClickException, match=says):
            ssh_keys.with_local_keys(config({"name": "a", "ssh": {"publicKeyPath": path}}))
    with pytest.raises(click.ClickException, match="give one of publicKeyName, publicKeyPath, publicKey"):
        ssh_keys.with_local_keys(config({"name": "a", "ssh": {"publicKeyName": "ops", "publicKeyPath": "ops"}}))


def test_enable_ssm_is_refused_with_a_managed_groups_own_image_as_eksctl_refuses_it() -> None:
    own = {"amiFamily": "AmazonLinux2023", "ami": "ami-0123456789abcdef0", "overrideBootstrapCommand": "x"}
    assert ("managedNodeGroups[0].ssh.enableSsm", "custom_ami_conflict") in refusal({**own, "ssh": {"enableSsm": True}})
    template = {"launchTemplate": {"id": "lt-0123456789abcdef0"}}
    assert ("managedNodeGroups[0].ssh", "launch_template_conflict") in refusal({**template, "ssh": {"enableSsm": True}})
