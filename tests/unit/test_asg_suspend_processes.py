"""`nodeGroups[].asgSuspendProcesses`: what a rolling update suspends, in the group's UpdatePolicy (as eksctl)."""

from __future__ import annotations

import pytest
import yaml

from chalicelib.model import clusterconfig
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.selfmanaged_spec import ASG_PROCESSES
from tests.unit.test_selfmanaged_templates import REGION, build
from tests.unit.test_templates import cfn_lint


def config(group: dict[str, object], kind: str = "nodeGroups") -> bytes:
    document = {"apiVersion": "eksctl.io/v1alpha5", "kind": "ClusterConfig", "metadata": {"name": "c"}}
    return yaml.safe_dump({**document, kind: [{"name": "ng", **group}]}).encode()


def refusal(raw: bytes) -> dict[str, dict[str, str]]:
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(raw)
    return {f["field"]: f for f in refused.value.details["fields"]}


def test_the_rolling_update_suspends_the_processes_named() -> None:
    template = build({"asgSuspendProcesses": ["AZRebalance", "ScheduledActions"]})

    policy = template["Resources"]["NodeGroup"]["UpdatePolicy"]
    assert policy == {"AutoScalingRollingUpdate": {"SuspendProcesses": ["AZRebalance", "ScheduledActions"]}}
    assert cfn_lint(template, REGION) == []


def test_without_the_field_the_rolling_update_suspends_nothing() -> None:
    template = build({})

    assert template["Resources"]["NodeGroup"]["UpdatePolicy"] == {"AutoScalingRollingUpdate": {}}


def test_every_process_auto_scaling_knows_is_taken_and_given_back() -> None:
    spec = clusterconfig.parse(config({"asgSuspendProcesses": list(ASG_PROCESSES)}))

    assert spec.nodegroups[0].asg_suspend_processes == list(ASG_PROCESSES)
    given_back = clusterconfig.from_spec(spec)["nodeGroups"][0]
    assert given_back["asgSuspendProcesses"] == list(ASG_PROCESSES)
    assert cfn_lint(build({"asgSuspendProcesses": list(ASG_PROCESSES)}), REGION) == []


@pytest.mark.parametrize(
    ("processes", "rule", "words"),
    [
        (["Launch", "Reboot"], "asg_process", "Reboot"),
        (["launch"], "asg_process", "valid: Launch"),
        (["Launch", "Launch"], "duplicate", "named twice"),
        ([], "too_short", ""),
    ],
)
def test_a_process_auto_scaling_does_not_know_is_refused(processes: list[str], rule: str, words: str) -> None:
    found = refusal(config({"asgSuspendProcesses": processes}))

    assert found["nodeGroups[0].asgSuspendProcesses"]["rule"] == rule
    assert words in found["nodeGroups[0].asgSuspendProcesses"]["message"]


def test_a_managed_group_is_refused_the_field_with_a_reason() -> None:
    found = refusal(config({"asgSuspendProcesses": ["Launch"]}, kind="managedNodeGroups"))

    assert found["managedNodeGroups[0].asgSuspendProcesses"]["rule"] == "unsupported_field"
    assert "for nodeGroups" in found["managedNodeGroups[0].asgSuspendProcesses"]["message"]
