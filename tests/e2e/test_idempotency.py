"""Idempotency-Key over HTTP: a retried request gets the first answer and starts nothing new."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.e2e.conftest import Api, Reply

ALICE = "arn:aws:iam::123456789012:role/alice"
BOB = "arn:aws:iam::123456789012:role/bob"


def call(api: Api, method: str, path: str, body: Any, key: str | None, caller: str = ALICE) -> Reply:
    return api.call(method, path, body, caller=caller, idempotency_key=key)


def _types(api: Api, name: str) -> list[str]:
    return [e["type"] for e in api.call("GET", f"/clusters/{name}").body["events"]]


def test_a_retried_create_gets_the_same_answer_and_one_workflow(api: Api) -> None:
    first = call(api, "POST", "/clusters", {"name": "once"}, "create-once-1")
    again = call(api, "POST", "/clusters", {"name": "once"}, "create-once-1")

    assert first.status == again.status == 202, (first.body, again.body)
    assert again.body == first.body
    assert again.headers["Location"] == first.headers["Location"] == "/clusters/once"
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _types(api, "once").count("WORKFLOW_STARTED") == 1
    without_key = call(api, "POST", "/clusters", {"name": "once"}, None)
    assert without_key.status == 409, "without the header a repeat is a new request"


def test_the_same_key_for_another_request_is_refused_naming_the_header(api: Api) -> None:
    assert call(api, "POST", "/clusters", {"name": "keyed-a"}, "reused-key").status == 202

    other = call(api, "POST", "/clusters", {"name": "keyed-b"}, "reused-key")

    assert other.status == 422, other.body
    assert other.body["fields"][0]["field"] == "Idempotency-Key"
    assert other.body["fields"][0]["rule"] == "idempotency_key_reused"
    assert api.call("GET", "/clusters/keyed-b").status == 404


def test_keys_belong_to_their_caller(api: Api) -> None:
    assert call(api, "POST", "/clusters", {"name": "mine"}, "same-key").status == 202

    theirs = call(api, "POST", "/clusters", {"name": "mine"}, "same-key", caller=BOB)

    assert theirs.status == 409, "Bob's request ran as his own, and found the name taken"
    assert "Idempotent-Replayed" not in theirs.headers


def test_a_retried_delete_and_lease_extension_answer_as_the_first(api: Api) -> None:
    assert call(api, "POST", "/clusters", {"name": "twice"}, None).status == 202
    api.wait_for("twice", {"ACTIVE"})

    lease = [call(api, "POST", "/clusters/twice/lease", {"hours": 3}, "lease-3") for _ in range(2)]
    deletes = [call(api, "DELETE", "/clusters/twice", None, "delete-twice") for _ in range(2)]

    assert [r.status for r in lease] == [200, 200] and lease[0].body == lease[1].body
    assert [r.status for r in deletes] == [202, 202], [r.body for r in deletes]
    assert deletes[0].body["operation"]["id"] == deletes[1].body["operation"]["id"]
    assert api.wait_for("twice", {"DELETED", "DELETE_FAILED"})["status"] == "DELETED"
    assert _types(api, "twice").count("DELETE_REQUESTED") == 1
    assert _types(api, "twice").count("LEASE_EXTENDED") == 1


def test_a_malformed_key_is_refused_before_anything_runs(api: Api) -> None:
    reply = call(api, "POST", "/clusters", {"name": "badkey"}, "not a key!")

    assert reply.status == 422
    assert reply.body["fields"][0]["field"] == "Idempotency-Key"
    assert reply.body["fields"][0]["rule"] == "idempotency_key_format"
    assert api.call("GET", "/clusters/badkey").status == 404
