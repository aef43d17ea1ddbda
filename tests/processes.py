"""Run a snippet in fresh interpreters: what a determinism test must compare across, not two calls in one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Two string-hash seeds, as two Lambda cold starts may have.
HASH_SEEDS = ("1", "2")
# Printed last by every run: a set's order, which the seed decides. Different orders prove the
# runs really hashed differently, so equal outputs mean the snippet does not depend on it.
_CONTROL = "\nprint(list({'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'}))\n"


def outputs_under_hash_seeds(code: str, seeds: tuple[str, ...] = HASH_SEEDS) -> dict[str, str]:
    """Seed → what `code` printed, each run in its own interpreter with PYTHONHASHSEED=seed."""
    found: dict[str, str] = {}
    controls: set[str] = set()
    for seed in seeds:
        done = subprocess.run(
            [sys.executable, "-c", code + _CONTROL],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        output, control = done.stdout.rstrip("\n").rsplit("\n", 1) if "\n" in done.stdout.rstrip("\n") else ("", "")
        found[seed] = output
        controls.add(control)
    assert len(controls) == len(seeds), f"the seeds {seeds} hashed alike: {controls}"
    return found
