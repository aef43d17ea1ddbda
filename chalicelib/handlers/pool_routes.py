"""HTTP routes for warm pools: an admin defines, inspects, changes and removes them.

Every route needs a caller `EKSPRESS_ADMINS` names (else 403, rule `admin_only`); answers and
refusals have the API's shape (`api._handled`), and changes take an `Idempotency-Key`
(`api._idempotent`). The filling itself is the `fill_pools` schedule (handlers/schedules.py,
operations/pools.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.handlers.api import IAM, _body, _caller, _ctx, _handled, _idempotent, _location
from chalicelib.handlers.http import json_response
from chalicelib.model import policy
from chalicelib.model.errors import ConflictError, SpecValidationError
from chalicelib.model.pool_spec import PoolPatch, PoolSpec, check_admin, check_pool_policy, pool_owner
from chalicelib.model.validation import validate
from chalicelib.operations import pools

pool_routes = Blueprint(__name__)

# A cluster request's fields, as a pool names them (for the policy's 422s on a pool's shape).
_FIELD_NAMES = (("managedNodeGroups[0].", "nodeGroup."), ("instanceTypes", "instanceTypes"))


class _NoClusters:
    """The owner count is not the pool's to pass: pool clusters are counted by the pool's size."""

    def count_owned(self, owner: str) -> int:
        return 0


def _checked(pool: PoolSpec, caller: str) -> None:
    """The service policy on a pool: its size, and the guardrails its clusters would meet (region, version, types)."""
    settings = _ctx().settings
    check_pool_policy(pool, settings)
    try:
        policy.check_request(
            pools.cluster_spec(pool, pools.new_cluster_name(pool.name)), caller, settings, _NoClusters()
        )
    except SpecValidationError as exc:
        fields = []
        for problem in exc.details.get("fields") or []:
            name = str(problem["field"])
            for before, after in _FIELD_NAMES:
                name = name.replace(before, after, 1) if name.startswith(before) else name
            fields.append({**problem, "field": name})
        raise SpecValidationError(exc.message.replace("managedNodeGroups[0].", "nodeGroup."), fields=fields) from None


def _admin(action: str) -> str:
    caller = _caller()
    check_admin(caller, _ctx().settings, action)
    return caller


@pool_routes.route("/pools", methods=["POST"], authorizer=IAM)
@_handled
@_idempotent
def create_pool() -> Response:
    """Define a pool; its clusters are built by the next fill."""
    caller = _admin("define pools")
    pool = validate(PoolSpec, _body(), "pool")
    _checked(pool, caller)
    record = pools.pool_store(_ctx()).create_pool(pool.model_dump(mode="json", exclude_none=True), caller)
    return json_response(201, record, {"Location": _location(f"/pools/{pool.name}")})


@pool_routes.route("/pools", methods=["GET"], authorizer=IAM)
@_handled
def list_pools() -> Response:
    _admin("list pools")
    return json_response(200, {"pools": pools.pool_store(_ctx()).list_pools()})


@pool_routes.route("/pools/{name}", methods=["GET"], authorizer=IAM)
@_handled
def get_pool(name: str) -> Response:
    """The pool, the size its schedule asks for now, and its unclaimed clusters with their state."""
    _admin("read pools")
    return json_response(200, pools.describe_pool(_ctx(), name, datetime.now(UTC)))


@pool_routes.route("/pools/{name}", methods=["PATCH"], authorizer=IAM)
@_handled
@_idempotent
def update_pool(name: str) -> Response:
    """Change `size`, `maxAgeHours` or `schedule` (null removes the last two); the next fill follows."""
    caller = _admin("change pools")
    patch = validate(PoolPatch, _body(), "pool change")
    store = pools.pool_store(_ctx())
    current = store.get_pool(name)
    given = patch.model_dump(mode="json", include=patch.model_fields_set)
    merged: dict[str, Any] = {k: current[k] for k in pools.DEFINITION_KEYS if current.get(k) is not None}
    merged.update(given)
    pool = validate(PoolSpec, {k: v for k, v in merged.items() if v is not None}, "pool")
    _checked(pool, caller)
    sets = {k: v for k, v in given.items() if v is not None}
    removes = tuple(k for k, v in given.items() if v is None)
    return json_response(200, store.update_pool(name, sets, removes))


@pool_routes.route("/pools/{name}", methods=["DELETE"], authorizer=IAM)
@_handled
@_idempotent
def delete_pool(name: str) -> Response:
    """Remove the pool and start deleting its unclaimed clusters (claimed ones are their callers'); claims
    still waiting for it are FAILED, saying so."""
    _admin("delete pools")
    ctx = _ctx()
    store = pools.pool_store(ctx)
    store.delete_pool(name)
    failed = pools.end_queue(ctx, name, f"pool {name!r} was deleted while this claim waited for it")
    from chalicelib.operations import delete

    retiring = []
    for record in store.clusters(name):
        try:
            delete.request_delete(ctx, record["name"], pool_owner(name), expect_owner=pool_owner(name))
            retiring.append(record["name"])
        except ConflictError:  # already deleting, or claimed meanwhile
            continue
    return json_response(202, {"name": name, "retiring": retiring, "failedClaims": failed})
