"""The inline IAM policy rule: IAM's shape, and nothing that lets a role grant itself more."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from chalicelib.model.inline_policy import (
    RULE,
    RULE_FORMAT,
    InlinePolicy,
    action_allowed,
    escalates,
    inline_action_problems,
)
from chalicelib.model.settings import Settings

POLICY = TypeAdapter(InlinePolicy)


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


def refusal(body: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as refused:
        POLICY.validate_python(body)
    errors = refused.value.errors(include_url=False)
    assert len(errors) == 1
    return dict(errors[0])


@pytest.mark.parametrize(
    "body",
    [
        document(allow("s3:GetObject", "arn:aws:s3:::bucket/*")),
        document(allow(["s3:Get*", "s3:List*"], ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], Sid="Read")),
        document(
            allow("sqs:SendMessage", Condition={"StringEquals": {"aws:ResourceTag/team": "data"}}),
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
            {"Effect": "Deny", "NotAction": "s3:*", "NotResource": "arn:aws:s3:::b"},
        ),
        {"Version": "2008-10-17", "Id": "x", "Statement": [allow("dynamodb:GetItem")]},
    ],
)
def test_a_policy_that_stays_within_its_services_is_accepted(body: dict[str, Any]) -> None:
    assert POLICY.validate_python(body) == body


@pytest.mark.parametrize(
    ("action", "named"),
    [
        ("*", "*"),
        ("iam:PassRole", "iam:PassRole"),
        ("IAM:CreateRole", "IAM:CreateRole"),
        ("sts:AssumeRole", "sts:AssumeRole"),
        ("organizations:LeaveOrganization", "organizations:LeaveOrganization"),
        ("account:PutAlternateContact", "account:PutAlternateContact"),
        ("*:*", "*:*"),
        ("*:PassRole", "*:PassRole"),
        ("i*:*", "i*:*"),
        ("s??:AssumeRole", "s??:AssumeRole"),
        (["s3:GetObject", "iam:*"], "iam:*"),
    ],
)
def test_an_allow_of_an_escalating_action_is_refused_naming_statement_and_action(action: Any, named: str) -> None:
    found = refusal(document(allow("s3:GetObject"), allow(action, Sid="Grant")))

    assert found["type"] == RULE
    assert "Statement[1] (Grant)" in found["msg"]
    assert f"'{named}'" in found["msg"]


@pytest.mark.parametrize("negation", ["NotAction", "NotResource"])
def test_an_allow_with_a_negation_is_refused(negation: str) -> None:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    statement[negation] = statement.pop("Action" if negation == "NotAction" else "Resource")

    found = refusal(document(statement))

    assert found["type"] == RULE
    assert negation in found["msg"] and "Statement[0]" in found["msg"]


@pytest.mark.parametrize(
    "body",
    [
        {"Statement": [allow("s3:GetObject")]},
        {"Version": "2012-10-17", "Statement": []},
        {"Version": "2012-10-17", "Statement": allow("s3:GetObject")},
        {"Version": "2012-10-17", "Statement": [allow("s3:GetObject")], "Extra": 1},
        document({"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "*"}),
        document({"Effect": "Allow", "Resource": "*"}),
        document({"Effect": "Allow", "Action": "s3:GetObject"}),
        document({"Effect": "Allow", "Action": "s3:GetObject", "NotAction": "s3:Put*", "Resource": "*"}),
        document(allow("s3:GetObject", Principal={"AWS": "*"})),
        document(allow([])),
        document(allow("GetObject")),
        document(allow("s3:GetObject", Condition="yes")),
        document("not a statement"),  # type: ignore[arg-type]
        document(allow("s3:GetObject", "arn:aws:s3:::" + "b" * 10240)),
    ],
)
def test_a_document_iam_would_not_take_is_refused(body: Any) -> None:
    assert refusal(body)["type"] == RULE_FORMAT


def test_wildcards_count_by_what_they_could_match() -> None:
    assert escalates("*") and escalates("*:List*") and escalates("?am:Get*") and escalates("Sts:GetCallerIdentity")
    assert not escalates("s3:*") and not escalates("ec2:*") and not escalates("ssm:GetParameter")


@pytest.mark.parametrize(
    ("action", "patterns", "allowed"),
    [
        ("sqs:ReceiveMessage", ("sqs:*",), True),
        ("SQS:receivemessage", ("sqs:ReceiveMessage",), True),  # IAM compares actions ignoring case
        ("s3:Get*", ("s3:*",), True),
        ("s3:Get*", ("s3:Get*",), True),
        ("s3:*", ("s3:Get*",), False),
        ("s3:Get*", ("s3:Get?bject",), False),  # a wildcard is covered only by a plain prefix and `*`
        ("s?:GetObject", ("s3:*",), False),
        ("*", ("s3:*",), False),
        ("cloudformation:UpdateStack", ("s3:*", "sqs:*"), False),
        ("sqs:ReceiveMessage", (), False),  # unset: no inline policy
    ],
)
def test_an_inline_action_must_fall_within_the_service_policys_actions(
    action: str, patterns: tuple[str, ...], allowed: bool
) -> None:
    assert action_allowed(action, patterns) is allowed


def test_each_action_outside_the_allow_list_is_named_with_its_field() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "eks:AssociateAccessPolicy"], "Resource": "*"},
            {"Effect": "Deny", "Action": "lambda:*", "Resource": "*"},  # a Deny only takes away
        ],
    }
    settings = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0, allowed_inline_actions=("sqs:*",))

    problems = inline_action_problems([("addons[0].attachPolicy", document)], settings)

    assert [(p["field"], p["rule"]) for p in problems] == [("addons[0].attachPolicy", "inline_action_not_allowed")]
    assert "eks:AssociateAccessPolicy" in problems[0]["message"]


def test_an_action_with_a_space_is_refused_as_iam_would_not_read_it_as_checked() -> None:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": " iam:PassRole", "Resource": "*"}]}

    with pytest.raises(ValidationError) as refused:
        TypeAdapter(InlinePolicy).validate_python(document)

    assert refused.value.errors()[0]["type"] == RULE_FORMAT
