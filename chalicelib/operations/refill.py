"""Ask the warm pools' fill to run now, rather than at its next scheduled run.

Kept apart from operations/pools.py (which imports the pool and cluster request models) so the steps
that call it, a pool cluster turning ACTIVE among them, start without those models.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.observability import logger
from chalicelib.operations.leases import iso

if TYPE_CHECKING:
    from chalicelib.operations.context import Context


def refill(ctx: Context, pool: str, why: str = "Pool Cluster Claimed") -> None:
    """Invoke the pools' fill function asynchronously: a claimed cluster's replacement starts at once,
    and a cluster that just became READY goes to a claim waiting for it at once.

    Best effort: the schedule still comes, so a refused invoke is only logged. The fill runs one at a
    time (the template reserves it a concurrency of 1).
    """
    function = ctx.settings.pool_fill_function
    if not function:
        return
    # The function is a schedule's: it takes an EventBridge event (Chalice reads these keys).
    event = {
        "version": "0",
        "id": uuid.uuid4().hex,
        "detail-type": why,
        "source": "ekspress.pools",
        "account": "",
        "time": iso(datetime.now(UTC)),
        "region": "",
        "resources": [],
        "detail": {"pool": pool},
    }
    try:
        payload = json.dumps(event).encode()
        ctx.clients.client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=payload)
    except Exception as exc:  # any failure here leaves the fill to the schedule
        logger.warning("pool refill not requested", extra={"pool": pool, "reason": str(exc)})
