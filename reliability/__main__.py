"""`make reliability`: run every fault and load scenario, print the table, write it into README.md.

The scenarios are `reliability.scenarios`, the ones tests/e2e asserts on. The table goes
between the README's `<!-- reliability:begin -->` and `<!-- reliability:end -->` markers,
so what the README says is what the last run printed. Exit status 1 if any scenario failed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import re
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from bench.report import Section

if TYPE_CHECKING:
    from collections.abc import Iterator

    from reliability.scenarios import CountingApi, Outcome

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- reliability:begin -->", "<!-- reliability:end -->"
SECURITY_BEGIN, SECURITY_END = "<!-- security:begin -->", "<!-- security:end -->"
HEADERS = ("scenario", "requests tried", "5xx seen", "faults injected", "duplicate workflows", "records lost", "result")


@contextlib.contextmanager
def local_api() -> Iterator[tuple[CountingApi, object]]:
    """The local engine with faults installed, and the API on Chalice's local server, quietly."""
    from chalice.config import Config
    from chalice.local import ChaliceRequestHandler, create_local_server

    from local import faults
    from local.engine import LocalEngine
    from reliability.scenarios import CountingApi

    warnings.filterwarnings("ignore", message="IAMAuthorizer is not a supported in local mode")
    engine = LocalEngine(poll_scale=0.001).start()
    faults.install()
    # The scenarios build more clusters in one region than a new account holds (4): an account
    # whose quota increases were approved. `make run` keeps AWS's defaults.
    from local import account_quotas

    account_quotas.raise_all(200)
    from app import app
    from chalicelib.observability import SERVICE

    logging.getLogger(SERVICE).setLevel(logging.ERROR)
    config = Config(chalice_stage="local")
    server = create_local_server(app, config, "127.0.0.1", 0)
    server.server.socket.listen(512)  # Chalice's backlog of 5 resets bursts of connections
    quiet = type("QuietHandler", (ChaliceRequestHandler,), {"log_message": lambda self, *args: None})
    server.server.RequestHandlerClass = functools.partial(quiet, app_object=app, config=config)
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    try:
        yield CountingApi(f"http://127.0.0.1:{server.server.server_address[1]}"), engine
    finally:
        server.shutdown()
        engine.stop()


def row(outcome: Outcome) -> list[object]:
    result = "pass" if outcome.ok else "FAIL: " + "; ".join(outcome.failures)
    from reliability.scenarios import DUPLICATE_WORKFLOWS

    duplicates = outcome.facts.get(DUPLICATE_WORKFLOWS, "-")
    return [
        outcome.scenario,
        outcome.tried,
        len(outcome.five_xx),
        outcome.injected,
        duplicates,
        len(outcome.lost),
        result,
    ]


def write_readme(table: str, path: Path = README, begin: str = BEGIN, end: str = END) -> None:
    text = path.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{path.name} has no {begin} ... {end} markers")
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    path.write_text(pattern.sub(lambda _: f"{begin}\n{table.rstrip()}\n{end}", text, count=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-readme", action="store_true", help="print the table only")
    args = parser.parse_args(argv)

    from reliability import scenarios, security, strict

    rows: list[list[object]] = []
    security_rows: list[list[object]] = []
    ok = True
    with local_api() as (api, engine):
        for attempt_of in security.SECURITY:
            try:
                attempt = attempt_of(api, engine)  # type: ignore[arg-type]
                security_rows.append(attempt.row())
                ok &= attempt.ok
            except Exception as exc:  # reported like a broken scenario
                traceback.print_exc()
                security_rows.append([attempt_of.__name__, "-", "-", "-", f"FAIL: {type(exc).__name__}: {exc}"])
                ok = False
            print(f"{attempt_of.__name__}: done", file=sys.stderr, flush=True)
        for scenario in (*scenarios.FAULTS, *scenarios.STACK_EVENTS, *strict.STRICT, *scenarios.LOAD):
            started = time.monotonic()
            try:
                outcome = scenario(api, engine)  # type: ignore[arg-type]
                rows.append(row(outcome))
                ok &= outcome.ok
                detail = ", ".join(f"{k} {v}" for k, v in outcome.facts.items() if k != "stacks")
            except Exception as exc:  # a broken scenario is reported, the others still run
                traceback.print_exc()
                rows.append([scenario.__name__, "-", "-", "-", "-", "-", f"FAIL: {type(exc).__name__}: {exc}"])
                ok = False
                detail = ""
            finally:
                scenarios.reset()
            print(f"{scenario.__name__}: {time.monotonic() - started:.1f} s {detail}", file=sys.stderr, flush=True)
    section = Section("Reliability")
    section.table(HEADERS, rows)
    table = "\n".join(section.lines)
    print(table)
    checks = Section("Security")
    checks.table(security.HEADERS, security_rows)
    security_table = "\n".join(checks.lines)
    print(security_table)
    if not args.no_readme:
        write_readme(table)
        write_readme(security_table, begin=SECURITY_BEGIN, end=SECURITY_END)
        print(f"written to {README.name}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
