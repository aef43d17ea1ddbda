"""What callers may see of a cluster record, in a module of its own: the steps that answer with a record
(delete) need it without importing the record's pydantic models (cold starts)."""

from __future__ import annotations

from typing import Any

# Fields the API never shows: where progress is delivered (Slack's response_url is a credential).
PRIVATE_FIELDS = ("notify",)


def public(record: dict[str, Any]) -> dict[str, Any]:
    """The record as callers may see it: no private fields."""
    return {k: v for k, v in record.items() if k not in PRIVATE_FIELDS}
