"""Step Functions: start workflow executions under deterministic names."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.model import naming

OPERATION_CREATE = "create"


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def start(
    sfn: Any, state_machine_arn: str, operation: str, cluster: str, operation_id: str, payload: dict[str, Any]
) -> str:
    """Start (or find) the execution for one operation; returns its ARN.

    The name is derived from the operation id, so calling this twice for the
    same operation never launches a second workflow: Step Functions refuses the
    duplicate name and we return the execution that is already there.
    """
    name = naming.execution_name(operation, cluster, operation_id)
    try:
        resp = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))
        return str(resp["executionArn"])
    except sfn.exceptions.ExecutionAlreadyExists:
        return execution_arn(state_machine_arn, name)


def create_input(
    record: dict[str, Any], workload_stacks: list[dict[str, str]], event_waits: dict[str, int]
) -> dict[str, Any]:
    """The create workflow's input: identifiers only; tasks read the spec from the record.

    `workload_stacks` are the stacks made once the node groups are up, as `{"kind", "member"}`
    (`templates.workload_stacks`); `event_waits` how long a step waits for its stack's event
    (`settings.event_waits`).
    """
    spec = record["spec"]
    return {
        "eventWaits": event_waits,
        "name": record["name"],
        "clusterId": record["clusterId"],
        "region": spec["region"],
        "nodegroups": [ng["name"] for kind in ("managedNodeGroups", "nodeGroups") for ng in spec.get(kind) or []],
        "workloadStacks": workload_stacks,
        # A fully private cluster's public endpoint goes once the rest is built.
        "privateCluster": bool((spec.get("privateCluster") or {}).get("enabled")),
    }
