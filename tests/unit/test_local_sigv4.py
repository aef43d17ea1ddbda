"""The local server's SigV4 check (local/sigv4.py) against requests the client signs."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from botocore.credentials import Credentials

from chalicelib.aws import identity
from ekspress.client import Client, RawResponse
from local import sigv4
from local.credentials import Credential

ALICE = Credential("AKIAALICE", "alice-secret", "arn:aws:iam::123456789012:user/alice")
SESSION = Credential("ASIASESSION", "session-secret", "arn:aws:sts::123456789012:assumed-role/Dev/s1", "token-1")
ENGINE = Credential("AKIAENGINE", "engine-secret", "arn:aws:iam::123456789012:user/local-developer", fixed=True)
KEYS = {c.access_key_id: c for c in (ALICE, SESSION, ENGINE)}
REGION = "us-west-2"


def signed_request(credential: Credential, body: dict[str, str] | None = None, token: str | None = None) -> dict:
    """What the client sends for a POST /clusters signed with `credential`."""
    sent: dict = {}

    def transport(method: str, url: str, headers: dict[str, str], data: bytes | None, timeout: float) -> RawResponse:
        sent.update(method=method, path=url.removeprefix("http://127.0.0.1:8000"), headers=headers, body=data)
        return RawResponse(202, {"Content-Type": "application/json"}, b'{"name": "a", "clusterId": "1", "status": "X"}')

    keys = Credentials(credential.access_key_id, credential.secret, token or credential.session_token)
    client = Client("http://127.0.0.1:8000", credentials=keys, region="us-west-2", transport=transport)
    client.create_cluster(body or {"name": "a"})
    sent["headers"] = {"Host": "127.0.0.1:8000", **sent["headers"]}
    return sent


def verify(sent: dict, **kwargs: object) -> str:
    kwargs.setdefault("region", REGION)
    return sigv4.verify(sent["method"], sent["path"], sent["headers"], sent["body"], KEYS.get, **kwargs)  # type: ignore[arg-type]


def botocore_signed(
    credential: Credential,
    body: bytes,
    headers: dict[str, str] | None = None,
    region: str = REGION,
    service: str = "execute-api",
) -> dict:
    """A POST /clusters signed by botocore's SigV4 with extra `headers` among the signed ones."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:8000/clusters",
        data=body,
        headers={"Host": "127.0.0.1:8000", "Content-Type": "application/json", **(headers or {})},
    )
    SigV4Auth(Credentials(credential.access_key_id, credential.secret), service, region).add_auth(request)
    return {"method": "POST", "path": "/clusters", "headers": dict(request.headers.items()), "body": body}


def test_a_request_the_client_signed_names_its_signer() -> None:
    assert verify(signed_request(ALICE)) == ALICE.arn
    assert verify(signed_request(SESSION)) == SESSION.arn


def test_a_changed_body_no_longer_matches() -> None:
    sent = signed_request(ALICE)
    sent["body"] = json.dumps({"name": "b"}).encode()

    with pytest.raises(sigv4.SignatureRefused, match="does not match"):
        verify(sent)


def test_an_unknown_key_or_a_wrong_session_token_is_an_invalid_token() -> None:
    with pytest.raises(sigv4.SignatureRefused, match="security token included in the request is invalid"):
        verify(signed_request(Credential("AKIANOBODY", "x", "arn:aws:iam::1:user/x")))
    with pytest.raises(sigv4.SignatureRefused, match="security token"):
        verify(signed_request(SESSION, token="other-token"))


def test_an_old_signature_has_expired() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)

    with pytest.raises(sigv4.SignatureRefused, match="Signature expired"):
        verify(signed_request(ALICE), now=later)


def test_the_app_sees_the_signer_as_the_caller_whatever_caller_header_came() -> None:
    sent = signed_request(ALICE)
    sent["headers"][identity.CALLER_HEADER] = "arn:aws:iam::123456789012:role/Admin"

    headers = sigv4.caller_headers(
        sent["method"], sent["path"], sent["headers"], sent["body"], "key", KEYS.get, region=REGION
    )

    assert identity.caller({}, headers, "key") == ALICE.arn


def test_unsigned_requests_pass_as_they_came() -> None:
    headers = {"Content-Type": "application/json"}

    assert sigv4.caller_headers("GET", "/clusters", headers, None, "key", KEYS.get, region=REGION) == headers


def test_a_body_other_than_the_one_whose_hash_was_signed_is_refused() -> None:
    """The payload hash is the received body's: a signed X-Amz-Content-SHA256 of another body does not carry it."""
    signed_body = json.dumps({"name": "a"}).encode()
    sent = botocore_signed(ALICE, signed_body, {"X-Amz-Content-SHA256": hashlib.sha256(signed_body).hexdigest()})
    assert verify(sent) == ALICE.arn

    sent["body"] = json.dumps({"name": "swapped"}).encode()

    with pytest.raises(sigv4.SignatureRefused, match="does not match"):
        verify(sent)


def test_an_unsigned_payload_is_refused() -> None:
    sent = botocore_signed(ALICE, b'{"name": "a"}', {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})

    with pytest.raises(sigv4.SignatureRefused, match="does not match"):
        verify(sent)


def test_the_credential_must_be_scoped_to_the_servers_region_and_execute_api() -> None:
    body = b'{"name": "a"}'
    assert verify(botocore_signed(ALICE, body)) == ALICE.arn

    with pytest.raises(sigv4.SignatureRefused, match="valid region, not 'eu-west-1'"):
        verify(botocore_signed(ALICE, body, region="eu-west-1"))
    with pytest.raises(sigv4.SignatureRefused, match="valid region, not 'us-west-2'"):
        verify(botocore_signed(ALICE, body), region="ap-northeast-1")
    with pytest.raises(sigv4.SignatureRefused, match="correct service: 'execute-api'"):
        verify(botocore_signed(ALICE, body, service="s3"))


def test_a_session_token_sent_with_a_long_term_key_is_refused() -> None:
    with pytest.raises(sigv4.SignatureRefused, match="security token included in the request is invalid"):
        verify(signed_request(ALICE, token="made-up-token"))
    # The engine's own fixed key checks no token, as moto's STS does (shells often carry a made-up one).
    assert verify(signed_request(ENGINE, token="made-up-token")) == ENGINE.arn


def test_the_session_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[object, object]] = []
    original = sigv4.hmac.compare_digest

    def recording(a: object, b: object) -> bool:
        compared.append((a, b))
        return original(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(sigv4.hmac, "compare_digest", recording)

    assert verify(signed_request(SESSION)) == SESSION.arn
    assert (b"token-1", b"token-1") in compared


def test_a_signature_in_the_query_string_is_refused_never_taken_as_unsigned() -> None:
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="GET", url="http://127.0.0.1:8000/clusters", headers={"Host": "127.0.0.1:8000"})
    SigV4QueryAuth(Credentials(ALICE.access_key_id, ALICE.secret), "execute-api", REGION).add_auth(request)
    path = request.url.removeprefix("http://127.0.0.1:8000")
    assert "X-Amz-Signature=" in path
    headers = {**dict(request.headers.items()), identity.CALLER_HEADER: "arn:aws:iam::123456789012:role/Admin"}

    assert sigv4.signed(headers, path)
    with pytest.raises(sigv4.SignatureRefused, match="query string"):
        sigv4.caller_headers("GET", path, headers, None, "key", KEYS.get, region=REGION)
    with pytest.raises(sigv4.SignatureRefused, match="query string"):
        sigv4.caller_headers("GET", "/clusters?x-amz-signature=00", {}, None, "key", KEYS.get, region=REGION)
