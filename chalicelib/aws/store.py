"""Cluster records and their event timelines in one DynamoDB table (layout: table.py).

Every write that could race is conditional: creation on the name being free,
updates on the clusterId they were made for, so a stale workflow can never
overwrite a newer cluster of the same name.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.aws import template_store
from chalicelib.aws.table import (
    INDEX_BY_NAME,
    INDEX_BY_OWNER,
    INDEX_BY_REAP_AT,
    KIND_CLUSTER,
    META,
    OWNER_KEYS,
    REAPABLE,
    TABLE_DEFINITION,
    TTL_ATTRIBUTE,
    RecordUpdate,
    decode_token,
    encode_token,
    from_item,
    owner_pk,
    pk,
    public_record,
    stack_token_key,
    to_item,
)
from chalicelib.model.errors import ConflictError, NotFoundError
from chalicelib.model.naming import POOL_OWNER_PREFIX
from chalicelib.model.statuses import ACTIVE, CREATING, DELETE_FAILED, DELETED, DELETING, FAILED, WAITING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from chalicelib.aws.template_store import Rendered

# The store's users read the statuses and the table's layout from here.
__all__ = [
    "ACTIVE",
    "CREATING",
    "DELETED",
    "DELETE_FAILED",
    "DELETING",
    "FAILED",
    "OWNER_KEYS",
    "REAPABLE",
    "TABLE_DEFINITION",
    "TTL_ATTRIBUTE",
    "WAITING",
    "Store",
    "from_item",
    "utcnow",
]


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def query_pages(ddb: Any, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every page a Query answers (boto3's paginator follows LastEvaluatedKey)."""
    yield from ddb.get_paginator("query").paginate(**params)


def query_items(ddb: Any, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item a Query answers, page after page."""
    for page in query_pages(ddb, params):
        yield from page.get("Items", [])


class Store:
    """DynamoDB access for cluster records. Takes a client; owns no connection."""

    def __init__(self, client: Any, table: str, clock: Callable[[], str] = utcnow) -> None:
        self._ddb = client
        self._table = table
        self._now = clock

    # -- records ---------------------------------------------------------------

    def create_cluster(
        self, record: dict[str, Any], _stale_alias: str | None = None, also: tuple[dict[str, Any], ...] = ()
    ) -> dict[str, Any]:
        """Write a new record; ConflictError if the name is held by a live cluster.

        `also`: more items written in the same transaction (a waiting claim's place in its pool's queue).

        A name a claimed pool cluster answered to (an alias, see `served_name`) is free again once
        that cluster is DELETED: the new record replaces the alias, on the condition it is unchanged.
        """
        now = self._now()
        item = {
            **record,
            "pk": pk(record["name"]),
            "sk": META,
            "gsi1pk": KIND_CLUSTER,
            "gsi1sk": record["name"],
            **({"gsi3pk": owner_pk(record["owner"]), "gsi3sk": record["name"]} if record.get("owner") else {}),
            "createdAt": now,
            "updatedAt": now,
        }
        event = self._event_item(record["name"], record["clusterId"], "REQUESTED", "Cluster requested", now)
        free = self.name_condition(record["name"], _stale_alias)
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self._table, "Item": to_item(item), **free}},
                    {"Put": {"TableName": self._table, "Item": to_item(event)}},
                    *({"Put": {"TableName": self._table, "Item": to_item(extra)}} for extra in also),
                ]
            )
        except self._ddb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or [{}]
            if reasons[0].get("Code") == "ConditionalCheckFailed":
                existing = self.find_cluster(record["name"])
                stale = self.stale_alias(record["name"], existing)
                if stale and stale != _stale_alias:
                    return self.create_cluster(record, stale, also)
                raise ConflictError(
                    f"cluster {record['name']!r} already exists",
                    cluster=record["name"],
                    status=(existing or {}).get("status"),
                ) from None
            raise
        return public_record(item)

    def name_condition(self, name: str, stale_alias: str | None = None) -> dict[str, Any]:
        """The condition of a Put that takes `name` for a record: the name is free or its cluster DELETED.

        With `stale_alias`: the item is still that alias, whose cluster no longer answers to the name.
        """
        if stale_alias:
            return {
                "ConditionExpression": "#alias = :alias",
                "ExpressionAttributeNames": {"#alias": ALIAS_OF},
                "ExpressionAttributeValues": to_item({":alias": stale_alias}),
            }
        return {
            "ConditionExpression": "attribute_not_exists(pk) OR #status = :reusable",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": to_item({":reusable": DELETED}),
        }

    def stale_alias(self, name: str, existing: dict[str, Any] | None) -> str | None:
        """The cluster `existing` (the item under `name`) is an alias of, if that cluster no longer answers to it."""
        target = (existing or {}).get(ALIAS_OF)
        if not target:
            return None
        served = self.find_cluster(str(target))
        if served is None or served.get("status") == DELETED or served.get(CLAIMED_AS) != name:
            return str(target)
        return None

    def served_name(self, name: str) -> str:
        """The record a name answers to: a claimed pool cluster's own name for the name its caller asked for."""
        resp = self._ddb.get_item(
            TableName=self._table,
            Key=to_item({"pk": pk(name), "sk": META}),
            ProjectionExpression="#alias",
            ExpressionAttributeNames={"#alias": ALIAS_OF},
            ConsistentRead=True,
        )
        target = from_item(resp["Item"]).get(ALIAS_OF) if "Item" in resp else None
        if not target:
            return name
        # Only while that name is still the cluster claimed under this one: once it is deleted, its name
        # can be another cluster's (which was never claimed as this name).
        served = self.find_cluster(str(target)) or {}
        if served.get(CLAIMED_AS) != name:
            return name
        return str(target)

    def find_cluster(self, name: str) -> dict[str, Any] | None:
        resp = self._ddb.get_item(TableName=self._table, Key=to_item({"pk": pk(name), "sk": META}), ConsistentRead=True)
        item = resp.get("Item")
        return public_record(from_item(item)) if item else None

    def get_cluster(self, name: str) -> dict[str, Any]:
        """The record under `name`. A name a claimed pool cluster answers to is followed to that cluster's
        record: a request that resolved the name just before a claim took it (`served_name`) reads the
        alias the take wrote, and gets the cluster it now stands for."""
        record = self.find_cluster(name)
        if record is not None and record.get(ALIAS_OF):
            served = self.served_name(name)
            record = self.find_cluster(served) if served != name else None  # a stale alias: the name is free
        if record is None:
            raise NotFoundError(f"cluster {name!r} not found", cluster=name)
        return record

    def list_clusters(self, limit: int = 50, next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of clusters ordered by name, and the token for the next page.

        A warm pool's unclaimed clusters (owner `ekspress:pool/...`) are the service's, not a caller's:
        they are left out (`GET /pools/{name}` shows them), so a page may hold fewer than `limit`.
        """
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": INDEX_BY_NAME,
            "KeyConditionExpression": "gsi1pk = :kind",
            "FilterExpression": "attribute_not_exists(#owner) OR NOT begins_with(#owner, :pool_owner)",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": to_item({":kind": KIND_CLUSTER, ":pool_owner": POOL_OWNER_PREFIX}),
            "Limit": limit,
        }
        if next_token:
            kwargs["ExclusiveStartKey"] = decode_token(next_token)
        resp = self._ddb.query(**kwargs)
        items = [public_record(from_item(i)) for i in resp.get("Items", [])]
        last = resp.get("LastEvaluatedKey")
        return [shown for i in items if (shown := self._as_listed(i))], (encode_token(last) if last else None)

    def _as_listed(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """A claimed pool cluster is listed under the name its caller asked for (its alias), with its EKS name."""
        target = item.get(ALIAS_OF)
        if not target:
            return item
        served = self.find_cluster(str(target))
        if served is None or served.get(CLAIMED_AS) != item["name"]:
            return None
        return as_claimed(served)

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
        update = (
            RecordUpdate(self._table, name, cluster_id)
            .set({**fields, "updatedAt": now})
            .remove(remove)
            .status_in(expect_status)
            .operation_is(expect_operation)
            .request()
        )
        if not event:  # one conditional write; a transaction only when an event goes with it
            try:
                self._ddb.update_item(**update)
            except self._ddb.exceptions.ConditionalCheckFailedException:
                raise _changed(name, cluster_id) from None
            return
        kind, message = event
        put = {
            "TableName": self._table,
            "Item": to_item(self._event_item(name, cluster_id, kind, message, now, event_details)),
        }
        try:
            self._ddb.transact_write_items(TransactItems=[{"Update": update}, {"Put": put}])
        except self._ddb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or [{}]
            if reasons[0].get("Code") == "ConditionalCheckFailed":
                raise _changed(name, cluster_id) from None
            raise

    def begin_operation(
        self,
        name: str,
        operation: dict[str, Any],
        fields: dict[str, Any],
        supersedes: tuple[str, ...] = (),
        remove: tuple[str, ...] = (),
        expect_status: tuple[str, ...] = (),
        expect_owner: str | None = None,
    ) -> dict[str, Any]:
        """Make `operation` the cluster's one running operation, or ConflictError naming the running one.

        Conditional in DynamoDB, so of two racing requests exactly one wins.
        `supersedes` lists operation types this one may take over (delete takes
        over a create: its workflow stops the create first). `expect_owner`: only while the
        cluster still has that owner (a pool's cluster a caller may have claimed meanwhile).
        """
        record = self.get_cluster(name)
        update = (
            RecordUpdate(self._table, name, record["clusterId"])
            .set({"operation": operation, "updatedAt": self._now(), **fields})
            .remove(remove)
            .no_operation_but(supersedes)
            .status_in(expect_status)
            .owner_is(expect_owner)
        )
        try:
            self._ddb.update_item(**update.request())
        except self._ddb.exceptions.ConditionalCheckFailedException:
            current = self.find_cluster(name) or {}
            if expect_owner is not None and current.get("owner") != expect_owner:
                raise ConflictError(f"cluster {name!r} is no longer {expect_owner}'s", cluster=name) from None
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
            "ExpressionAttributeValues": to_item({":owner": owner_pk(owner)}),
            "Select": "COUNT",
        }
        return sum(int(page.get("Count", 0)) for page in query_pages(self._ddb, kwargs))

    def reapable(self, before: str, limit: int = 100) -> list[dict[str, Any]]:
        """Clusters whose reap time (lease end or idle deadline) is at or before `before`, soonest first."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": INDEX_BY_REAP_AT,
            "KeyConditionExpression": "gsi2pk = :kind AND gsi2sk <= :before",
            "ExpressionAttributeValues": to_item({":kind": REAPABLE, ":before": before}),
            "PaginationConfig": {"MaxItems": limit, "PageSize": limit},
        }
        return [public_record(from_item(i)) for i in query_items(self._ddb, kwargs)]

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

    # -- templates an operation's request rendered (template_store.py) ---------

    def put_templates(self, name: str, operation_id: str, rendered: list[Rendered]) -> None:
        template_store.put_templates(self._ddb, self._table, name, operation_id, rendered, int(time.time()))

    def template(self, name: str, operation_id: str, slot: str) -> Rendered:
        return template_store.get_template(self._ddb, self._table, name, operation_id, slot)

    # -- stack task tokens -----------------------------------------------------

    def store_stack_token(
        self,
        stack_name: str,
        client_request_token: str,
        task_token: str,
        ttl_seconds: int,
        now_epoch: int,
        execution: str = "",
        waiter: dict[str, Any] | None = None,
    ) -> None:
        """Keep the token of the step waiting for this stack operation, before the operation is requested.

        Conditional: a waiter of another execution for the same operation is a conflict. The same
        token again, or a new one of the same execution (Step Functions gives each retry of a
        waiting task a new token), replaces it. The item expires through the table's TTL once no
        wait can last. `waiter` is what the answer needs to know of the step (its cluster, its stack).
        """
        item = {
            **stack_token_key(stack_name, client_request_token),
            "taskToken": task_token,
            "execution": execution,
            **({"waiter": waiter} if waiter else {}),
        }
        condition = "attribute_not_exists(pk) OR taskToken = :token"
        values = {":token": task_token}
        if execution:
            condition += " OR execution = :execution"
            values[":execution"] = execution
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=to_item({**item, TTL_ATTRIBUTE: now_epoch + ttl_seconds}),
                ConditionExpression=condition,
                ExpressionAttributeValues=to_item(values),
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            raise ConflictError(f"another workflow step is waiting for stack {stack_name}", stack=stack_name) from None

    def stack_token(self, stack_name: str, client_request_token: str) -> str | None:
        """The task token waiting for this stack operation, if any."""
        found = self.stack_waiter(stack_name, client_request_token)
        return found["taskToken"] if found else None

    def stack_waiter(self, stack_name: str, client_request_token: str) -> dict[str, Any] | None:
        """The step waiting for this stack operation, if any: `taskToken`, `execution` and its `waiter`."""
        resp = self._ddb.get_item(
            TableName=self._table, Key=to_item(stack_token_key(stack_name, client_request_token)), ConsistentRead=True
        )
        return from_item(resp["Item"]) if "Item" in resp else None

    def take_stack_token(self, stack_name: str, client_request_token: str, task_token: str | None = None) -> str | None:
        """Remove the waiting token (only if it is still `task_token`, when given); the token removed, if any."""
        condition: dict[str, Any] = {}
        if task_token is not None:
            condition = {
                "ConditionExpression": "taskToken = :token",
                "ExpressionAttributeValues": to_item({":token": task_token}),
            }
        try:
            resp = self._ddb.delete_item(
                TableName=self._table,
                Key=to_item(stack_token_key(stack_name, client_request_token)),
                ReturnValues="ALL_OLD",
                **condition,
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return None
        return from_item(resp["Attributes"]).get("taskToken") if resp.get("Attributes") else None

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
            "pk": pk(name),
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
            "ExpressionAttributeValues": to_item({":pk": pk(name), ":prefix": f"EVENT#{cluster_id}#"}),
        }
        return [public_record(from_item(i)) for i in query_items(self._ddb, kwargs)]


# A claimed pool cluster (operations/pools.py): its record keeps its own (EKS) name and says which
# name its caller asked for (`claimedAs`); an alias item under that name (`aliasOf`) points to it.
ALIAS_OF = "aliasOf"
CLAIMED_AS = "claimedAs"


def as_claimed(record: dict[str, Any]) -> dict[str, Any]:
    """A record as its caller sees it: a claimed pool cluster under the name they asked for, with `eksName`."""
    if not record.get(CLAIMED_AS):
        return record
    return {**record, "name": record[CLAIMED_AS], "eksName": record["name"]}


def _changed(name: str, cluster_id: str) -> ConflictError:
    """A conditional write on the record lost: it is another cluster now, or its status or operation moved on."""
    return ConflictError(
        f"cluster {name!r} changed meanwhile (another cluster, status or operation)", cluster=name, clusterId=cluster_id
    )
