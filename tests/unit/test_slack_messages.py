"""The `/eks` grammar and the Block Kit payloads, pure."""

from __future__ import annotations

import json

import pytest

from chalicelib.model import slack
from chalicelib.model.spec import ClusterSpec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", slack.Command("help")),
        ("HELP", slack.Command("help")),
        ("list", slack.Command("list")),
        ("status mz", slack.Command("status", "mz")),
        ("delete mz", slack.Command("delete", "mz")),
        ("extend mz 4h", slack.Command("extend", "mz", hours=4)),
        ("extend mz 2d", slack.Command("extend", "mz", hours=48)),
        ("extend mz 6", slack.Command("extend", "mz", hours=6)),
        (
            "create mz region=ap-northeast-1 nodes=3 type=m5.large ttl=8h",
            slack.Command("create", "mz", {"region": "ap-northeast-1", "nodes": "3", "type": "m5.large", "ttl": "8h"}),
        ),
    ],
)
def test_commands_parse(text: str, expected: slack.Command) -> None:
    assert slack.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("launch mz", "unknown command"),
        ("status", "needs a cluster name"),
        ("status a b", "only a cluster name"),
        ("list all", "no arguments"),
        ("extend mz", "a name and a duration"),
        ("extend mz 0h", "must look like"),
        ("extend mz 3w", "must look like"),
        ("create mz nodes", "key=value"),
        ("create mz colour=red", "unknown option `colour`"),
    ],
)
def test_bad_commands_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(slack.UsageError, match=problem):
        slack.parse(text)


def test_a_create_command_is_a_cluster_request_the_api_accepts() -> None:
    body = slack.create_body(slack.parse("create mz region=eu-west-1 nodes=3 type=c5.large ttl=1d version=1.32"))

    spec = ClusterSpec.model_validate(body)

    assert (spec.region, spec.version, spec.ttl_hours) == ("eu-west-1", "1.32", 24)
    (group,) = spec.nodegroups
    assert (group.instance_type, group.min_size, group.desired_capacity, group.max_size) == ("c5.large", 1, 3, 3)


def test_zero_nodes_is_a_valid_group() -> None:
    spec = ClusterSpec.model_validate(slack.create_body(slack.parse("create mz nodes=0")))
    assert (spec.nodegroups[0].min_size, spec.nodegroups[0].max_size) == (0, 1)


def _texts(payload: dict[str, object]) -> str:
    return json.dumps(payload)


def test_messages_are_block_kit_with_a_fallback_text() -> None:
    record = {
        "name": "mz",
        "region": "eu-west-1",
        "version": "1.33",
        "status": "ACTIVE",
        "expiresAt": "2026-01-01T00:00:00.000Z",
        "spec": {"managedNodeGroups": [{"desiredCapacity": 2, "instanceType": "m5.large"}]},
        "cluster": {"endpoint": "https://mz.eks"},
        "events": [{"at": "t", "message": "Cluster is active"}],
    }
    for payload in (
        slack.usage(),
        slack.usage("bad"),
        slack.error("no"),
        slack.create_started(record),
        slack.status(record),
        slack.cluster_list([record]),
        slack.cluster_list([]),
        slack.extended("mz", "later"),
        slack.delete_started("mz", "<@U1>"),
        slack.created(record),
        slack.failed({**record, "status": "FAILED", "failure": {"reason": "quota", "stack": "s"}}),
        slack.deleted(record),
        slack.progress(record, "halfway"),
    ):
        assert payload["text"] and payload["response_type"] in ("ephemeral", "in_channel")
        assert all(block["type"] in ("section", "context", "actions") for block in payload["blocks"])
    assert "https://mz.eks" in _texts(slack.created(record))
    assert "could not be deleted" in _texts(slack.failed({**record, "status": "DELETE_FAILED", "failure": {}}))


def test_the_teardown_warning_offers_extend_and_a_confirmed_delete() -> None:
    notice = {"cluster": "mz", "deleteAfter": "soon", "reason": "its lease ended"}

    payload = slack.teardown_warning(notice, slack.mention("slack:T1/U1"))

    (actions,) = [b for b in payload["blocks"] if b["type"] == "actions"]
    extend, delete = actions["elements"]
    assert (extend["action_id"], extend["value"]) == (slack.EXTEND_ACTION, "mz")
    assert (delete["action_id"], delete["style"]) == (slack.DELETE_ACTION, "danger")
    assert "confirm" in delete
    assert "<@U1>" in _texts(payload)
    assert slack.mention("arn:aws:iam::1:user/x") == ""


def test_a_create_with_a_pool_is_a_claim_that_falls_back_to_a_fresh_create() -> None:
    body = slack.create_body(slack.parse("create mine pool=ci nodes=2"))

    assert body["pool"] == "ci" and "whenPoolEmpty" not in body  # the API's default: create
    assert body["managedNodeGroups"][0]["desiredCapacity"] == 2
    assert "[pool=P]" in slack.USAGE


def test_a_claims_answer_names_the_pool_and_any_warning() -> None:
    record = {"name": "mine", "eksName": "ci-a1b2c3", "region": "us-west-2", "version": "1.33", "expiresAt": "x"}

    answer = json.dumps(slack.claimed({**record, "warnings": ["claimed, but not finished: busy"]}, "ci"))

    assert "warm pool `ci`" in answer and "`ci-a1b2c3`" in answer and "not finished: busy" in answer
