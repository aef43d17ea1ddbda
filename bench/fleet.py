"""Fleet scale on DynamoDB (moto, in-process): index queries versus scans (part 6).

10,000 cluster records are written with the attribute shape the store itself writes: each
record and its first timeline events are produced by `Store.create_cluster` and
`Store.add_event` against a capturing client, then batch-written to moto. ACTIVE,
unprotected clusters carry the sparse `byReapAt` fields from `leases.reap_fields`.

Measured: (a) the reaper's `Store.reapable(before)` against a Scan with a filter giving the
same clusters; (b) the first page of `GET /clusters` (`Store.list_clusters`) against a Scan
that finds the same page. Reported: time, requests, items read (ScannedCount) and returned
(Count), and read units modelled from item sizes (DynamoDB bills what it reads, not what a
filter returns). moto evaluates an index query by walking the whole table in Python, so
its times understate the real gap; the items-read figures are the ones DynamoDB would bill.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bench.report import Section, fmt, median, ratio

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

FLEET = 10_000
EVENTS_PER_CLUSTER = 3  # a real create writes 8-10; fewer here keeps moto's scans short (scan figures are a floor)
REAPER_LIMIT = 500  # what the schedule's sweep asks for
LIST_LIMIT = 50  # GET /clusters' default page
API_MAX_LIMIT = 100
REPEATS = 3
SEED = 10
TABLE = "ekspress-bench"
REGION = "us-west-2"
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
# Share of the fleet per status; only ACTIVE unprotected clusters are in the reap index.
STATUS_MIX = (("ACTIVE", 0.35), ("ACTIVE_PROTECTED", 0.05), ("DELETED", 0.40), ("FAILED", 0.10), ("CREATING", 0.10))


@dataclass
class Reads:
    """What a sequence of Query/Scan requests read and returned."""

    requests: int = 0
    scanned: int = 0
    returned: int = 0
    read_units: float = 0.0


@dataclass
class Measured:
    label: str
    seconds: list[float] = field(default_factory=list)
    reads: Reads = field(default_factory=Reads)
    result: list[str] = field(default_factory=list)


class _Capture:
    """Stands in for the DynamoDB client: keeps the items the store would write."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
        self.items.extend(t["Put"]["Item"] for t in TransactItems if "Put" in t)

    def put_item(self, Item: dict[str, Any], **_: Any) -> None:
        self.items.append(Item)


class _Counting:
    """A DynamoDB client that tallies what its Query and Scan requests read."""

    def __init__(self, client: Any, sizes: dict[tuple[str, str], int]) -> None:
        self._client = client
        self._sizes = sizes
        self.reads = Reads()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, **kwargs: Any) -> Any:
        return self._tally(self._client.query(**kwargs))

    def get_paginator(self, operation: str) -> Any:
        """botocore's paginator, its pages requested through this client (the store pages its Queries so)."""
        paginator = self._client.get_paginator(operation)
        paginator._method = getattr(self, operation)
        return paginator

    def scan(self, **kwargs: Any) -> Any:
        return self._tally(self._client.scan(**kwargs))

    def batch_get_item(self, **kwargs: Any) -> Any:
        """Each item is read (and billed) on its own, rounded up to 4 KB."""
        resp = self._client.batch_get_item(**kwargs)
        items = [i for found in resp["Responses"].values() for i in found]
        self.reads.requests += 1
        self.reads.scanned += len(items)
        self.reads.returned += len(items)
        self.reads.read_units += sum(read_units(self._sizes[_key(i)]) for i in items)
        return resp

    def _tally(self, resp: dict[str, Any]) -> dict[str, Any]:
        self.reads.requests += 1
        self.reads.scanned += resp["ScannedCount"]
        self.reads.returned += resp["Count"]
        # A request without a filter reads exactly what it returns; `scan_all` corrects Scans, which read more.
        returned = sum(self._sizes[_key(i)] for i in resp.get("Items", []))
        self.reads.read_units += read_units(returned)
        return resp


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]


def read_units(size: int) -> float:
    """Eventually consistent read units for one request reading `size` bytes (4 KB units, half each)."""
    return math.ceil(size / 4096) * 0.5 if size else 0.5


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size rules, approximately: attribute names plus their values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    """One attribute value (DynamoDB JSON); containers cost 3 bytes plus 1 per element."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return (len(inner.strip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + item_size(inner) + len(inner)
    return 1  # BOOL, NULL


def fleet_items(rng: random.Random) -> list[dict[str, Any]]:
    """Every item of a 10,000-cluster table, as the store writes them (DynamoDB JSON)."""
    from chalicelib.aws.store import Store
    from chalicelib.model.settings import get_settings
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.operations import create
    from chalicelib.operations.leases import iso

    settings = dataclasses.replace(get_settings(), table_name=TABLE)  # the defaults a deployment reads
    capture = _Capture()
    statuses = [s for s, _ in STATUS_MIX]
    weights = [w for _, w in STATUS_MIX]
    for i in range(FLEET):
        name = f"fleet-{i:05d}"
        created = NOW - timedelta(hours=rng.uniform(1, 24 * 30))
        spec = ClusterSpec.model_validate({"name": name, "managedNodeGroups": [{"name": "ng-1"}, {"name": "ng-2"}]})
        record = create.new_record(spec, f"arn:aws:iam::123456789012:user/u{i % 97}", settings, created)
        status = rng.choices(statuses, weights)[0]
        if status != "CREATING":
            record.pop("operation", None)  # the create finished (mark_active and friends remove it)
            record.update(_lifecycle(record, status, rng, settings))
        db = Store(capture, TABLE, clock=functools.partial(iso, created))
        db.create_cluster(record)
        db.add_event(name, record["clusterId"], "WORKFLOW_STARTED", "Create workflow started")
        final = {"ACTIVE": "ACTIVE", "DELETED": "DELETED", "FAILED": "FAILED"}.get(record["status"])
        if final and EVENTS_PER_CLUSTER >= 3:
            db.add_event(name, record["clusterId"], final, f"Cluster {final.lower()}")
    return capture.items


def _lifecycle(record: dict[str, Any], status: str, rng: random.Random, settings: Any) -> dict[str, Any]:
    """The fields a record has once it reached `status` (reap index fields when ACTIVE and unprotected)."""
    from chalicelib.operations.leases import iso, reap_fields

    fields: dict[str, Any] = {"status": status.replace("_PROTECTED", ""), "phase": "DONE"}
    if status.startswith("ACTIVE"):
        # Reap times from 12 hours ago to a week ahead: a few percent of the index is due now.
        expires = NOW + timedelta(hours=rng.uniform(-12, 24 * 7))
        touched = {**record, "expiresAt": iso(expires), "lastActivityAt": iso(NOW - timedelta(hours=rng.uniform(0, 6)))}
        fields.update(expiresAt=touched["expiresAt"], lastActivityAt=touched["lastActivityAt"])
        fields["cluster"] = {"endpoint": f"https://{record['clusterId'][:16]}.gr7.us-west-2.eks.amazonaws.com"}
        if status == "ACTIVE_PROTECTED":
            fields["protected"] = True
        else:
            fields.update(reap_fields(touched, settings))
    return fields


def write(client: Any, items: list[dict[str, Any]]) -> float:
    """BatchWriteItem in 25s (what DynamoDB allows per call); returns the seconds taken."""
    start = time.perf_counter()
    for offset in range(0, len(items), 25):
        pending = {TABLE: [{"PutRequest": {"Item": item}} for item in items[offset : offset + 25]]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return time.perf_counter() - start


def timed(
    measured: Measured, repeats: int, action: Callable[[_Counting], list[str]], counting: Callable[[], _Counting]
) -> None:
    """Run `action` `repeats` times on fresh counting clients; keep times, the last tally and result."""
    for _ in range(repeats):
        client = counting()
        start = time.perf_counter()
        measured.result = action(client)
        measured.seconds.append(time.perf_counter() - start)
        measured.reads = client.reads


def scan_all(client: _Counting, sizes: dict[tuple[str, str], int], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """A paginated Scan; read units counted from the size of every item it read, matched or not."""
    start_key: dict[str, Any] | None = None
    while True:
        page = client.scan(TableName=TABLE, **kwargs, **({"ExclusiveStartKey": start_key} if start_key else {}))
        yield from page["Items"]
        start_key = page.get("LastEvaluatedKey")
        if not start_key:
            break
    # A Scan reads every item whether the filter keeps it or not: that is what it is billed for.
    client.reads.read_units = read_units(sum(sizes.values())) + 0.5 * (client.reads.requests - 1)


@contextlib.contextmanager
def in_process_aws() -> Iterator[Any]:
    """moto's `mock_aws`, with anything pointing boto3 at a server set aside meanwhile."""
    from moto import mock_aws

    saved = {k: os.environ.pop(k) for k in ("AWS_ENDPOINT_URL",) if k in os.environ}
    try:
        with mock_aws():
            import boto3

            yield boto3.client("dynamodb", region_name=REGION)
    finally:
        os.environ.update(saved)


def run() -> Section:
    from chalicelib.aws.store import TABLE_DEFINITION, Store, from_item
    from chalicelib.operations.leases import iso

    section = Section("6. Fleet scale: 10,000 clusters in DynamoDB (moto, in-process)")
    started = time.perf_counter()
    items = fleet_items(random.Random(SEED))
    sizes = {_key(i): item_size(i) for i in items}
    built = time.perf_counter() - started
    before = iso(NOW)
    with in_process_aws() as raw:
        raw.create_table(TableName=TABLE, **TABLE_DEFINITION)
        wrote = write(raw, items)

        def counting() -> _Counting:
            return _Counting(raw, sizes)

        def reaper_query(client: _Counting) -> list[str]:
            return [r["name"] for r in Store(client, TABLE).reapable(before, limit=REAPER_LIMIT)]

        def reaper_scan(client: _Counting) -> list[str]:
            found = [
                from_item(i)
                for i in scan_all(
                    client,
                    sizes,
                    FilterExpression="gsi2pk = :kind AND gsi2sk <= :before",
                    ExpressionAttributeValues={":kind": {"S": "REAPABLE"}, ":before": {"S": before}},
                )
            ]
            return [r["name"] for r in sorted(found, key=lambda r: r["gsi2sk"])][:REAPER_LIMIT]

        def list_query(client: _Counting) -> list[str]:
            return [r["name"] for r in Store(client, TABLE).list_clusters(limit=LIST_LIMIT)[0]]

        def list_scan(client: _Counting) -> list[str]:
            # The cheapest Scan for a page: names only, sort, then fetch the page's records by key.
            found = scan_all(
                client,
                sizes,
                ProjectionExpression="pk, sk, #n",
                FilterExpression="sk = :meta",
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":meta": {"S": "META"}},
            )
            page = sorted(found, key=lambda i: i["name"]["S"])[:LIST_LIMIT]
            keys = [{"pk": i["pk"], "sk": i["sk"]} for i in page]
            records = client.batch_get_item(RequestItems={TABLE: {"Keys": keys}})["Responses"][TABLE]
            return sorted(from_item(r)["name"] for r in records)

        pairs = []
        for query, scan, label in (
            (reaper_query, reaper_scan, "reaper: due clusters"),
            (list_query, list_scan, f"GET /clusters first page ({LIST_LIMIT})"),
        ):
            indexed, scanned = Measured(f"{label}: index Query"), Measured(f"{label}: Scan + filter")
            timed(indexed, REPEATS, query, counting)
            timed(scanned, 1, scan, counting)
            pairs.append((indexed, scanned))
    section.text(
        f"{len(items):,} items: {FLEET:,} cluster records and up to {EVENTS_PER_CLUSTER} timeline events each "
        f"(built in {built:.1f} s, batch-written to moto in {wrote:.1f} s). Status mix: "
        + ", ".join(f"{s.lower().replace('_', ' ')} {w:.0%}" for s, w in STATUS_MIX)
        + f". Index queries: median of {REPEATS}; scans: 1 run each. Read units: eventually consistent, "
        "modelled from item sizes."
    )
    section.text()
    rows: list[list[object]] = []
    for indexed, scanned in pairs:
        for m in (indexed, scanned):
            rows.append(
                [
                    m.label,
                    f"{1000 * median(m.seconds):.0f} ms",
                    m.reads.requests,
                    m.reads.scanned,
                    m.reads.returned,
                    m.reads.read_units,
                ]
            )
    section.table(["operation", "time (moto)", "requests", "items read", "items returned", "read units"], rows)
    ratio_rows = []
    for indexed, scanned in pairs:
        ratio_rows.append(
            [
                indexed.label.split(": index")[0],
                "yes" if indexed.result == scanned.result else "NO",
                len(indexed.result),
                ratio(median(scanned.seconds), median(indexed.seconds)),
                ratio(scanned.reads.scanned, indexed.reads.scanned),
                ratio(scanned.reads.read_units, indexed.reads.read_units),
            ]
        )
    section.table(
        ["Scan versus index", "same result", "clusters", "time (moto)", "items read", "read units"], ratio_rows
    )
    meta_bytes = sum(size for key, size in sizes.items() if key[1] == "META")
    pages = math.ceil(FLEET / API_MAX_LIMIT)
    section.text(
        f"Listing every cluster (computed, not timed): {pages} index pages of {API_MAX_LIMIT} read {FLEET:,} "
        f"items (~{fmt(read_units(meta_bytes) + 0.5 * (pages - 1))} read units); one full Scan reads all "
        f"{len(items):,} items (~{fmt(read_units(sum(sizes.values())))} read units), and grows with every "
        "timeline event."
    )
    return section
