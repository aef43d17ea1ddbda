"""Throttling that outlasts botocore's retries reaches the ASL under a name its Retry matches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws import THROTTLING_CODES, throttled_error
from chalicelib.tasks import name_throttling_errors

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
    for path in STATEMACHINE.glob("*.asl.json"):
        assert _retried_errors(json.loads(path.read_text())) >= THROTTLING_CODES, path.name


def test_a_task_that_stays_throttled_fails_with_the_code_as_its_error_type() -> None:
    def throttled(event: Any) -> Any:
        raise _client_error("Throttling")

    with pytest.raises(Exception) as raised:
        name_throttling_errors({}, throttled)

    assert type(raised.value).__name__ == "Throttling"
    assert isinstance(raised.value.__cause__, ClientError)


def test_a_task_that_fails_otherwise_fails_as_it_did() -> None:
    def broken(event: Any) -> Any:
        raise KeyError("x")

    with pytest.raises(KeyError):
        name_throttling_errors({}, broken)
