"""Authorisation: who a caller is to the cluster (creator rule and aws-auth) and what its groups may do.

Deliberately simpler than RBAC: the cluster creator and aws-auth members of system:masters may do anything,
other mapped callers may only read, and unmapped callers are not let in at all.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import yaml

from local.kube.status import ApiError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

MASTERS = "system:masters"
AWS_AUTH = ("kube-system", "aws-auth")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>[^:]+):sts::(?P<account>\d+):assumed-role/(?P<role>[^/]+)/[^/]+$")
ACCOUNT_OF_ARN = re.compile(r"^arn:[^:]+:(?:iam|sts)::(?P<account>\d+):")


def canonical_arn(arn: str) -> str:
    """Map an assumed-role session ARN to its IAM role ARN, as aws-iam-authenticator does; others unchanged."""
    match = ASSUMED_ROLE.match(arn)
    if match is None:
        return arn
    return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"


def groups_of(arn: str, creator_arn: str, aws_auth_data: Callable[[], Mapping[str, Any]]) -> list[str] | None:
    """Groups of a canonical ARN per the creator rule and aws-auth's data; None if the caller is not mapped.

    aws_auth_data is only called when the creator rule does not decide, so the creator never waits on the store.
    """
    if arn == canonical_arn(creator_arn):
        return [MASTERS]
    data = aws_auth_data()

    def entries(key: str) -> list[Any]:
        try:
            loaded = yaml.safe_load(data.get(key) or "[]")
        except yaml.YAMLError:
            return []  # a malformed mapping grants nothing, as in EKS
        return loaded if isinstance(loaded, list) else []

    for key, field in (("mapRoles", "rolearn"), ("mapUsers", "userarn")):
        for entry in entries(key):
            if isinstance(entry, dict) and entry.get(field) == arn:
                return [str(group) for group in entry.get("groups") or []]
    account = ACCOUNT_OF_ARN.match(arn)
    if account and account["account"] in {str(item) for item in entries("mapAccounts")}:
        return []
    return None


def authorize(method: str, path: str, groups: list[str]) -> None:
    """Raise 403 unless the groups may use the method: writes need system:masters, reads any mapping."""
    if method in WRITE_METHODS and MASTERS not in groups:
        raise ApiError(403, "Forbidden", f"caller is not allowed to {method} {path} (read-only access)")
