"""The strictness scenarios that cost seconds (reliability.strict); the slow ones have their own e2e tests.

`stack_never_finishes` is tests/e2e/test_deadlines.py and `oversized_template` is
tests/e2e/test_large_templates.py: `make reliability` runs all four.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reliability import strict

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from reliability import scenarios


def test_deep_json_and_duplicate_keys_are_clear_400s_and_the_service_goes_on(
    api: scenarios.CountingApi, engine: LocalEngine
) -> None:
    outcome = strict.hostile_bodies(api, engine)

    assert outcome.failures == [], outcome.facts
    assert len(outcome.checks) == 5


def test_a_roles_next_session_keeps_its_cluster_and_another_role_is_refused(
    api: scenarios.CountingApi, engine: LocalEngine
) -> None:
    outcome = strict.session_owner(api, engine)

    assert outcome.failures == [], outcome.facts
