"""Errors the domain code raises; entry points map them to HTTP or ASL errors."""

from __future__ import annotations

import re
from typing import Any


class EkspressError(Exception):
    """Base class. `status` is the HTTP status an API caller sees."""

    status = 500
    code = "InternalError"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.details}


class BadRequestError(EkspressError):
    status = 400
    code = "BadRequest"


class SpecValidationError(EkspressError):
    """The request is well-formed JSON but breaks a rule; `fields` says which."""

    status = 422
    code = "ValidationError"


class NotFoundError(EkspressError):
    status = 404
    code = "NotFound"


class ForbiddenError(EkspressError):
    status = 403
    code = "Forbidden"


class ConflictError(EkspressError):
    status = 409
    code = "Conflict"


class WorkflowStartError(EkspressError):
    status = 503
    code = "WorkflowUnavailable"


class StackNotOursError(EkspressError):
    """A stack with our name exists but does not carry our ownership tags."""

    status = 409
    code = "StackNotOurs"


class StackFailedError(EkspressError):
    """A CloudFormation stack ended in a failed state; message is the first failure."""

    code = "StackFailed"


class StackTimedOut(EkspressError):
    """A stack was still in progress at its deadline: the workflow fails rather than poll it forever.

    Named without the usual `Error` suffix because Lambda reports a raised exception by its
    class name, and this is the error name the workflows and the record show. The stack
    is left as CloudFormation has it; deleting the cluster removes it.
    """

    code = "StackTimedOut"
    _SENTENCE = re.compile(r"^timed out after \S+ min waiting for stack (?P<stack>\S+) \(status \w+\)$")

    @classmethod
    def waiting(cls, stack: str, status: str, minutes: float) -> StackTimedOut:
        return cls(f"timed out after {minutes:g} min waiting for stack {stack} (status {status})", stack=stack)

    @classmethod
    def stack_in(cls, message: str) -> str | None:
        """The stack a timeout's message names: a workflow error carries the message, not the details."""
        match = cls._SENTENCE.match(message)
        return match["stack"] if match else None
