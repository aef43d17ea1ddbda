"""Give moto's DynamoDB the atomicity DynamoDB guarantees: one writer at a time.

moto checks a ConditionExpression and then writes, without a lock; two threads
can both pass the check. Real DynamoDB never lets that happen, and our name
uniqueness and one-operation-per-cluster rules depend on it, so the local engine
(and the tests) serialise moto's writes. Reads take the same lock: moto's query and scan
walk the very dictionaries a write changes ("dictionary changed size during iteration"
under load), where DynamoDB always answers.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_lock = threading.RLock()
_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_READS = ("get_item", "query", "scan", "batch_get_item", "transact_get_items")


def _serialised(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)

    wrapper.__ekspress_serialised__ = True  # type: ignore[attr-defined]
    return wrapper


def install() -> None:
    for name in (*_WRITES, *_READS):
        method = getattr(DynamoDBBackend, name, None)
        if method is not None and not getattr(method, "__ekspress_serialised__", False):
            setattr(DynamoDBBackend, name, _serialised(method))
