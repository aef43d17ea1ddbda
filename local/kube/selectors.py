"""Label and field selectors as the Kubernetes API server parses and matches them (labelSelector, fieldSelector).

Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists) and `!k` (does not exist),
joined by commas. Field selectors: `f=v`, `f==v`, `f!=v` over the fields each kind supports (every kind has
metadata.name and metadata.namespace).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from local.kube.status import ApiError

# Fields a kind may be selected by besides metadata.name and metadata.namespace, by kind.
FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "Pod": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Secret": ("type",),
    "Namespace": ("status.phase",),
    "Node": ("spec.unschedulable",),
    "ReplicaSet": ("status.replicas",),
}
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_SET = re.compile(r"^\s*(?P<key>[^\s!=()]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*(?P<key>[^\s!=()]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=()]*)\s*$")
_EXISTS = re.compile(r"^\s*(?P<not>!?)\s*(?P<key>[^\s!=()]+)\s*$")


@dataclass(frozen=True)
class Requirement:
    """One term of a selector: key, operator (in, notin, exists, !exists; = and != become in and notin) and values."""

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a label set satisfies this term."""
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values  # notin (and !=)


def _split_terms(selector: str) -> list[str]:
    """Split at commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: unbalanced parentheses in {selector!r}")
        current += char
    if depth:
        raise ApiError(400, "BadRequest", f"unable to parse requirement: unbalanced parentheses in {selector!r}")
    terms.append(current)
    return terms


def _bad(selector: str, why: str) -> ApiError:
    return ApiError(400, "BadRequest", f"unable to parse requirement: {why} (in selector {selector!r})")


def parse_labels(selector: str) -> list[Requirement]:
    """Parse a label selector, or raise 400 as the API server does for a malformed one."""
    if not selector.strip():
        return []
    requirements = []
    for term in _split_terms(selector):
        if match := _SET.match(term):
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            requirement = Requirement(match["key"], match["op"], values)
        elif match := _EQUALITY.match(term):
            requirement = Requirement(
                match["key"], "notin" if match["op"] == "!=" else "in", frozenset([match["value"]])
            )
        elif match := _EXISTS.match(term):
            requirement = Requirement(match["key"], "!exists" if match["not"] else "exists")
        else:
            raise _bad(selector, f"found {term.strip()!r}, expected a key with an operator")
        if not _LABEL_KEY.match(requirement.key) or len(requirement.key.rpartition("/")[2]) > 63:
            raise _bad(selector, f"invalid label key {requirement.key!r}")
        for value in requirement.values:
            if len(value) > 63 or not _LABEL_VALUE.match(value):
                raise _bad(selector, f"invalid label value {value!r}")
        requirements.append(requirement)
    return requirements


def match_labels(requirements: list[Requirement], labels: dict[str, str] | None) -> bool:
    """Whether every requirement holds for the labels."""
    return all(r.matches(labels or {}) for r in requirements)


def labels_of_selector(selector: dict[str, Any] | None) -> list[Requirement]:
    """The requirements of a LabelSelector object (matchLabels and matchExpressions), as a Deployment carries."""
    if not selector:
        return []
    requirements = [Requirement(k, "in", frozenset([v])) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expression in selector.get("matchExpressions") or []:
        op = ops.get(expression.get("operator", ""), "in")
        requirements.append(Requirement(expression.get("key", ""), op, frozenset(expression.get("values") or [])))
    return requirements


@dataclass(frozen=True)
class FieldRequirement:
    """One term of a field selector: a dotted field path equal (or not) to a value."""

    field: str
    value: str
    equal: bool

    def matches(self, obj: dict[str, Any]) -> bool:
        """Whether the object's field (missing reads as empty) satisfies this term."""
        return (field_value(obj, self.field) == self.value) == self.equal


def field_value(obj: dict[str, Any], path: str) -> str:
    """The string form of a dotted field of an object, as field selectors compare it ("" when absent)."""
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    if path == "source" and isinstance(obj.get("source"), dict):
        current = obj["source"].get("component")
    if isinstance(current, bool):
        return "true" if current else "false"
    return "" if current is None else str(current)


def parse_fields(selector: str, kind: str) -> list[FieldRequirement]:
    """Parse a field selector for a kind, or raise 400 naming a field the kind cannot be selected by."""
    if not selector.strip():
        return []
    allowed = {"metadata.name", "metadata.namespace", *FIELDS_BY_KIND.get(kind, ())}
    requirements = []
    for term in selector.split(","):
        match = re.match(r"^\s*(?P<field>[^\s!=]+)\s*(?P<op>==|=|!=)\s*(?P<value>.*?)\s*$", term)
        if match is None:
            raise ApiError(400, "BadRequest", f"invalid selector: {selector!r}; can't understand {term!r}")
        if match["field"] not in allowed:
            raise ApiError(
                400,
                "BadRequest",
                f'Unable to find "/v1, Resource={kind.lower()}s" that match label selector "", field selector '
                f'"{selector}": field label not supported: {match["field"]}',
            )
        requirements.append(FieldRequirement(match["field"], match["value"], match["op"] != "!="))
    return requirements


def match_fields(requirements: list[FieldRequirement], obj: dict[str, Any]) -> bool:
    """Whether every field requirement holds for the object."""
    return all(r.matches(obj) for r in requirements)
