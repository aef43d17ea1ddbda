"""cfn-lint over built templates, with its rules loaded once per test process.

`cfnlint.api.lint` makes a new `Runner` for every template, and a Runner loads every rule
again (more time than linting most templates takes). The cfn-lint command line loads them
once and runs them over each template it is given; so does this. Each template is still
decoded as the API decodes it and linted with a configuration of its own (the regions
asked for, and whatever the template's own `Metadata: cfn-lint` says), exactly as
`lint(json.dumps(template), config=ManualArgs(regions=[region]))` does.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from cfnlint.config import ConfigMixIn
from cfnlint.decode.decode import decode_str
from cfnlint.runner import Runner, run_template_by_data

if TYPE_CHECKING:
    from cfnlint.rules import Match, Rules


@cache
def _rules() -> Rules:
    """Every rule cfn-lint runs by default, as `Runner` loads them."""
    return Runner(ConfigMixIn()).rules


def lint_matches(template: dict[str, Any], region: str) -> list[Match]:
    """What `cfnlint.api.lint` finds in the template for the region."""
    return _lint_text(json.dumps(template), region)


def _lint_text(text: str, region: str) -> list[Match]:
    decoded, errors = decode_str(text)
    if errors:
        return list(errors)
    if decoded is None:
        return []
    return list(run_template_by_data(decoded, ConfigMixIn(regions=[region]), _rules()))


def cfn_lint(template: dict[str, Any], region: str) -> list[str]:
    """Every match as `RULE message`: [] when the template lints clean."""
    return list(_cfn_lint_text(json.dumps(template), region))


@lru_cache(maxsize=256)
def _cfn_lint_text(text: str, region: str) -> tuple[str, ...]:
    """The same template text for the same region (hypothesis draws some specs twice) is linted once."""
    return tuple(f"{m.rule.id} {m.message}" for m in _lint_text(text, region))
