"""How request models validate: the shared base model, field rules, and the 422 that names every field.

Nothing here knows a cluster: the spec modules build on it, so it imports only errors and naming.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from chalicelib.model import naming
from chalicelib.model.errors import SpecValidationError

# An IAM managed policy: the account's own or AWS's, with an optional path.
POLICY_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/([\x21-\x7e]+/)?[\w+=,.@-]+$"
# A permissions boundary (of the cluster's service role, a node role, a pod role): a boundary only narrows
# what the role may do, so any managed policy will do.
PermissionsBoundaryArn = Annotated[str, Field(min_length=20, max_length=2048, pattern=POLICY_ARN_PATTERN)]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
RESERVED_LABEL_PREFIXES = ("kubernetes.io/", "k8s.io/", "eks.amazonaws.com/")

# One problem a model validator found: where (loc), which rule (type), the message, and the input.
Problem = tuple[tuple[str | int, ...], str, str, Any]


class SpecModel(BaseModel):
    """Base of every part of the spec: camelCase aliases, unknown fields refused, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        # Validators are built on first use, not at import: a function imports many models it never
        # validates (the policy's, the pool's), and building them all was most of its cold start.
        defer_build=True,
    )


def raise_problems(title: str, problems: list[Problem]) -> None:
    """Raise one ValidationError naming each field (loc), rule (type) and message."""
    raise ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(type=PydanticCustomError(rule, message), loc=loc, input=value)
            for loc, rule, message, value in problems
        ],
    )


def refuse_problems(what: str, problems: list[Problem]) -> None:
    """A 422 (SpecValidationError) naming each problem's field, rule and message, if there are any.

    For the rules checked when a request is made (against AWS, or beyond the model): `what` says
    what is wrong, and the fields named follow it.
    """
    if not problems:
        return
    fields = [{"field": field_path(loc), "rule": rule, "message": message} for loc, rule, message, _ in problems]
    names = ", ".join(sorted({f["field"] for f in fields}))
    raise SpecValidationError(f"{what}: {names}", fields=fields)


def check_tags(tags: dict[str, str]) -> dict[str, str]:
    """AWS resource tags: AWS's limits, less room for our ownership tags, and no reserved prefixes."""
    if len(tags) > 40:  # 50 is AWS's limit; we add our own ownership tags
        raise PydanticCustomError("too_many_tags", "at most 40 tags are allowed")
    for key, value in tags.items():
        if not 1 <= len(key) <= 128:
            raise PydanticCustomError("tag_key_length", "tag keys must be 1-128 characters")
        if len(value) > 256:
            raise PydanticCustomError("tag_value_length", "tag values must be at most 256 characters")
        if key.startswith(naming.RESERVED_TAG_PREFIXES):
            raise PydanticCustomError(
                "reserved_tag",
                "tag key '{key}' uses a reserved prefix ({prefixes})",
                {"key": key, "prefixes": ", ".join(naming.RESERVED_TAG_PREFIXES)},
            )
    return tags


# A model's `tags` field: AWS resource tags, checked by `check_tags`.
Tags = Annotated[dict[str, str], AfterValidator(check_tags)]


def check_name(value: str) -> str:
    """Cluster and node group names: what CloudFormation stack names can carry."""
    if not re.match(NAME_PATTERN, value):
        raise PydanticCustomError(
            "name_format",
            "must start with a letter or digit and contain only letters, digits, '-' and '_'",
        )
    return value


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    """Kubernetes labels: valid keys and values, and none of the prefixes Kubernetes and EKS keep."""
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if not name or not _LABEL_NAME.match(name) or (prefix and not _DNS_SUBDOMAIN.match(prefix)):
            raise PydanticCustomError("label_key", "label key '{key}' is not a valid Kubernetes label", {"key": key})
        if key.startswith(RESERVED_LABEL_PREFIXES):
            raise PydanticCustomError("label_reserved", "label key '{key}' uses a reserved prefix", {"key": key})
        if not _LABEL_NAME.match(value):
            raise PydanticCustomError(
                "label_value", "label value '{value}' is not a valid Kubernetes label value", {"value": value}
            )
    return labels


def field_path(loc: tuple[str | int, ...]) -> str:
    """`("managedNodeGroups", 0, "minSize")` → `managedNodeGroups[0].minSize`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def describe_errors(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as the API reports them: field path, rule and message."""
    return [
        {"field": field_path(tuple(e["loc"])) or "(body)", "rule": e["type"], "message": e["msg"]}
        for e in error.errors(include_url=False)
    ]


def validate[M: BaseModel](model: type[M], body: dict[str, Any], what: str) -> M:
    """Validate a request body; a 422 names every field, its rule and why."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        fields = describe_errors(exc)
        names = ", ".join(sorted({f["field"] for f in fields}))
        raise SpecValidationError(f"the {what} is invalid: {names}", fields=fields) from None
