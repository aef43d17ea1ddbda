"""EKS bearer token verification as aws-iam-authenticator does it: a presigned STS GetCallerIdentity URL."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlsplit

from local.credentials import Credential

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

TOKEN_PREFIX = "k8s-aws-v1."
K8S_AWS_ID_HEADER = "x-k8s-aws-id"
MAX_EXPIRES_SECONDS = 60  # `aws eks get-token` presigns for 60 s
CLOCK_SKEW = dt.timedelta(seconds=30)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()  # botocore signs STS presigned URLs with the empty-body hash
SIGV4_DATE = "%Y%m%dT%H%M%SZ"
ALLOWED_PARAMS = {
    "Action",
    "Version",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
}


class TokenError(Exception):
    """An EKS bearer token that does not prove an identity for this cluster."""


def _is_loopback(host: str) -> bool:
    """Whether a host[:port] names a loopback address."""
    hostname = urlsplit(f"//{host}").hostname or ""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _sigv4_quote(value: str) -> str:
    """URI-encode as SigV4 requires (everything but unreserved characters)."""
    return quote(value, safe="-_.~")


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """Derive the SigV4 signing key for a credential scope."""
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def verify_token(
    token: str, cluster_name: str, sts_hosts: set[str], secrets: Mapping[str, str], now: dt.datetime | None = None
) -> str:
    """Verify an EKS bearer token signed with a long-term key of `secrets` (access key → secret); its access key id."""

    def lookup(akid: str) -> Credential | None:
        return Credential(akid, secrets[akid], "", fixed=True) if akid in secrets else None

    return verify(token, cluster_name, sts_hosts, lookup, now).access_key_id


def verify(
    token: str,
    cluster_name: str,
    sts_hosts: set[str],
    lookup: Callable[[str], Credential | None],
    now: dt.datetime | None = None,
) -> Credential:
    """Verify an EKS bearer token (presigned STS GetCallerIdentity URL) and return the credential that signed it.

    `lookup` names the secret (and, for temporary credentials, the session token) of an access key, as the
    STS that issued it knows them; an unknown key, a missing or wrong session token, or a session token sent
    with a long-term key is refused, as STS refuses them (fixed keys: no session token is checked).
    """
    if not token.startswith(TOKEN_PREFIX):
        raise TokenError("token lacks the k8s-aws-v1. prefix")
    encoded = token[len(TOKEN_PREFIX) :]
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        parts = urlsplit(url)
    except (ValueError, UnicodeDecodeError) as error:
        raise TokenError(f"token does not decode to a URL: {error}") from None
    host = parts.netloc
    if host not in sts_hosts:
        raise TokenError(f"unexpected STS host {host!r}")
    # Plain http is only tolerable for the local engine's own STS on a loopback address.
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(host)):
        raise TokenError(f"unexpected scheme {parts.scheme!r}")

    pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    params = dict(pairs)
    if len(params) != len(pairs):
        raise TokenError("repeated query parameter")
    unexpected = set(params) - ALLOWED_PARAMS
    if unexpected:
        raise TokenError(f"unexpected query parameters {sorted(unexpected)}")
    expected = {"Action": "GetCallerIdentity", "Version": "2011-06-15", "X-Amz-Algorithm": "AWS4-HMAC-SHA256"}
    for key, value in expected.items():
        if params.get(key) != value:
            raise TokenError(f"{key} must be {value}")
    for key in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"):
        if not params.get(key):
            raise TokenError(f"missing {key}")

    credential = params["X-Amz-Credential"].split("/")
    if len(credential) != 5 or credential[3] != "sts" or credential[4] != "aws4_request":
        raise TokenError("malformed X-Amz-Credential")
    akid, scope_date, region, service, _ = credential
    try:
        signed_at = dt.datetime.strptime(params["X-Amz-Date"], SIGV4_DATE).replace(tzinfo=dt.UTC)
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        raise TokenError("malformed X-Amz-Date or X-Amz-Expires") from None
    if scope_date != params["X-Amz-Date"][:8]:
        raise TokenError("credential scope date does not match X-Amz-Date")
    if not 0 < expires <= MAX_EXPIRES_SECONDS:
        raise TokenError(f"X-Amz-Expires must be between 1 and {MAX_EXPIRES_SECONDS}")
    now = now or dt.datetime.now(dt.UTC)
    if now > signed_at + dt.timedelta(seconds=expires) + CLOCK_SKEW:
        raise TokenError("token expired")
    if signed_at > now + CLOCK_SKEW:
        raise TokenError("token signed in the future")

    signed_headers = params["X-Amz-SignedHeaders"].split(";")
    if K8S_AWS_ID_HEADER not in signed_headers or "host" not in signed_headers:
        raise TokenError("X-Amz-SignedHeaders must include host and x-k8s-aws-id")
    # Only these two headers travel with the token; anything else signed could not be reproduced.
    if set(signed_headers) != {"host", K8S_AWS_ID_HEADER}:
        raise TokenError(f"unsupported signed headers {signed_headers}")
    found = lookup(akid)
    if found is None:
        raise TokenError(f"unknown access key {akid!r}")
    presented = params.get("X-Amz-Security-Token")
    if not found.fixed and found.session_token is None and presented is not None:
        raise TokenError(f"a session token with the long-term access key {akid!r}")
    if (
        not found.fixed
        and found.session_token is not None
        and not hmac.compare_digest(presented or "", found.session_token)
    ):
        raise TokenError(f"missing or wrong session token for temporary access key {akid!r}")

    canonical_query = "&".join(
        f"{k}={v}" for k, v in sorted((_sigv4_quote(k), _sigv4_quote(v)) for k, v in pairs if k != "X-Amz-Signature")
    )
    header_values = {"host": host.lower(), K8S_AWS_ID_HEADER: cluster_name}
    canonical_headers = "".join(f"{name}:{header_values[name]}\n" for name in sorted(signed_headers))
    canonical_request = "\n".join(
        [
            "GET",
            quote(parts.path or "/", safe="/~"),
            canonical_query,
            canonical_headers,
            ";".join(sorted(signed_headers)),
            EMPTY_SHA256,
        ]
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            f"{scope_date}/{region}/{service}/aws4_request",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    signing_key = _signing_key(found.secret, scope_date, region, service)
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, params["X-Amz-Signature"].lower()):
        raise TokenError("signature mismatch (wrong secret, tampered URL or another cluster's token)")
    return found
