"""Every refusal over HTTP has our error shape, whoever makes it: our views or Chalice before them."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.handlers import api as handlers
from chalicelib.handlers import http
from chalicelib.model import clusterconfig
from local.run import MISSING_ROUTE_MESSAGE, create_server

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.e2e.conftest import Api

CLUSTER_CONFIG = b"apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata:\n  name: twice\n  name: again\n"


def send(
    api: Api, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, Any, dict[str, str]]:
    """One request with exactly these headers (no caller: the local engine's default one)."""
    request = urllib.request.Request(api.base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            raw, status, answered = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        raw, status, answered = err.read(), err.code, dict(err.headers)
    assert "application/json" in answered.get("Content-Type", ""), (status, answered, raw[:200])
    return status, json.loads(raw), answered


def assert_our_shape(body: Any, error: str) -> None:
    """`{"error", "message"}` (and `fields` of {field, rule, message} where it says which), never Chalice's own."""
    assert isinstance(body, dict) and body.get("error") == error, body
    assert isinstance(body.get("message"), str) and body["message"], body
    assert not {"Code", "Message"} & set(body), body
    for problem in body.get("fields", []):
        assert set(problem) == {"field", "rule", "message"}, problem


def test_given_json_nested_5000_levels_deep_then_400_not_500(api: Api) -> None:
    deep = b'{"name": "deep", "tags": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"

    status, body, _ = send(api, "POST", "/clusters", deep, **{"Content-Type": "application/json"})

    assert status == 400
    assert_our_shape(body, "BadRequest")
    assert f"deeper than {http.MAX_JSON_DEPTH} levels" in body["message"]


def test_given_a_deep_body_and_an_idempotency_key_then_400_too(api: Api) -> None:
    """The key's request fingerprint reads the body as well, before the view does."""
    deep = b"[" * 5_000 + b"]" * 5_000
    headers = {"Content-Type": "application/json", "Idempotency-Key": "deep-1"}

    status, body, _ = send(api, "POST", "/clusters/nobody/lease", deep, **headers)

    assert status == 400
    assert_our_shape(body, "BadRequest")


def test_given_a_json_key_twice_then_400_names_it(api: Api) -> None:
    raw = b'{"name": "dup-json", "region": "us-west-2", "name": "other"}'

    status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/json"})

    assert status == 400
    assert_our_shape(body, "BadRequest")
    assert body["fields"] == [{"field": "name", "rule": "duplicate_key", "message": "a key may appear once per object"}]
    assert api.call("GET", "/clusters/dup-json").status == 404
    assert api.call("GET", "/clusters/other").status == 404


def test_given_a_clusterconfig_key_twice_then_400_names_its_path(api: Api) -> None:
    status, body, _ = send(api, "POST", "/clusters", CLUSTER_CONFIG, **{"Content-Type": "application/x-yaml"})

    assert status == 400
    assert_our_shape(body, "BadRequest")
    assert [f["field"] for f in body["fields"]] == ["metadata.name"]


def test_given_an_unknown_cluster_then_404_in_our_shape(api: Api) -> None:
    reply = api.call("GET", "/clusters/no-such-cluster")

    assert reply.status == 404
    assert_our_shape(reply.body, "NotFound")


@pytest.fixture(scope="module")
def served(api: Api) -> Iterator[Api]:
    """The API as `make run` serves it (local/run.py), on the same engine as `api`.

    A path no route matches never reaches the app: the local server's gateway answers it, as API
    Gateway does on AWS (infra/template.yaml's gateway responses shape those; tests/e2e/test_infra_template.py).
    """
    from chalice.config import Config

    from app import app
    from tests.e2e.conftest import Api

    server = create_server(app, Config(chalice_stage="local"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Api(f"http://127.0.0.1:{server.server.server_address[1]}")
    server.shutdown()
    server.server.server_close()


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_given_a_path_no_route_has_then_our_shape(served: Api, method: str) -> None:
    reply = served.call(method, "/no/such/route")

    # API Gateway cannot tell an unknown route from an unsigned request (both MISSING_AUTHENTICATION_TOKEN, 403).
    assert reply.status == 403
    assert_our_shape(reply.body, "Forbidden")
    assert reply.body["message"] == MISSING_ROUTE_MESSAGE
    assert "application/json" in reply.headers["Content-Type"]
    # Routes still answer as before.
    assert served.call("GET", "/clusters/no-such-cluster").status == 404


def test_given_a_method_the_route_does_not_have_then_405_in_our_shape(api: Api) -> None:
    status, body, headers = send(api, "PUT", "/clusters/some-name", b"{}", **{"Content-Type": "application/json"})

    assert status == 405
    assert_our_shape(body, "MethodNotAllowed")
    assert set(headers["Allow"].split(", ")) == {"GET", "DELETE"}
    assert "PUT" in body["message"] and "GET" in body["message"]


def test_given_a_body_over_the_limit_then_413_in_our_shape(api: Api) -> None:
    big = json.dumps({"name": "big", "tags": {"pad": "x" * handlers.MAX_BODY_BYTES}}).encode()

    status, body, _ = send(api, "POST", "/clusters", big, **{"Content-Type": "application/json"})

    assert status == 413
    assert_our_shape(body, "PayloadTooLarge")
    assert str(handlers.MAX_BODY_BYTES) in body["message"]


def test_given_a_clusterconfig_over_the_limit_then_413_in_our_shape(api: Api) -> None:
    big = CLUSTER_CONFIG + b"# " + b"x" * clusterconfig.MAX_YAML_BYTES + b"\n"

    status, body, _ = send(api, "POST", "/clusters", big, **{"Content-Type": "application/yaml"})

    assert status == 413
    assert_our_shape(body, "PayloadTooLarge")


@pytest.mark.parametrize(("method", "path"), [("POST", "/clusters"), ("POST", "/clusters/some-name/lease")])
def test_given_a_content_type_the_route_does_not_take_then_415_in_our_shape(api: Api, method: str, path: str) -> None:
    status, body, _ = send(api, method, path, b"name=x", **{"Content-Type": "application/x-www-form-urlencoded"})

    assert status == 415
    assert_our_shape(body, "UnsupportedMediaType")
    assert "application/x-www-form-urlencoded" in body["message"] and "application/json" in body["message"]


def test_a_rule_broken_is_422_in_our_shape_with_fields(api: Api) -> None:
    reply = api.call("POST", "/clusters", {"name": "-bad"})

    assert reply.status == 422
    assert_our_shape(reply.body, "ValidationError")
    assert [f["field"] for f in reply.body["fields"]] == ["name"]


def test_a_name_taken_is_409_in_our_shape(api: Api) -> None:
    assert api.call("POST", "/clusters", {"name": "taken"}).status == 202

    reply = api.call("POST", "/clusters", {"name": "taken"})

    assert reply.status == 409
    assert_our_shape(reply.body, "Conflict")
