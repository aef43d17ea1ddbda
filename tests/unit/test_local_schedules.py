"""`make run` runs the deployment's schedules itself (the warm pools' fill): a job on a timer that
a failure does not stop, and that stops when told."""

from __future__ import annotations

import threading

from local.run import _every


def test_a_scheduled_job_runs_again_after_a_failure_and_stops_when_told() -> None:
    runs: list[int] = []
    twice = threading.Event()

    def job() -> None:
        runs.append(1)
        if len(runs) >= 2:
            twice.set()
        raise RuntimeError("the pool fill failed")

    stop = _every(0.01, job)
    try:
        assert twice.wait(5)
    finally:
        stop.set()
    seen = len(runs)
    assert not threading.Event().wait(0.05) and len(runs) <= seen + 1
