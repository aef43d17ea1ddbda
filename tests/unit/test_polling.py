"""How long the workflow waits between looks at a stack, and what counts as failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.cfn import deadlines, kinds, stacks
from chalicelib.model.errors import StackTimedOut
from chalicelib.model.settings import Settings
from chalicelib.operations.create import stack_timeout_minutes

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


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
    with pytest.raises(kinds.UnknownStackKindError, match="'karpenter'"):
        stacks.next_wait_seconds("karpenter", elapsed=0)


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


# Deadlines: a stack wait ends at the stack's create/update/delete time plus its timeout.


def test_seconds_left_count_down_from_the_stacks_own_start_to_the_deadline() -> None:
    assert deadlines.seconds_left(T0, T0 + timedelta(minutes=24), 25) == 60
    assert deadlines.seconds_left(T0, T0 + timedelta(minutes=25), 25) == 0
    assert deadlines.seconds_left(T0, T0 + timedelta(minutes=26), 25) == -60


def _stack(status: str = "CREATE_IN_PROGRESS", **times: datetime) -> dict[str, Any]:
    return {"StackName": "eksctl-x-cluster", "StackStatus": status, "CreationTime": T0, **times}


def test_within_the_deadline_the_wait_never_passes_it() -> None:
    stack = _stack()

    assert deadlines.within_deadline(stack, T0, 300, 25, T0 + timedelta(minutes=10)) == 300
    assert deadlines.within_deadline(stack, T0, 300, 25, T0 + timedelta(minutes=24, seconds=30)) == 30
    assert deadlines.within_deadline(stack, T0, 20, 25, T0 + timedelta(minutes=24, seconds=59.5)) == 1


def test_at_or_past_the_deadline_the_wait_is_over_and_says_why() -> None:
    for late in (timedelta(minutes=25), timedelta(hours=3)):
        with pytest.raises(StackTimedOut) as raised:
            deadlines.within_deadline(_stack(), T0, 20, 25, T0 + late)

        assert (
            raised.value.message
            == "timed out after 25 min waiting for stack eksctl-x-cluster (status CREATE_IN_PROGRESS)"
        )
        assert raised.value.details == {"stack": "eksctl-x-cluster"}
        assert StackTimedOut.stack_in(raised.value.message) == "eksctl-x-cluster"


def test_a_wait_with_no_start_time_has_no_deadline_to_keep() -> None:
    assert deadlines.within_deadline(_stack(), None, 20, 25, T0 + timedelta(days=2)) == 20


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("CREATE_IN_PROGRESS", "CreationTime"),
        ("ROLLBACK_IN_PROGRESS", "CreationTime"),
        ("UPDATE_IN_PROGRESS", "LastUpdatedTime"),
        ("UPDATE_ROLLBACK_IN_PROGRESS", "LastUpdatedTime"),
        ("DELETE_IN_PROGRESS", "DeletionTime"),
    ],
)
def test_each_operation_counts_from_its_own_start(status: str, expected: str) -> None:
    times = {"LastUpdatedTime": T0 + timedelta(days=1), "DeletionTime": T0 + timedelta(days=2)}

    assert deadlines.operation_started(_stack(status, **times)) == {"CreationTime": T0, **times}[expected]


def test_an_update_or_delete_without_its_time_never_falls_back_to_the_creation() -> None:
    # Counting a new update from a days-old creation would time it out at the first look.
    assert deadlines.operation_started(_stack("UPDATE_IN_PROGRESS")) is None
    assert deadlines.operation_started(_stack("DELETE_IN_PROGRESS")) is None


class _Cfn:
    """What `describe_deletion` reads of CloudFormation: one stack, as DescribeStacks gives it."""

    def __init__(self, stack: dict[str, Any]) -> None:
        self.stack = {"StackId": "arn:stack/eksctl-x-cluster/1", **stack}

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [self.stack]}


def test_a_deletion_past_its_fixed_deadline_times_out() -> None:
    deleting = _Cfn(_stack("DELETE_IN_PROGRESS", DeletionTime=T0 + timedelta(days=3)))
    ref = {"stackName": "eksctl-x-cluster", "stackId": "arn:stack/eksctl-x-cluster/1", "kind": stacks.KIND_CLUSTER}
    just_in_time = T0 + timedelta(days=3, minutes=stacks.DELETE_TIMEOUT_MINUTES - 1)

    assert stacks.describe_deletion(deleting, ref, now=lambda: just_in_time)["waitSeconds"] == 20
    with pytest.raises(
        StackTimedOut,
        match=r"^timed out after 25 min waiting for stack eksctl-x-cluster \(status DELETE_IN_PROGRESS\)$",
    ):
        stacks.describe_deletion(deleting, ref, now=lambda: just_in_time + timedelta(minutes=1))


def test_a_deletion_is_never_timed_by_the_stacks_creation() -> None:
    deleting = _Cfn(_stack("DELETE_IN_PROGRESS"))  # no DeletionTime; created long before `now`
    ref = {"stackName": "eksctl-x-cluster", "stackId": "arn:stack/eksctl-x-cluster/1", "kind": stacks.KIND_CLUSTER}

    state = stacks.describe_deletion(deleting, ref, now=lambda: T0 + timedelta(days=30))

    assert (state["done"], state["failed"]) == (False, False)


def test_a_clusters_stacks_get_its_requested_timeout_else_the_default_within_policy() -> None:
    settings = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0)
    tight = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0, max_timeout_minutes=10)

    assert stack_timeout_minutes({"spec": {"timeoutMinutes": 40}}, settings) == 40
    assert stack_timeout_minutes({"spec": {}}, settings) == 25  # eksctl's --timeout default
    assert stack_timeout_minutes({"spec": {}}, tight) == 10
