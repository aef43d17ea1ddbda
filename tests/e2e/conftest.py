"""End to end: the HTTP API, served by Chalice's local server, on the local engine."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.aws import identity
from chalicelib.model import settings
from local import account_quotas, stack_timing
from local.engine import LOCAL_IDENTITY_KEY, LocalEngine

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ENGINE_REGION = "us-west-2"
LISTEN_BACKLOG = 512


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Api:
    """A tiny HTTP client for the API under test."""

    def __init__(self, base: str) -> None:
        self.base = base

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        raw: bytes | None = None,
        caller: str | None = None,
        idempotency_key: str | None = None,
    ) -> Reply:
        """One request; `caller` plays that IAM principal (signed as the local engine expects)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if caller:
            headers[identity.CALLER_HEADER] = caller
            headers[identity.SIGNATURE_HEADER] = identity.sign(LOCAL_IDENTITY_KEY, caller)
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return Reply(resp.status, self._decode(resp.read(), resp.headers), dict(resp.headers))
        except urllib.error.HTTPError as err:
            return Reply(err.code, self._decode(err.read(), err.headers), dict(err.headers))

    @staticmethod
    def _decode(raw: bytes, headers: Any) -> Any:
        if "json" in (headers.get("Content-Type") or ""):
            return json.loads(raw or b"null")
        return raw.decode()

    def wait_for(self, name: str, statuses: set[str], timeout: float = 90) -> dict[str, Any]:
        """The record once its status is one of `statuses`.

        It carries what the polls saw on the way: `_seen`, the statuses in order, and `_progress`,
        each distinct view of status, phase and stack statuses in order (the progress a user sees).
        """
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        progress: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            record = self.call("GET", f"/clusters/{name}").body
            if not seen or seen[-1] != record["status"]:
                seen.append(record["status"])
            view = {
                "status": record["status"],
                "phase": record.get("phase"),
                "stacks": {stack: entry.get("status") for stack, entry in (record.get("stacks") or {}).items()},
            }
            if not progress or progress[-1] != view:
                progress.append(view)
            if record["status"] in statuses:
                record["_seen"], record["_progress"] = seen, progress
                return dict(record)
            time.sleep(0.2)
        raise AssertionError(f"{name} never reached {statuses}; saw {progress}")


def wait_until[T](probe: Callable[[], T | None], what: str, timeout: float = 60, every: float = 0.1) -> T:
    """The first truthy answer of `probe`, polled until `timeout` seconds; else an AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(every)


def finished_execution(engine: LocalEngine, execution_arn: str, timeout: float = 30) -> dict[str, Any]:
    """The execution once it has ended: the record can say FAILED while its last states still run."""
    sfn = engine.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        execution: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING" or time.monotonic() > deadline:
            return execution
        time.sleep(0.2)


def as_from_a_terminal() -> None:
    """Ctrl-C reaches the child as from a terminal, even when the test run itself was started in the background
    (a shell without job control starts background commands ignoring SIGINT, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set settings for one test by their constant's name (`ENV_ADMINS="..."`); the app re-reads them."""

    def setting(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(getattr(settings, name), value)
        settings.get_settings.cache_clear()

    yield setting
    monkeypatch.undo()
    settings.get_settings.cache_clear()


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    """One engine per module: moto's in-process back ends are shared with `mock_aws`
    (functional tests reset them), so an engine must not outlive the module using it."""
    eng = LocalEngine(region=ENGINE_REGION, poll_scale=0.001).start()
    # More clusters per region than a new account holds: a test account with raised quotas
    # (tests/e2e/test_quotas.py puts AWS's defaults back to test them).
    account_quotas.raise_all(200)
    yield eng
    eng.stop()


@pytest.fixture(scope="session")
def api_base() -> Iterator[str]:
    """Chalice's local server, once per process (it rewires the app's class on start).

    It holds no AWS state: each request reads the settings and clients the current
    engine set up, so one server serves every module's engine.
    """
    from chalice.config import Config
    from chalice.local import create_local_server

    from app import app

    server = create_local_server(app, Config(chalice_stage="local"), "127.0.0.1", 0)
    # Its socket listens with a backlog of 5; bursts of concurrent requests (test_load) would be reset.
    server.server.socket.listen(LISTEN_BACKLOG)
    port = server.server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture(scope="module")
def api(engine: LocalEngine, api_base: str) -> Api:
    return Api(api_base)


@pytest.fixture(autouse=True)
def clean_faults() -> Iterator[None]:
    yield
    stack_timing.behaviour.clear()
    stack_timing.behaviour.cluster_seconds = 0
    stack_timing.behaviour.nodegroup_seconds = 0
