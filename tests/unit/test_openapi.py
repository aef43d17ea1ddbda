"""The OpenAPI document is built from the real route table; a route nobody described is an error."""

from __future__ import annotations

import pytest
from chalice.app import Blueprint, Chalice

from chalicelib.handlers import openapi


def test_every_platform_route_is_described_from_the_real_app() -> None:
    from app import app

    document = openapi.document(app.routes)

    assert document["openapi"].startswith("3.1")
    assert "/slack/commands" not in document["paths"], "Slack's routes are signed by Slack, not described here"
    assert set(document["paths"]["/clusters/{name}/nodegroups/{nodegroup}"]) == {"patch", "delete"}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert [p["name"] for p in operation["parameters"] if p["in"] == "path"] == [
                part[1:-1] for part in path.split("/") if part.startswith("{")
            ], f"{method} {path}"
            assert {"401"} <= set(operation["responses"]), f"{method} {path}"


def test_a_route_without_a_description_is_refused() -> None:
    extra = Blueprint(openapi.API_MODULE)

    @extra.route("/clusters/{name}/mystery", methods=["POST"])
    def mystery(name: str) -> None:
        return None

    mystery.__module__ = openapi.API_MODULE
    app = Chalice(app_name="probe")
    app.register_blueprint(extra)

    with pytest.raises(KeyError, match="mystery"):
        openapi.document(app.routes)


def test_every_route_that_changes_something_takes_an_idempotency_key_and_reads_do_not() -> None:
    """The flag comes from the route's own decorator: a change route without it loses retries' safety."""
    from app import app

    document = openapi.document(app.routes)

    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            takes_key = "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
            assert takes_key == (method != "get"), f"{method} {path}"
