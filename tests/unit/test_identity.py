"""Callers are named as aws-iam-authenticator names them: an assumed role's session is its role."""

from __future__ import annotations

import pytest

from chalicelib.aws import identity

KEY = "local-key"


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        # Sessions of an assumed role become the role, in every partition; the role's path is not in a
        # session ARN, so it is not in the role ARN either (as in aws-iam-authenticator).
        ("arn:aws:sts::123456789012:assumed-role/dev/alice", "arn:aws:iam::123456789012:role/dev"),
        (
            "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123abcd/alice@example.com",
            "arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_0123abcd",
        ),
        ("arn:aws:sts::123456789012:assumed-role/r+=,.@_-/s+=,.@_-", "arn:aws:iam::123456789012:role/r+=,.@_-"),
        ("arn:aws-us-gov:sts::123456789012:assumed-role/dev/s", "arn:aws-us-gov:iam::123456789012:role/dev"),
        ("arn:aws-cn:sts::123456789012:assumed-role/dev/s", "arn:aws-cn:iam::123456789012:role/dev"),
        ("arn:aws-iso-b:sts::123456789012:assumed-role/dev/s", "arn:aws-iso-b:iam::123456789012:role/dev"),
        # Principals that already name themselves stay as they are.
        ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/alice"),
        ("arn:aws:iam::123456789012:user/team/alice", "arn:aws:iam::123456789012:user/team/alice"),
        ("arn:aws:iam::123456789012:role/dev", "arn:aws:iam::123456789012:role/dev"),
        ("arn:aws:iam::123456789012:role/team/dev", "arn:aws:iam::123456789012:role/team/dev"),
        ("arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:root"),
        ("arn:aws:sts::123456789012:federated-user/bob", "arn:aws:sts::123456789012:federated-user/bob"),
        ("arn:aws-cn:iam::123456789012:user/alice", "arn:aws-cn:iam::123456789012:user/alice"),
        # Not a session ARN after all: no session, not STS, a short account, not an ARN.
        ("arn:aws:sts::123456789012:assumed-role/dev", "arn:aws:sts::123456789012:assumed-role/dev"),
        ("arn:aws:iam::123456789012:assumed-role/dev/s", "arn:aws:iam::123456789012:assumed-role/dev/s"),
        ("arn:aws:sts::1234:assumed-role/dev/s", "arn:aws:sts::1234:assumed-role/dev/s"),
        ("dev/s", "dev/s"),
    ],
)
def test_canonical_names_a_session_by_its_role_and_leaves_other_principals(arn: str, expected: str) -> None:
    assert identity.canonical(arn) == expected


def test_given_api_gateways_identity_of_a_session_then_the_caller_is_its_role() -> None:
    context = {"identity": {"userArn": "arn:aws:sts::123456789012:assumed-role/dev/monday"}}

    assert identity.caller(context, {}, "") == "arn:aws:iam::123456789012:role/dev"


def test_given_a_signed_local_caller_header_naming_a_session_then_the_caller_is_its_role() -> None:
    session = "arn:aws:sts::123456789012:assumed-role/dev/tuesday"
    headers = {identity.CALLER_HEADER: session, identity.SIGNATURE_HEADER: identity.sign(KEY, session)}

    assert identity.caller({}, headers, KEY) == "arn:aws:iam::123456789012:role/dev"


def test_two_sessions_of_one_role_are_one_caller_and_another_role_is_not() -> None:
    def calling(arn: str) -> str:
        return identity.caller({"identity": {"userArn": arn}}, {}, "")

    monday = calling("arn:aws:sts::123456789012:assumed-role/dev/monday")
    tuesday = calling("arn:aws:sts::123456789012:assumed-role/dev/tuesday")
    other = calling("arn:aws:sts::123456789012:assumed-role/ops/monday")

    assert monday == tuesday != other
