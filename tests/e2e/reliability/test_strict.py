"""The strictness scenarios that cost seconds (reliability.strict); the slow ones have their own e2e tests.

`stack_never_finishes` is tests/e2e/test_deadlines.py and `oversized_template` is
tests/e2e/test_large_templates.py: `make reliability` runs them all, and the security table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from reliability import security, strict

if TYPE_CHECKING:
    from collections.abc import Callable

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


def test_a_delete_leaves_the_security_group_eks_made_to_eks(api: scenarios.CountingApi, engine: LocalEngine) -> None:
    outcome = strict.eks_owned_group(api, engine)

    assert outcome.failures == [], outcome.facts
    assert outcome.injected == 1  # the engine attached EKS's group, as EKS does


@pytest.mark.parametrize("attempt_of", security.SECURITY, ids=lambda f: f.__name__)
def test_every_privilege_escalation_is_refused_and_leaves_nothing(
    api: scenarios.CountingApi, engine: LocalEngine, attempt_of: Callable[..., security.Attempt]
) -> None:
    attempt = attempt_of(api, engine)

    assert attempt.failures == [] and attempt.created == [], attempt.row()
    assert attempt.answer != "-"
