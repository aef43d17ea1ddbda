"""Scheduled work: the idle-cluster teardown sweep, and the warm pools' fill."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib.model.settings import ENV_POOL_FILL_EVERY_MINUTES, ENV_REAP_EVERY_MINUTES
from chalicelib.operations import delete, leases, notify
from chalicelib.operations.context import Context

schedules = Blueprint(__name__)

# The rate is fixed when the app is packaged; reading the variable here touches no AWS.
REAP_EVERY_MINUTES = int(os.environ.get(ENV_REAP_EVERY_MINUTES, "60"))
REAPER = "ekspress-reaper"
POOL_FILL_EVERY_MINUTES = int(os.environ.get(ENV_POOL_FILL_EVERY_MINUTES, "5"))


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


def run_fill(now: datetime | None = None) -> dict[str, Any]:
    """One fill of every warm pool with the deployed settings and clients (what the schedule runs)."""
    from chalicelib.operations import pools  # here: the sweep's function starts without the pools' models

    return pools.fill(Context.default(), now or datetime.now(UTC))


@schedules.schedule(Rate(POOL_FILL_EVERY_MINUTES, unit=Rate.MINUTES), name="fill_pools")
def fill_pools(event: Any) -> dict[str, Any]:
    return run_fill()
