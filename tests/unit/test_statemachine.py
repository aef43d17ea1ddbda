"""The ASL file is the workflow: check its wiring without running it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from app import app
from chalicelib import naming

ASL_FILES = sorted((Path(__file__).resolve().parents[2] / "statemachine").glob("*.asl.json"))
LAMBDA_TRANSIENT = "Lambda.ServiceException"


def _states(machine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, including those inside Map processors."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in machine["States"].items():
        found[name] = state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found.update(_states(processor))
    return found


@pytest.fixture(params=ASL_FILES, ids=lambda p: p.name)
def machine(request: pytest.FixtureRequest) -> dict[str, Any]:
    return json.loads(request.param.read_text())


def test_the_create_workflow_polls() -> None:
    machine = json.loads(next(p for p in ASL_FILES if p.name == "create_cluster.asl.json").read_text())
    assert [n for n, s in _states(machine).items() if s["Type"] == "Wait"]


def test_every_workflow_has_a_settings_variable_and_no_other_exists() -> None:
    from chalicelib.settings import STATE_MACHINE_ENV

    assert sorted(p.name.removesuffix(".asl.json") for p in ASL_FILES) == sorted(STATE_MACHINE_ENV)


def test_placeholders_are_only_function_arns_of_tasks_the_app_defines(machine: dict[str, Any]) -> None:
    placeholders = set(re.findall(r"\$\{(\w+)\}", json.dumps(machine)))
    defined = {naming.function_arn_placeholder(fn.name) for fn in app.pure_lambda_functions}

    assert placeholders
    assert placeholders <= defined


def test_every_task_retries_lambdas_transient_errors(machine: dict[str, Any]) -> None:
    for name, state in _states(machine).items():
        if state["Type"] == "Task":
            retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
            assert LAMBDA_TRANSIENT in retried, name


def test_every_failure_path_is_recorded(machine: dict[str, Any]) -> None:
    """Top-level tasks and maps catch everything into one Record task, which ends in Fail."""
    states = machine["States"]
    recorders = {name for name in states if name.startswith("Record ")}
    assert len(recorders) == 1
    (recorder,) = recorders
    for name, state in states.items():
        if name.startswith("Announce "):
            # Notifications never fail a workflow: whatever happens, it goes on.
            assert [c["Next"] for c in state["Catch"]] == [state["Next"]], name
        elif state["Type"] in ("Task", "Map") and name != recorder:
            assert [c["Next"] for c in state.get("Catch", [])] == [recorder], name
    after = states[recorder]["Next"]
    while after.startswith("Announce "):
        after = states[after]["Next"]
    assert states[after]["Type"] == "Fail"


def test_every_transition_points_at_a_state(machine: dict[str, Any]) -> None:
    def check(scope: dict[str, Any]) -> None:
        names = set(scope["States"])
        assert scope["StartAt"] in names
        for state in scope["States"].values():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
            assert {t for t in targets if t} <= names
            if "ItemProcessor" in state:
                check(state["ItemProcessor"])

    check(machine)


def test_polling_waits_come_from_the_describe_task(machine: dict[str, Any]) -> None:
    waits = [s for s in _states(machine).values() if s["Type"] == "Wait"]
    assert all("SecondsPath" in w and "Seconds" not in w for w in waits)


def test_choice_states_are_questions(machine: dict[str, Any]) -> None:
    for name, state in _states(machine).items():
        if state["Type"] == "Choice":
            assert name.endswith("?"), name
