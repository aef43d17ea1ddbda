"""No secret reaches a log line, and the kubeconfig the API hands out carries no credential.

The logs of a whole create (POST /clusters → ACTIVE), an access change and Slack commands are
captured at DEBUG — the service's Powertools logger, every Python log record with its extras,
and the process's stdout and stderr — and scanned for EKS bearer tokens, presigned URLs,
Authorization headers, the Slack signing secret and request signatures, and AWS secret keys.
The engine here runs with a secret key of its own, so a leaked key is recognised by its value.
"""

from __future__ import annotations

import io
import json
import logging
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from chalicelib.aws import identity
from chalicelib.observability import logger
from local import engine as local_engine
from local.engine import LOCAL_IDENTITY_KEY, LOCAL_SLACK_SIGNING_SECRET, LocalEngine
from local.slack import command_fields, post_form
from tests.e2e.conftest import ENGINE_REGION, wait_until
from tests.leaks import find_leaks

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.e2e.conftest import Api

# What the engine's AWS credentials sign with here: 40 characters, as AWS's secret keys.
CANARY_SECRET_KEY = "ekspressCanarySecretKey/0nlyForThisTest+"
CALLER = "arn:aws:iam::123456789012:role/quiet-owner"
DEV = "arn:aws:iam::123456789012:role/quiet-dev"
NAME = "quiet"
# Slack's response_url is a credential too (anyone holding it may post to the channel).
RESPONSE_URL = "http://127.0.0.1:9/slack-response-url-canary"


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    """This module's engine signs with CANARY_SECRET_KEY (the emulated clusters verify tokens with it too)."""
    assert len(CANARY_SECRET_KEY) == 40
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(local_engine, "SECRET_KEY", CANARY_SECRET_KEY)
        mp.setenv("AWS_SECRET_ACCESS_KEY", CANARY_SECRET_KEY)  # restored for later modules' engines
        eng = LocalEngine(region=ENGINE_REGION, poll_scale=0.001).start()
        try:
            yield eng
        finally:
            eng.stop()


class Captured(logging.Handler):
    """Every log record, as JSON with its extras; plus what the Powertools handler and the process print."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        super().__init__(level=logging.NOTSET)
        self.capfd = capfd
        self.powertools = io.StringIO()
        self.records: list[str] = []
        self.printed: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.dumps({**record.__dict__, "message": record.getMessage()}, default=str))

    def sources(self) -> dict[str, str]:
        out, err = self.capfd.readouterr()
        self.printed.extend([out, err])
        return {
            "powertools logger": self.powertools.getvalue(),
            "log records": "\n".join(self.records),
            "stdout and stderr": "".join(self.printed),
        }


@pytest.fixture
def captured(capfd: pytest.CaptureFixture[str]) -> Iterator[Captured]:
    handler = Captured(capfd)
    previous_stream = logger.registered_handler.setStream(handler.powertools)  # type: ignore[attr-defined]
    previous_level = logger.log_level
    logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)
        logger.setLevel(previous_level)
        logger.registered_handler.setStream(previous_stream)  # type: ignore[attr-defined]


def slack_command(api: Api, text: str, secret: str = LOCAL_SLACK_SIGNING_SECRET) -> tuple[int, Any]:
    fields = command_fields(text, RESPONSE_URL, "T1", "U1", "C1")
    return post_form(f"{api.base}/slack/commands", fields, secret)


def access_changed(api: Api, change: str) -> bool:
    events = api.call("GET", f"/clusters/{NAME}", caller=CALLER).body["events"]
    return any(e["type"] == "ACCESS_CHANGED" and e["message"] == change for e in events)


def test_a_create_an_access_change_and_slack_commands_log_no_secret(api: Api, captured: Captured) -> None:
    assert api.call("POST", "/clusters", {"name": NAME}, caller=CALLER).status == 202
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    grant = {"arn": DEV, "username": "dev", "groups": ["viewers"]}
    assert api.call("POST", f"/clusters/{NAME}/access", grant, caller=CALLER).status == 202
    wait_until(lambda: access_changed(api, f"add {DEV}"), "the access change")
    assert api.call("GET", f"/clusters/{NAME}/access", caller=CALLER).status == 200  # a live read with a token
    removal = f"/clusters/{NAME}/access?arn={urllib.parse.quote(DEV, safe='')}"
    assert api.call("DELETE", removal, caller=CALLER).status == 202
    wait_until(lambda: access_changed(api, f"remove {DEV}"), "the access removal")
    assert api.call("GET", f"/clusters/{NAME}/kubeconfig", caller=CALLER).status == 200
    assert slack_command(api, f"status {NAME}")[0] == 200
    assert slack_command(api, "list")[0] == 200
    assert slack_command(api, "list", secret="a-forged-secret")[0] == 401
    sources = captured.sources()

    # The capture saw the service at work, so an empty scan means no secret, not no logs.
    messages = {json.loads(line)["message"] for line in sources["powertools logger"].splitlines()}
    assert {"cluster stack created", "cluster active", "aws-auth changed", "slack request refused"} <= messages
    caller_signature = identity.sign(LOCAL_IDENTITY_KEY, CALLER)
    secrets = [CANARY_SECRET_KEY, LOCAL_SLACK_SIGNING_SECRET, LOCAL_IDENTITY_KEY, caller_signature, RESPONSE_URL]
    assert all(sources.values()), {source: len(text) for source, text in sources.items()}
    leaks = {source: find_leaks(text, secrets) for source, text in sources.items()}
    assert not any(leaks.values()), "\n".join(f"{source} {leak}" for source, found in leaks.items() for leak in found)


def test_the_scan_finds_a_token_logged_by_mistake(captured: Captured) -> None:
    """The scan above can fail: a bearer token and a presigned URL in a log line are named by line."""
    logger.info("probe")
    logger.debug("kube call", extra={"headers": {"Authorization": "Bearer k8s-aws-v1.aHR0cHM6Ly9zdHM"}})
    logger.warning("retrying", extra={"url": "https://sts.amazonaws.com/?X-Amz-Credential=AKIA&X-Amz-Signature=ab"})

    text = captured.sources()["powertools logger"]

    found = {(leak.line, leak.what) for leak in find_leaks(text)}
    assert {(2, "EKS bearer token"), (2, "Authorization header"), (3, "presigned URL (X-Amz-Signature)")} <= found


@pytest.mark.parametrize("accept", ["application/yaml", "application/json"])
def test_the_kubeconfig_carries_no_credential_only_an_exec_plugin(api: Api, accept: str) -> None:
    if api.call("GET", f"/clusters/{NAME}", caller=CALLER).status == 404:
        assert api.call("POST", "/clusters", {"name": NAME}, caller=CALLER).status == 202
    assert api.wait_for(NAME, {"ACTIVE", "FAILED"})["status"] == "ACTIVE"
    headers = {identity.CALLER_HEADER: CALLER, identity.SIGNATURE_HEADER: identity.sign(LOCAL_IDENTITY_KEY, CALLER)}
    request = urllib.request.Request(f"{api.base}/clusters/{NAME}/kubeconfig", headers={**headers, "Accept": accept})
    with urllib.request.urlopen(request, timeout=30) as resp:
        text = resp.read().decode()

    config = json.loads(text) if accept == "application/json" else yaml.safe_load(text)

    (user,) = config["users"]
    assert set(user["user"]) == {"exec"}, "no token, client key or certificate, password or auth-provider"
    plugin = user["user"]["exec"]
    assert plugin["command"] == "aws"
    assert plugin["args"][plugin["args"].index("eks") : plugin["args"].index("eks") + 2] == ["eks", "get-token"]
    assert not plugin.get("env"), "credentials are the caller's own, never handed out in env"
    assert find_leaks(text, [CANARY_SECRET_KEY]) == []
    (cluster,) = config["clusters"]
    assert set(cluster["cluster"]) == {"server", "certificate-authority-data"}
