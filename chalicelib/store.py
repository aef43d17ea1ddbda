"""Cluster records and their event timelines in one DynamoDB table.

Layout (single table):
- `pk=CLUSTER#<name>, sk=META`: the cluster record. Also carries `gsi1pk=CLUSTER`,
  `gsi1sk=<name>` so listing is a Query on index `byName`, never a Scan.
- While a cluster is not DELETED its record also carries `gsi3pk=OWNER#<owner>`,
  `gsi3sk=<name>` (sparse index `byOwner`), so counting an owner's clusters is a Query.
- `pk=CLUSTER#<name>, sk=EVENT#<clusterId>#<time>#<seq>`: the timeline. Events are
  keyed by clusterId so a name created again after deletion starts a new timeline.

Every write that could race is conditional: creation on the name being free,
updates on the clusterId they were made for, so a stale workflow can never
overwrite a newer cluster of the same name.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.errors import BadRequestError, ConflictError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable

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

# Cluster statuses. A name is free again only once its cluster is DELETED.
CREATING = "CREATING"
ACTIVE = "ACTIVE"
FAILED = "FAILED"
DELETING = "DELETING"
DELETE_FAILED = "DELETE_FAILED"
DELETED = "DELETED"


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pk(name: str) -> str:
    return f"CLUSTER#{name}"


def _owner_pk(owner: str) -> str:
    return f"OWNER#{owner}"


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


_PRIVATE_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", *OWNER_KEYS)
# The TTL attribute: DynamoDB deletes an item some time after this epoch second.
TTL_ATTRIBUTE = "expiresAtEpoch"


def public_record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _PRIVATE_KEYS}


class Store:
    """DynamoDB access for cluster records. Takes a client; owns no connection."""

    def __init__(self, client: Any, table: str, clock: Callable[[], str] = utcnow) -> None:
        self._ddb = client
        self._table = table
        self._now = clock

    # -- records ---------------------------------------------------------------

    def create_cluster(self, record: dict[str, Any]) -> dict[str, Any]:
        """Write a new record; ConflictError if the name is held by a live cluster."""
        now = self._now()
        item = {
            **record,
            "pk": _pk(record["name"]),
            "sk": META,
            "gsi1pk": KIND_CLUSTER,
            "gsi1sk": record["name"],
            **({"gsi3pk": _owner_pk(record["owner"]), "gsi3sk": record["name"]} if record.get("owner") else {}),
            "createdAt": now,
            "updatedAt": now,
        }
        event = self._event_item(record["name"], record["clusterId"], "REQUESTED", "Cluster requested", now)
        values = to_item({":reusable": DELETED})
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(item),
                            "ConditionExpression": "attribute_not_exists(pk) OR #status = :reusable",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": values,
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": to_item(event)}},
                ]
            )
        except self._ddb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or [{}]
            if reasons[0].get("Code") == "ConditionalCheckFailed":
                existing = self.find_cluster(record["name"])
                raise ConflictError(
                    f"cluster {record['name']!r} already exists",
                    cluster=record["name"],
                    status=(existing or {}).get("status"),
                ) from None
            raise
        return public_record(item)

    def find_cluster(self, name: str) -> dict[str, Any] | None:
        resp = self._ddb.get_item(
            TableName=self._table, Key=to_item({"pk": _pk(name), "sk": META}), ConsistentRead=True
        )
        item = resp.get("Item")
        return public_record(from_item(item)) if item else None

    def get_cluster(self, name: str) -> dict[str, Any]:
        record = self.find_cluster(name)
        if record is None:
            raise NotFoundError(f"cluster {name!r} not found", cluster=name)
        return record

    def list_clusters(self, limit: int = 50, next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of clusters ordered by name, and the token for the next page."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": INDEX_BY_NAME,
            "KeyConditionExpression": "gsi1pk = :kind",
            "ExpressionAttributeValues": to_item({":kind": KIND_CLUSTER}),
            "Limit": limit,
        }
        if next_token:
            kwargs["ExclusiveStartKey"] = _decode_token(next_token)
        resp = self._ddb.query(**kwargs)
        items = [public_record(from_item(i)) for i in resp.get("Items", [])]
        last = resp.get("LastEvaluatedKey")
        return items, (_encode_token(last) if last else None)

    def update_cluster(
        self,
        name: str,
        cluster_id: str,
        fields: dict[str, Any],
        event: tuple[str, str] | None = None,
        event_details: dict[str, Any] | None = None,
        remove: tuple[str, ...] = (),
        expect_status: tuple[str, ...] = (),
        expect_operation: str | None = None,
    ) -> None:
        """Set top-level fields (dotted keys set nested map entries), with an optional event.

        Conditional on the record still being the cluster `cluster_id`, so a
        workflow left over from an earlier cluster of the same name cannot write;
        and, when given, on the status being one of `expect_status` and the
        running operation being `expect_operation`.
        """
        now = self._now()
        fields = {**fields, "updatedAt": now}
        names: dict[str, str] = {"#cid": "clusterId"}
        values: dict[str, Any] = {":cid": cluster_id}
        sets, removes = [], []
        for i, (key, value) in enumerate(fields.items()):
            sets.append(f"{_path(names, f'f{i}', key)} = :v{i}")
            values[f":v{i}"] = value
        for i, key in enumerate(remove):
            removes.append(_path(names, f"r{i}", key))
        conditions = ["#cid = :cid"]
        if expect_status:
            names["#status"] = "status"
            slots = [f":s{i}" for i in range(len(expect_status))]
            values.update(dict(zip(slots, expect_status, strict=True)))
            conditions.append(f"#status IN ({', '.join(slots)})")
        if expect_operation is not None:
            names.update({"#op": "operation", "#opid": "id"})
            values[":opid"] = expect_operation
            conditions.append("#op.#opid = :opid")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        update = {
            "TableName": self._table,
            "Key": to_item({"pk": _pk(name), "sk": META}),
            "UpdateExpression": expression,
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
        }
        items: list[dict[str, Any]] = [{"Update": update}]
        if event:
            kind, message = event
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": to_item(self._event_item(name, cluster_id, kind, message, now, event_details)),
                    }
                }
            )
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except self._ddb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or [{}]
            if reasons[0].get("Code") == "ConditionalCheckFailed":
                raise ConflictError(
                    f"cluster {name!r} changed meanwhile (another cluster, status or operation)",
                    cluster=name,
                    clusterId=cluster_id,
                ) from None
            raise

    def begin_operation(
        self,
        name: str,
        operation: dict[str, Any],
        fields: dict[str, Any],
        supersedes: tuple[str, ...] = (),
        remove: tuple[str, ...] = (),
        expect_status: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Make `operation` the cluster's one running operation, or ConflictError naming the running one.

        Conditional in DynamoDB, so of two racing requests exactly one wins.
        `supersedes` lists operation types this one may take over (delete takes
        over a create: its workflow stops the create first).
        """
        record = self.get_cluster(name)
        names = {"#op": "operation", "#cid": "clusterId"}
        if supersedes:
            names["#type"] = "type"
        values: dict[str, Any] = {":cid": record["clusterId"], ":op": operation}
        condition = "#cid = :cid AND (attribute_not_exists(#op)"
        for i, kind in enumerate(supersedes):
            values[f":t{i}"] = kind
            condition += f" OR #op.#type = :t{i}"
        condition += ")"
        if expect_status:
            names["#status"] = "status"
            statuses = [f":s{i}" for i in range(len(expect_status))]
            values.update(dict(zip(statuses, expect_status, strict=True)))
            condition += f" AND #status IN ({', '.join(statuses)})"
        sets = ["#op = :op", "updatedAt = :now"]
        values[":now"] = self._now()
        for i, (key, value) in enumerate(fields.items()):
            sets.append(f"{_path(names, f'f{i}', key)} = :v{i}")
            values[f":v{i}"] = value
        removes = [_path(names, f"r{i}", key) for i, key in enumerate(remove)]
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=to_item({"pk": _pk(name), "sk": META}),
                UpdateExpression="SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values),
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            current = self.find_cluster(name) or {}
            running = current.get("operation") or {}
            if not running and expect_status and current.get("status") not in expect_status:
                raise ConflictError(
                    f"cluster {name!r} is {current.get('status')}", cluster=name, status=current.get("status")
                ) from None
            raise ConflictError(
                f"cluster {name!r} is busy with a {running.get('type', 'another')} operation",
                cluster=name,
                operation={k: v for k, v in running.items() if k != "spec"},
            ) from None
        return {**record, **fields, "operation": operation}

    def count_owned(self, owner: str) -> int:
        """How many clusters `owner` holds that are not DELETED (a Query on the sparse `byOwner` index)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": INDEX_BY_OWNER,
            "KeyConditionExpression": "gsi3pk = :owner",
            "ExpressionAttributeValues": to_item({":owner": _owner_pk(owner)}),
            "Select": "COUNT",
        }
        count = 0
        while True:
            resp = self._ddb.query(**kwargs)
            count += int(resp.get("Count", 0))
            if "LastEvaluatedKey" not in resp:
                return count
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def reapable(self, before: str, limit: int = 100) -> list[dict[str, Any]]:
        """Clusters whose reap time (lease end or idle deadline) is at or before `before`, soonest first."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": INDEX_BY_REAP_AT,
            "KeyConditionExpression": "gsi2pk = :kind AND gsi2sk <= :before",
            "ExpressionAttributeValues": to_item({":kind": REAPABLE, ":before": before}),
        }
        while len(items) < limit:
            resp = self._ddb.query(**kwargs, Limit=limit - len(items))
            items.extend(public_record(from_item(i)) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return items

    # -- once-only keys --------------------------------------------------------

    def claim_once(self, key: str, ttl_seconds: int, now_epoch: int) -> bool:
        """True the first time `key` is claimed; False for a repeat within its lifetime.

        Items expire through the table's TTL attribute (`expiresAtEpoch`); until
        DynamoDB removes them, an expired claim can be taken again.
        """
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=to_item({"pk": f"ONCE#{key}", "sk": "ONCE", "expiresAtEpoch": now_epoch + ttl_seconds}),
                ConditionExpression="attribute_not_exists(pk) OR expiresAtEpoch < :now",
                ExpressionAttributeValues=to_item({":now": now_epoch}),
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- timeline --------------------------------------------------------------

    def _event_item(
        self,
        name: str,
        cluster_id: str,
        kind: str,
        message: str,
        at: str,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "pk": _pk(name),
            "sk": f"EVENT#{cluster_id}#{at}#{uuid.uuid4().hex[:8]}",
            "at": at,
            "type": kind,
            "message": message,
            "details": details or None,
        }

    def add_event(self, name: str, cluster_id: str, kind: str, message: str, **details: Any) -> None:
        item = self._event_item(name, cluster_id, kind, message, self._now(), details)
        self._ddb.put_item(TableName=self._table, Item=to_item(item))

    def list_events(self, name: str, cluster_id: str) -> list[dict[str, Any]]:
        """The timeline of one cluster, oldest first."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": _pk(name), ":prefix": f"EVENT#{cluster_id}#"}),
        }
        events: list[dict[str, Any]] = []
        while True:
            resp = self._ddb.query(**kwargs)
            events.extend({k: v for k, v in from_item(i).items() if k not in _PRIVATE_KEYS} for i in resp["Items"])
            if "LastEvaluatedKey" not in resp:
                return events
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def _path(names: dict[str, str], slot: str, key: str) -> str:
    """An attribute path for `key` (dots separate nested names), its names added to `names`."""
    parts = key.split(".")
    names.update({f"#{slot}_{j}": part for j, part in enumerate(parts)})
    return ".".join(f"#{slot}_{j}" for j in range(len(parts)))


def _encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def _decode_token(token: str) -> dict[str, Any]:
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
            "pk": _pk(name),
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
