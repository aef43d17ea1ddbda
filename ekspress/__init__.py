"""ekspress: a typed Python client for the ekspress API, and the `ekspress` command line.

Importable without the service's own dependencies: pydantic, PyYAML and botocore (for SigV4) only.
"""

from __future__ import annotations

from ekspress.client import Client
from ekspress.errors import (
    ApiError,
    BadRequest,
    ClusterFailed,
    Conflict,
    Forbidden,
    NotFound,
    ServerError,
    Unauthenticated,
    ValidationFailed,
    WaitTimeout,
)

__all__ = [
    "ApiError",
    "BadRequest",
    "Client",
    "ClusterFailed",
    "Conflict",
    "Forbidden",
    "NotFound",
    "ServerError",
    "Unauthenticated",
    "ValidationFailed",
    "WaitTimeout",
]
