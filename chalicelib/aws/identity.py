"""Who is calling: the IAM principal API Gateway verified, or, on the local engine, a signed header.

On AWS every platform route is `AWS_IAM`-authorized, so API Gateway has checked the
SigV4 signature and put the caller's ARN in the request context; nothing else is
trusted. The local engine has no API Gateway: it sets `EKSPRESS_LOCAL_IDENTITY_KEY`,
and a request may then name its caller in `X-Ekspress-Caller` with an HMAC of it in
`X-Ekspress-Caller-Signature`, so tests and tools can play several callers. Without
the variable (any deployment) those headers mean nothing.

Either way the caller is named canonically, as aws-iam-authenticator names it: a
session of an assumed role (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`) is the
role (`arn:aws:iam::ACCOUNT:role/ROLE`), so whoever owns a cluster keeps it in their
next session. Owners, events, idempotency keys and the policy's ARN patterns all see
this form.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from chalicelib.model.errors import EkspressError
from chalicelib.model.mappings import canonical

if TYPE_CHECKING:
    from collections.abc import Mapping

CALLER_HEADER = "x-ekspress-caller"
SIGNATURE_HEADER = "x-ekspress-caller-signature"
# A request on the local engine that names nobody is this principal.
LOCAL_DEFAULT_CALLER = "arn:aws:iam::123456789012:user/local-developer"


class UnauthenticatedError(EkspressError):
    status = 401
    code = "Unauthenticated"


def sign(key: str, caller: str) -> str:
    return hmac.new(key.encode(), caller.encode(), hashlib.sha256).hexdigest()


def caller(context: Mapping[str, Any] | None, headers: Mapping[str, str] | None, local_key: str) -> str:
    """The caller's canonical ARN (see `canonical`), or UnauthenticatedError."""
    identity = (context or {}).get("identity") or {}
    if identity.get("userArn"):
        return canonical(str(identity["userArn"]))
    if not local_key:
        raise UnauthenticatedError("the request carries no verified IAM identity (sign it with SigV4)")
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    named = lowered.get(CALLER_HEADER)
    if not named:
        return LOCAL_DEFAULT_CALLER
    if not hmac.compare_digest(sign(local_key, named), lowered.get(SIGNATURE_HEADER, "")):
        raise UnauthenticatedError(f"the {CALLER_HEADER} header is not signed with the local engine's key")
    return canonical(named)
