"""`Idempotency-Key` on mutating requests: a retry gets the first answer, never a second workflow.

Powertools' idempotency utility with its DynamoDB persistence layer, kept in the
service's one table:

- `pk=IDEMPOTENCY#<hash of the caller>`: each caller's keys live apart, so one caller's
  key can never replay another's answer (and no partition holds everyone's keys);
- `sk=request#<hash of caller and key>`; `validation` is a hash of the request (route,
  path parameters, query, body), so the same key with another request is refused;
- `expiresAtEpoch`, the table's TTL attribute, ends the record after KEEP_SECONDS.

Only a successful answer is kept: when the request fails (any error response),
Powertools deletes the in-progress record, so the same key may simply be retried.
When the work is done but its answer cannot be saved, the caller still gets that
answer and the key is released (see `run`), rather than a 503 and a key locked
until its in-progress expiry.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from chalicelib.aws.store import TTL_ATTRIBUTE
from chalicelib.model.errors import ConflictError, EkspressError, SpecValidationError
from chalicelib.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# UUIDs, ULIDs, base64 and most hand-made keys fit; nothing that needs escaping does.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:+/=-]{1,128}$")
KEY_RULE = "1-128 characters: letters, digits and - _ . : + / ="
KEEP_SECONDS = 24 * 60 * 60
PK_PREFIX = "IDEMPOTENCY#"
SK_PREFIX = "request"


class IdempotencyUnavailableError(EkspressError):
    status = 503
    code = "IdempotencyUnavailable"


def check_key(value: str) -> str:
    """The header's value, or a 422 naming the header and its rule."""
    if not KEY_PATTERN.match(value):
        raise SpecValidationError(
            f"the {HEADER} header is invalid",
            fields=[{"field": HEADER, "rule": "idempotency_key_format", "message": f"must be {KEY_RULE}"}],
        )
    return value


def caller_partition(caller: str) -> str:
    return PK_PREFIX + hashlib.sha256(caller.encode()).hexdigest()[:32]


def run(
    client: Any,
    table: str,
    caller: str,
    key: str,
    request: dict[str, Any],
    respond: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
) -> dict[str, Any]:
    """`respond()` once per (caller, key); its reply ({status, body, headers}) again for a retry.

    409 while the first request with the key still runs; 422 when the key was used
    for another request.
    """
    # Imported here: only requests that carry the header pay for Powertools' idempotency (and jmespath).
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyInconsistentStateError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    def replayed(response: Any, idempotent_data: Any) -> Any:
        return {**response, "headers": {**response.get("headers", {}), REPLAYED_HEADER: "true"}}

    config = IdempotencyConfig(
        event_key_jmespath="[caller, key]",
        payload_validation_jmespath="request",
        expires_after_seconds=KEEP_SECONDS,
        hash_function="sha256",
        response_hook=replayed,
        # Its remaining time bounds the in-progress lock, so a request cut off mid-way frees the key.
        lambda_context=lambda_context,
    )
    persistence = DynamoDBPersistenceLayer(
        table_name=table,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=caller_partition(caller),
        expiry_attr=TTL_ATTRIBUTE,
        boto3_client=client,
    )

    # The view's reply once it has run: the work is done, whatever happens to the record after.
    done: list[dict[str, Any]] = []

    def answer(call: dict[str, Any]) -> dict[str, Any]:
        done.append(respond())
        return done[0]

    once: Any = idempotent_function(
        answer, data_keyword_argument="call", persistence_store=persistence, config=config, key_prefix=SK_PREFIX
    )
    call = {"caller": caller, "key": key, "request": request}
    try:
        reply: dict[str, Any] = once(call=call)
    except IdempotencyValidationError:
        raise SpecValidationError(
            f"this {HEADER} was used for a different request",
            fields=[
                {
                    "field": HEADER,
                    "rule": "idempotency_key_reused",
                    "message": f"already used for a different request in the last {KEEP_SECONDS // 3600} hours; "
                    "send a new key for a new request",
                }
            ],
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise ConflictError(
            f"a request with this {HEADER} is still in progress; retry it once that one has finished",
            header=HEADER,
        ) from None
    except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError) as exc:
        if done:
            # Powertools failed to save the answer (save_success) after the view ran. Answering 503 would
            # hide work that happened, and the in-progress record would refuse the key (409) until it expires.
            _release(persistence, call, exc, done[0].get("status"))
            return done[0]
        logger.error("idempotency store failed", extra={"reason": str(exc)})
        raise IdempotencyUnavailableError(
            f"the {HEADER} could not be checked; retry the request", header=HEADER
        ) from None
    return reply


def _release(persistence: Any, call: dict[str, Any], failure: Exception, status: Any) -> None:
    """Delete the key's in-progress record, so a retry with the key runs again instead of waiting out the lock.

    If that fails too, the key stays refused (409) until the record's in-progress expiry; the log says so.
    """
    # Never the key or the request in the log: only what happened, and the store's own errors.
    details: dict[str, Any] = {"reason": str(failure.__cause__ or failure), "status": status, "released": True}
    try:
        persistence.delete_record(data=call, exception=failure)
    except Exception as exc:  # the answer goes out either way; only the log can say more
        details.update(released=False, releaseReason=str(exc))
    logger.error("idempotency answer not saved; answered anyway", extra=details)
