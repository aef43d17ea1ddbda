"""End to end on the local engine: create -> ACTIVE -> delete -> DELETED (part 7).

Measured, wall clock: the HTTP API served by Chalice's local server (as tests/e2e does),
on the local engine (moto's server running the real state machines, the Lambda handlers
in-process), with stack durations 0 and the poll scale small. One cluster, then
`MANY` at once. This is the overhead of the machinery itself — the request path, Step
Functions interpretation, the tasks and their DynamoDB/CloudFormation calls on moto —
since the stacks themselves take no time; on AWS the stacks dominate by far.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bench.report import Section, median, ratio

if TYPE_CHECKING:
    from collections.abc import Iterator

MANY = 20
POLL_SCALE = 0.001  # as tests/e2e's engine
POLL_EVERY = 0.1
TIMEOUT = 300.0
REGION = "us-west-2"
FAILED = {"FAILED", "DELETE_FAILED"}


@dataclass
class Lifecycle:
    """One scenario's clusters: when each reached ACTIVE and DELETED (seconds since its request)."""

    label: str
    names: list[str]
    active: dict[str, float] = field(default_factory=dict)
    deleted: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    create_wall: float = 0.0
    delete_wall: float = 0.0


class Client:
    """A small HTTP client for the API (JSON in and out)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")


@contextlib.contextmanager
def local_stack() -> Iterator[Client]:
    """The local engine (stacks take no time) and the API on Chalice's local server, quietly."""
    from chalice.config import Config
    from chalice.local import ChaliceRequestHandler, create_local_server

    from local.engine import LocalEngine

    # Chalice's local server admits IAM-authorized routes with a warning; the engine names callers itself.
    warnings.filterwarnings("ignore", message="IAMAuthorizer is not a supported in local mode")
    engine = LocalEngine(region=REGION, cluster_seconds=0.0, nodegroup_seconds=0.0, poll_scale=POLL_SCALE).start()
    # More clusters in one region than a new account holds: an account with raised quotas.
    from local import account_quotas

    account_quotas.raise_all(200)
    from app import app
    from chalicelib.observability import SERVICE

    # The handlers' INFO lines would drown the report; set after the app's import configured the logger.
    logging.getLogger(SERVICE).setLevel(logging.WARNING)
    config = Config(chalice_stage="local")
    server = create_local_server(app, config, "127.0.0.1", 0)
    server.server.socket.listen(512)  # Chalice's backlog of 5 resets a burst of `MANY` requests
    quiet = type("QuietHandler", (ChaliceRequestHandler,), {"log_message": lambda self, *args: None})
    server.server.RequestHandlerClass = functools.partial(quiet, app_object=app, config=config)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Client(f"http://127.0.0.1:{server.server.server_address[1]}")
    finally:
        server.shutdown()
        engine.stop()


def statuses(client: Client) -> dict[str, str]:
    """Every cluster's status, through the listing the API offers (pages of 100)."""
    found: dict[str, str] = {}
    token = ""
    while True:
        status, body = client.call("GET", "/clusters?limit=100" + (f"&nextToken={quote(token)}" if token else ""))
        if status != 200:
            raise RuntimeError(f"GET /clusters answered {status}: {body}")
        found.update({c["name"]: c["status"] for c in body["clusters"]})
        token = body.get("nextToken") or ""
        if not token:
            return found


def wait_for(client: Client, run: Lifecycle, wanted: str, since: dict[str, float], into: dict[str, float]) -> None:
    """Poll until every cluster is `wanted` (or failed); note when each got there."""
    deadline = time.perf_counter() + TIMEOUT
    pending = set(run.names) - set(run.failures)
    while pending and time.perf_counter() < deadline:
        now = time.perf_counter()
        seen = statuses(client)
        for name in list(pending):
            if seen.get(name) == wanted:
                into[name] = now - since[name]
                pending.discard(name)
            elif seen.get(name) in FAILED:
                run.failures[name] = f"{seen[name]}: {client.call('GET', f'/clusters/{name}')[1].get('failure')}"
                pending.discard(name)
        time.sleep(POLL_EVERY)
    for name in pending:
        run.failures[name] = f"not {wanted} after {TIMEOUT:.0f} s"


def request_all(client: Client, method: str, paths: dict[str, str], body: Any) -> dict[str, float]:
    """Send one request per cluster at once; returns when each was accepted (202)."""

    def send(name: str) -> tuple[str, float]:
        status, reply = client.call(method, paths[name], body(name) if callable(body) else body)
        if status != 202:
            raise RuntimeError(f"{method} {paths[name]} answered {status}: {reply}")
        return name, time.perf_counter()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        list(pool.map(send, paths))
    return dict.fromkeys(paths, started)


def lifecycle(client: Client, label: str, names: list[str]) -> Lifecycle:
    run = Lifecycle(label, names)
    start = time.perf_counter()
    posted = request_all(client, "POST", dict.fromkeys(names, "/clusters"), lambda name: {"name": name})
    wait_for(client, run, "ACTIVE", posted, run.active)
    run.create_wall = time.perf_counter() - start
    start = time.perf_counter()
    live = [n for n in names if n in run.active]
    if live:
        deleting = request_all(client, "DELETE", {n: f"/clusters/{n}" for n in live}, None)
        wait_for(client, run, "DELETED", deleting, run.deleted)
    run.delete_wall = time.perf_counter() - start
    return run


def run() -> Section:
    section = Section("7. End to end on the local engine")
    with local_stack() as client:
        single = lifecycle(client, "1 cluster", ["bench-one"])
        many = lifecycle(client, f"{MANY} at once", [f"bench-many-{i:02d}" for i in range(MANY)])
    section.text(
        "HTTP API (Chalice local server) -> real state machines on moto -> in-process Lambda handlers. "
        f"Stack durations 0, poll scale {POLL_SCALE}, status polled every {POLL_EVERY} s through GET /clusters. "
        "Each cluster has the default single node group. Times are seconds of wall clock on this machine."
    )
    section.text()
    rows: list[list[object]] = []
    for r in (single, many):
        rows.append(
            [
                r.label,
                f"{len(r.active)}/{len(r.names)}",
                r.create_wall,
                median(list(r.active.values())),
                max(r.active.values(), default=float("nan")),
                f"{len(r.deleted)}/{len(r.names)}",
                r.delete_wall,
                median(list(r.deleted.values())),
                r.create_wall + r.delete_wall,
            ]
        )
    section.table(
        [
            "scenario",
            "ACTIVE",
            "create wall (s)",
            "per cluster median (s)",
            "max (s)",
            "DELETED",
            "delete wall (s)",
            "per cluster median (s)",
            "total (s)",
        ],
        rows,
    )
    total_single = single.create_wall + single.delete_wall
    total_many = many.create_wall + many.delete_wall
    section.text(
        f"{MANY} at once took {ratio(total_many, total_single)} the wall time of one; "
        f"sequentially they would take ~{MANY}x ({MANY * total_single:.0f} s), so concurrency gives "
        f"{ratio(MANY * total_single, total_many)} throughput."
    )
    for r in (single, many):
        for name, why in sorted(r.failures.items()):
            section.text(f"- {r.label}: {name} did not finish: {why}")
    return section
