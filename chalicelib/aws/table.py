"""The table's layout: keys, indexes, item encoding and page tokens (no AWS calls).

Single table:
- `pk=CLUSTER#<name>, sk=META`: the cluster record. Also carries `gsi1pk=CLUSTER`,
  `gsi1sk=<name>` so listing is a Query on index `byName`, never a Scan.
- While a cluster is not DELETED its record also carries `gsi3pk=OWNER#<owner>`,
  `gsi3sk=<name>` (sparse index `byOwner`), so counting an owner's clusters is a Query.
- `pk=CLUSTER#<name>, sk=EVENT#<clusterId>#<time>#<seq>`: the timeline. Events are
  keyed by clusterId so a name created again after deletion starts a new timeline.
- `pk=POOL#<name>, sk=META`: a warm pool's definition (`gsi1pk=POOL`, listed on `byName`); its
  unclaimed clusters are found on `byOwner` under their owner `ekspress:pool/<name>`.
- `pk=ONCE#<key>`: once-only claims (Slack replays); `pk=IDEMPOTENCY#...`: idempotency records.
- `pk=CLUSTER#<name>, sk=TEMPLATE#<operation id>#<stack>`: the templates an operation's request rendered,
  kept for its steps to deploy (template_store.py; they expire through the TTL attribute).
- `pk=STACKTOKEN#<stack name>, sk=REQUEST#<ClientRequestToken>`: the task token of the workflow step
  waiting for that stack operation to end (stack_token_key), taken by the stack-events handler.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from chalicelib.model.errors import BadRequestError

INDEX_BY_NAME = "byName"
# Sparse index of clusters the reaper may have to act on: only ACTIVE, unprotected
# clusters carry gsi2pk, and gsi2sk is when they become reapable (lease end or idle
# deadline, whichever is first). The sweep is one Query, however large the fleet.
INDEX_BY_REAP_AT = "byReapAt"
REAPABLE = "REAPABLE"
# Sparse index of live clusters by owner (policy: clusters per owner). Keys only: it is counted, never read.
INDEX_BY_OWNER = "byOwner"
OWNER_KEYS = ("gsi3pk", "gsi3sk")
KIND_CLUSTER = "CLUSTER"
META = "META"


def pk(name: str) -> str:
    return f"CLUSTER#{name}"


def owner_pk(owner: str) -> str:
    return f"OWNER#{owner}"


def pool_pk(name: str) -> str:
    """A warm pool's definition (`sk=META`, `gsi1pk=POOL`, `gsi1sk=<name>`; aws/pool_store.py)."""
    return f"POOL#{name}"


def stack_token_key(stack_name: str, client_request_token: str) -> dict[str, str]:
    """Where a waiting task's token is kept: by stack name, and the operation's ClientRequestToken
    (an empty one too: CloudFormation sends "" for an operation requested without one)."""
    return {"pk": f"STACKTOKEN#{stack_name}", "sk": f"REQUEST#{client_request_token}"}


def _serializer() -> tuple[Any, Any]:
    # Imported on first use: boto3's type helpers pull in boto3 itself.
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    ser, _ = _serializer()
    return {k: ser.serialize(v) for k, v in data.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    _, de = _serializer()
    out = {k: de.deserialize(v) for k, v in item.items()}
    return {k: _plain(v) for k, v in out.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the API speaks JSON ints."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


PRIVATE_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", *OWNER_KEYS)
# The TTL attribute: DynamoDB deletes an item some time after this epoch second.
TTL_ATTRIBUTE = "expiresAtEpoch"


def public_record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in PRIVATE_KEYS}


def update_path(names: dict[str, str], slot: str, key: str) -> str:
    """An attribute path for `key` (dots separate nested names), its names added to `names`."""
    parts = key.split(".")
    names.update({f"#{slot}_{j}": part for j, part in enumerate(parts)})
    return ".".join(f"#{slot}_{j}" for j in range(len(parts)))


def encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def decode_token(token: str) -> dict[str, Any]:
    """The byName key a nextToken carries, only if it is one list_clusters could have issued.

    Anything else (wrong keys, types or values) would reach DynamoDB as an invalid
    ExclusiveStartKey and fail there; it is a 400 here.
    """
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(key, dict) or set(key) != {"pk", "sk", "gsi1pk", "gsi1sk"}:  # byName keys
            raise ValueError("unexpected key")
        values = {
            name: value.get("S") if isinstance(value, dict) and len(value) == 1 else None for name, value in key.items()
        }
        name = values["gsi1sk"]
        if not isinstance(name, str) or values != {
            "pk": pk(name),
            "sk": META,
            "gsi1pk": KIND_CLUSTER,
            "gsi1sk": name,
        }:
            raise ValueError("not a cluster key")
    except (ValueError, TypeError):
        raise BadRequestError("nextToken is not a token this API issued", field="nextToken") from None
    return key


TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "gsi1pk", "AttributeType": "S"},
        {"AttributeName": "gsi1sk", "AttributeType": "S"},
        {"AttributeName": "gsi2pk", "AttributeType": "S"},
        {"AttributeName": "gsi2sk", "AttributeType": "S"},
        {"AttributeName": "gsi3pk", "AttributeType": "S"},
        {"AttributeName": "gsi3sk", "AttributeType": "S"},
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": INDEX_BY_NAME,
            "KeySchema": [
                {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
        {
            "IndexName": INDEX_BY_REAP_AT,
            "KeySchema": [
                {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
        {
            "IndexName": INDEX_BY_OWNER,
            "KeySchema": [
                {"AttributeName": "gsi3pk", "KeyType": "HASH"},
                {"AttributeName": "gsi3sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
"""The table's keys and index, shared by infra/ (CloudFormation) and local/ (moto)."""


class RecordUpdate:
    """One conditional UpdateItem on a cluster's record, built up clause by clause.

    Dotted keys set or remove nested map entries; every condition must hold (AND).
    The record must still be the cluster `cluster_id`: a workflow left over from an
    earlier cluster of the same name can never write.
    """

    def __init__(self, table: str, name: str, cluster_id: str) -> None:
        self._table, self._name = table, name
        self._names: dict[str, str] = {"#cid": "clusterId"}
        self._values: dict[str, Any] = {":cid": cluster_id}
        self._sets: list[str] = []
        self._removes: list[str] = []
        self._conditions = ["#cid = :cid"]

    def _value(self, value: Any) -> str:
        slot = f":v{len(self._values)}"
        self._values[slot] = value
        return slot

    def _path(self, key: str) -> str:
        return update_path(self._names, f"p{len(self._names)}", key)

    def set(self, fields: dict[str, Any]) -> RecordUpdate:
        self._sets += [f"{self._path(key)} = {self._value(value)}" for key, value in fields.items()]
        return self

    def remove(self, keys: tuple[str, ...]) -> RecordUpdate:
        self._removes += [self._path(key) for key in keys]
        return self

    def status_in(self, statuses: tuple[str, ...]) -> RecordUpdate:
        if statuses:
            slots = ", ".join(self._value(status) for status in statuses)
            self._conditions.append(f"{self._path('status')} IN ({slots})")
        return self

    def operation_is(self, operation_id: str | None) -> RecordUpdate:
        if operation_id is not None:
            self._conditions.append(f"{self._path('operation.id')} = {self._value(operation_id)}")
        return self

    def owner_is(self, owner: str | None) -> RecordUpdate:
        if owner is not None:
            self._conditions.append(f"{self._path('owner')} = {self._value(owner)}")
        return self

    def no_operation_but(self, types: tuple[str, ...]) -> RecordUpdate:
        """No operation runs, or the running one is of a type the new one may take over."""
        running = self._path("operation")
        either = [f"attribute_not_exists({running})"]
        either += [f"{self._path('operation.type')} = {self._value(kind)}" for kind in types]
        self._conditions.append(f"({' OR '.join(either)})")
        return self

    def request(self) -> dict[str, Any]:
        """The UpdateItem parameters (also the `Update` of a transaction)."""
        expression = "SET " + ", ".join(self._sets) + (" REMOVE " + ", ".join(self._removes) if self._removes else "")
        return {
            "TableName": self._table,
            "Key": to_item({"pk": pk(self._name), "sk": META}),
            "UpdateExpression": expression,
            "ConditionExpression": " AND ".join(self._conditions),
            "ExpressionAttributeNames": self._names,
            "ExpressionAttributeValues": to_item(self._values),
        }
