"""The API's errors as exceptions: one class per status, carrying what the JSON error shape says.

Every answer of the API that is not a success is `{"error": CODE, "message": TEXT, ...}`; a 422
adds `fields` (`[{"field", "rule", "message"}]`), a 409 of a busy cluster `operation` (who holds
it and since when), a policy's 403 `rule` and `setting`.
"""

from __future__ import annotations

from typing import Any


class EkspressClientError(Exception):
    """Anything the client raises."""


class ApiError(EkspressClientError):
    """An answer of the API with a status of 400 or more."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body: dict[str, Any] = body if isinstance(body, dict) else {"message": str(body or "")}
        self.headers = headers or {}
        self.code = str(self.body.get("error") or "Error")
        self.message = str(self.body.get("message") or f"HTTP {status}")
        super().__init__(f"{status} {self.code}: {self.message}")

    @property
    def fields(self) -> list[dict[str, Any]]:
        """The fields the API named (`field`, `rule`, `message`), if any."""
        found = self.body.get("fields")
        return [f for f in found if isinstance(f, dict)] if isinstance(found, list) else []


class BadRequest(ApiError):
    """400 (malformed body or parameter) or 413 (too large)."""


class Unauthenticated(ApiError):
    """401: the request carries no identity the API trusts."""


class Forbidden(ApiError):
    """403: not the owner, or the service policy refused it (`rule`, `setting`)."""

    @property
    def rule(self) -> str | None:
        return self.body.get("rule")

    @property
    def setting(self) -> str | None:
        return self.body.get("setting")


class NotFound(ApiError):
    """404: no such cluster (or route)."""


class Conflict(ApiError):
    """409: the name is taken, the cluster is busy with an operation, or not in a state for this."""

    @property
    def operation(self) -> dict[str, Any] | None:
        operation = self.body.get("operation")
        return operation if isinstance(operation, dict) else None

    @property
    def holder(self) -> str | None:
        """Who started the operation that holds the cluster."""
        return (self.operation or {}).get("by")

    @property
    def since(self) -> str | None:
        """When that operation started."""
        return (self.operation or {}).get("startedAt")

    @property
    def cluster_status(self) -> str | None:
        return self.body.get("status")


class ValidationFailed(ApiError):
    """422: the request breaks rules; `fields` names each one."""


class ServerError(ApiError):
    """500 and above."""


class WaitTimeout(EkspressClientError):
    """`wait_until` ran out of time; `record` is the last one seen."""

    def __init__(self, message: str, record: Any = None) -> None:
        super().__init__(message)
        self.record = record


class ClusterFailed(EkspressClientError):
    """The cluster reached FAILED or DELETE_FAILED while waited on; `record.failure` says why."""

    def __init__(self, record: Any) -> None:
        self.record = record
        failure = record.failure
        reason = failure.reason if failure else "no reason recorded"
        super().__init__(f"cluster {record.name!r} is {record.status}: {reason}")


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: BadRequest,
    422: ValidationFailed,
}


def from_response(status: int, body: Any, headers: dict[str, str] | None = None) -> ApiError:
    """The exception for an error answer."""
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return kind(status, body, headers)
