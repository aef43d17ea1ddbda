"""Slack request verification: the signing secret from Secrets Manager or SSM, signatures, replays."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import boto3
import pytest

from chalicelib.handlers import slack_routes as slackapp
from chalicelib.model.settings import get_settings
from local.slack import sign

if TYPE_CHECKING:
    from chalicelib.aws.store import Store

REGION = "us-west-2"
BODY = b"command=%2Feks&text=list&team_id=T1&user_id=U1"


def headers(secret: str, body: bytes = BODY, at: int | None = None) -> dict[str, str]:
    return {k.lower(): v for k, v in sign(secret, body, at).items()}


@pytest.fixture(autouse=True)
def fresh_providers() -> None:
    slackapp._secret_provider.cache_clear()


def test_the_secret_comes_from_secrets_manager_or_ssm() -> None:
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name="slack/sm", SecretString="from-sm")
    boto3.client("ssm", region_name=REGION).put_parameter(Name="/slack/ssm", Value="from-ssm", Type="SecureString")
    base = type(get_settings())(**{**get_settings().__dict__, "slack_secret_id": "", "slack_secret_parameter": ""})

    from_sm = type(base)(**{**base.__dict__, "slack_secret_id": "slack/sm"})
    from_ssm = type(base)(**{**base.__dict__, "slack_secret_parameter": "/slack/ssm"})

    assert slackapp.signing_secret(from_sm) == "from-sm"
    assert slackapp.signing_secret(from_ssm) == "from-ssm"
    with pytest.raises(slackapp.SlackAuthError, match="not configured"):
        slackapp.signing_secret(base)


def test_the_secret_is_cached_between_requests() -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="slack/cached", SecretString="first")
    base = get_settings()
    configured = type(base)(**{**base.__dict__, "slack_secret_id": "slack/cached"})

    assert slackapp.signing_secret(configured) == "first"
    sm.put_secret_value(SecretId="slack/cached", SecretString="second")
    assert slackapp.signing_secret(configured) == "first"


def test_a_valid_signature_within_five_minutes_passes() -> None:
    now = time.time()
    slackapp.verify("s3cret", headers("s3cret", at=int(now) - 299), BODY, now)


@pytest.mark.parametrize(
    ("secret", "body", "age"),
    [("wrong", BODY, 0), ("s3cret", BODY + b"&x=1", 0), ("s3cret", BODY, 301), ("s3cret", BODY, -301)],
    ids=["forged", "tampered", "stale", "from-the-future"],
)
def test_anything_else_is_refused(secret: str, body: bytes, age: int) -> None:
    now = time.time()
    with pytest.raises(slackapp.SlackAuthError):
        slackapp.verify("s3cret", headers(secret, BODY, int(now) - age), body, now)


def test_missing_or_malformed_headers_are_refused() -> None:
    now = time.time()
    for broken in (
        {},
        {"x-slack-signature": "v0=00"},
        {"x-slack-request-timestamp": "soon", "x-slack-signature": "v0"},
    ):
        with pytest.raises(slackapp.SlackAuthError):
            slackapp.verify("s3cret", broken, BODY, now)


def test_a_request_is_claimed_once_within_the_window(db: Store) -> None:
    assert db.claim_once("slack#v0=abc", 600, 1_000) is True
    assert db.claim_once("slack#v0=abc", 600, 1_100) is False
    assert db.claim_once("slack#v0=abc", 600, 1_601) is True  # expired: DynamoDB's TTL would have removed it
