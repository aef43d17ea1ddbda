"""The *Delete now* button (`POST /slack/interactions`): forged, stale and replayed clicks delete nothing.

Each refusal is checked against a positive control: the same click, signed now with the
real secret, does delete the cluster, so the 401s are about the signature, its age or its
reuse, and nothing else.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.model import settings, slack
from local.engine import LOCAL_SLACK_SIGNING_SECRET
from local.slack import sign

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.e2e.conftest import Api

TEAM, ADMIN = "T1", "U9ADMIN"
FIVE_MINUTES = 300


@pytest.fixture(scope="module", autouse=True)
def slack_admin() -> Iterator[None]:
    """ADMIN may delete any cluster from Slack, so the clusters here can be made through the API."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(settings.ENV_SLACK_ADMINS, ADMIN)
        settings.get_settings.cache_clear()
        yield
    settings.get_settings.cache_clear()


def click(cluster: str, action: str = slack.DELETE_ACTION) -> bytes:
    """The form body Slack posts when ADMIN presses a button on `cluster`'s teardown warning."""
    payload = {
        "type": "block_actions",
        "user": {"id": ADMIN, "team_id": TEAM},
        "team": {"id": TEAM},
        "actions": [{"action_id": action, "value": cluster}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def post(api: Api, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        f"{api.base}/slack/interactions",
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def active(api: Api, name: str) -> dict[str, Any]:
    assert api.call("POST", "/clusters", {"name": name}).status == 202
    record = api.wait_for(name, {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    return record


def assert_untouched(api: Api, name: str, cluster_id: str) -> None:
    record = api.call("GET", f"/clusters/{name}").body
    assert (record["clusterId"], record["status"]) == (cluster_id, "ACTIVE")
    assert "operation" not in record, record["operation"]
    assert [e for e in record["events"] if e["type"] == "DELETE_REQUESTED"] == []


def assert_deleted_by_the_click(api: Api, name: str, cluster_id: str) -> None:
    record = api.wait_for(name, {"DELETED", "DELETE_FAILED"})
    assert (record["clusterId"], record["status"]) == (cluster_id, "DELETED")
    (requested,) = [e for e in record["events"] if e["type"] == "DELETE_REQUESTED"]
    assert f"slack:{TEAM}/{ADMIN}" in requested["message"]


def test_a_forged_delete_now_is_refused_and_deletes_nothing(api: Api) -> None:
    name = "click-forged"
    cluster_id = active(api, name)["clusterId"]
    body = click(name)

    wrong_secret = post(api, body, sign("not-the-signing-secret", body))
    # A genuine signature, for another click: the body was changed on the way.
    other_body = post(api, body, sign(LOCAL_SLACK_SIGNING_SECRET, click("click-decoy")))
    no_signature = post(api, body, {"X-Slack-Request-Timestamp": str(int(time.time()))})
    garbled = post(api, body, {**sign(LOCAL_SLACK_SIGNING_SECRET, body), "X-Slack-Signature": "v0=" + "0" * 64})

    assert (wrong_secret, other_body, no_signature, garbled) == (401, 401, 401, 401)
    assert_untouched(api, name, cluster_id)
    assert post(api, body, sign(LOCAL_SLACK_SIGNING_SECRET, body)) == 200
    assert_deleted_by_the_click(api, name, cluster_id)


def test_a_stale_delete_now_is_refused_and_deletes_nothing(api: Api) -> None:
    name = "click-stale"
    cluster_id = active(api, name)["clusterId"]
    body = click(name)
    now = int(time.time())

    # Signed with the real secret, but long ago (or claiming a time to come): Slack's 5-minute window.
    ages = [FIVE_MINUTES + 5, 60 * 60, -(FIVE_MINUTES + 5)]
    statuses = [post(api, body, sign(LOCAL_SLACK_SIGNING_SECRET, body, now - age)) for age in ages]

    assert statuses == [401, 401, 401]
    assert_untouched(api, name, cluster_id)
    assert post(api, body, sign(LOCAL_SLACK_SIGNING_SECRET, body)) == 200
    assert_deleted_by_the_click(api, name, cluster_id)


def test_a_replayed_delete_now_is_refused_and_deletes_nothing(api: Api) -> None:
    """A captured click replayed inside the window must not delete the cluster made again under that name."""
    name = "click-replayed"
    first_id = active(api, name)["clusterId"]
    body = click(name)
    headers = sign(LOCAL_SLACK_SIGNING_SECRET, body)
    assert post(api, body, headers) == 200
    assert_deleted_by_the_click(api, name, first_id)
    second_id = active(api, name)["clusterId"]
    assert second_id != first_id

    replayed = post(api, body, headers)

    assert replayed == 401
    assert_untouched(api, name, second_id)
