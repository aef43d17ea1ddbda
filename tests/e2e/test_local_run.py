"""`make run` (python -m local.run) as a person meets it: a busy port, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import as_from_a_terminal

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_busy_port_is_named_with_how_to_pick_another() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "EKSPRESS_PORT": str(port)}

        out = subprocess.run(
            [sys.executable, "-m", "local.run"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=60,
            check=False,
        )

    assert out.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in out.stderr
    assert f"EKSPRESS_PORT={port + 1} make run" in out.stderr
    assert "Traceback" not in out.stderr
    assert "local engine" not in out.stdout  # nothing was started


class MakeRun:
    """One `make run` (python -m local.run) on a free port, started once and shared by this module's tests.

    Started without EKSPRESS_LOCAL_IDENTITY_KEY, as from a fresh shell: it signs callers with a key of its own.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def running(self) -> subprocess.Popen[str]:
        """The server, up and listening (started again if a test stopped it)."""
        from chalicelib.model.settings import ENV_LOCAL_IDENTITY_KEY

        if self.process is not None and self.process.poll() is None:
            return self.process
        self.port = _free_port()
        env = {**os.environ, "EKSPRESS_PORT": str(self.port)}
        env.pop(ENV_LOCAL_IDENTITY_KEY, None)
        run = subprocess.Popen(
            [sys.executable, "-m", "local.run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
            preexec_fn=as_from_a_terminal,
        )
        self.process = run
        assert run.stdout is not None
        deadline = time.monotonic() + 120
        line = ""
        while "ekspress API on" not in line and time.monotonic() < deadline:
            line = run.stdout.readline()
            if not line:
                break
        assert "ekspress API on" in line
        return run

    def stop(self) -> str:
        """Ctrl-C; what it wrote to stderr."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        _, err = self.process.communicate(timeout=60)
        return err


@pytest.fixture(scope="module")
def make_run() -> Iterator[MakeRun]:
    server = MakeRun()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


def test_a_caller_header_signed_with_the_well_known_key_names_nobody(make_run: MakeRun) -> None:
    """`make run` signs callers with a key of its own: a header signed with the engine's default key is refused."""
    from chalicelib.aws import identity
    from local.engine import LOCAL_IDENTITY_KEY

    make_run.running()
    named = "arn:aws:iam::123456789012:role/Admin"
    request = urllib.request.Request(
        f"http://127.0.0.1:{make_run.port}/clusters",
        data=json.dumps({"name": "forged-caller"}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            identity.CALLER_HEADER: named,
            identity.SIGNATURE_HEADER: identity.sign(LOCAL_IDENTITY_KEY, named),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            status, body = reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as refused:
        status, body = refused.code, json.loads(refused.read())

    assert status == 401, body
    assert body["error"] == "Unauthenticated" and identity.CALLER_HEADER in body["message"]


def test_ctrl_c_stops_the_engine_cleanly(make_run: MakeRun) -> None:
    """After the tests above (the same server, when they ran first), Ctrl-C stops it and its engine."""
    run = make_run.running()

    err = make_run.stop()

    assert run.returncode == 0
    assert "stopping the local engine" in err
    assert "Traceback" not in err
