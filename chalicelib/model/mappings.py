"""aws-auth mappings as the workflows apply them: plain data, no pydantic.

A mapping is validated once, when it is requested (`access_spec.IdentityMapping`, in the API or the
ClusterConfig), and stored as its camelCase fields. The workflow's steps read those fields back
with `Mapping.from_fields` and never validate them again, so a function that only edits aws-auth
starts without pydantic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Groups only the node role mapping may hold: granting them to a person would let
# that person act as a kubelet.
NODE_GROUPS = ("system:bootstrappers", "system:nodes")
MASTERS_GROUP = "system:masters"


def aws_auth_key(arn: str | None, account: str | None, service_name: str | None = None) -> str:
    """Which aws-auth list a mapping belongs to: mapRoles, mapUsers or mapAccounts."""
    if service_name is not None:  # the service's service-linked role
        return "mapRoles"
    if account is not None:
        return "mapAccounts"
    return "mapRoles" if ":role/" in str(arn) else "mapUsers"


@dataclass(frozen=True)
class Mapping:
    """One identity mapping, as stored after validation (the fields of `IdentityMapping`)."""

    arn: str | None = None
    username: str | None = None
    groups: tuple[str, ...] = ()
    account: str | None = None
    no_duplicate_arns: bool = True
    service_name: str | None = None
    namespace: str | None = None

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Mapping:
        """A stored mapping (`iamIdentityMappings[]`, an access change): its camelCase fields, validated when
        it was requested; fields of other things (an access change's `action`) are not read."""
        return cls(
            arn=fields.get("arn"),
            username=fields.get("username"),
            groups=tuple(fields.get("groups") or ()),
            account=fields.get("account"),
            no_duplicate_arns=bool(fields.get("noDuplicateARNs", True)),
            service_name=fields.get("serviceName"),
            namespace=fields.get("namespace"),
        )

    @property
    def kind(self) -> str:
        return aws_auth_key(self.arn, self.account, self.service_name)


# arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION; a session name never holds a slash, so the last one ends ROLE.
ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>.+)/[^/]+$")


def canonical(arn: str) -> str:
    """The principal an ARN stands for, as aws-iam-authenticator's Canonicalize names it.

    An assumed role's session becomes the role; users, roles, root, federated users and
    anything else stay as they are. The session ARN does not carry the role's path, so
    the role ARN has none either (`role/ROLE`, never `role/PATH/ROLE`), as in the authenticator.
    """
    match = ASSUMED_ROLE.match(arn)
    if match is None:
        return arn
    return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"
