"""The rule for an inline IAM policy document a caller gives (eksctl's `attachPolicy`, `permissionPolicy`).

A managed policy is held to the service's allow-list of ARNs (EKSPRESS_ALLOWED_POLICY_ARNS); an
inline document cannot be, so it is held to what cannot raise a role above what the caller could
ask for anyway:

- the shape IAM takes for an identity policy: `Version`, a non-empty `Statement` list whose
  statements have an `Effect`, one of `Action`/`NotAction`, one of `Resource`/`NotResource`, and no
  `Principal` (a role's own policy names no principal);
- no `Allow` with `NotAction` or `NotResource`: they allow everything but a list, services to come
  included;
- no `Allow` of an action of the services that manage identities and accounts, `iam`, `sts`,
  `organizations` and `account`, nor `*`: a role that can make roles, pass them, assume them or
  change the account can make itself anything. Wildcards count by what they could match:
  `i*:*`, `*:PassRole` and `s??:*` are all refused.

`Deny` statements are not limited: they only take away.

That rule is the floor, not the gate: an action outside those services can still reach past the
cluster (`cloudformation:UpdateStack` on a stack the service's role builds, `eks:AssociateAccessPolicy`,
`lambda:UpdateFunctionCode`). So every action an inline policy allows must also be one the service
policy allows, `EKSPRESS_ALLOWED_INLINE_ACTIONS` (action globs such as `s3:Get*,sqs:ReceiveMessage`);
unset, no inline policy is accepted (`inline_action_problems`, applied where policy ARNs are). A node
role's document (a node group's `iam.attachPolicy`) is held to its own list instead,
`EKSPRESS_ALLOWED_NODE_INLINE_ACTIONS`: every pod on the node can reach the node role's credentials
through the instance metadata, so what one pod's role may do is not what every pod's may.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from chalicelib.model.validation import field_path

if TYPE_CHECKING:
    from chalicelib.model.settings import Settings
    from chalicelib.model.spec import ClusterSpec

RULE = "inline_policy"
RULE_ACTION_NOT_ALLOWED = "inline_action_not_allowed"
ENV_ALLOWED_INLINE_ACTIONS = "EKSPRESS_ALLOWED_INLINE_ACTIONS"
ENV_ALLOWED_NODE_INLINE_ACTIONS = "EKSPRESS_ALLOWED_NODE_INLINE_ACTIONS"
# SERVICE:ACTION as IAM writes it, wildcards included; no spaces (IAM would not match what a check read).
ACTION_PATTERN = re.compile(r"^[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+$")
RULE_FORMAT = "inline_policy_format"
VERSIONS = ("2012-10-17", "2008-10-17")
# Services whose actions let a role grant itself more (make, pass or assume roles, change the account).
ESCALATING_SERVICES = ("iam", "sts", "organizations", "account")
STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"})
# IAM's limit on a role's inline policies, counted without whitespace.
MAX_SIZE = 10240


def _format(message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(RULE_FORMAT, message, context or None)


def _strings(statement: dict[str, Any], key: str, where: str) -> list[str]:
    value = statement[key]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise _format("{where}.{key} must be a string or a non-empty list of strings", where=where, key=key)
    return values


def escalates(action: str) -> bool:
    """Whether an allowed `action` (a pattern, as IAM reads it) could match an escalating service's action."""
    if action == "*":
        return True
    service = action.split(":", 1)[0].lower()
    return any(fnmatch.fnmatchcase(s, service) for s in ESCALATING_SERVICES)


def _check_statement(statement: Any, where: str) -> None:
    if not isinstance(statement, dict):
        raise _format("{where} must be an object", where=where)
    unknown = sorted(set(statement) - STATEMENT_KEYS)
    if unknown:
        raise _format(
            "{where} has {keys}: an identity policy statement takes only {allowed}",
            where=where,
            keys=", ".join(unknown),
            allowed=", ".join(sorted(STATEMENT_KEYS)),
        )
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise _format("{where}.Effect must be Allow or Deny", where=where)
    for one, other in (("Action", "NotAction"), ("Resource", "NotResource")):
        if (one in statement) == (other in statement):
            raise _format("{where} needs exactly one of {one} and {other}", where=where, one=one, other=other)
    if "Condition" in statement and not isinstance(statement["Condition"], dict):
        raise _format("{where}.Condition must be an object", where=where)
    actions = _strings(statement, "Action" if "Action" in statement else "NotAction", where)
    _strings(statement, "Resource" if "Resource" in statement else "NotResource", where)
    for action in actions:
        if action != "*" and not ACTION_PATTERN.fullmatch(action):
            raise _format("{where}: action '{action}' is not SERVICE:ACTION", where=where, action=action)
    if effect != "Allow":
        return
    for negation in ("NotAction", "NotResource"):
        if negation in statement:
            raise PydanticCustomError(
                RULE,
                "{where} allows with {key}, which allows everything it does not list",
                {"where": where, "key": negation},
            )
    for action in actions:
        if escalates(action):
            raise PydanticCustomError(
                RULE,
                "{where} allows '{action}': an inline policy may not allow actions of {services} (nor '*'); "
                "attach a policy from the service's allow-list instead",
                {"where": where, "action": action, "services": ", ".join(ESCALATING_SERVICES)},
            )


def check_inline_policy(document: dict[str, Any]) -> dict[str, Any]:
    """An inline policy document: IAM's shape, and nothing that lets the role grant itself more."""
    if document.get("Version") not in VERSIONS:
        raise _format("Version must be one of {versions}", versions=", ".join(VERSIONS))
    unknown = sorted(set(document) - {"Version", "Id", "Statement"})
    if unknown:
        raise _format("a policy document takes only Version, Id and Statement, not {keys}", keys=", ".join(unknown))
    statements = document.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise _format("Statement must be a non-empty list of statements")
    for index, statement in enumerate(statements):
        sid = statement.get("Sid") if isinstance(statement, dict) else None
        where = f"Statement[{index}]" + (f" ({sid})" if isinstance(sid, str) and sid else "")
        _check_statement(statement, where)
    if policy_size(document) > MAX_SIZE:
        raise _format("the document is over IAM's {size} characters for a role's inline policies", size=MAX_SIZE)
    return document


def policy_size(document: Any) -> int:
    """A policy document's length as IAM counts it against MAX_SIZE: without whitespace."""
    return len(json.dumps(document, separators=(",", ":")))


# A model's inline policy field: a document `check_inline_policy` accepts.
InlinePolicy = Annotated[dict[str, Any], AfterValidator(check_inline_policy)]


def allowed_actions(document: dict[str, Any]) -> list[str]:
    """The action patterns a (checked) document's Allow statements name."""
    found: list[str] = []
    for statement in document.get("Statement") or []:
        if statement.get("Effect") == "Allow" and "Action" in statement:
            action = statement["Action"]
            found += [action] if isinstance(action, str) else list(action)
    return found


def action_allowed(action: str, patterns: tuple[str, ...]) -> bool:
    """Whether every action `action` could match is matched by one of `patterns` (IAM compares ignoring case).

    A plain action is matched as IAM would match it; a wildcard one only by a pattern that is a plain
    prefix and a trailing `*` it starts with (`s3:Get*` by `s3:*` or `s3:Get*`, never by `s3:Get?bject`).
    """
    wanted = action.lower()
    for pattern in (p.lower() for p in patterns):
        if not any(c in wanted for c in "*?"):
            if fnmatch.fnmatchcase(wanted, pattern):
                return True
        elif pattern.endswith("*") and not any(c in pattern[:-1] for c in "*?") and wanted.startswith(pattern[:-1]):
            return True
    return False


def requested_inline_documents(spec: ClusterSpec) -> list[tuple[str, dict[str, Any]]]:
    """Every inline policy document a request gives a pod's role, with its field."""
    found: list[tuple[str, dict[str, Any]]] = []
    iam = spec.iam
    for index, account in enumerate((iam.service_accounts if iam else None) or []):
        if account.attach_policy:
            found.append((f"iam.serviceAccounts[{index}].attachPolicy", account.attach_policy))
    for index, pod in enumerate((iam.pod_identity_associations if iam else None) or []):
        if pod.permission_policy:
            found.append((f"iam.podIdentityAssociations[{index}].permissionPolicy", pod.permission_policy))
    for index, addon in enumerate(spec.addons):
        if addon.attach_policy:
            found.append((f"addons[{index}].attachPolicy", addon.attach_policy))
        for a, association in enumerate(addon.pod_identity_associations or []):
            if association.permission_policy:
                field = f"addons[{index}].podIdentityAssociations[{a}].permissionPolicy"
                found.append((field, association.permission_policy))
    return found


def requested_node_inline_documents(spec: ClusterSpec) -> list[tuple[str, dict[str, Any]]]:
    """Every inline policy document a request gives a node role (a node group's iam.attachPolicy), with its field."""
    found: list[tuple[str, dict[str, Any]]] = []
    for index, group in enumerate(spec.nodegroups):
        group_iam = getattr(group, "iam", None)  # both kinds of group have one
        if group_iam and group_iam.attach_policy:
            found.append((f"{field_path(spec.group_loc(index))}.iam.attachPolicy", group_iam.attach_policy))
    return found


def inline_action_problems(
    documents: list[tuple[str, dict[str, Any]]], settings: Settings, node_roles: bool = False
) -> list[dict[str, str]]:
    """A 422 problem for each allowed action outside EKSPRESS_ALLOWED_INLINE_ACTIONS (unset: every one), or for
    node roles' documents outside EKSPRESS_ALLOWED_NODE_INLINE_ACTIONS: every pod on a node can use its role."""
    patterns = settings.allowed_node_inline_actions if node_roles else settings.allowed_inline_actions
    variable = ENV_ALLOWED_NODE_INLINE_ACTIONS if node_roles else ENV_ALLOWED_INLINE_ACTIONS
    allowed = ", ".join(patterns) or "none: inline policies are off"
    return [
        {
            "field": field,
            "rule": RULE_ACTION_NOT_ALLOWED,
            "message": f"'{action}' is not allowed in an inline policy by the service policy; allowed: {allowed} "
            f"({variable})",
        }
        for field, document in documents
        for action in allowed_actions(document)
        if not action_allowed(action, patterns)
    ]
