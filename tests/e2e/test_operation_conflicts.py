"""One operation at a time: a mutating request while one runs gets 409 naming the running operation.

The delete here is held at its first task (local/faults.py `hold_lambda`), so it is surely still
running when the second request comes, and the 409's `operation` can be required, not hoped for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.model import naming
from local import faults as engine_faults
from local import stack_timing
from local.engine import LocalEngine
from tests.e2e.conftest import ENGINE_REGION, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.e2e.conftest import Api, Reply

HOLDER_FIELDS = ("type", "id", "by", "startedAt", "executionArn")


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    eng = LocalEngine(region=ENGINE_REGION, poll_scale=0.001).start()
    engine_faults.install()
    yield eng
    engine_faults.faults.clear()
    eng.stop()


def assert_conflict_naming(reply: Reply, holder: dict[str, Any]) -> None:
    """409 in our error shape, naming the running operation as the README promises (HOLDER_FIELDS)."""
    assert reply.status == 409, reply.body
    assert reply.body["error"] == "Conflict"
    running = reply.body.get("operation")
    assert isinstance(running, dict), f"the 409 does not name the running operation: {reply.body}"
    assert {k: running.get(k) for k in HOLDER_FIELDS} == {k: holder[k] for k in HOLDER_FIELDS}
    assert "spec" not in running, "the target spec of an operation is internal"


def test_a_second_delete_while_one_runs_is_a_409_naming_the_running_delete(api: Api) -> None:
    name = "held"
    assert api.call("POST", "/clusters", {"name": name}).status == 202
    assert api.wait_for(name, {"ACTIVE", "FAILED"})["status"] == "ACTIVE"
    engine_faults.faults.hold_lambda("stop_create_workflow", contains=f'"{name}"')
    first = api.call("DELETE", f"/clusters/{name}")
    assert first.status == 202, first.body
    holder = first.body["operation"]
    assert all(holder.get(k) for k in HOLDER_FIELDS), holder
    wait_until(lambda: engine_faults.faults.holds and engine_faults.faults.holds[0].parked, "the delete to be held")

    second = api.call("DELETE", f"/clusters/{name}")

    assert_conflict_naming(second, holder)
    assert engine_faults.faults.release() == 1
    final = api.wait_for(name, {"DELETED", "DELETE_FAILED"})
    assert final["status"] == "DELETED", final.get("failure")
    assert [e["type"] for e in final["events"]].count("DELETE_REQUESTED") == 1


def test_a_delete_takes_over_a_create_still_building_its_cluster_stack(api: Api, engine: LocalEngine) -> None:
    """Waits for the create to be under way (its cluster stack on the record), not for a guessed time."""
    name = "hasty"
    stack = naming.cluster_stack_name(name)
    stack_timing.behaviour.cluster_seconds = 3
    assert api.call("POST", "/clusters", {"name": name}).status == 202

    def building() -> bool:
        record = api.call("GET", f"/clusters/{name}").body
        return bool((record.get("stacks") or {}).get(stack, {}).get("status") == "CREATE_IN_PROGRESS")

    wait_until(building, f"{stack} to be creating")
    reply = api.call("DELETE", f"/clusters/{name}")

    assert reply.status == 202, reply.body
    final = api.wait_for(name, {"DELETED", "DELETE_FAILED", "ACTIVE"}, timeout=180)  # a loaded machine is slow
    assert final["status"] == "DELETED", final.get("failure")
    create = engine.client("stepfunctions").describe_execution(executionArn=final["executionArn"])
    assert create["status"] == "ABORTED"
    cfn = engine.client("cloudformation")
    live = [s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"]
    assert [s for s in live if s.startswith(f"eksctl-{name}-")] == []
