"""Idempotency-Key against moto's DynamoDB: replays, reuse with another request, per-caller keys."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.aws import idempotency, store
from chalicelib.model.errors import ConflictError, NotFoundError, SpecValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.aws.store import Store

from tests.functional.conftest import TABLE

ALICE = "arn:aws:iam::123456789012:role/alice"
BOB = "arn:aws:iam::123456789012:role/bob"
CREATE = {
    "route": "POST /clusters",
    "params": {},
    "query": {},
    "contentType": "application/json",
    "body": {"name": "a"},
}


class Counter:
    """A view that answers 202 with how many times it ran."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return {"status": 202, "body": f'{{"run": {self.calls}}}', "headers": {"Location": "/clusters/a"}}


class Context:
    """The part of Lambda's context Powertools reads: time left before the invocation is cut off."""

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class CutOff(BaseException):
    """Lambda ending an invocation mid-way: no handler runs, nothing is cleaned up."""


def _run(
    db: Store, caller: str, key: str, request: dict[str, Any], respond: Any, context: Context | None = None
) -> dict[str, Any]:
    return idempotency.run(db._ddb, TABLE, caller, key, request, respond, context or Context())


def test_given_a_key_when_the_same_request_comes_again_then_the_first_answer_is_replayed(db: Store) -> None:
    view = Counter()

    first = _run(db, ALICE, "k-1", CREATE, view)
    again = _run(db, ALICE, "k-1", dict(CREATE), view)

    assert view.calls == 1
    assert first == {"status": 202, "body": '{"run": 1}', "headers": {"Location": "/clusters/a"}}
    assert again["status"] == 202 and again["body"] == first["body"]
    assert again["headers"] == {"Location": "/clusters/a", idempotency.REPLAYED_HEADER: "true"}


def test_given_a_used_key_when_another_request_brings_it_then_422_names_the_header(db: Store) -> None:
    view = Counter()
    _run(db, ALICE, "k-1", CREATE, view)

    with pytest.raises(SpecValidationError) as refused:
        _run(db, ALICE, "k-1", {**CREATE, "body": {"name": "b"}}, view)

    assert refused.value.details["fields"][0]["field"] == idempotency.HEADER
    assert refused.value.details["fields"][0]["rule"] == "idempotency_key_reused"
    assert view.calls == 1


def test_given_two_callers_with_one_key_then_neither_sees_the_others_answer(db: Store) -> None:
    view = Counter()

    alice = _run(db, ALICE, "shared", CREATE, view)
    bob = _run(db, BOB, "shared", CREATE, view)

    assert (alice["body"], bob["body"]) == ('{"run": 1}', '{"run": 2}')
    assert idempotency.REPLAYED_HEADER not in bob["headers"]


def test_given_a_request_still_running_when_its_key_comes_again_then_409(db: Store) -> None:
    seen: list[BaseException] = []

    def slow() -> dict[str, Any]:
        with pytest.raises(ConflictError) as busy:
            _run(db, ALICE, "k-busy", CREATE, Counter())
        seen.append(busy.value)
        return Counter()()

    _run(db, ALICE, "k-busy", CREATE, slow)

    assert seen and seen[0].details["header"] == idempotency.HEADER


def test_given_a_failed_request_then_its_key_may_be_retried(db: Store) -> None:
    def failing() -> dict[str, Any]:
        raise NotFoundError("cluster 'a' not found")

    with pytest.raises(NotFoundError):
        _run(db, ALICE, "k-retry", CREATE, failing)
    view = Counter()

    assert _run(db, ALICE, "k-retry", CREATE, view)["body"] == '{"run": 1}'


def test_given_a_request_cut_off_mid_way_then_its_key_is_free_once_its_time_is_up(db: Store) -> None:
    """The invocation's remaining time bounds the lock: held until then, free after, without a wait guessed."""
    remaining_ms = 1500

    def cut_off() -> dict[str, Any]:
        raise CutOff

    cut_at = time.monotonic()
    with pytest.raises(CutOff):
        _run(db, ALICE, "k-cut", CREATE, cut_off, Context(remaining_ms=remaining_ms))
    view = Counter()
    with pytest.raises(ConflictError):  # the cut-off invocation might still be running: its key is held
        _run(db, ALICE, "k-cut", CREATE, view)

    answer = _retry_while_held(lambda: _run(db, ALICE, "k-cut", CREATE, view), timeout=remaining_ms / 1000 + 10)

    assert answer["body"] == '{"run": 1}' and view.calls == 1
    assert time.monotonic() - cut_at >= remaining_ms / 1000 - 0.01, "freed before the invocation's time was up"


def _retry_while_held(attempt: Callable[[], dict[str, Any]], timeout: float) -> dict[str, Any]:
    """`attempt()` again while it answers 409 (the key held), until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except ConflictError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_the_record_lives_in_the_callers_partition_and_expires_by_the_tables_ttl(db: Store) -> None:
    _run(db, ALICE, "k-ttl", CREATE, Counter())

    items = db._ddb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": idempotency.caller_partition(ALICE)}},
    )["Items"]

    assert len(items) == 1 and items[0]["sk"]["S"].startswith("request#")
    expires = int(items[0][store.TTL_ATTRIBUTE]["N"])
    assert abs(expires - (time.time() + idempotency.KEEP_SECONDS)) < 60
    assert "k-ttl" not in str(items[0]), "keys are stored hashed"


def _refuse(db: Store, operation: str) -> Callable[[], None]:
    """Make the table refuse every `operation` (UpdateItem, DeleteItem, ...) on this client; returns the undo."""
    from botocore.exceptions import ClientError

    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, operation
        )

    event = f"before-call.dynamodb.{operation}"
    db._ddb.meta.events.register(event, refuse)
    return lambda: db._ddb.meta.events.unregister(event, refuse)


def _records(db: Store, caller: str) -> list[dict[str, Any]]:
    return list(
        db._ddb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": idempotency.caller_partition(caller)}},
        )["Items"]
    )


def test_given_the_answer_cannot_be_saved_then_the_caller_gets_it_and_the_key_is_released(
    db: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Saving the answer is Powertools' save_success, an UpdateItem on the in-progress record."""
    view = Counter()
    undo = _refuse(db, "UpdateItem")

    answer = _run(db, ALICE, "k-unsaved", CREATE, view)
    undo()

    assert answer == {"status": 202, "body": '{"run": 1}', "headers": {"Location": "/clusters/a"}}
    [logged] = [r for r in caplog.records if r.getMessage() == "idempotency answer not saved; answered anyway"]
    assert "ProvisionedThroughputExceeded" in logged.__dict__["reason"] and logged.__dict__["released"] is True
    assert "k-unsaved" not in str(logged.__dict__) and ALICE not in str(logged.__dict__), "neither key nor caller"
    assert _records(db, ALICE) == [], "the in-progress record is gone"
    retry = _run(db, ALICE, "k-unsaved", CREATE, view)
    assert retry["body"] == '{"run": 2}', "a retry runs again rather than waiting out the lock (409)"
    assert idempotency.REPLAYED_HEADER not in retry["headers"]
    assert _run(db, ALICE, "k-unsaved", CREATE, view)["headers"][idempotency.REPLAYED_HEADER] == "true"


def test_given_neither_save_nor_release_works_then_the_caller_still_gets_the_answer(db: Store) -> None:
    view = Counter()
    undo_update, undo_delete = _refuse(db, "UpdateItem"), _refuse(db, "DeleteItem")

    answer = _run(db, ALICE, "k-stuck", CREATE, view)
    undo_update()
    undo_delete()

    assert answer["status"] == 202 and view.calls == 1
    with pytest.raises(ConflictError):  # the lock holds until the in-progress expiry: all that is left
        _run(db, ALICE, "k-stuck", CREATE, view)


def test_given_the_key_cannot_be_checked_then_503_and_nothing_runs(db: Store) -> None:
    view = Counter()
    undo = _refuse(db, "PutItem")

    with pytest.raises(idempotency.IdempotencyUnavailableError):
        _run(db, ALICE, "k-down", CREATE, view)
    undo()

    assert view.calls == 0
