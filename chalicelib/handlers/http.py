"""HTTP details every route shares: strict JSON bodies, request fingerprints, JSON or YAML answers, public paths.

Pure functions of what a request carries; the routes (api.py) call them.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.model.errors import BadRequestError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from chalice.app import Request, RouteEntry

# The deepest request we take nests 8 levels (accessConfig.accessEntries[].accessPolicies[].accessScope.namespaces);
# 64 leaves room for any sane client, and keeps the parser, pydantic and json.dumps far from Python's recursion limit.
MAX_JSON_DEPTH = 64


class PayloadTooLargeError(BadRequestError):
    status = 413
    code = "PayloadTooLarge"


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as parsed, before its keys are checked (json's object_pairs_hook)."""


# A JSON string, escapes included: what may hold brackets that do not nest anything.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, default=str),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def public_path(context: Mapping[str, Any], target: str) -> str:
    """`target` behind whatever comes before our routes in the URL the caller used.

    API Gateway's `requestContext.path` is the path as requested: `/{stage}/clusters/NAME`
    on the execute-api address, `/{base path}/clusters/NAME` on a custom domain, and the
    local server's has nothing before the route. The route (`resourcePath`) says how many
    of its segments are ours; whatever precedes them is the prefix.
    """
    ours = [part for part in str(context.get("resourcePath") or "").split("/") if part]
    seen = [part for part in str(context.get("path") or "").split("/") if part]
    prefix = seen[: len(seen) - len(ours)] if len(seen) > len(ours) else []
    return "".join(f"/{part}" for part in prefix) + target


def parse_json(raw: bytes | str) -> Any:
    """Strict JSON: 400 for bad syntax, a key given twice in one object, NaN/Infinity, or nesting past MAX_JSON_DEPTH.

    The depth is counted before parsing: json's parser recurses once per level, so 5,000 levels would be a
    RecursionError (a 500) rather than a refusal.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise BadRequestError("the request body is not UTF-8 (JSON is)") from None
    depth = deepest = 0
    for char in _JSON_STRING.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    if deepest > MAX_JSON_DEPTH:
        raise BadRequestError(f"the request body nests deeper than {MAX_JSON_DEPTH} levels")

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        parsed = json.loads(text, object_pairs_hook=_Pairs, parse_constant=refuse_constant)
    except ValueError as exc:
        raise BadRequestError(f"the request body is not valid JSON: {exc}") from None
    return _objects(parsed, "")


def _objects(value: Any, path: str) -> Any:
    """The parsed value with its objects as dicts; 400 naming the first key an object has twice."""
    if isinstance(value, _Pairs):
        found: dict[str, Any] = {}
        for key, item in value:
            where = f"{path}.{key}" if path else key
            if key in found:
                raise BadRequestError(
                    f"the request body has the key {where!r} twice",
                    fields=[{"field": where, "rule": "duplicate_key", "message": "a key may appear once per object"}],
                )
            found[key] = _objects(item, where)
        return found
    if isinstance(value, list):
        return [_objects(item, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


# What Chalice calls the errors it answers itself, in our words.
_CHALICE_CODES = {
    "MethodNotAllowedError": "MethodNotAllowed",
    "UnsupportedMediaType": "UnsupportedMediaType",
    "InternalServerError": "InternalError",
}


def chalice_error_in_our_shape(
    request: Request | None, response: Response, routes: Mapping[str, Mapping[str, RouteEntry]]
) -> Response:
    """Chalice's own error answers (`{"Code", "Message"}`: 405, 415, an unhandled 500) in our error shape.

    Our own answers are JSON text by then, so only Chalice's (a dict body with exactly those
    keys) are rewritten.
    """
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or set(body) != {"Code", "Message"}:
        return response
    code = str(body["Code"])
    shaped = {
        "error": _CHALICE_CODES.get(code, code.removesuffix("Error") or "Error"),
        "message": _chalice_message(request, response, str(body["Message"]), routes),
    }
    headers = {
        k: v if isinstance(v, str) else ", ".join(v) for k, v in response.headers.items() if k.lower() != "content-type"
    }
    return json_response(response.status_code, shaped, headers)


def _chalice_message(
    request: Request | None, response: Response, message: str, routes: Mapping[str, Mapping[str, RouteEntry]]
) -> str:
    """Say what to do instead, where Chalice only says what was wrong."""
    if request is None:
        return message
    if response.status_code == 405:
        return f"{request.method} is not allowed on {request.path}; allowed: {response.headers.get('Allow', '')}"
    if response.status_code == 415:
        methods: Mapping[str, RouteEntry] = routes.get(request.path) or {}
        route = methods.get(request.method)
        accepted = ", ".join(route.content_types) if route else "application/json"
        headers: Mapping[str, str] = request.headers or {}
        sent = headers.get("content-type", "")
        return f"Content-Type {sent!r} is not accepted by {request.method} {request.path}; send one of: {accepted}"
    return message


def raw_body(request: Request, limit: int) -> bytes:
    """The request's body, at most `limit` bytes; else 413."""
    raw = request.raw_body or b""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > limit:
        raise PayloadTooLargeError(f"the request body is larger than {limit} bytes")
    return data


def fingerprint(request: Request) -> dict[str, Any]:
    """What makes two requests the same request: route, path parameters, query and body (JSON by value)."""
    raw = request.raw_body or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        body: Any = parse_json(text) if text else None
    except BadRequestError:
        body = text  # the view refuses it; compared as text meanwhile
    params = request.query_params
    headers: Mapping[str, str] = request.headers or {}
    return {
        "route": f"{request.method} {request.path}",
        "params": request.uri_params or {},
        "query": {k: params.getlist(k) for k in params} if params else {},
        "contentType": headers.get("content-type", "").split(";")[0].strip(),
        "body": body,
    }


def yaml_or_json(request: Request, document: dict[str, Any]) -> Response:
    """`document` as YAML, or as JSON when the caller asks for it (`Accept: application/json`)."""
    headers: Mapping[str, str] = request.headers or {}
    if "application/json" in headers.get("accept", ""):
        return json_response(200, document)
    import yaml  # only these routes render YAML

    return Response(
        body=yaml.safe_dump(document, sort_keys=False), status_code=200, headers={"Content-Type": "application/yaml"}
    )
