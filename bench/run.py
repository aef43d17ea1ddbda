"""Run every benchmark, print the report and write it to bench/RESULTS.md (`make bench`).

Each part reports figures and ratios against its target; nothing here fails on a number.
A part that crashes is reported with its error, the others still run, and the exit status
is then 1 (a broken benchmark is a bug; a slow figure is not).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.report import Section

if TYPE_CHECKING:
    from collections.abc import Callable

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
ROOT = RESULTS.parent.parent


def _cold_start() -> list[Section]:
    from bench import cold_start

    return [cold_start.run()]


def _simulation() -> list[Section]:
    from bench import api_budget, cost

    results = cost.run_all()
    # The comparison's last columns are the 500-creates burst; the api_budget part reuses the same run.
    bursts = api_budget.run_all()
    return [cost.comparison_section(results, bursts), cost.cost_section(results), cost.lag_section(results)]


def _api_budget() -> list[Section]:
    from bench import api_budget

    return [api_budget.budget_section(api_budget.run_all())]


def _pools() -> list[Section]:
    from bench import pools

    return [pools.run()]


def _fleet() -> list[Section]:
    from bench import fleet

    return [fleet.run()]


def _memory() -> list[Section]:
    from bench import memory

    return [memory.run()]


def _e2e() -> list[Section]:
    from bench import e2e

    return [e2e.run()]


# In this order: the fleet runs moto in-process before the local engine points the
# process's environment at its server; the engine goes last.
PARTS: dict[str, Callable[[], list[Section]]] = {
    "cold_start": _cold_start,
    "cost": _simulation,
    "api_budget": _api_budget,
    "pools": _pools,
    "fleet": _fleet,
    "memory": _memory,
    "e2e": _e2e,
}


def machine() -> list[str]:
    """What the figures were measured on."""
    return [
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- CPUs: {os.cpu_count()} ({platform.processor() or platform.machine()})",
        f"- Python: {platform.python_implementation()} {platform.python_version()}",
        f"- platform: {platform.platform()}",
        f"- revision: {_revision()}",
    ]


def _revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' with uncommitted changes' if dirty else ''}"


def run_part(name: str, part: Callable[[], list[Section]]) -> tuple[list[Section], float, bool]:
    started = time.perf_counter()
    try:
        sections = part()
        ok = True
    except Exception:
        failed = Section(f"{name}: FAILED")
        failed.text("```")
        failed.lines.extend(traceback.format_exc().rstrip().splitlines()[-15:])
        failed.text("```")
        sections, ok = [failed], False
    return sections, time.perf_counter() - started, ok


def summary(sections: list[Section], timings: dict[str, float], total: float) -> Section:
    section = Section("Targets at a glance")
    section.table(["target", "figure", "verdict"], [t for s in sections for t in s.targets])
    parts = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
    section.text(f"Runtime: {parts}; total {total:.0f} s.")
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help=f"comma-separated parts ({', '.join(PARTS)}); skips writing RESULTS.md")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(PARTS)
    unknown = set(chosen) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    sections: list[Section] = []
    timings: dict[str, float] = {}
    ok = True
    for name in chosen:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        produced, seconds, part_ok = run_part(name, PARTS[name])
        timings[name] = seconds
        ok = ok and part_ok
        for section in produced:
            print(section.markdown(), flush=True)
        sections.extend(produced)
    head = summary(sections, timings, time.perf_counter() - started)
    print(head.markdown(), flush=True)
    if not args.only:
        RESULTS.write_text(report(head, sections))
        print(f"[bench] wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0 if ok else 1


def report(head: Section, sections: list[Section]) -> str:
    intro = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run`); every run overwrites this file. Figures and ratios only:",
        "no benchmark asserts a time. What is measured and what is modelled is said in each part and in the",
        "docstrings of `bench/*.py`.",
        "",
        *machine(),
        "",
    ]
    return "\n".join(intro) + "\n" + "\n".join(s.markdown() for s in (head, *sections))


if __name__ == "__main__":
    sys.exit(main())
