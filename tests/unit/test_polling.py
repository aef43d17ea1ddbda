"""How long the workflow waits between looks at a stack, and what counts as failed."""

from __future__ import annotations

import pytest

from chalicelib.cfn import kinds, stacks


def test_a_new_cluster_stack_is_not_polled_before_it_could_finish() -> None:
    assert stacks.next_wait_seconds(stacks.KIND_CLUSTER, elapsed=0) == stacks.MAX_WAIT
    assert stacks.next_wait_seconds(stacks.KIND_CLUSTER, elapsed=400) == 80


def test_after_the_earliest_finish_the_stack_is_polled_often() -> None:
    assert stacks.next_wait_seconds(stacks.KIND_CLUSTER, elapsed=600) == 20
    assert stacks.next_wait_seconds(stacks.KIND_NODEGROUP, elapsed=200) == 10


def test_scale_shrinks_waits_but_never_below_one_second() -> None:
    assert stacks.next_wait_seconds(stacks.KIND_CLUSTER, elapsed=0, scale=0.01) == 3
    assert stacks.next_wait_seconds(stacks.KIND_NODEGROUP, elapsed=500, scale=0.001) == 1


def test_polls_per_cluster_stay_bounded_over_the_reported_durations() -> None:
    """A 15-minute control plane is looked at a bounded number of times."""
    elapsed, looks = 0, 0
    while elapsed < 15 * 60:
        elapsed += stacks.next_wait_seconds(stacks.KIND_CLUSTER, elapsed)
        looks += 1
    assert looks <= 25


def test_each_kind_is_polled_on_its_own_create_schedule() -> None:
    for kind in kinds.KINDS.values():
        earliest, interval = kind.create_schedule
        assert stacks.next_wait_seconds(kind.name, elapsed=earliest - 30) == 30
        assert stacks.next_wait_seconds(kind.name, elapsed=earliest + 1) == interval


def test_a_deletion_waits_by_its_kinds_delete_schedule_not_the_create_one() -> None:
    schedule = kinds.CLUSTER.delete_schedule

    assert schedule != kinds.CLUSTER.create_schedule
    assert stacks.wait_seconds(schedule, elapsed=0) == schedule.earliest
    assert stacks.wait_seconds(schedule, elapsed=schedule.earliest) == schedule.interval


def test_an_unknown_kind_has_no_schedule_to_guess() -> None:
    with pytest.raises(kinds.UnknownStackKindError, match="'fargate'"):
        stacks.next_wait_seconds("fargate", elapsed=0)


@pytest.mark.parametrize(
    ("status", "failed"),
    [
        ("CREATE_IN_PROGRESS", False),
        ("CREATE_COMPLETE", False),
        ("CREATE_FAILED", True),
        ("ROLLBACK_IN_PROGRESS", False),
        ("ROLLBACK_COMPLETE", True),
        ("ROLLBACK_FAILED", True),
        ("UPDATE_ROLLBACK_COMPLETE", True),
        ("DELETE_FAILED", True),
    ],
)
def test_failed_statuses(status: str, failed: bool) -> None:
    assert stacks.is_failed(status) is failed
