"""Faults injected into the local engine: the service absorbs them, or fails clearly (reliability.scenarios)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from botocore.retries.standard import ExponentialBackoff

from reliability import scenarios

if TYPE_CHECKING:
    from local.engine import LocalEngine


@pytest.fixture
def instant_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries a throttled call as often as ever (`standard` mode), without sleeping between attempts.

    The engine runs the task functions in this process, so their clients' backoff is this one. What the
    throttling tests count is attempts and outcomes; the seconds botocore would wait add nothing to them.
    """

    def no_delay(self: ExponentialBackoff, context: Any) -> float:
        return 0.0

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", no_delay)


def test_throttling_within_botocore_retries_is_absorbed_and_the_create_succeeds(
    api: scenarios.CountingApi, engine: LocalEngine, instant_backoff: None
) -> None:
    outcome = scenarios.throttled_create(api, engine)

    assert outcome.failures == []
    assert outcome.injected == 20


def test_throttling_past_botocore_retries_is_retried_by_the_workflow(
    api: scenarios.CountingApi, engine: LocalEngine, instant_backoff: None
) -> None:
    outcome = scenarios.throttle_storm(api, engine)

    assert outcome.failures == [], outcome.facts
    assert outcome.injected == scenarios.BOTOCORE_ATTEMPTS + 1


def test_a_failing_stack_leaves_a_failed_record_with_its_reason_and_nothing_running(
    api: scenarios.CountingApi, engine: LocalEngine
) -> None:
    outcome = scenarios.failed_stack(api, engine)

    assert outcome.failures == []


def test_tasks_that_crash_after_their_work_are_retried_without_doing_it_twice(
    api: scenarios.CountingApi, engine: LocalEngine
) -> None:
    outcome = scenarios.crash_once(api, engine)

    assert outcome.failures == [], outcome.facts
    assert outcome.injected == len(scenarios.CRASHING_TASKS)


def test_a_conflicting_aws_auth_write_is_merged_and_no_mapping_is_lost(
    api: scenarios.CountingApi, engine: LocalEngine
) -> None:
    outcome = scenarios.aws_auth_conflict(api, engine)

    assert outcome.failures == [], outcome.facts
    assert outcome.injected == 4


def test_a_lost_dynamodb_condition_is_a_clear_409_never_a_5xx(api: scenarios.CountingApi, engine: LocalEngine) -> None:
    outcome = scenarios.conditional_check(api, engine)

    assert outcome.failures == []
    assert outcome.five_xx == []


def test_access_changes_that_crash_after_their_write_are_retried_and_succeed(
    api: scenarios.CountingApi, engine: LocalEngine
) -> None:
    outcome = scenarios.access_change_crash(api, engine)

    assert outcome.failures == [], outcome.facts
    assert outcome.injected == 2
