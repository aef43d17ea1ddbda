"""GET /openapi.json describes every route, and the API keeps to it under generated requests (schemathesis)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.aws import identity
from chalicelib.model.spec import ClusterSpec
from local.engine import LOCAL_IDENTITY_KEY

if TYPE_CHECKING:
    from tests.e2e.conftest import Api

CALLER = "arn:aws:iam::123456789012:role/fuzzer"
LIVE, GROUP = "fuzzed", "ng-1"
# Generated requests per operation: enough to reach every documented answer of most
# routes, few enough that the whole run stays well under a minute on two cores.
EXAMPLES = 8


@schemathesis.check
def our_error_shape(ctx: Any, response: Any, case: schemathesis.Case) -> None:
    """Every refusal, documented or not (Chalice's own 405 and 415 too), is `{"error", "message"}` JSON."""
    if response.status_code < 400:
        return
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str), body


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    our_error_shape,
]


@pytest.fixture(scope="module")
def document(api: Api) -> dict[str, Any]:
    reply = api.call("GET", "/openapi.json", caller=CALLER)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def test_the_document_describes_every_platform_route(document: dict[str, Any]) -> None:
    from app import app

    routes = {
        (path, method.lower())
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if entry.view_function.__module__ in ("chalicelib.handlers.api", "chalicelib.handlers.pool_routes")
    }

    described = {(path, method) for path, methods in document["paths"].items() for method in methods}
    assert described == routes
    create = document["paths"]["/clusters"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ClusterSpec"
    }
    assert {"202", "400", "401", "403", "409", "422"} <= set(create["responses"])
    spec = document["components"]["schemas"]["ClusterSpec"]
    assert set(spec["properties"]) == set(ClusterSpec.model_json_schema(by_alias=True)["properties"])
    scale = document["paths"]["/clusters/{name}/nodegroups/{nodegroup}"]["patch"]
    assert [p["name"] for p in scale["parameters"]] == ["name", "nodegroup", "Idempotency-Key"]


def test_generated_requests_get_no_server_error_and_answers_that_keep_to_the_document(
    api: Api, document: dict[str, Any]
) -> None:
    """Every operation, with requests valid and invalid by the document, on random names and on a live cluster.

    The live cluster is deleted last, so node group, access and lease requests reach ACTIVE-cluster code.
    """
    assert (
        api.call("POST", "/clusters", {"name": LIVE, "managedNodeGroups": [{"name": GROUP}]}, caller=CALLER).status
        == 202
    )
    api.wait_for(LIVE, {"ACTIVE"})
    schema = schemathesis.openapi.from_dict(document)
    signed = {
        identity.CALLER_HEADER: CALLER,
        identity.SIGNATURE_HEADER: identity.sign(LOCAL_IDENTITY_KEY, CALLER),
    }
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in document["paths"].values())
    operations.sort(key=lambda o: o.method.upper() == "DELETE" and o.path == "/clusters/{name}")
    failures: dict[str, str] = {}

    for operation in operations:
        live = {k: v for k, v in {"name": LIVE, "nodegroup": GROUP}.items() if f"{{{k}}}" in operation.path}
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=live or None),
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=live or None),
            operation.as_strategy(GenerationMode.POSITIVE),
        )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=api.base, headers=signed, checks=CHECKS)

        try:
            exercise()
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, reported together
            failures[operation.label] = str(exc)[:3000]

    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
