"""What a secret looks like in text: the scanner the secrets tests share (logs, environments, kubeconfigs)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

# Each pattern names what it finds; a hit anywhere in a log line or a setting is a leak.
PATTERNS: dict[str, re.Pattern[str]] = {
    "EKS bearer token": re.compile(r"k8s-aws-v1\."),
    "presigned URL (X-Amz-Signature)": re.compile(r"X-Amz-Signature", re.IGNORECASE),
    "presigned URL (X-Amz-Credential)": re.compile(r"X-Amz-Credential", re.IGNORECASE),
    "presigned URL (X-Amz-Security-Token)": re.compile(r"X-Amz-Security-Token", re.IGNORECASE),
    "signed URL (Signature=)": re.compile(r"Signature="),
    "Authorization header": re.compile(r"""\bAuthorization["']?\s*[:=]""", re.IGNORECASE),
    "bearer credential": re.compile(r"\bBearer\s+[A-Za-z0-9._~+/-]{8,}"),
    "AWS secret key setting": re.compile(r"aws_secret_access_key|SecretAccessKey", re.IGNORECASE),
    # 40 characters of base64 with upper, lower case and a digit: an AWS secret access key's shape
    # (hex digests, UUIDs and ARNs never match: no mixed case, or separators).
    "AWS secret key shape": re.compile(
        r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[0-9])"
        r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
    ),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    "Slack request signature": re.compile(r"v0=[0-9a-f]{64}"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]+"),
    "Slack webhook URL": re.compile(r"hooks\.slack\.com/services/"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "kubeconfig client credential": re.compile(r"client-key-data|client-certificate-data"),
}


@dataclass(frozen=True)
class Leak:
    line: int
    what: str
    excerpt: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}: {self.excerpt}"


def find_leaks(text: str, secrets: Iterable[str] = ()) -> list[Leak]:
    """Every line of `text` that holds a secret: a known value from `secrets`, or anything in PATTERNS."""
    known = {value: f"secret value {value[:4]}..." for value in secrets if value}
    found: list[Leak] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for value, what in known.items():
            if value in line:
                found.append(Leak(number, what, _excerpt(line, line.index(value))))
        for what, pattern in PATTERNS.items():
            match = pattern.search(line)
            if match:
                found.append(Leak(number, what, _excerpt(line, match.start())))
    return found


def _excerpt(line: str, at: int, around: int = 60) -> str:
    start = max(0, at - around)
    return ("..." if start else "") + line[start : at + around] + ("..." if at + around < len(line) else "")
