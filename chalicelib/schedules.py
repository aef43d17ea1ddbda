"""Scheduled work: the idle-cluster teardown sweep."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib import clusters, leases, notify
from chalicelib.aws import default_clients
from chalicelib.settings import ENV_REAP_EVERY_MINUTES, get_settings
from chalicelib.store import Store

schedules = Blueprint(__name__)

# The rate is fixed when the app is packaged; reading the variable here touches no AWS.
REAP_EVERY_MINUTES = int(os.environ.get(ENV_REAP_EVERY_MINUTES, "60"))
REAPER = "ekspress-reaper"


def run_sweep(now: datetime | None = None) -> dict[str, list[str]]:
    """One sweep with the deployed settings and clients (what the schedule runs)."""
    settings = get_settings()
    clients = default_clients()
    db = Store(clients.dynamodb(), settings.table_name)
    sfn = clients.stepfunctions()
    now = now or datetime.now(UTC)
    return leases.sweep(
        db,
        settings,
        now,
        notify=notify.teardown_notifier(settings),
        delete=lambda name: clusters.request_delete(db, sfn, settings, name, REAPER),
        busy=leases.node_cpu_busy(clients, settings, now),
    )


@schedules.schedule(Rate(REAP_EVERY_MINUTES, unit=Rate.MINUTES), name="reap_idle_clusters")
def reap_idle_clusters(event: Any) -> dict[str, list[str]]:
    return run_sweep()
