"""What eksctl reads from the caller's machine for a node group's SSH key, read here before the file is sent.

The service cannot open `~/.ssh/...`, so `ssh.publicKeyPath` becomes `ssh.publicKey` (the key itself),
and a bare `ssh.allow: true` gets eksctl's default key, `~/.ssh/id_rsa.pub`. As in eksctl, a
`publicKeyPath` that is not a file names an EC2 key pair (`publicKeyName`). A file that needs none
of this is sent as it is, byte for byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

DEFAULT_KEY_PATH = "~/.ssh/id_rsa.pub"  # eksctl's DefaultNodeSSHPublicKeyPath
_GROUPS = ("nodeGroups", "managedNodeGroups")
_KEYS = ("publicKeyName", "publicKeyPath", "publicKey")
PUBLIC_KEY_TYPES = ("ssh-rsa ", "ssh-ed25519 ")  # what EC2 imports (the service checks the key itself)


def _read(path: str, field: str) -> str | None:
    """The public key in the file at `path`, None if there is no such file.

    Only one public key line leaves this machine: a private key (`publicKeyPath: ~/.ssh/id_rsa`) or any
    other file is refused here, before anything is sent.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        return None
    try:
        text = file.read_text(errors="replace").strip()
    except OSError as problem:
        raise click.ClickException(f"{field}: cannot read {path}: {problem}") from None
    if "PRIVATE KEY" in text:
        raise click.ClickException(f"{field}: {path} is a private key; name its .pub file")
    if "\n" in text or not text.startswith(PUBLIC_KEY_TYPES):
        raise click.ClickException(
            f"{field}: {path} is not one OpenSSH public key line ({' or '.join(t.strip() for t in PUBLIC_KEY_TYPES)})"
        )
    return text


def _resolve(ssh: dict[str, Any], field: str, notes: list[str]) -> bool:
    """Replace what names a local file in one group's `ssh`; whether anything changed."""
    given = [name for name in _KEYS if ssh.get(name) is not None]
    if len(given) > 1:  # eksctl's rule; reading the file would overwrite the other
        raise click.ClickException(f"{field}: give one of {', '.join(_KEYS)}, not {' and '.join(given)}")
    path = ssh.get("publicKeyPath")
    if isinstance(path, str):
        del ssh["publicKeyPath"]
        key = _read(path, f"{field}.publicKeyPath")
        if key is None:  # eksctl: a path that is not a file is the name of a key pair in EC2
            ssh["publicKeyName"] = path
            notes.append(f"{field}.publicKeyPath: {path} is not a file; using it as an EC2 key pair name")
        else:
            ssh["publicKey"] = key
            notes.append(f"{field}.publicKeyPath: importing the public key in {path}")
        return True
    if ssh.get("allow") is True and not any(ssh.get(name) for name in _KEYS):
        key = _read(DEFAULT_KEY_PATH, field)
        if key is None:
            raise click.ClickException(
                f"{field}.allow: no key given and eksctl's default {DEFAULT_KEY_PATH} is not a file; "
                "set ssh.publicKeyPath, ssh.publicKey or ssh.publicKeyName"
            )
        ssh["publicKey"] = key
        notes.append(f"{field}: importing the public key in {DEFAULT_KEY_PATH} (eksctl's default)")
        return True
    return False


def with_local_keys(raw: bytes) -> tuple[bytes, list[str]]:
    """The ClusterConfig with each group's local key read into it, and a line for each key read.

    Anything that is not a plain ClusterConfig document goes unchanged: the service says what is wrong.
    """
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw, []
    if not isinstance(document, dict):
        return raw, []
    notes: list[str] = []
    changed = False
    for section in _GROUPS:
        groups = document.get(section)
        for index, group in enumerate(groups if isinstance(groups, list) else []):
            ssh = group.get("ssh") if isinstance(group, dict) else None
            if isinstance(ssh, dict):
                changed |= _resolve(ssh, f"{section}[{index}].ssh", notes)
    if not changed:
        return raw, []
    return yaml.safe_dump(document, sort_keys=False).encode(), notes
