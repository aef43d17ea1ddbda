"""Run several Lambda handlers of one module the way Lambda does, each in its own copy of a fresh interpreter.

Usage: python lambda_module_probe.py < PROBES_JSON, where PROBES_JSON is a list of
`[HANDLER, EVENT_OR_NULL]` whose handlers all live in one module. This interpreter imports
that module alone (never `app.py`, unless the module is `app`), which is what Lambda's init
does, then forks once per handler (a few at a time): every handler runs in a copy of that just-initialised
interpreter and sees nothing another handler did. Each child answers as lambda_probe.py does.
The last line printed is a JSON object: handler -> answer.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from typing import Any

from lambda_probe import main as probe_one


def _start_child(handler: str, event: str | None) -> tuple[int, int]:
    """`lambda_probe.main(handler, event)` in a forked copy of this interpreter: its pid and the pipe it answers on."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, then leave without running any cleanup of the parent's
        os.close(read_end)
        try:
            answer = probe_one(handler, event)
        except BaseException as exc:
            answer = f"crashed: {type(exc).__name__}: {exc}"
        with os.fdopen(write_end, "wb") as out:
            out.write(answer.encode())
        os._exit(0)
    os.close(write_end)
    return pid, read_end


def _answer(pid: int, read_end: int) -> str:
    with os.fdopen(read_end, "rb") as answer_pipe:
        answer_bytes = answer_pipe.read()
    _, status = os.waitpid(pid, 0)
    return answer_bytes.decode() if answer_bytes else f"no answer (wait status {status})"


def run(probes: list[tuple[str, Any]]) -> dict[str, str]:
    modules = {handler.rpartition(".")[0] for handler, _ in probes}
    if len(modules) != 1:
        raise SystemExit(f"the handlers must share one module, not {sorted(modules)}")
    # Lambda's init. A module that cannot be imported is reported by each child, which imports it again.
    with contextlib.suppress(Exception):
        importlib.import_module(modules.pop())
    # What lambda_probe.throttle_every_call imports in each child before it runs the handler, imported once here.
    importlib.import_module("botocore.client")
    importlib.import_module("botocore.exceptions")
    answers: dict[str, str] = {}
    # A few children at a time: each is independent of the others, as separate Lambda functions are.
    at_once = max(2, os.cpu_count() or 1)
    for first in range(0, len(probes), at_once):
        batch = probes[first : first + at_once]
        started = [(h, _start_child(h, None if event is None else json.dumps(event))) for h, event in batch]
        answers.update((h, _answer(*child)) for h, child in started)
    return answers


if __name__ == "__main__":
    print(json.dumps(run([(handler, event) for handler, event in json.load(sys.stdin)])))
