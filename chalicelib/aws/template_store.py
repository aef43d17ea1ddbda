"""Stack templates rendered when an operation is requested, kept until its workflow's steps deploy them.

`pk=CLUSTER#<name>, sk=TEMPLATE#<operation id>#<slot>` (layout: table.py): one item per stack the
operation makes or updates (`slot` is the stack's name, or `<stack name>#<variant>` for a second
template of one stack), holding the template (zlib-compressed JSON), the tags the stack is created
with, and what the timeline says of it. A stack the operation turned out not to need is kept as
`skipped`. The request validates the spec and renders every template (operations/rendering.py);
the steps read them back here, so they import neither the spec models nor the template builders,
and what an operation deploys is what was checked when it was accepted, even across a deployment
of new code in the middle of it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from chalicelib.aws.table import TTL_ATTRIBUTE, from_item, pk, to_item
from chalicelib.model.errors import EkspressError

# Kept long after any operation can still be running (its stacks' deadlines are hours); the table's
# TTL removes them.
TEMPLATE_TTL_SECONDS = 30 * 24 * 3600
# DynamoDB's item limit is 400 KB; CloudFormation takes templates up to 1 MB, which compress well
# under it. A template that does not is refused when it is rendered (`fits`, operations/rendering.py).
MAX_STORED_BYTES = 380_000


class TemplateNotStoredError(EkspressError):
    """A step found no template for its stack: the operation was requested before templates were stored."""

    status = 409
    code = "TemplateNotStored"


@dataclass(frozen=True)
class Rendered:
    """One stack's template as an operation's request rendered it (`body` None: the stack is not made)."""

    slot: str
    body: str | None
    tags: dict[str, str] = field(default_factory=dict)
    # Said on the timeline with the stack's creation or update ("(add-ons a, b)", the new sizes).
    note: str = ""

    @property
    def skipped(self) -> bool:
        return self.body is None


# The cluster stack's second template: a fully private cluster's, with its public endpoint off.
PRIVATE = "private"


def fits(body: str) -> bool:
    """Whether a template, compressed, fits in an item."""
    return len(zlib.compress(body.encode())) <= MAX_STORED_BYTES


def slot(stack_name: str, variant: str = "") -> str:
    return f"{stack_name}#{variant}" if variant else stack_name


def template_key(name: str, operation_id: str, slot_name: str) -> dict[str, str]:
    return {"pk": pk(name), "sk": f"TEMPLATE#{operation_id}#{slot_name}"}


def to_stored(name: str, operation_id: str, rendered: Rendered, now_epoch: int) -> dict[str, Any]:
    """The item of one rendered template; a ValueError when even compressed it exceeds what an item holds."""
    item: dict[str, Any] = {
        **template_key(name, operation_id, rendered.slot),
        "tags": rendered.tags,
        "note": rendered.note,
        "skipped": rendered.skipped,
        TTL_ATTRIBUTE: now_epoch + TEMPLATE_TTL_SECONDS,
    }
    if rendered.body is not None:
        packed = zlib.compress(rendered.body.encode())
        if len(packed) > MAX_STORED_BYTES:
            raise ValueError(f"the template of {rendered.slot} is too large to keep ({len(packed)} bytes compressed)")
        item["body"] = packed
    return item


def from_stored(item: dict[str, Any]) -> Rendered:
    body = None if item.get("skipped") else zlib.decompress(bytes(item["body"])).decode()
    return Rendered(
        slot=str(item["sk"]).split("#", 2)[2],
        body=body,
        tags=dict(item.get("tags") or {}),
        note=str(item.get("note") or ""),
    )


def put_templates(ddb: Any, table: str, name: str, operation_id: str, rendered: list[Rendered], now: int) -> None:
    """Keep every template of an operation (written again by a retried request: the same items)."""
    items = [to_stored(name, operation_id, r, now) for r in rendered]  # every size checked before any write
    for item in items:
        ddb.put_item(TableName=table, Item=to_item(item))


def get_template(ddb: Any, table: str, name: str, operation_id: str, slot_name: str) -> Rendered:
    resp = ddb.get_item(TableName=table, Key=to_item(template_key(name, operation_id, slot_name)), ConsistentRead=True)
    if "Item" not in resp:
        raise TemplateNotStoredError(
            f"no template of {slot_name} is kept for operation {operation_id} of cluster {name!r}: its request "
            "rendered no such stack (or was made by a version of the service that kept none)",
            cluster=name,
            stack=slot_name,
        )
    return from_stored(from_item(resp["Item"]))
