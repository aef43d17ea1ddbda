"""SigV4 on the local server (local/run.py, local/sigv4.py): the client signs with keys the engine's IAM made.

Verified, the signer is the caller, so two IAM users are two owners; a request signed with a wrong
secret or an unknown key gets 403 in our error shape; an unsigned one stays the local developer.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.credentials import Credentials

from chalicelib.aws.identity import LOCAL_DEFAULT_CALLER
from ekspress import Client, errors
from local import sigv4
from local.run import create_server

if TYPE_CHECKING:
    from collections.abc import Iterator

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(api: Api) -> Iterator[str]:
    """The API as `make run` serves it, on the same engine as `api`."""
    from chalice.config import Config

    from app import app

    server = create_server(app, Config(chalice_stage="local"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server.server_address[1]}"
    server.shutdown()
    server.server.server_close()


def iam_user(engine: LocalEngine, name: str) -> tuple[str, Credentials]:
    iam = engine.client("iam")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture(scope="module")
def users(engine: LocalEngine) -> dict[str, tuple[str, Credentials]]:
    return {name: iam_user(engine, name) for name in ("signed-alice", "signed-bob")}


def signed(base: str, credentials: Credentials) -> Client:
    return Client(base, credentials=credentials, region="us-west-2")


def test_two_iam_users_are_two_owners(served: str, users: dict[str, Any]) -> None:
    alice_arn, alice = users["signed-alice"]
    bob_arn, bob = users["signed-bob"]

    record = signed(served, alice).create_cluster({"name": "signed-a", "region": "us-west-2"})

    assert record.owner == alice_arn
    with pytest.raises(errors.Forbidden) as refused:
        signed(served, bob).delete_cluster("signed-a")
    assert bob_arn in refused.value.message
    assert signed(served, bob).get_cluster("signed-a").owner == alice_arn


def test_unsigned_requests_stay_the_local_developer(served: str) -> None:
    record = Client(served, sign=False).create_cluster({"name": "signed-local", "region": "us-west-2"})

    assert record.owner == LOCAL_DEFAULT_CALLER


def test_a_wrong_secret_is_refused_in_our_shape(served: str, users: dict[str, Any]) -> None:
    _, alice = users["signed-alice"]
    forged = Credentials(alice.access_key, "not-" + alice.secret_key)

    with pytest.raises(errors.Forbidden) as refused:
        signed(served, forged).list_clusters()

    assert refused.value.code == "Forbidden"
    assert refused.value.message == sigv4.MISMATCH


def test_an_unknown_key_is_refused(served: str) -> None:
    with pytest.raises(errors.Forbidden) as refused:
        signed(served, Credentials("AKIAUNKNOWN000000000", "secret")).get_cluster("signed-a")

    assert refused.value.message == sigv4.INVALID_TOKEN


def test_a_signed_request_cannot_name_another_caller(served: str, users: dict[str, Any]) -> None:
    """The signer is the caller, whatever caller header the request carries."""
    from chalicelib.aws import identity
    from local.engine import LOCAL_IDENTITY_KEY

    alice_arn, alice = users["signed-alice"]
    client = signed(served, alice)
    other = "arn:aws:iam::123456789012:role/SomeoneElse"
    extra = {identity.CALLER_HEADER: other, identity.SIGNATURE_HEADER: identity.sign(LOCAL_IDENTITY_KEY, other)}
    original = client._transport

    def with_header(method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float) -> Any:
        return original(method, url, {**headers, **extra}, body, timeout)

    client._transport = with_header
    record = client.create_cluster({"name": "signed-b", "region": "us-west-2"})

    assert record.owner == alice_arn


def test_the_command_line_signs_with_the_environments_keys(served: str, users: dict[str, Any]) -> None:
    _, bob = users["signed-bob"]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": bob.access_key,
        "AWS_SECRET_ACCESS_KEY": bob.secret_key,
        "XDG_CONFIG_HOME": "/nonexistent",
    }
    env.pop("AWS_SESSION_TOKEN", None)
    script = str(Path(sys.executable).parent / "ekspress")

    refused = subprocess.run(
        [script, "--endpoint", served, "--sign", "delete", "cluster", "signed-a", "--wait=false"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert refused.returncode == 1
    assert "signed-bob may not delete cluster 'signed-a'" in refused.stderr
    assert "(403 Forbidden)" in refused.stderr


def _signed_headers(base: str, credentials: Credentials, method: str, path: str, body: bytes) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    host = base.removeprefix("http://")
    request = AWSRequest(
        method=method, url=base + path, data=body, headers={"Host": host, "Content-Type": "application/json"}
    )
    SigV4Auth(credentials, "execute-api", "us-west-2").add_auth(request)
    return dict(request.headers.items())


def test_each_request_on_a_kept_alive_connection_is_handled_as_itself(served: str, users: dict[str, Any]) -> None:
    """One handler serves a whole HTTP/1.1 connection: no request may get an earlier one's caller or body."""
    alice_arn, alice = users["signed-alice"]
    bob_arn, bob = users["signed-bob"]
    host, port = served.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)

    def post(name: str, credentials: Credentials | None) -> tuple[int, Any]:
        body = json.dumps({"name": name, "region": "us-west-2"}).encode()
        headers = {"Content-Type": "application/json"}
        if credentials is not None:
            headers = _signed_headers(served, credentials, "POST", "/clusters", body)
        connection.request("POST", "/clusters", body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read())

    try:
        first = post("kept-alive-a", alice)
        sock = connection.sock
        second = post("kept-alive-b", None)
        third = post("kept-alive-c", bob)
        assert connection.sock is sock, "the three requests shared one connection"
    finally:
        connection.close()

    assert (first[0], first[1]["name"], first[1]["owner"]) == (202, "kept-alive-a", alice_arn), first
    assert (second[0], second[1]["name"], second[1]["owner"]) == (202, "kept-alive-b", LOCAL_DEFAULT_CALLER), second
    assert (third[0], third[1]["name"], third[1]["owner"]) == (202, "kept-alive-c", bob_arn), third
