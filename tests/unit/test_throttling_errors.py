"""Throttling that outlasts botocore's retries reaches the ASL under a name its Retry matches."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from chalice.app import Blueprint

from chalicelib.aws.clients import THROTTLING_CODES, throttled_error
from chalicelib.handlers.task import step_task
from chalicelib.model.steps import ClusterStep
from chalicelib.observability import logger

STATEMACHINE = Path(__file__).resolve().parents[2] / "statemachine"


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "CreateStack")


def _retried_errors(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for retry in node.get("Retry", []):
            found.update(retry["ErrorEquals"])
        for value in node.values():
            found |= _retried_errors(value)
    elif isinstance(node, list):
        for value in node:
            found |= _retried_errors(value)
    return found


@pytest.mark.parametrize("code", sorted(THROTTLING_CODES))
def test_a_throttled_client_error_is_named_by_its_code(code: str) -> None:
    named = throttled_error(_client_error(code))

    assert named is not None
    assert type(named).__name__ == code
    assert "Rate exceeded" in str(named)


def test_other_errors_keep_their_names() -> None:
    assert throttled_error(_client_error("AccessDenied")) is None
    assert throttled_error(ValueError("bad")) is None


def test_every_throttling_code_is_one_the_workflows_retry() -> None:
    paths = sorted(STATEMACHINE.glob("*.asl.json"))
    assert len(paths) == 5
    for path in paths:
        assert _retried_errors(json.loads(path.read_text())) >= THROTTLING_CODES, path.name


def _task(operation: Any) -> Any:
    """`operation` as a registered task, run with no AWS context (it never reaches AWS)."""
    return step_task(Blueprint(__name__), "some_step", ClusterStep, operation, context=lambda: None)


def test_a_task_that_stays_throttled_fails_with_the_code_as_its_error_type() -> None:
    def throttled(ctx: Any, step: ClusterStep) -> Any:
        raise _client_error("Throttling")

    with pytest.raises(Exception) as raised:
        _task(throttled)({"name": "a", "clusterId": "b"}, None)

    assert type(raised.value).__name__ == "Throttling"
    assert isinstance(raised.value.__cause__, ClientError)


def test_a_task_that_fails_otherwise_fails_as_it_did() -> None:
    def broken(ctx: Any, step: ClusterStep) -> Any:
        raise KeyError("x")

    with pytest.raises(KeyError):
        _task(broken)({"name": "a", "clusterId": "b"}, None)


def test_a_task_gets_its_input_parsed_by_its_model() -> None:
    seen: list[ClusterStep] = []

    assert _task(lambda ctx, step: seen.append(step) or {"ok": True})({"name": "a", "clusterId": "b", "x": 1}, None)
    assert seen == [ClusterStep(name="a", clusterId="b")]
    with pytest.raises(ValueError, match="clusterId"):
        _task(lambda ctx, step: {})({"name": "a"}, None)


def test_a_task_logs_with_its_step_cluster_and_execution_as_correlation_id() -> None:
    def throttled(ctx: Any, step: ClusterStep) -> Any:
        raise _client_error("Throttling")

    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        with pytest.raises(Exception, match="Rate exceeded"):
            _task(throttled)({"name": "mz-k8s", "clusterId": "c1", "execution": "create-mz-k8s-c1"}, None)
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]

    (line,) = [json.loads(line) for line in stream.getvalue().splitlines() if "kept throttling" in line]
    assert (line["step"], line["cluster"], line["clusterId"]) == ("some_step", "mz-k8s", "c1")
    assert line["correlation_id"] == "create-mz-k8s-c1"
