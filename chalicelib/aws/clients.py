"""Lazily built AWS clients, passed into the domain code.

Nothing here talks to AWS, or even imports boto3, until a client is first used:
every Lambda in the app shares this import path, so cold start pays only for
the clients a handler really touches.
"""

from __future__ import annotations

import threading
from typing import Any

# Retries for throttling and transient faults happen in botocore ("standard"
# mode, with its retry quota); workflow-level retries live in the ASL.
_CLIENT_CONFIG = {"retries": {"mode": "standard", "max_attempts": 5}}
# The codes AWS throttles with, as the ASL's Retry names them (statemachine/*.asl.json).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
    }
)


class ThrottledError(Exception):
    """AWS still throttled after botocore's retries. Subclasses are named by AWS's error code."""


def throttled_error(exc: BaseException) -> ThrottledError | None:
    """`exc` as an exception named by its AWS error code, if AWS throttled it and botocore named it otherwise.

    Step Functions matches a task's error by the exception's type name. botocore names
    an error after its code only when the service models it: CloudFormation's
    `Throttling` and EC2's `RequestLimitExceeded` arrive as `ClientError`, which the
    ASL's throttling Retry would never match.
    """
    response = getattr(exc, "response", None)
    code = ((response or {}).get("Error") or {}).get("Code") if isinstance(response, dict) else None
    if code not in THROTTLING_CODES or type(exc).__name__ == code:
        return None
    named: type[ThrottledError] = type(str(code), (ThrottledError,), {"__module__": __name__})
    return named(str(exc))


class Clients:
    """AWS clients of one boto3 session, each created on first use and cached (per service and region)."""

    def __init__(self, region: str | None = None) -> None:
        self._region = region
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        # One session for all of them: each session parses botocore's service and endpoint data anew.
        self._session: Any = None

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self._region)
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    # Imported here, not at module level: see the module docstring.
                    import boto3
                    from botocore.config import Config

                    if self._session is None:
                        self._session = boto3.session.Session()
                    client = self._session.client(service, region_name=key[1], config=Config(**_CLIENT_CONFIG))
                    self._clients[key] = client
        return client

    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    def stepfunctions(self) -> Any:
        return self.client("stepfunctions")

    def cloudformation(self, region: str) -> Any:
        return self.client("cloudformation", region)

    def ec2(self, region: str) -> Any:
        return self.client("ec2", region)

    def eks(self, region: str) -> Any:
        return self.client("eks", region)

    def servicequotas(self, region: str) -> Any:
        return self.client("service-quotas", region)

    def token_sts(self, region: str) -> Any:
        """The regional STS client that presigns EKS tokens (prepared once, then cached)."""
        key = ("sts-eks-token", region)
        client = self._clients.get(key)
        if client is None:
            from chalicelib.kube.token import prepare_token_client

            client = prepare_token_client(self.client("sts", region))
            self._clients[key] = client
        return client


_default: Clients | None = None


def default_clients() -> Clients:
    """The process-wide Clients, reused across warm Lambda invocations."""
    global _default
    if _default is None:
        _default = Clients()
    return _default


def reset_default_clients() -> None:
    """Forget cached clients (tests and the local engine re-point endpoints)."""
    global _default
    _default = None
