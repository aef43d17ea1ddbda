"""Each task function loads its own use-case, on its first call: a typo in a reference fails here, not in AWS.

`handlers/tasks.py` names every use-case by reference ("module:function" in `chalicelib.operations`);
Lambda imports that module for every task, so it must not import the operations (the templates, the
cluster spec) itself. What a first call loads is checked in fresh interpreters: the light steps
(records, describes, deletes, notifications, aws-auth changes) never load the cluster spec.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chalicelib.handlers import tasks
from chalicelib.handlers.task import REGISTERED, StepTask, resolve
from chalicelib.model import steps

ROOT = Path(__file__).resolve().parents[2]
# What only the steps that build templates or read a whole cluster spec may load.
HEAVY = ("chalicelib.model.spec", "chalicelib.cfn.templates", "chalicelib.operations.create")
LIGHT_TASKS = (
    "describe_stack",
    "mark_cluster_active",
    "record_failure",
    "notify",
    "change_access",
    "record_access_failure",
    "stop_create_workflow",
    "list_cluster_stacks",
    "delete_stack",
    "describe_stack_deletion",
    "delete_kubernetes_load_balancers",
    "mark_cluster_deleted",
    "record_delete_failure",
)


def _fresh_modules(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `code`."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _task_functions() -> dict[str, StepTask]:
    """The tasks tasks.py registers (other tests register theirs with the use-case itself)."""
    return {name: task for name, task in REGISTERED.items() if isinstance(task.operation, str)}


def test_importing_the_tasks_module_loads_no_use_case() -> None:
    loaded = _fresh_modules("import chalicelib.handlers.tasks")

    operations = sorted(
        m for m in loaded if m.startswith("chalicelib.operations.") and m != "chalicelib.operations.context"
    )
    assert operations == []
    assert not set(HEAVY) & loaded
    assert "chalicelib.cfn.stacks" not in loaded


@pytest.mark.parametrize("name", sorted(_task_functions()))
def test_every_task_names_a_use_case_that_takes_its_input_model(name: str) -> None:
    task = REGISTERED[name]

    use_case = task.use_case()

    assert callable(use_case)
    assert use_case.__module__ == f"chalicelib.operations.{str(task.operation).partition(':')[0]}"
    ctx, step = list(inspect.signature(use_case).parameters.values())[:2]
    assert ctx.annotation == "Context"
    expected = getattr(steps, str(step.annotation))
    assert issubclass(task.model, expected), f"{name}: {task.model.__name__} is no {expected.__name__}"


def test_every_function_of_the_tasks_module_is_a_registered_task() -> None:
    handlers = {name for name, value in vars(tasks).items() if type(value).__name__ == "EventSourceHandler"}

    assert handlers == {task.handler for task in _task_functions().values()}


@pytest.mark.parametrize(
    ("reference", "error"),
    [
        ("delete", ValueError),
        ("delete:", ValueError),
        (":delete_stack", ValueError),
        ("delete:no_such_step", AttributeError),
        ("no_such_module:delete_stack", ModuleNotFoundError),
        ("delete:PHASE_DONE", TypeError),
    ],
)
def test_a_reference_that_names_no_use_case_fails(reference: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        resolve(reference)


@pytest.mark.parametrize(
    "module",
    sorted({str(REGISTERED[name].operation).partition(":")[0] for name in LIGHT_TASKS}),
)
def test_a_light_step_loads_no_cluster_spec_on_its_first_call(module: str) -> None:
    names = [name for name in LIGHT_TASKS if str(REGISTERED[name].operation).startswith(f"{module}:")]
    loads = "; ".join(f"REGISTERED[{name!r}].load()" for name in names)

    loaded = _fresh_modules(
        f"import chalicelib.handlers.tasks\nfrom chalicelib.handlers.task import REGISTERED\n{loads}"
    )

    assert f"chalicelib.operations.{module}" in loaded
    assert not set(HEAVY) & loaded, sorted(set(HEAVY) & loaded)


def test_the_use_case_is_imported_on_the_first_call_and_kept() -> None:
    loaded = _fresh_modules(
        "import chalicelib.handlers.tasks\n"
        "from chalicelib.handlers.task import REGISTERED\n"
        "import sys\n"
        "assert 'chalicelib.operations.notify' not in sys.modules\n"
        "first = REGISTERED['notify'].use_case()\n"
        "assert REGISTERED['notify'].use_case() is first\n"
    )

    assert "chalicelib.operations.notify" in loaded


def test_a_task_named_by_reference_runs_its_use_case_with_the_parsed_input(monkeypatch: Any) -> None:
    from chalice.app import Blueprint

    from chalicelib.handlers.task import step_task
    from chalicelib.operations import notify

    seen: list[Any] = []
    monkeypatch.setattr(notify, "cluster_event", lambda ctx, step: seen.append((ctx, step)) or {"ok": True})
    resolve.cache_clear()
    try:
        handler = step_task(
            Blueprint(__name__), "some_notify", steps.NotifyStep, "notify:cluster_event", context=lambda: None
        )

        assert handler({"name": "a", "clusterId": "b", "event": "created"}, None) == {"ok": True}
    finally:
        resolve.cache_clear()
        REGISTERED.pop("some_notify", None)
    assert seen == [(None, steps.NotifyStep(name="a", clusterId="b", event="created"))]


def test_the_stack_events_function_loads_no_pydantic() -> None:
    """It validates no model: its handler, and what its first call imports to record a stack's end."""
    loaded = _fresh_modules(
        "import chalicelib.handlers.stack_events\n"
        "import chalicelib.operations.delete, chalicelib.operations.stack_status\n"
    )

    assert not {m for m in loaded if m.split(".")[0] in ("pydantic", "pydantic_core")}
    assert not set(HEAVY) & loaded


@pytest.mark.parametrize(
    "module",
    [
        "delete",
        "stack_status",
        "notify",
        "access",
        "create_steps",
        "private_endpoint",
        "nodegroup_steps",
        "serviceaccounts",
        "serviceaccount_steps",
    ],
)
def test_a_step_whose_use_case_needs_no_model_loads_no_pydantic(module: str) -> None:
    """Step inputs are checked without pydantic (model/steps.py), and a step that reads what a request stored
    (an aws-auth mapping, a service account) reads it as plain data, so these functions never import it."""
    names = [name for name, task in REGISTERED.items() if str(task.operation).startswith(f"{module}:")]
    loads = "; ".join(f"REGISTERED[{name!r}].load()" for name in names)
    loaded = _fresh_modules(
        f"import chalicelib.handlers.tasks\nfrom chalicelib.handlers.task import REGISTERED\n{loads}\n"
        f"import chalicelib.operations.{module}"
    )

    assert not {m for m in loaded if m.split(".")[0] in ("pydantic", "pydantic_core")}


def test_a_step_input_missing_a_field_or_of_another_type_fails_naming_each() -> None:
    event = {"name": "c", "clusterId": 7, "region": "eu-west-1", "stack": ["not", "a", "dict"], "extra": "ignored"}

    with pytest.raises(steps.StepInputError) as refused:
        steps.NodeRoleStep.from_event(event)

    assert str(refused.value) == (
        "NodeRoleStep input: clusterId: expected str, got int; stack: expected dict, got list; action: required"
    )
    assert steps.AccessChangeStep.from_event(
        {"name": "c", "clusterId": "i", "region": "r", "change": {}}
    ) == steps.AccessChangeStep(name="c", clusterId="i", region="r", change={}, retryCount=0)
    with pytest.raises(steps.StepInputError, match="retryCount: expected int, got bool"):
        steps.AccessChangeStep.from_event(
            {"name": "c", "clusterId": "i", "region": "r", "change": {}, "retryCount": True}
        )


def test_the_idle_sweep_loads_no_pydantic() -> None:
    """The schedule's module and what a sweep imports: the pools' models are the fill's alone."""
    loaded = _fresh_modules(
        "import chalicelib.handlers.schedules\nimport chalicelib.operations.leases, chalicelib.operations.delete\n"
    )

    assert not {m for m in loaded if m.split(".")[0] in ("pydantic", "pydantic_core")}
