"""Stack events lost, duplicated, delayed, out of order or foreign: the create still ends right, once
(reliability.scenarios, the rows `make reliability` prints; faults from local/stack_events.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from local import account_quotas, stack_events
from reliability import scenarios

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from local.engine import LocalEngine


# The engine-side rows that fit this file's time budget; `make reliability` runs every one (delayed
# within and past the wait, out of order, a foreign stack's events; tests/unit/test_local_stack_event_faults.py
# checks that each fault puts the events it says).
CHECKED_HERE = (scenarios.event_lost, scenarios.event_duplicated)


@pytest.fixture(scope="module", autouse=True)
def quotas(engine: LocalEngine) -> None:
    """More clusters in one region than a new account holds, as the reliability runs have."""
    account_quotas.raise_all(200)


@pytest.fixture
def counting(engine: LocalEngine, api_base: str) -> Iterator[scenarios.CountingApi]:
    yield scenarios.CountingApi(api_base)
    scenarios.reset()


def test_every_stack_event_scenario_is_in_make_reliability() -> None:
    assert set(CHECKED_HERE) <= set(scenarios.STACK_EVENTS)
    assert len(scenarios.STACK_EVENTS) == 6


@pytest.mark.parametrize("scenario", CHECKED_HERE, ids=lambda s: s.__name__)
def test_a_stack_event_fault_leaves_the_right_final_state_one_workflow_and_every_record(
    scenario: Callable[[scenarios.CountingApi, LocalEngine], scenarios.Outcome],
    counting: scenarios.CountingApi,
    engine: LocalEngine,
) -> None:
    outcome = scenario(counting, engine)

    assert outcome.failures == [], outcome.facts
    assert outcome.facts.get("workflows", 1) == 1
    assert outcome.lost == []


def test_a_cleared_behaviour_still_delivers_what_it_held_back() -> None:
    behaviour = stack_events.EventBehaviour()
    behaviour.reorder("eksctl-x-*")
    assert behaviour.take("eksctl-x-cluster", "CREATE_IN_PROGRESS") is not None
    behaviour.hold("stack-id", "123456789012", "us-west-2", {"Detail": "{}"})
    behaviour.clear()

    assert behaviour.due() == [("123456789012", "us-west-2", {"Detail": "{}"})]
    assert behaviour.armed() == 0
