"""Faults injected into the local engine: the service absorbs them, or fails clearly (reliability.scenarios)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reliability import scenarios

if TYPE_CHECKING:
    from local.engine import LocalEngine


def test_throttling_within_botocore_retries_is_absorbed_and_the_create_succeeds(
    api: scenarios.CountingApi, engine: LocalEngine
) -> None:
    outcome = scenarios.throttled_create(api, engine)

    assert outcome.failures == []
    assert outcome.injected == 20


def test_throttling_past_botocore_retries_is_retried_by_the_workflow(
    api: scenarios.CountingApi, engine: LocalEngine
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
