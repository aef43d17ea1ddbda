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

import pytest

from tests.e2e.conftest import as_from_a_terminal

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


def test_ctrl_c_stops_the_engine_cleanly() -> None:
    env = {**os.environ, "EKSPRESS_PORT": str(_free_port())}
    run = subprocess.Popen(
        [sys.executable, "-m", "local.run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
        preexec_fn=as_from_a_terminal,
    )
    assert run.stdout is not None
    deadline = time.monotonic() + 120
    line = ""
    while "ekspress API on" not in line and time.monotonic() < deadline:
        line = run.stdout.readline()
        if not line:
            break
    assert "ekspress API on" in line

    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)

    assert run.returncode == 0
    assert "stopping the local engine" in err
    assert "Traceback" not in err


def test_a_caller_header_signed_with_the_well_known_key_names_nobody() -> None:
    """`make run` signs callers with a key of its own: a header signed with the engine's default key is refused."""
    from chalicelib.aws import identity
    from chalicelib.model.settings import ENV_LOCAL_IDENTITY_KEY
    from local.engine import LOCAL_IDENTITY_KEY

    port = _free_port()
    env = {**os.environ, "EKSPRESS_PORT": str(port)}
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
    try:
        assert run.stdout is not None
        deadline = time.monotonic() + 120
        line = ""
        while "ekspress API on" not in line and time.monotonic() < deadline:
            line = run.stdout.readline()
            if not line:
                break
        assert "ekspress API on" in line
        named = "arn:aws:iam::123456789012:role/Admin"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/clusters",
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
    finally:
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=60)

    assert status == 401, body
    assert body["error"] == "Unauthenticated" and identity.CALLER_HEADER in body["message"]
