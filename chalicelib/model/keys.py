"""SSH public keys as EC2's ImportKeyPair takes them, and the name eksctl gives an imported key.

A key is one OpenSSH line, `TYPE BASE64 [comment]`, of a type EC2 imports: RSA of 1024 to 4096
bits (the lengths EC2 documents are 1024, 2048 and 4096; ssh-keygen's default, 3072, imports too),
or ED25519. Checked here, a key EC2 would refuse is a 422 naming the field, not a
node group stack that fails a quarter of an hour later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from pydantic_core import PydanticCustomError

# The key types EC2 imports, and the RSA sizes it takes (ImportKeyPair).
KEY_TYPES = ("ssh-rsa", "ssh-ed25519")
RSA_BITS = (1024, 4096)
MAX_PUBLIC_KEY = 4096  # characters: a 4096-bit RSA line is about 740


def _fields(blob: bytes) -> list[bytes]:
    """The length-prefixed fields of an SSH key blob (RFC 4253, section 6.6)."""
    fields: list[bytes] = []
    at = 0
    while at < len(blob):
        if at + 4 > len(blob):
            raise ValueError("truncated")
        size = int.from_bytes(blob[at : at + 4], "big")
        at += 4
        if at + size > len(blob):
            raise ValueError("truncated")
        fields.append(blob[at : at + size])
        at += size
    return fields


def _blob(key: str) -> tuple[str, bytes]:
    parts = key.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise ValueError(f"an OpenSSH public key line, `{' or '.join(KEY_TYPES)} AAAA... [comment]`")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        fields = _fields(blob)
    except (binascii.Error, ValueError):
        raise ValueError("the key's base64 part is not an SSH public key") from None
    if not fields or fields[0].decode(errors="replace") != parts[0]:
        raise ValueError(f"the key's data is not an {parts[0]} key")
    if parts[0] == "ssh-rsa":
        if len(fields) != 3:
            raise ValueError("the key's data is not an ssh-rsa key")
        bits = int.from_bytes(fields[2], "big").bit_length()
        if not RSA_BITS[0] <= bits <= RSA_BITS[1]:
            raise ValueError(f"an RSA key of {bits} bits; EC2 imports {RSA_BITS[0]} to {RSA_BITS[1]}")
    elif len(fields) != 2 or len(fields[1]) != 32:
        raise ValueError("the key's data is not an ssh-ed25519 key")
    return parts[0], blob


def check_public_key(key: str) -> str:
    """The key as one trimmed line, or a `ssh_public_key` error saying what EC2 would refuse."""
    key = key.strip()
    if len(key) > MAX_PUBLIC_KEY or "\n" in key:
        raise PydanticCustomError(
            "ssh_public_key", "one OpenSSH public key line of at most {limit} characters", {"limit": MAX_PUBLIC_KEY}
        )
    try:
        _blob(key)
    except ValueError as problem:
        raise PydanticCustomError(
            "ssh_public_key", "EC2 cannot import this key: {why}", {"why": str(problem)}
        ) from None
    return key


def fingerprint(key: str) -> str:
    """OpenSSH's SHA256 fingerprint of the key, without its `SHA256:` prefix and padding."""
    _, blob = _blob(key)
    return base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def imported_key_name(cluster: str, group: str, key: str) -> str:
    """The name of a key a node group's stack imports, shaped as eksctl's: `eksctl-CLUSTER-nodegroup-NG-FINGERPRINT`.

    The fingerprint is OpenSSH's SHA-256 one for every key type: the same as eksctl's for ED25519 keys;
    for RSA keys eksctl uses EC2's MD5 fingerprint instead, so its names differ.
    """
    return f"eksctl-{cluster}-nodegroup-{group}-{fingerprint(key)}"
