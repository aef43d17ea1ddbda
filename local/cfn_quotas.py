"""Make moto's CloudFormation refuse what CloudFormation refuses: templates and stacks over its quotas.

moto takes a template of any size and any number of resources, outputs, parameters
and stack tags; CloudFormation answers such a request with a `ValidationError`, before
it creates anything. Without these checks a template that only works locally would
pass every test and fail in the first account it meets.

The quotas, from "Understand CloudFormation quotas"
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html)
and the CreateStack API reference (botocore's model carries the same text):

- template body in a request (TemplateBody): 51,200 bytes
- template body in an S3 object (TemplateURL): 1 MB
- resources per template: 500; outputs: 200; parameters: 200
- stack tags: 50

The messages are AWS's, as its answers read in public issues: the request constraints
in the API front end's form ("1 validation error detected: Value '...' at
'templateBody' failed to satisfy constraint: Member must have length less than or
equal to 51200"), the template ones as "Template format error: Number of resources,
501, is greater than maximum allowed, 500".

`install()` once per process, where the engine installs its other moto hooks (and the
functional tests' `aws` fixture); CreateStack, UpdateStack, CreateChangeSet and
ValidateTemplate are checked.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Callable

TEMPLATE_BODY_BYTES = 51_200
# "1 MB": cfn-lint checks the same figure (its LIMITS["template"]["body"]).
TEMPLATE_URL_BYTES = 1_000_000
MAX_RESOURCES = 500
MAX_OUTPUTS = 200
MAX_PARAMETERS = 200
MAX_STACK_TAGS = 50

# The API actions that take a template and stack tags, as moto's CloudFormationResponse names them.
CHECKED_ACTIONS = ("create_stack", "update_stack", "create_change_set", "validate_template")
UNREADABLE_URL = "TemplateURL must reference a valid S3 object to which you have access."

_installed = False


class QuotaExceeded(Exception):
    """A request over one of CloudFormation's quotas; its message is AWS's."""


def request_problems(template_body: str | None, tags: list[dict[str, str]] | None) -> list[str]:
    """The request's member constraints CloudFormation's API checks first, in its wording."""
    problems = []
    if template_body is not None and len(template_body.encode()) > TEMPLATE_BODY_BYTES:
        problems.append(_constraint(template_body, "templateBody", TEMPLATE_BODY_BYTES))
    if tags is not None and len(tags) > MAX_STACK_TAGS:
        # AWS shows its own rendering of the list here; ours names each Key=Value.
        rendered = "[" + ", ".join(f"{t.get('Key')}={t.get('Value')}" for t in tags) + "]"
        problems.append(_constraint(rendered, "tags", MAX_STACK_TAGS))
    return problems


def _constraint(value: str, member: str, most: int) -> str:
    return (
        f"Value '{value}' at '{member}' failed to satisfy constraint: "
        f"Member must have length less than or equal to {most}"
    )


def validation_message(problems: list[str]) -> str:
    """`N validation error(s) detected: ...; ...`, as the API front end joins them."""
    plural = "s" if len(problems) > 1 else ""
    return f"{len(problems)} validation error{plural} detected: " + "; ".join(problems)


def url_body_problem(body: bytes) -> str | None:
    """What CloudFormation says of a TemplateURL object over its size quota."""
    if len(body) > TEMPLATE_URL_BYTES:
        return f"Template may not exceed {TEMPLATE_URL_BYTES} bytes in size."
    return None


def template_problem(template: str) -> str | None:
    """The first count quota the template breaks (resources, then outputs, then parameters), in AWS's words."""
    document = _parse(template)
    if not isinstance(document, dict):
        return None  # moto reports templates it cannot read in its own words
    counts = {section: len(document.get(section) or {}) for section in ("Resources", "Outputs", "Parameters")}
    if counts["Resources"] > MAX_RESOURCES:
        return (
            f"Template format error: Number of resources, {counts['Resources']}, "
            f"is greater than maximum allowed, {MAX_RESOURCES}"
        )
    if counts["Outputs"] > MAX_OUTPUTS:
        return f"Template format error: Outputs count {counts['Outputs']} is greater than max allowed {MAX_OUTPUTS}"
    if counts["Parameters"] > MAX_PARAMETERS:
        return (
            f"Template format error: Parameter count {counts['Parameters']} "
            f"is greater than max allowed {MAX_PARAMETERS}"
        )
    return None


class _AnyTagLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML with its short forms (`!Ref`, `!GetAtt`): only the sections' sizes matter."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_AnyTagLoader.add_multi_constructor("!", _any_tag)


def _parse(template: str) -> Any:
    try:
        return json.loads(template)
    except ValueError:
        pass
    try:
        return yaml.load(template, Loader=_AnyTagLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError:
        return None


def check(params: Callable[[str], Any], fetch: Callable[[str], str]) -> None:
    """Raise `QuotaExceeded` for a request over a quota; `params` reads the request, `fetch` reads a TemplateURL."""
    body, url = params("TemplateBody"), params("TemplateURL")
    problems = request_problems(body, params("Tags"))
    if problems:
        raise QuotaExceeded(validation_message(problems))
    if not body and url:
        try:
            body = fetch(url)
        except Exception:  # a missing bucket or key, a URL moto cannot resolve: AWS says the same of each
            raise QuotaExceeded(UNREADABLE_URL) from None
        too_big = url_body_problem(body.encode())
        if too_big:
            raise QuotaExceeded(too_big)
    if body:
        problem = template_problem(body)
        if problem:
            raise QuotaExceeded(problem)


def install() -> None:
    """Check every CloudFormation action that takes a template (once per process)."""
    global _installed
    if _installed:
        return
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse

    def guarded(original: Callable[[CloudFormationResponse], Any]) -> Callable[[CloudFormationResponse], Any]:
        def action(self: CloudFormationResponse) -> Any:
            try:
                check(self._get_param, self._get_stack_from_s3_url)
            except QuotaExceeded as exceeded:
                raise ValidationError(message=str(exceeded)) from None
            return original(self)

        action.__name__ = original.__name__
        return action

    for name in CHECKED_ACTIONS:
        setattr(CloudFormationResponse, name, guarded(getattr(CloudFormationResponse, name)))
    _installed = True
