"""Cluster statuses, in a module of their own: the store and every task read them, and none of
them should import the record's pydantic models (cold starts) to do so."""

from __future__ import annotations

# A name is free again only once its cluster is DELETED.
CREATING = "CREATING"
ACTIVE = "ACTIVE"
FAILED = "FAILED"
DELETING = "DELETING"
DELETE_FAILED = "DELETE_FAILED"
DELETED = "DELETED"
# A claim waiting for its warm pool's next READY cluster (`whenPoolEmpty: wait`): nothing is built for it.
WAITING = "WAITING"
