"""Scheduled work: the idle-cluster teardown sweep."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib.model.settings import ENV_REAP_EVERY_MINUTES
from chalicelib.operations import delete, leases, notify
from chalicelib.operations.context import Context

schedules = Blueprint(__name__)

# The rate is fixed when the app is packaged; reading the variable here touches no AWS.
REAP_EVERY_MINUTES = int(os.environ.get(ENV_REAP_EVERY_MINUTES, "60"))
REAPER = "ekspress-reaper"


def run_sweep(now: datetime | None = None) -> dict[str, list[str]]:
    """One sweep with the deployed settings and clients (what the schedule runs)."""
    ctx = Context.default()
    now = now or datetime.now(UTC)
    return leases.sweep(
        ctx.store,
        ctx.settings,
        now,
        notify=notify.teardown_notifier(ctx.settings),
        delete=lambda name: delete.request_delete(ctx, name, REAPER),
        busy=leases.node_cpu_busy(ctx.clients, ctx.settings, now),
    )


@schedules.schedule(Rate(REAP_EVERY_MINUTES, unit=Rate.MINUTES), name="reap_idle_clusters")
def reap_idle_clusters(event: Any) -> dict[str, list[str]]:
    return run_sweep()
