"""Failures the emulator answers with: ApiError and the Kubernetes Status object it becomes."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failure to answer as a Kubernetes Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Kubernetes Status object for a failure."""
    answer: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        answer["details"] = details
    return answer


def not_found(kind: str, name: str) -> ApiError:
    """The 404 for a missing named object of a kind (plural resource name, e.g. configmaps)."""
    return ApiError(404, "NotFound", f'{kind} "{name}" not found', {"name": name, "kind": kind})
