"""A stored spec read as plain data: what workflow steps need of it, without pydantic.

A spec is validated once, when it is requested (`spec.ClusterSpec`), and stored as its JSON (camelCase,
no unset fields). Steps that only read parts of it (which service accounts to apply, which one to
remove) read that JSON here instead of validating it again, so their functions start without pydantic.
No step builds a template: the request renders them (operations/rendering.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.model import naming


def target_spec(record: dict[str, Any]) -> dict[str, Any]:
    """The spec a running change is heading for (a change's operation carries one), else the record's."""
    spec: dict[str, Any] = (record.get("operation") or {}).get("spec") or record["spec"]
    return spec


@dataclass(frozen=True)
class StoredAccount:
    """One `iam.serviceAccounts[]` entry of a stored spec."""

    namespace: str
    name: str
    role_only: bool = False
    attach_role_arn: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, entry: dict[str, Any]) -> StoredAccount:
        metadata = entry.get("metadata") or {}
        return cls(
            namespace=metadata.get("namespace") or naming.DEFAULT_NAMESPACE,
            name=metadata["name"],
            role_only=bool(entry.get("roleOnly")),
            attach_role_arn=entry.get("attachRoleARN"),
            labels=dict(metadata.get("labels") or {}),
            annotations=dict(metadata.get("annotations") or {}),
        )

    @property
    def member(self) -> str:
        """How the account is named in its stack's name (`NAMESPACE-NAME`)."""
        return naming.service_account_member(self.namespace, self.name)

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def needs_stack(self) -> bool:
        """Whether a stack makes the account's role (not when it names an existing one)."""
        return self.attach_role_arn is None


def service_accounts(spec: dict[str, Any]) -> list[StoredAccount]:
    return [StoredAccount.from_fields(a) for a in (spec.get("iam") or {}).get("serviceAccounts") or []]


def find_service_account(spec: dict[str, Any], namespace: str, name: str) -> StoredAccount | None:
    return next((a for a in service_accounts(spec) if (a.namespace, a.name) == (namespace, name)), None)


def pod_identity_service_accounts(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(namespace, name) of each pod identity association that asks for its ServiceAccount to be made."""
    associations = (spec.get("iam") or {}).get("podIdentityAssociations") or []
    return [(a["namespace"], a["serviceAccountName"]) for a in associations if a.get("createServiceAccount")]
