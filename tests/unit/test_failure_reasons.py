"""What the record says when a workflow fails, from each shape of Step Functions error."""

from __future__ import annotations

import json

from chalicelib.operations.failures import explain_error


def test_a_failed_stack_gives_its_first_failed_resource_and_reason() -> None:
    cause = {"stackName": "eksctl-a-cluster", "status": "ROLLBACK_COMPLETE", "reason": "quota", "failedResource": "NAT"}

    assert explain_error({"Error": "StackFailed", "Cause": json.dumps(cause)}) == {
        "error": "StackFailed",
        "reason": "quota",
        "stack": "eksctl-a-cluster",
        "resource": "NAT",
    }


def test_a_lambda_error_gives_its_type_and_message() -> None:
    cause = {"errorType": "StackNotOursError", "errorMessage": "stack x exists", "stackTrace": []}

    assert explain_error({"Error": "StackNotOursError", "Cause": json.dumps(cause)}) == {
        "error": "StackNotOursError",
        "reason": "stack x exists",
    }


def test_a_service_error_keeps_its_text() -> None:
    assert explain_error({"Error": "States.Timeout", "Cause": "Task timed out"}) == {
        "error": "States.Timeout",
        "reason": "Task timed out",
    }


def test_an_empty_error_still_says_something() -> None:
    assert explain_error({}) == {"error": "Error", "reason": "Error"}


def test_a_stack_past_its_deadline_gives_the_sentence_and_the_stack() -> None:
    reason = "timed out after 25 min waiting for stack eksctl-x-cluster (status CREATE_IN_PROGRESS)"
    cause = {"errorType": "StackTimedOut", "errorMessage": reason, "stackTrace": []}

    assert explain_error({"Error": "StackTimedOut", "Cause": json.dumps(cause)}) == {
        "error": "StackTimedOut",
        "reason": reason,
        "stack": "eksctl-x-cluster",
    }


def test_a_timeout_message_of_another_shape_still_gives_its_reason() -> None:
    cause = {"errorType": "StackTimedOut", "errorMessage": "timed out"}

    assert explain_error({"Error": "StackTimedOut", "Cause": json.dumps(cause)}) == {
        "error": "StackTimedOut",
        "reason": "timed out",
    }
