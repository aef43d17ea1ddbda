"""Slack on the local engine: signed commands through to the workflow, and what it posts back."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from app import app
from chalicelib.handlers.schedules import run_fill, run_sweep
from chalicelib.handlers.slack_routes import slack_worker
from chalicelib.model import naming, settings
from chalicelib.operations import leases
from local.engine import LOCAL_SLACK_SIGNING_SECRET, STAGE
from local.lambda_runtime import invocations
from local.slack import Receiver, command_fields, post_form
from tests.e2e.conftest import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.e2e.conftest import Api

TEAM, OWNER, OTHER, ADMIN = "T1", "U1OWNER", "U2OTHER", "U9ADMIN"
POOL_ADMIN = "arn:aws:iam::123456789012:role/platform-admin"


@pytest.fixture
def hook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set Slack settings for one test; the app re-reads them."""

    def refresh() -> None:
        settings.get_settings.cache_clear()

    monkeypatch.setenv(settings.ENV_SLACK_ADMINS, ADMIN)
    refresh()
    yield monkeypatch
    monkeypatch.undo()
    refresh()


class Slack:
    def __init__(self, base: str, hook: Receiver) -> None:
        self.base, self.hook = base, hook

    def command(self, text: str, user: str = OWNER, team: str = TEAM, **sign: Any) -> tuple[int, Any]:
        fields = command_fields(text, self.hook.url, team, user, "C1")
        return post_form(
            f"{self.base}/slack/commands", fields, sign.get("secret", LOCAL_SLACK_SIGNING_SECRET), sign.get("timestamp")
        )

    def click(self, action_id: str, cluster: str, user: str = OWNER) -> tuple[int, Any]:
        payload = {
            "type": "block_actions",
            "user": {"id": user, "team_id": TEAM},
            "team": {"id": TEAM},
            "actions": [{"action_id": action_id, "value": cluster}],
            "response_url": self.hook.url,
        }
        return post_form(
            f"{self.base}/slack/interactions", {"payload": json.dumps(payload)}, LOCAL_SLACK_SIGNING_SECRET
        )

    def said(self, words: str, timeout: float = 60) -> dict[str, Any]:
        found = self.hook.wait_for(lambda m: words in json.dumps(m), timeout)
        assert found is not None, f"no message with {words!r}; got {[m.get('text') for m in self.hook.messages]}"
        return found


@pytest.fixture
def slack(api: Api, hook: Receiver, config: pytest.MonkeyPatch) -> Slack:
    return Slack(api.base, hook)


def text_of(reply: Any) -> str:
    return json.dumps(reply)


def test_create_reaches_active_and_the_result_arrives_at_the_response_url(slack: Slack, api: Api) -> None:
    worker = naming.lambda_function_name(app.app_name, STAGE, naming.SLACK_WORKER)
    before = invocations.count(worker)
    status, reply = slack.command("create chat-a nodes=3 type=m5.xlarge ttl=4h region=eu-west-1")

    # Slack is answered first (it gives up after 3 s); the worker, invoked asynchronously, does the work.
    assert status == 200
    assert reply["response_type"] == "ephemeral"
    assert "Creating *chat-a*: checking the request" in text_of(reply)
    started = slack.said("Creating *chat-a* in `eu-west-1`")
    assert started["response_type"] == "in_channel"
    slack.said("control plane is up")
    ready = slack.said("chat-a is ready")
    assert invocations.count(worker) == before + 1
    assert "aws eks update-kubeconfig --name chat-a --region eu-west-1" in text_of(ready)
    record = api.call("GET", "/clusters/chat-a").body
    assert record["status"] == "ACTIVE"
    assert record["owner"] == f"slack:{TEAM}/{OWNER}"
    assert record["spec"]["managedNodeGroups"][0]["desiredCapacity"] == 3
    assert record["ttlHours"] == 4
    assert "notify" not in record, "the response_url is a credential and never shown"
    assert record["cluster"]["endpoint"] in text_of(ready)


def test_status_list_extend_and_delete_with_ownership(slack: Slack, api: Api) -> None:
    assert slack.command("create chat-b")[0] == 200
    slack.said("Creating *chat-b* in")
    api.wait_for("chat-b", {"ACTIVE"})

    assert "`ACTIVE`" in text_of(slack.command("status chat-b")[1])
    assert "chat-b" in text_of(slack.command("list")[1])
    assert "only the owner" in text_of(slack.command("extend chat-b 4h", user=OTHER)[1])
    assert "Deleting *chat-b*: checking" in text_of(slack.command("delete chat-b", user=OTHER)[1])
    slack.said("only the owner of chat-b or a Slack admin may delete it")
    before = api.call("GET", "/clusters/chat-b").body["expiresAt"]
    assert "now ends" in text_of(slack.command("extend chat-b 2d")[1])
    assert api.call("GET", "/clusters/chat-b").body["expiresAt"] > before

    status, reply = slack.command("delete chat-b", user=ADMIN)

    assert status == 200 and "Deleting *chat-b*" in text_of(reply)
    slack.said(f"Deleting *chat-b* (requested by <@{ADMIN}>)")
    slack.said("chat-b deleted")
    assert api.call("GET", "/clusters/chat-b").body["status"] == "DELETED"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Usage"),
        ("help", "Usage"),
        ("launch x", "unknown command `launch`"),
        ("create", "needs a cluster name"),
        ("create x size=3", "unknown option `size`"),
        ("create x nodes=many", "nodes must be a number"),
        ("extend x soon", "must look like `8h`"),
        ("create Bad_Name! region=nowhere", "region"),
        ("status ghost", "ghost"),
    ],
)
def test_mistakes_are_answered_with_usage_or_the_rule_never_a_trace(slack: Slack, text: str, says: str) -> None:
    status, reply = slack.command(text)

    assert status == 200
    assert reply["response_type"] == "ephemeral"
    assert says in text_of(reply)
    assert "Traceback" not in text_of(reply)


def test_forged_stale_and_replayed_requests_are_refused(slack: Slack) -> None:
    assert slack.command("list", secret="not-the-secret")[0] == 401
    assert slack.command("list", timestamp=int(time.time()) - 301)[0] == 401
    assert slack.command("list", timestamp=int(time.time()) + 301)[0] == 401

    fields = command_fields("list", slack.hook.url, TEAM, OWNER, "C1")
    stamp = int(time.time())
    first = post_form(f"{slack.base}/slack/commands", fields, LOCAL_SLACK_SIGNING_SECRET, stamp)
    replay = post_form(f"{slack.base}/slack/commands", fields, LOCAL_SLACK_SIGNING_SECRET, stamp)
    assert (first[0], replay[0]) == (200, 401)


def test_only_configured_workspaces_may_use_it(slack: Slack, config: pytest.MonkeyPatch) -> None:
    config.setenv(settings.ENV_SLACK_TEAMS, TEAM)
    settings.get_settings.cache_clear()

    assert "not enabled" in text_of(slack.command("list", team="T-ELSEWHERE")[1])
    assert "not enabled" not in text_of(slack.command("list")[1])


def test_the_teardown_warning_has_buttons_that_extend_or_delete(
    slack: Slack, api: Api, config: pytest.MonkeyPatch
) -> None:
    config.setenv(settings.ENV_SLACK_WEBHOOK_URL, slack.hook.url)
    settings.get_settings.cache_clear()
    for name in ("chat-c", "chat-d"):
        assert slack.command(f"create {name} ttl=1h")[0] == 200
        slack.said(f"Creating *{name}* in")
        api.wait_for(name, {"ACTIVE"})

    swept = run_sweep(datetime.now(UTC) + timedelta(hours=1, minutes=1))

    assert sorted(swept["warned"]) == ["chat-c", "chat-d"]
    warning = slack.said("chat-c will be deleted after")
    buttons = {e["action_id"] for b in warning["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert buttons == {"extend_24h", "delete_now"}
    assert f"<@{OWNER}>" in text_of(warning)

    worker = naming.lambda_function_name(app.app_name, STAGE, naming.SLACK_WORKER)
    before = invocations.count(worker)
    assert slack.click("extend_24h", "chat-c", user=OTHER)[0] == 200
    slack.said("only the owner of chat-c")
    assert slack.click("extend_24h", "chat-c")[0] == 200
    slack.said("The lease of *chat-c* now ends")
    assert leases.parse_iso(api.call("GET", "/clusters/chat-c").body["expiresAt"]) > datetime.now(UTC) + timedelta(
        hours=23
    )
    assert slack.click("delete_now", "chat-d")[0] == 200
    slack.said("chat-d deleted")
    assert api.call("GET", "/clusters/chat-d").body["status"] == "DELETED"
    assert invocations.count(worker) == before + 3, "each click is answered at once and done by the worker"


def test_the_worker_does_a_job_once_and_drops_one_that_waited_too_long(slack: Slack, api: Api) -> None:
    """Lambda delivers asynchronous events at least once, and may hold one for a long time."""
    job = {"text": "create chat-w", "team": TEAM, "user": OWNER, "channel": "C1", "responseUrl": slack.hook.url}
    fresh = {**job, "jobId": "job-1", "issuedAt": int(time.time())}

    first, again = slack_worker(fresh, None), slack_worker(fresh, None)
    stale = slack_worker({**job, "text": "create chat-x", "jobId": "job-2", "issuedAt": int(time.time()) - 301}, None)

    assert first == {"delivered": True} and again == {"delivered": False, "duplicate": True}
    assert stale == {"delivered": True}
    slack.said("waited too long to run")
    assert [e["type"] for e in api.call("GET", "/clusters/chat-w").body["events"]].count("REQUESTED") == 1
    assert api.call("GET", "/clusters/chat-x").status == 404
    api.wait_for("chat-w", {"ACTIVE"})


def test_a_create_with_a_pool_claims_a_ready_cluster_and_says_so(
    slack: Slack, api: Api, policy: Callable[..., None]
) -> None:
    policy(ENV_ADMINS=POOL_ADMIN)
    made = api.call("POST", "/pools", {"name": "chat", "size": 1}, caller=POOL_ADMIN)
    assert made.status == 201, made.body
    (eks_name,) = run_fill()["chat"]["started"]
    wait_until(lambda: api.call("GET", f"/clusters/{eks_name}").body.get("status") == "ACTIVE", "a READY pool cluster")

    assert slack.command("create chat-pool pool=chat nodes=1")[0] == 200

    said = slack.said("is yours, from the warm pool `chat`")
    assert said["response_type"] == "in_channel"
    assert f"EKS name `{eks_name}`" in text_of(said)
    record = api.call("GET", "/clusters/chat-pool").body
    assert (record["eksName"], record["owner"], record["status"]) == (eks_name, f"slack:{TEAM}/{OWNER}", "ACTIVE")
    # No longer the pool's (the claim's refill may already be building its replacement).
    assert eks_name not in [c["name"] for c in api.call("GET", "/pools/chat", caller=POOL_ADMIN).body["clusters"]]
