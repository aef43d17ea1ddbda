"""Warm pool definitions, and the one conditional write that hands a pool cluster to a caller.

Pools live in the cluster table (layout: table.py): `pk=POOL#<name>, sk=META`, listed on the
`byName` index under `gsi1pk=POOL`. A pool's unclaimed clusters are ordinary cluster records
whose owner is `ekspress:pool/<name>`, so the sparse `byOwner` index lists them (a Query, never a
Scan) and drops them once they are claimed (the owner becomes the caller) or DELETED.

Every write is conditional: a pool is created only if the name is free, changed or deleted only
if it exists, and a cluster is taken only while it is still the pool's and ACTIVE, so of two
racing claims exactly one gets it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from chalicelib.aws.store import ACTIVE, ALIAS_OF, CLAIMED_AS, Store, query_items, utcnow
from chalicelib.aws.table import (
    INDEX_BY_NAME,
    INDEX_BY_OWNER,
    KIND_CLUSTER,
    META,
    from_item,
    owner_pk,
    pk,
    pool_pk,
    public_record,
    to_item,
)
from chalicelib.model.errors import ConflictError, NotFoundError
from chalicelib.model.naming import pool_owner
from chalicelib.model.statuses import WAITING

if TYPE_CHECKING:
    from collections.abc import Callable

KIND_POOL = "POOL"
# A claim waiting for a pool's next READY cluster keeps its place in the pool's partition, in order.
WAIT_PREFIX = "WAIT#"
# Fields the take clears: the pool cluster's waiting lease and reaper entry (the claim starts a new one),
# and its place in the list under its own name (its caller's name, the alias, is listed instead).
WAITING_FIELDS = ("gsi2pk", "gsi2sk", "reapAt", "leaseWarnedAt")
LISTED_FIELDS = ("gsi1pk", "gsi1sk")


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return public_record(from_item(item))


class PoolStore:
    """DynamoDB access for pools and the take. Takes a client; owns no connection."""

    def __init__(self, client: Any, table: str, clock: Callable[[], str] = utcnow) -> None:
        self._ddb = client
        self._table = table
        self._now = clock

    def _key(self, name: str) -> dict[str, Any]:
        return to_item({"pk": pool_pk(name), "sk": META})

    # -- definitions -------------------------------------------------------------------

    def create_pool(self, pool: dict[str, Any], by: str) -> dict[str, Any]:
        """Record a new pool; ConflictError if the name is taken."""
        now = self._now()
        record = {**pool, "createdAt": now, "updatedAt": now, "createdBy": by, "revision": 1}
        item = {**record, "pk": pool_pk(pool["name"]), "sk": META, "gsi1pk": KIND_POOL, "gsi1sk": pool["name"]}
        try:
            self._ddb.put_item(
                TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            raise ConflictError(f"pool {pool['name']!r} already exists", pool=pool["name"]) from None
        return record

    def find_pool(self, name: str) -> dict[str, Any] | None:
        resp = self._ddb.get_item(TableName=self._table, Key=self._key(name), ConsistentRead=True)
        return _public(resp["Item"]) if "Item" in resp else None

    def get_pool(self, name: str) -> dict[str, Any]:
        pool = self.find_pool(name)
        if pool is None:
            raise NotFoundError(f"pool {name!r} not found", pool=name)
        return pool

    def list_pools(self) -> list[dict[str, Any]]:
        """Every pool, by name (pools are few: an admin defines each)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": INDEX_BY_NAME,
            "KeyConditionExpression": "gsi1pk = :kind",
            "ExpressionAttributeValues": to_item({":kind": KIND_POOL}),
        }
        return [_public(i) for i in query_items(self._ddb, kwargs)]

    def update_pool(self, name: str, fields: dict[str, Any], remove: tuple[str, ...] = ()) -> dict[str, Any]:
        """Set (and remove) fields of an existing pool; NotFoundError if there is none. The pool as it is now."""
        names = {f"#s{i}": key for i, key in enumerate(fields)} | {f"#r{i}": key for i, key in enumerate(remove)}
        values = {f":s{i}": value for i, value in enumerate(fields.values())}
        sets = [f"#s{i} = :s{i}" for i in range(len(fields))]
        names["#u"], values[":now"] = "updatedAt", self._now()
        names["#rev"], values[":one"] = "revision", 1
        sets += ["#u = :now", "#rev = #rev + :one"]
        expression = "SET " + ", ".join(sets)
        if remove:
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        try:
            resp = self._ddb.update_item(
                TableName=self._table,
                Key=self._key(name),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values),
                ReturnValues="ALL_NEW",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            raise NotFoundError(f"pool {name!r} not found", pool=name) from None
        return _public(resp["Attributes"])

    def delete_pool(self, name: str) -> dict[str, Any]:
        """Remove the definition; NotFoundError if there is none. The definition removed."""
        try:
            resp = self._ddb.delete_item(
                TableName=self._table,
                Key=self._key(name),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            raise NotFoundError(f"pool {name!r} not found", pool=name) from None
        return _public(resp["Attributes"])

    # -- a pool's clusters ---------------------------------------------------------------

    def cluster_names(self, pool: str) -> list[str]:
        """The names of the pool's clusters that are neither claimed nor DELETED (a Query on `byOwner`)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": INDEX_BY_OWNER,
            "KeyConditionExpression": "gsi3pk = :owner",
            "ExpressionAttributeValues": to_item({":owner": owner_pk(pool_owner(pool))}),
        }
        return sorted(str(from_item(i)["gsi3sk"]) for i in query_items(self._ddb, kwargs))

    def clusters(self, pool: str) -> list[dict[str, Any]]:
        """The records of the pool's unclaimed clusters (read consistently, one by one: a pool is small)."""
        records = []
        for name in self.cluster_names(pool):
            resp = self._ddb.get_item(
                TableName=self._table, Key=to_item({"pk": pk(name), "sk": META}), ConsistentRead=True
            )
            item = resp.get("Item")
            if item:
                record = _public(item)
                if record.get("owner") == pool_owner(pool):  # the index is eventually consistent
                    records.append(record)
        return records

    # -- claims waiting for a READY cluster ---------------------------------------------------

    def wait(self, pool: str, record: dict[str, Any]) -> dict[str, Any]:
        """Record a WAITING claim under its name and its place in `pool`'s queue, in one transaction.

        ConflictError if the name is held by a live cluster (as for a create).
        """
        now = self._now()
        place = {
            "pk": pool_pk(pool),
            "sk": f"{WAIT_PREFIX}{now}#{record['name']}",
            "name": record["name"],
            "clusterId": record["clusterId"],
            "since": now,
        }
        return Store(self._ddb, self._table, self._now).create_cluster(record, also=(place,))

    def waiting(self, pool: str) -> list[dict[str, Any]]:
        """The pool's queue of waiting claims, oldest first: each `name`, `clusterId` and its `sk` (its place)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :wait)",
            "ExpressionAttributeValues": to_item({":pk": pool_pk(pool), ":wait": WAIT_PREFIX}),
            "ConsistentRead": True,
        }
        return [from_item(i) for i in query_items(self._ddb, kwargs)]

    def leave_queue(self, pool: str, place: dict[str, Any]) -> None:
        """Take a claim's place out of the queue (it was served, withdrawn or timed out)."""
        self._ddb.delete_item(TableName=self._table, Key=to_item({"pk": pool_pk(pool), "sk": place["sk"]}))

    # -- the take ------------------------------------------------------------------------

    def take(
        self,
        name: str,
        cluster_id: str,
        pool: str,
        caller: str,
        claimed_as: str,
        fields: dict[str, Any],
        waiting: dict[str, Any] | None = None,
    ) -> bool:
        """Hand pool cluster `name` to `caller` under the name `claimed_as`: True if this call got it, False if
        it was gone; ConflictError if `claimed_as` is held by a live cluster (or, with `waiting`, is no longer
        that WAITING claim: withdrawn meanwhile).

        `waiting`: the claim's place in the queue (`wait`): the alias replaces the WAITING record only while
        it is still that claim, and the place leaves the queue in the same transaction.

        One conditional write (a transaction of the record's update, the name's alias and the timeline
        event): the record must still be the cluster `cluster_id`, owned by the pool, ACTIVE and running
        no operation, and the name free. The owner becomes the caller (so the cluster leaves the pool's
        `byOwner` entries and joins the caller's); the record leaves the list under its own name (the
        alias is listed instead, store.py `as_claimed`); the waiting lease's reaper entry goes unless
        `fields` (the claim's: its lease among them) set a new one.
        """
        now = self._now()
        owner = pool_owner(pool)
        names_store = Store(self._ddb, self._table, self._now)
        stale = None if waiting else names_store.stale_alias(claimed_as, names_store.find_cluster(claimed_as))
        name_free = names_store.name_condition(claimed_as, stale)
        if waiting:
            name_free = {
                "ConditionExpression": "#status = :waiting AND #cid = :waiting_cid",
                "ExpressionAttributeNames": {"#status": "status", "#cid": "clusterId"},
                "ExpressionAttributeValues": to_item({":waiting": WAITING, ":waiting_cid": waiting["clusterId"]}),
            }
        alias = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(
                    {
                        "pk": pk(claimed_as),
                        "sk": META,
                        "gsi1pk": KIND_CLUSTER,
                        "gsi1sk": claimed_as,
                        "name": claimed_as,
                        ALIAS_OF: name,
                        "createdAt": now,
                    }
                ),
                **name_free,
            }
        }
        values = {
            ":cid": cluster_id,
            ":pool_owner": owner,
            ":active": ACTIVE,
            ":owner": caller,
            ":owner_pk": owner_pk(caller),
            ":pool": pool,
            ":now": now,
            ":claimed": "CLAIMED",
            ":as": claimed_as,
        }
        names = {
            "#cid": "clusterId",
            "#owner": "owner",
            "#status": "status",
            "#op": "operation",
            "#gpk": "gsi3pk",
            "#pool": "pool",
            "#state": "poolState",
            "#at": "claimedAt",
            "#u": "updatedAt",
            "#as": CLAIMED_AS,
        }
        sets = ["#owner = :owner", "#gpk = :owner_pk", "#pool = :pool", "#state = :claimed", "#at = :now", "#u = :now"]
        sets.append("#as = :as")
        for i, (key, value) in enumerate(fields.items()):
            names[f"#f{i}"], values[f":f{i}"] = key, value
            sets.append(f"#f{i} = :f{i}")
        removes = []
        for i, key in enumerate(k for k in (*WAITING_FIELDS, *LISTED_FIELDS) if k not in fields):
            names[f"#w{i}"] = key
            removes.append(f"#w{i}")
        update = {
            "TableName": self._table,
            "Key": to_item({"pk": pk(name), "sk": META}),
            "UpdateExpression": "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes),
            "ConditionExpression": "#cid = :cid AND #owner = :pool_owner AND #status = :active "
            "AND attribute_not_exists(#op)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
        }
        event = {
            "pk": pk(name),
            "sk": f"EVENT#{cluster_id}#{now}#{uuid.uuid4().hex[:8]}",
            "at": now,
            "type": "CLAIMED",
            "message": f"Claimed from pool {pool} by {caller} as {claimed_as}",
            "details": {"pool": pool, "by": caller, "as": claimed_as},
        }
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {"Update": update},
                    alias,
                    {"Put": {"TableName": self._table, "Item": to_item(event)}},
                    *(
                        [
                            {
                                "Delete": {
                                    "TableName": self._table,
                                    "Key": to_item({"pk": pool_pk(pool), "sk": waiting["sk"]}),
                                }
                            }
                        ]
                        if waiting
                        else []
                    ),
                ]
            )
        except self._ddb.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                existing = names_store.find_cluster(claimed_as) or {}
                raise ConflictError(
                    f"cluster {claimed_as!r} already exists", cluster=claimed_as, status=existing.get("status")
                ) from None
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True
