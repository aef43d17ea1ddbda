"""SigV4 on the local server, as API Gateway's AWS_IAM authorizer checks it.

A request with an `Authorization: AWS4-HMAC-SHA256 ...` header is verified against the secret of
the access key it names, among the keys the engine's IAM and STS issued (`local.credentials`).
Verified, its caller is the key's principal, passed on to the app as the local server names
callers (the signed `X-Ekspress-Caller` header, chalicelib/aws/identity.py). A request without
the header stays the local developer's, as before. Anything else is refused with API Gateway's
words: an unknown or expired key, a missing or wrong session token (or one sent with a long-term
key), a signature that does not match (the payload hash is the body's, whatever
`X-Amz-Content-SHA256` claims), a credential scoped to another region or service, a date more
than five minutes off. A signature in the query string (a presigned URL) is refused rather than
verified: it is never taken for an unsigned request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from chalicelib.aws import identity

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from local.credentials import Credential

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"
MAX_SKEW = dt.timedelta(minutes=5)
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
INVALID_TOKEN = "The security token included in the request is invalid."
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)


PRESIGNED = "Signatures in the query string (X-Amz-Signature) are not accepted here: sign the Authorization header."
# Query parameters of SigV4's query-string form; any of them makes a request a signed one.
_QUERY_SIGNING = frozenset({"x-amz-signature", "x-amz-credential", "x-amz-algorithm"})


class SignatureRefused(Exception):
    """The request is signed, but not so that API Gateway would take it (403)."""


def signed(headers: Mapping[str, str], path: str = "") -> bool:
    """Whether the request carries a SigV4 signature, in its Authorization header or its query string."""
    return presigned(path) or any(k.lower() == "authorization" and v.startswith(ALGORITHM) for k, v in headers.items())


def presigned(path: str) -> bool:
    """Whether the query string carries SigV4's query-string signing parameters."""
    query = urlsplit(path).query
    return any(name.lower() in _QUERY_SIGNING for name, _ in parse_qsl(query, keep_blank_values=True))


def verify(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes | None,
    lookup: Callable[[str], Credential | None],
    now: dt.datetime | None = None,
    *,
    region: str,
) -> str:
    """The ARN of the verified signer of this request to the API in `region`, or SignatureRefused."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    if presigned(path):
        raise SignatureRefused(PRESIGNED)
    lowered = {k.lower(): v for k, v in headers.items()}
    match = _AUTHORIZATION.match(lowered.get("authorization", "").strip())
    if not match:
        raise SignatureRefused(f"Authorization header requires Credential, SignedHeaders and Signature ({ALGORITHM}).")
    if match["service"] != SERVICE:
        raise SignatureRefused(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if match["region"] != region:
        raise SignatureRefused(f"Credential should be scoped to a valid region, not '{match['region']}'.")
    credential = lookup(match["key"])
    if credential is None:
        raise SignatureRefused(INVALID_TOKEN)
    token = lowered.get("x-amz-security-token")
    if credential.session_token:
        if not hmac.compare_digest((token or "").encode(), credential.session_token.encode()):
            raise SignatureRefused(INVALID_TOKEN)
    elif token is not None and not credential.fixed:
        # A long-term (IAM user's) key has no session: a token sent with it is not one STS issued for it.
        raise SignatureRefused(INVALID_TOKEN)
    amz_date = lowered.get("x-amz-date", "")
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise SignatureRefused(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        ) from None
    if abs((now or dt.datetime.now(dt.UTC)) - when) > MAX_SKEW or not amz_date.startswith(match["date"]):
        raise SignatureRefused(f"Signature expired: {amz_date} is now earlier or later than the allowed 5 minutes.")
    names = match["signed"].split(";")
    if "host" not in names or any(name not in lowered for name in names):
        raise SignatureRefused(MISMATCH)
    # API Gateway hashes the body it received; a claimed hash (or UNSIGNED-PAYLOAD) that is not it cannot match.
    payload_hash = hashlib.sha256(body or b"").hexdigest()
    claimed = lowered.get("x-amz-content-sha256")
    if claimed is not None and not hmac.compare_digest(claimed.strip().lower().encode(), payload_hash.encode()):
        raise SignatureRefused(MISMATCH)
    request = AWSRequest(
        method=method,
        url=f"http://{lowered['host']}{path}",
        data=body or b"",
        headers={name: lowered[name] for name in names},
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(credential.access_key_id, credential.secret), SERVICE, match["region"])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureRefused(MISMATCH)
    return credential.arn


def caller_headers(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key: str,
    lookup: Callable[[str], Credential | None],
    *,
    region: str,
) -> dict[str, str]:
    """The headers the app is given: a signed request's verified caller named as the local server names callers.

    Unsigned requests are passed on as they came. A signed one never carries a caller of its own choosing.
    """
    if not signed(headers, path):
        return dict(headers)
    arn = verify(method, path, headers, body, lookup, region=region)
    passed = {k: v for k, v in headers.items() if k.lower() not in (identity.CALLER_HEADER, identity.SIGNATURE_HEADER)}
    passed[identity.CALLER_HEADER] = arn
    passed[identity.SIGNATURE_HEADER] = identity.sign(key, arn)
    return passed
