"""Request bodies are parsed strictly, errors keep one shape, and Location follows the URL the caller used."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.app import Request, Response

from chalicelib.handlers import api, http
from chalicelib.model.errors import BadRequestError

SESSION = "arn:aws:sts::123456789012:assumed-role/dev/alice"


def gateway_event(
    method: str, resource: str, params: dict[str, str] | None = None, stage: str = "api", **headers: str
) -> dict[str, Any]:
    """An API Gateway REST (Lambda proxy) event, shaped as the execute-api address delivers it."""
    path = resource.format(**(params or {}))
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Host": "abc123.execute-api.us-west-2.amazonaws.com", **headers},
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "x1y2z3",
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "abc123",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"userArn": SESSION, "caller": "AROAEXAMPLE:alice", "sourceIp": "192.0.2.1"},
            "domainName": "abc123.execute-api.us-west-2.amazonaws.com",
            "apiId": "abc123",
        },
        "body": None,
        "isBase64Encoded": False,
    }


# -- JSON bodies ------------------------------------------------------------------------


def test_json_nested_to_the_limit_is_read() -> None:
    raw = "[" * http.MAX_JSON_DEPTH + "]" * http.MAX_JSON_DEPTH

    assert http.parse_json(raw) == json.loads(raw)


@pytest.mark.parametrize("depth", [http.MAX_JSON_DEPTH + 1, 5_000, 100_000])
def test_given_json_nested_past_the_limit_then_400_not_a_recursion_error(depth: int) -> None:
    with pytest.raises(BadRequestError, match=f"deeper than {http.MAX_JSON_DEPTH} levels"):
        http.parse_json('{"a": ' * depth + "1" + "}" * depth)


def test_brackets_inside_strings_nest_nothing() -> None:
    text = "[{" * 100 + '\\"'
    assert http.parse_json(json.dumps({"name": text})) == {"name": text}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"name": "a", "name": "b"}', "name"),
        (
            '{"managedNodeGroups": [{"name": "a"}, {"name": "b", "minSize": 1, "minSize": 2}]}',
            "managedNodeGroups[1].minSize",
        ),
        ('{"tags": {"team": "x", "team": "x"}}', "tags.team"),
    ],
)
def test_given_a_key_twice_in_one_object_then_400_names_it(raw: str, field: str) -> None:
    with pytest.raises(BadRequestError) as refused:
        http.parse_json(raw)

    assert refused.value.status == 400
    assert refused.value.details["fields"] == [
        {"field": field, "rule": "duplicate_key", "message": "a key may appear once per object"}
    ]


def test_the_same_key_in_different_objects_is_fine() -> None:
    assert http.parse_json('{"a": {"n": 1}, "b": {"n": 2}, "c": [{"n": 3}, {"n": 4}]}') == {
        "a": {"n": 1},
        "b": {"n": 2},
        "c": [{"n": 3}, {"n": 4}],
    }


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"ttlHours": NaN}', "NaN is not JSON"),
        (b'{"ttlHours": -Infinity}', "-Infinity is not JSON"),
        (b'{"name": "\xff"}', "not UTF-8"),
        (b'{"name": ', "not valid JSON"),
    ],
)
def test_what_is_not_json_is_refused(raw: bytes, problem: str) -> None:
    with pytest.raises(BadRequestError, match=problem):
        http.parse_json(raw)


# -- Location -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        # API Gateway's execute-api address: requestContext.path starts with the stage.
        (gateway_event("POST", "/clusters")["requestContext"], "/api/clusters/mz"),
        (
            gateway_event("DELETE", "/clusters/{name}", {"name": "mz"}, stage="prod")["requestContext"],
            "/prod/clusters/mz",
        ),
        # A custom domain with a base path mapping: the base path comes first instead.
        (
            {"resourcePath": "/clusters/{name}/nodegroups", "path": "/eks/v1/clusters/mz/nodegroups"},
            "/eks/v1/clusters/mz",
        ),
        # A custom domain without one, and the local server: nothing comes first.
        ({"resourcePath": "/clusters", "path": "/clusters", "stage": "api"}, "/clusters/mz"),
        ({"resourcePath": "/clusters/{name}", "path": "/clusters/mz/"}, "/clusters/mz"),
        ({}, "/clusters/mz"),
    ],
)
def test_location_keeps_what_precedes_our_routes(context: dict[str, Any], expected: str) -> None:
    assert http.public_path(context, "/clusters/mz") == expected


def test_given_an_api_gateway_request_then_location_carries_its_stage() -> None:
    from app import app

    app.current_request = Request(gateway_event("POST", "/clusters/{name}/access", {"name": "mz"}))
    try:
        assert api._location("/clusters/mz/access") == "/api/clusters/mz/access"
    finally:
        app.current_request = None


# -- our error shape, for the errors Chalice answers itself -------------------------------------


def _answer(event: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    from app import app

    response = app(event, None)
    return response["statusCode"], response["headers"], json.loads(response["body"])


def test_given_a_method_a_route_does_not_have_then_405_in_our_shape() -> None:
    status, headers, body = _answer(gateway_event("PUT", "/clusters/{name}", {"name": "mz"}))

    assert status == 405
    assert body == {
        "error": "MethodNotAllowed",
        "message": f"PUT is not allowed on /clusters/{{name}}; allowed: {headers['Allow']}",
    }
    assert set(headers["Allow"].split(", ")) == {"GET", "DELETE"}
    assert headers["Content-Type"] == "application/json"


def test_given_a_content_type_a_route_does_not_take_then_415_in_our_shape() -> None:
    status, _, body = _answer(gateway_event("POST", "/clusters", **{"content-type": "text/plain"}))

    assert status == 415
    assert body["error"] == "UnsupportedMediaType"
    assert "'text/plain'" in body["message"] and "application/x-yaml" in body["message"]


def test_given_an_unhandled_error_then_500_in_our_shape() -> None:
    chalice_500 = Response(
        body={"Code": "InternalServerError", "Message": "An internal server error occurred."}, status_code=500
    )

    shaped = api._error_shape(None, lambda _: chalice_500)

    assert shaped.status_code == 500
    assert json.loads(shaped.body) == {"error": "InternalError", "message": "An internal server error occurred."}


def test_our_own_answers_pass_untouched() -> None:
    ours = http.json_response(404, {"error": "NotFound", "message": "cluster 'mz' not found"})
    a_dict = Response(body={"Code": "Mine", "Message": "kept", "more": 1}, status_code=400)

    assert api._error_shape(None, lambda _: ours) is ours
    assert api._error_shape(None, lambda _: a_dict) is a_dict
