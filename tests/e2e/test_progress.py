"""While a cluster is built, the record shows where it is: phase, each stack's status, and the timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.model import naming
from local import stack_timing

if TYPE_CHECKING:
    from tests.e2e.conftest import Api


def first_index(progress: list[dict[str, Any]], **wanted: Any) -> int:
    """Where the polls first saw a view with these fields (`stacks` compared as given)."""
    for index, view in enumerate(progress):
        if all(view[key] == value for key, value in wanted.items()):
            return index
    raise AssertionError(f"never seen: {wanted}; the polls saw {progress}")


def test_given_slow_stacks_then_the_record_shows_each_stack_in_progress_before_active(api: Api) -> None:
    stack_timing.behaviour.cluster_seconds = 1.5
    stack_timing.behaviour.nodegroup_seconds = 1.0
    name = "progress"
    cluster = naming.cluster_stack_name(name)
    group = naming.nodegroup_stack_name(name, "ng-1")

    assert api.call("POST", "/clusters", {"name": name, "managedNodeGroups": [{"name": "ng-1"}]}).status == 202
    record = api.wait_for(name, {"ACTIVE", "FAILED"})

    assert record["status"] == "ACTIVE", record.get("failure")
    progress = record["_progress"]
    building_cluster = first_index(
        progress, status="CREATING", phase="CLUSTER_STACK", stacks={cluster: "CREATE_IN_PROGRESS"}
    )
    building_group = first_index(
        progress,
        status="CREATING",
        phase="NODEGROUP_STACKS",
        stacks={cluster: "CREATE_COMPLETE", group: "CREATE_IN_PROGRESS"},
    )
    done = first_index(
        progress, status="ACTIVE", phase="DONE", stacks={cluster: "CREATE_COMPLETE", group: "CREATE_COMPLETE"}
    )
    assert building_cluster < building_group < done
    timeline = [(e["type"], e.get("details", {}).get("stack") or e["message"]) for e in record["events"]]
    steps = [
        ("STACK_CREATING", cluster),
        ("STACK_CREATE_COMPLETE", f"Stack {cluster} is CREATE_COMPLETE"),
        ("STACK_CREATING", group),
        ("STACK_CREATE_COMPLETE", f"Stack {group} is CREATE_COMPLETE"),
        ("ACTIVE", "Cluster is active"),
    ]
    assert [entry for entry in timeline if entry in steps] == steps, timeline
