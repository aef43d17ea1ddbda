"""The ASL files are the workflows: check them against statemachine/conventions.py without running them.

The conventions (Retry and Catch blocks, MaxConcurrency, waits, transitions) live in that
module; here every file must keep them, and a definition drifted on purpose must not.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from app import app
from chalicelib.aws.clients import THROTTLING_CODES
from chalicelib.cfn import stacks
from chalicelib.model import naming
from chalicelib.model.errors import StackTimedOut
from chalicelib.model.settings import TIMEOUT_MINUTES_CEILING
from chalicelib.model.spec import MAX_NODEGROUPS
from statemachine import conventions
from statemachine.conventions import violations

STATEMACHINE = Path(__file__).resolve().parents[2] / "statemachine"
ASL_FILES = sorted(STATEMACHINE.glob("*.asl.json"))
WORKFLOWS = [
    f"{name}.asl.json"
    for name in ("change_nodegroup", "change_serviceaccount", "create_cluster", "delete_cluster", "update_access")
]
CREATE = "create_cluster.asl.json"


def _load(name: str) -> dict[str, Any]:
    return json.loads((STATEMACHINE / name).read_text())


def _states(scope: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state by name, including those inside Map processors and Parallel branches."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in scope["States"].items():
        found[name] = state
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                found.update(_states(state[key]))
        for branch in state.get("Branches", []):
            found.update(_states(branch))
    return found


def _retry(state: dict[str, Any], first_error: str) -> dict[str, Any]:
    (block,) = [r for r in state["Retry"] if r["ErrorEquals"][0] == first_error]
    return block


@pytest.fixture(params=ASL_FILES, ids=lambda p: p.name)
def machine(request: pytest.FixtureRequest) -> dict[str, Any]:
    return json.loads(request.param.read_text())


def test_every_workflow_keeps_the_conventions() -> None:
    # A glob that finds nothing would check nothing: name the files it must find.
    assert [p.name for p in ASL_FILES] == WORKFLOWS

    found = [v for path in ASL_FILES for v in violations(json.loads(path.read_text()), path.name)]

    assert found == []


def test_the_files_are_already_canonical_and_laid_out_as_write_would() -> None:
    assert ASL_FILES, f"no *.asl.json in {STATEMACHINE}: nothing would be checked"
    for path in ASL_FILES:
        text = path.read_text()
        assert conventions.dumps(conventions.canonical(json.loads(text))) == text, path.name


def test_the_throttling_retry_names_exactly_the_codes_tasks_fail_with() -> None:
    assert set(conventions.THROTTLING_RETRY["ErrorEquals"]) == THROTTLING_CODES
    assert len(conventions.THROTTLING_RETRY["ErrorEquals"]) == len(THROTTLING_CODES)


def test_stack_maps_run_at_most_as_many_iterations_as_a_spec_has_node_groups() -> None:
    maps = {
        name: state["MaxConcurrency"]
        for path in ASL_FILES
        for name, state in _states(json.loads(path.read_text())).items()
        if state["Type"] == "Map"
    }
    # The workload stacks (Fargate, service accounts, pod identities, add-ons) fan out no wider than node groups.
    assert maps == {
        "Create Nodegroup Stacks": MAX_NODEGROUPS,
        "Delete Nodegroup Stacks": MAX_NODEGROUPS,
        "Create Workload Stacks": MAX_NODEGROUPS,
        "Delete Workload Stacks": MAX_NODEGROUPS,
    }


# Drift on purpose: each change to a real definition must be reported, naming its state.


def test_a_throttling_retry_that_lost_an_error_name_is_reported() -> None:
    definition = _load(CREATE)
    _retry(definition["States"]["Describe Cluster Stack"], "ThrottlingException")["ErrorEquals"].remove(
        "RequestLimitExceeded"
    )

    assert violations(definition, CREATE) == [
        f'{CREATE}: "Describe Cluster Stack": throttling Retry lacks RequestLimitExceeded'
    ]


def test_a_retry_with_other_attempts_is_reported() -> None:
    definition = _load(CREATE)
    _retry(definition["States"]["Mark Cluster Active"], "Lambda.ServiceException")["MaxAttempts"] = 3

    assert violations(definition, CREATE) == [
        f'{CREATE}: "Mark Cluster Active": Lambda-service Retry MaxAttempts is 3, expected 6'
    ]


def test_drift_inside_a_map_iterator_is_reported() -> None:
    definition = _load(CREATE)
    inner = definition["States"]["Create Nodegroup Stacks"]["ItemProcessor"]["States"]["Describe Nodegroup Stack"]
    _retry(inner, "ThrottlingException")["JitterStrategy"] = "NONE"

    assert violations(definition, CREATE) == [
        f"{CREATE}: \"Describe Nodegroup Stack\": throttling Retry JitterStrategy is 'NONE', expected 'FULL'"
    ]


def test_retry_blocks_out_of_order_or_missing_are_reported() -> None:
    definition = _load(CREATE)
    state = definition["States"]["Create Cluster Stack"]
    state["Retry"].reverse()
    del definition["States"]["Record Failure"]["Retry"][1]

    found = violations(definition, CREATE)

    assert f'{CREATE}: "Create Cluster Stack": Lambda-service Retry is block 2, expected block 1' in found
    assert f'{CREATE}: "Create Cluster Stack": throttling Retry is block 1, expected block 2' in found
    assert f'{CREATE}: "Record Failure": throttling Retry is missing' in found


def test_a_map_without_max_concurrency_is_reported() -> None:
    definition = _load("delete_cluster.asl.json")
    del definition["States"]["Delete Nodegroup Stacks"]["MaxConcurrency"]

    (found,) = violations(definition, "delete_cluster.asl.json")

    assert found.startswith('delete_cluster.asl.json: "Delete Nodegroup Stacks": Map MaxConcurrency is None')


def test_a_workflow_without_timeout_seconds_is_reported() -> None:
    definition = _load(CREATE)
    del definition["TimeoutSeconds"]

    assert violations(definition, CREATE) == [
        f"{CREATE}: TimeoutSeconds is None, expected a positive integer (the execution's backstop)"
    ]


def test_a_next_to_a_missing_state_is_reported() -> None:
    definition = _load(CREATE)
    definition["States"]["Mark Cluster Active"]["Next"] = "Announce Nothing"

    assert violations(definition, CREATE) == [
        f"{CREATE}: \"Mark Cluster Active\": Next 'Announce Nothing' is not a state"
    ]


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        (
            lambda states: states["Update aws-auth"].pop("Catch"),
            "\"Update aws-auth\": has no Catch of States.ALL (expected one into 'Record Failure')",
        ),
        (
            lambda states: states["Update aws-auth"]["Catch"][0].update(Next="Cluster Created"),
            "\"Update aws-auth\": Catch goes to 'Cluster Created', expected 'Record Failure'",
        ),
        (
            lambda states: states["Announce Created"]["Catch"][0].update(ResultPath="$.error"),
            "\"Announce Created\": Catch ResultPath is '$.error', expected '$.notifyError'",
        ),
        (
            lambda states: states["Record Failure"].update(Catch=states["Mark Cluster Active"]["Catch"]),
            '"Record Failure": the failure recorder has a Catch',
        ),
        (
            lambda states: _states({"States": states})["Describe Nodegroup Stack"].update(
                Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Nodegroup Stack Failed"}]
            ),
            '"Describe Nodegroup Stack": has a Catch in a Map iterator or Parallel branch: the enclosing state catches',
        ),
        (
            lambda states: _states({"States": states})["Create Nodegroup Stack"]["Parameters"]["Payload"].pop(
                "taskToken.$"
            ),
            '"Create Nodegroup Stack": Payload lacks "taskToken.$": "$$.Task.Token" '
            "(the token the stack's event answers)",
        ),
        (
            lambda states: states["Create Cluster Stack"].pop("TimeoutSecondsPath"),
            "\"Create Cluster Stack\": TimeoutSecondsPath is None, expected one under '$.eventWaits.': "
            "no event is trusted",
        ),
        (
            lambda states: states["Create Cluster Stack"]["Catch"][0].update(Next="Describe Cluster Stack"),
            "\"Create Cluster Stack\": its Catch of States.Timeout goes to 'Describe Cluster Stack', "
            "expected a Pass state '... Event Missed'",
        ),
        (
            lambda states: states["Announce Created"]["Retry"].append(conventions.THROTTLING_RETRY),
            "\"Announce Created\": Retry block 2 (['ThrottlingException', 'Throttling', 'TooManyRequestsException', "
            "'ProvisionedThroughputExceededException', 'RequestLimitExceeded']) is not in the convention for this task",
        ),
        (
            lambda states: states["Update aws-auth"]["Retry"].pop(),
            '"Update aws-auth": KubeUnavailableError Retry is missing',
        ),
        (
            lambda states: states["Wait For Cluster Stack"].update(Seconds=30),
            '"Wait For Cluster Stack": Wait must use SecondsPath only: the task before it chooses the wait',
        ),
    ],
    ids=[
        "no catch",
        "catch elsewhere",
        "notify catch path",
        "recorder catches",
        "catch in iterator",
        "waiting task without its token",
        "waiting task without a timeout",
        "missed event not through a Pass",
        "notify retries throttling",
        "extra retry lost",
        "fixed wait",
    ],
)
def test_each_rule_reports_its_drift(drift: Any, expected: str) -> None:
    definition = copy.deepcopy(_load(CREATE))
    drift(definition["States"])

    assert violations(definition, CREATE) == [f"{CREATE}: {expected}"]


def test_parallel_branches_are_checked_too() -> None:
    definition = _load("update_access.asl.json")
    task = copy.deepcopy(definition["States"]["Change Access"])
    del task["Catch"]
    task["End"] = task.pop("Next")
    task["Retry"][0]["IntervalSeconds"] = 1
    definition["States"]["Both"] = {
        "Type": "Parallel",
        "Branches": [{"StartAt": "Inner", "States": {"Inner": task}}],
        "Catch": definition["States"]["Change Access"]["Catch"],
        "Next": "Access Changed",
    }

    assert violations(definition, "x") == ['x: "Inner": Lambda-service Retry IntervalSeconds is 1, expected 2']


def test_write_restores_drifted_retry_blocks() -> None:
    definition = _load(CREATE)
    _retry(definition["States"]["Describe Cluster Stack"], "ThrottlingException")["ErrorEquals"].pop()
    definition["States"]["Update aws-auth"]["Retry"].reverse()

    restored = conventions.canonical(definition)

    assert violations(restored, CREATE) == []
    assert conventions.dumps(restored) == (STATEMACHINE / CREATE).read_text()


# What the conventions module cannot know: the app's functions and settings.


def test_the_create_workflow_polls() -> None:
    assert [n for n, s in _states(_load(CREATE)).items() if s["Type"] == "Wait"]


def test_every_workflow_has_a_settings_variable_and_no_other_exists() -> None:
    from chalicelib.model.settings import STATE_MACHINE_ENV

    assert sorted(p.name.removesuffix(".asl.json") for p in ASL_FILES) == sorted(STATE_MACHINE_ENV)


def test_placeholders_are_only_function_arns_of_tasks_the_app_defines(machine: dict[str, Any]) -> None:
    placeholders = set(re.findall(r"\$\{(\w+)\}", json.dumps(machine)))
    defined = {naming.function_arn_placeholder(fn.name) for fn in app.pure_lambda_functions}

    assert placeholders
    assert placeholders <= defined


def test_the_task_specific_retries_name_functions_the_app_defines() -> None:
    defined = {f"${{{naming.function_arn_placeholder(fn.name)}}}" for fn in app.pure_lambda_functions}

    assert {conventions.NOTIFY_RESOURCE, *conventions.EXTRA_RETRIES} <= defined


# Deadlines: each stack wait has one (StackTimedOut, recorded); each execution a backstop past them all.

# Time for everything in a workflow that is not a stack wait: every task's Lambda and throttling
# retries, the Kubernetes API's (about 8 minutes at most) and the load balancers' (about 12).
NOT_STACK_WAITS_MINUTES = 30


def _stack_waits_minutes() -> dict[str, int]:
    """The longest a workflow can wait on stacks in a row, each wait at its deadline.

    A create waits for the cluster stack, then for the node group stacks side by side (a
    Map that runs them all at once), then for the workload stacks (another Map); creates and updates take at
    most the policy's ceiling. A delete waits for the workload stacks, the node group stacks, then
    the cluster stack, each tried twice (DELETE_FAILED is tried once more), each try on the fixed
    delete deadline. A node group or service account change waits for one stack: created, updated,
    or deleted (twice). Access changes wait on no stack.
    """
    create, delete = TIMEOUT_MINUTES_CEILING, stacks.DELETE_TIMEOUT_MINUTES
    return {
        "create_cluster": create + create + create,
        "delete_cluster": 2 * delete + 2 * delete + 2 * delete,
        "change_nodegroup": max(create, 2 * delete),
        "change_serviceaccount": max(create, 2 * delete),
        "update_access": 0,
    }


def test_every_execution_times_out_a_little_after_its_longest_stack_waits() -> None:
    waits = _stack_waits_minutes()

    timeouts = {
        path.name.removesuffix(".asl.json"): json.loads(path.read_text())["TimeoutSeconds"] for path in ASL_FILES
    }

    assert timeouts == {name: (minutes + NOT_STACK_WAITS_MINUTES) * 60 for name, minutes in waits.items()}


def test_no_retry_repeats_a_stack_wait_past_its_deadline() -> None:
    """A timed-out stack is the workflow's failure: retried, the task would time out again at once."""
    assert ASL_FILES, f"no *.asl.json in {STATEMACHINE}: nothing would be checked"
    for path in ASL_FILES:
        for name, state in _states(json.loads(path.read_text())).items():
            retried = {error for block in state.get("Retry", []) for error in block["ErrorEquals"]}
            assert not retried & {StackTimedOut.__name__, "States.ALL", "States.TaskFailed"}, (path.name, name)
