"""HTTP routes for platforms: request, list and inspect clusters.

Every answer that is not a success has one shape, `{"error", "message", ...}`
(`EkspressError.to_dict`): our own errors through `_handled`, and the ones Chalice
makes before a view runs (405, 415, an unhandled 500) through `_error_shape`.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, IAMAuthorizer, Request, Response

from chalicelib.aws import idempotency, identity
from chalicelib.aws.clients import default_clients
from chalicelib.aws.store import as_claimed
from chalicelib.handlers.http import (
    chalice_error_in_our_shape,
    fingerprint,
    json_response,
    parse_json,
    public_path,
    raw_body,
    yaml_or_json,
)
from chalicelib.model import policy
from chalicelib.model.errors import BadRequestError, EkspressError, SpecValidationError
from chalicelib.model.pool_spec import split_claim
from chalicelib.model.record import public
from chalicelib.model.settings import get_settings
from chalicelib.model.spec import ClusterSpec, IdentityMapping, LeaseRequest, validate
from chalicelib.observability import logger
from chalicelib.operations import (
    access,
    create,
    delete,
    dry_run,
    leases,
    nodegroups,
    pools,
    quotas,
    serviceaccount_changes,
)
from chalicelib.operations.context import Context

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from chalicelib.aws.store import Store


api = Blueprint(__name__)
# Every platform route: API Gateway verifies the caller's SigV4 signature (AWS_IAM).
IAM = IAMAuthorizer()

MAX_BODY_BYTES = 64 * 1024
# The attribute `_idempotent` marks its views with.
IDEMPOTENT = "accepts_idempotency_key"
# The attribute `_dry_runs` marks views that answer `?dryRun=true` without acting.
DRY_RUNS = "answers_dry_runs"
DEFAULT_PAGE = 50
MAX_PAGE = 100


@api.middleware("http")
def _error_shape(request: Request | None, get_response: Callable[[Request | None], Response]) -> Response:
    """Chalice's own error answers (405, 415, an unhandled 500) in our error shape (http.py).

    Registered by the blueprint, so it wraps every HTTP route of the app.
    """
    return chalice_error_in_our_shape(request, get_response(request), api.current_app.routes)


def _handled(view: Callable[..., Response]) -> Callable[..., Response]:
    """Every request names a verified caller (else 401); domain errors become JSON with their status."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            _caller()
            if "name" in kwargs and view.__module__ == __name__:
                # A claimed pool cluster answers to the name its caller asked for (store.served_name).
                kwargs["name"] = _store().served_name(kwargs["name"])
            return view(*args, **kwargs)
        except EkspressError as exc:
            if exc.status >= 500:
                logger.error("request failed", extra={"error": exc.code, "reason": exc.message})
            return json_response(exc.status, exc.to_dict())

    return wrapper


def _idempotent(view: Callable[..., Response]) -> Callable[..., Response]:
    """With an `Idempotency-Key` header, a retried request gets the first answer (see idempotency.py).

    Without the header the view simply runs. Inside `_handled`, so the caller is verified first.
    A dry run (`_dry_runs`) records nothing, its key neither: a real request may use that key next.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        request = api.current_request
        headers: Mapping[str, str] = request.headers or {}
        key = headers.get(idempotency.HEADER)
        if key is None or (getattr(view, DRY_RUNS, False) and _dry_run()):
            return view(*args, **kwargs)

        def respond() -> dict[str, Any]:
            response = view(*args, **kwargs)
            return {"status": response.status_code, "body": response.body, "headers": dict(response.headers)}

        reply = idempotency.run(
            default_clients().dynamodb(),
            get_settings().table_name,
            _caller(),
            idempotency.check_key(key),
            fingerprint(api.current_request),
            respond,
            request.lambda_context,
        )
        return Response(body=reply["body"], status_code=reply["status"], headers=reply["headers"])

    # Read by the OpenAPI document (functools.wraps carries it to the decorators outside).
    setattr(wrapper, IDEMPOTENT, True)
    return wrapper


def _dry_runs(view: Callable[..., Response]) -> Callable[..., Response]:
    """Marks a view that answers `?dryRun=true` (see `_dry_run`) by checking and describing, not acting."""
    setattr(view, DRY_RUNS, True)
    return view


def _ctx() -> Context:
    return Context.default()


def _store() -> Store:
    return _ctx().store


def _caller() -> str:
    """The verified caller: the IAM principal (AWS_IAM auth), or a signed header on the local engine."""
    request = api.current_request
    return identity.caller(request.context, request.headers, get_settings().local_identity_key)


def _owned(name: str, action: str) -> str:
    """The caller, once it is sure they may `action` this cluster (owner or admin); else 403."""
    caller = _caller()
    policy.check_owner(_store().get_cluster(name), caller, get_settings(), action)
    return caller


def _location(target: str) -> str:
    """`target` (`/clusters/NAME`) as this request's caller reaches it."""
    return public_path(api.current_request.context, target)


def _body() -> dict[str, Any]:
    body = parse_json(raw_body(api.current_request, MAX_BODY_BYTES) or b"null")
    if not isinstance(body, dict):
        raise BadRequestError("the request body must be a JSON object")
    return body


def parse_spec(body: dict[str, Any]) -> ClusterSpec:
    return validate(ClusterSpec, body, "cluster request")


def _activity(record: dict[str, Any], what: str) -> None:
    """Using a cluster through the API keeps it from being torn down as idle."""
    leases.record_activity(_store(), get_settings(), record, what, datetime.now(UTC))


YAML_TYPES = ("application/x-yaml", "application/yaml", "text/yaml")


@api.route("/clusters", methods=["POST"], content_types=["application/json", *YAML_TYPES], authorizer=IAM)
@_handled
@_idempotent
@_dry_runs
def create_cluster() -> Response:
    """A cluster request as JSON, or an eksctl ClusterConfig as YAML."""
    dry = _dry_run()
    headers: Mapping[str, str] = api.current_request.headers or {}
    if headers.get("content-type", "").split(";")[0].strip() in YAML_TYPES:
        from chalicelib.model import clusterconfig

        spec = clusterconfig.parse(raw_body(api.current_request, clusterconfig.MAX_YAML_BYTES))
        claim = None
    else:
        body, claim = split_claim(_body(), dry)
        spec = parse_spec(body)
    policy.check_request(spec, _caller(), get_settings(), _store())
    if dry:
        return json_response(200, dry_run.preview_create(_ctx(), spec))
    if claim is not None:  # a READY pool cluster, or (whenPoolEmpty: create) the fresh create below
        claimed = pools.request_claim(_ctx(), spec, _caller(), claim.pool, claim.when_pool_empty, datetime.now(UTC))
        if claimed is not None:
            return json_response(202, as_claimed(public(claimed)), {"Location": _location(f"/clusters/{spec.name}")})
    record = create.request_create(_ctx(), spec, _caller())
    return json_response(202, record, {"Location": _location(f"/clusters/{spec.name}")})


def _dry_run() -> bool:
    """`?dryRun=true`: check and describe the create, record nothing, start nothing (eksctl's --dry-run)."""
    params: Mapping[str, str] = api.current_request.query_params or {}
    value = params.get("dryRun", "false")
    if value not in ("true", "false"):
        raise BadRequestError("dryRun must be true or false", field="dryRun")
    return value == "true"


def _page_args(params: Mapping[str, str]) -> tuple[int, str | None]:
    raw = params.get("limit", str(DEFAULT_PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequestError(f"limit must be a whole number from 1 to {MAX_PAGE}", field="limit")
    return int(raw), params.get("nextToken") or None


@api.route("/clusters", methods=["GET"], authorizer=IAM)
@_handled
def list_clusters() -> Response:
    limit, token = _page_args(api.current_request.query_params or {})
    items, next_token = _store().list_clusters(limit, token)
    summary_keys = ("name", "clusterId", "status", "phase", "region", "version", "owner", "createdAt", "updatedAt")
    body: dict[str, Any] = {"clusters": [{k: i.get(k) for k in summary_keys} for i in items]}
    if next_token:
        body["nextToken"] = next_token
    return json_response(200, body)


@api.route("/clusters/{name}", methods=["GET"], authorizer=IAM)
@_handled
def get_cluster(name: str) -> Response:
    return json_response(200, as_claimed(create.describe_cluster(_store(), name)))


@api.route("/clusters/{name}", methods=["DELETE"], authorizer=IAM)
@_handled
@_idempotent
def delete_cluster(name: str) -> Response:
    """Start deleting the cluster → 202; 409 while another operation runs (a create is taken over)."""
    caller = _owned(name, "delete")
    record = delete.request_delete(_ctx(), name, caller)
    return json_response(202, record, {"Location": _location(f"/clusters/{name}")})


@api.route("/clusters/{name}/lease", methods=["POST"], authorizer=IAM)
@_handled
@_idempotent
def extend_lease(name: str) -> Response:
    """Extend the lease to `hours` from now (within the policy's maximum); clears a teardown warning."""
    body = validate(LeaseRequest, _body(), "lease request")
    result = leases.extend(_store(), get_settings(), name, body.hours, _owned(name, "extend"), datetime.now(UTC))
    return json_response(200, result)


@api.route("/clusters/{name}/nodegroups", methods=["POST"], authorizer=IAM)
@_handled
@_idempotent
def add_nodegroup(name: str) -> Response:
    """Add a node group (its own stack); 202 with the operation, 409 while another runs.

    Managed unless `?managed=false` (eksctl's `--managed=false`): then the body is a `nodeGroups[]` entry.
    """
    caller = _owned(name, "add node groups to")
    params: Mapping[str, str] = api.current_request.query_params or {}
    managed = params.get("managed", "true")
    if managed not in ("true", "false"):
        raise BadRequestError("managed must be true or false", field="managed")
    started = nodegroups.request_add(_ctx(), name, _body(), caller, managed=managed == "true")
    _activity(_store().get_cluster(name), "node group added")
    return json_response(202, started, {"Location": _location(f"/clusters/{name}")})


@api.route("/clusters/{name}/nodegroups/{nodegroup}", methods=["PATCH"], authorizer=IAM)
@_handled
@_idempotent
def scale_nodegroup(name: str, nodegroup: str) -> Response:
    """Change a node group's minSize / desiredCapacity / maxSize through a stack update."""
    started = nodegroups.request_scale(_ctx(), name, nodegroup, _body(), _owned(name, "scale"))
    _activity(_store().get_cluster(name), f"node group {nodegroup} scaled")
    return json_response(202, started, {"Location": _location(f"/clusters/{name}")})


@api.route("/clusters/{name}/nodegroups/{nodegroup}", methods=["DELETE"], authorizer=IAM)
@_handled
@_idempotent
def delete_nodegroup(name: str, nodegroup: str) -> Response:
    """Delete a node group: its role leaves aws-auth, then its stack is deleted."""
    started = nodegroups.request_delete(_ctx(), name, nodegroup, _owned(name, "delete node groups of"))
    _activity(_store().get_cluster(name), f"node group {nodegroup} deleted")
    return json_response(202, started, {"Location": _location(f"/clusters/{name}")})


@api.route("/clusters/{name}/serviceaccounts", methods=["GET"], authorizer=IAM)
@_handled
def list_service_accounts(name: str) -> Response:
    """The cluster's IAM service accounts (iam.serviceAccounts), each with its role's stack."""
    return json_response(200, serviceaccount_changes.list_service_accounts(_ctx(), name))


@api.route("/clusters/{name}/serviceaccounts", methods=["POST"], authorizer=IAM)
@_handled
@_idempotent
def add_service_account(name: str) -> Response:
    """Add an IAM service account (an `iam.serviceAccounts[]` entry): its role's stack, then the Kubernetes object."""
    caller = _owned(name, "add service accounts to")
    started = serviceaccount_changes.request_add(_ctx(), name, _body(), caller)
    _activity(_store().get_cluster(name), "service account added")
    return json_response(202, started, {"Location": _location(f"/clusters/{name}")})


@api.route("/clusters/{name}/serviceaccounts/{namespace}/{serviceaccount}", methods=["DELETE"], authorizer=IAM)
@_handled
@_idempotent
def delete_service_account(name: str, namespace: str, serviceaccount: str) -> Response:
    """Delete an IAM service account: the Kubernetes object, then its role's stack."""
    caller = _owned(name, "delete service accounts of")
    started = serviceaccount_changes.request_delete(_ctx(), name, namespace, serviceaccount, caller)
    _activity(_store().get_cluster(name), f"service account {namespace}/{serviceaccount} deleted")
    return json_response(202, started, {"Location": _location(f"/clusters/{name}")})


@api.route("/clusters/{name}/access", methods=["GET"], authorizer=IAM)
@_handled
def get_access(name: str) -> Response:
    """The cluster's aws-auth mappings, read live from its Kubernetes API."""
    return json_response(200, access.read_access(_ctx(), name))


@api.route("/clusters/{name}/access", methods=["POST"], authorizer=IAM)
@_handled
@_idempotent
def add_access(name: str) -> Response:
    mapping = validate(IdentityMapping, _body(), "mapping")
    if mapping.service_name is not None:  # its namespace, Role and RoleBinding are made at create only
        raise SpecValidationError(
            "serviceName is taken in a ClusterConfig's iamIdentityMappings at create",
            fields=[{"field": "serviceName", "rule": "create_only", "message": "give serviceName at create"}],
        )
    policy.check_mappings([mapping], _owned(name, "change access to"), get_settings())
    change = mapping.model_dump(mode="json", exclude_none=True)
    started = access.request_access_change(_ctx(), name, access.ADD, change)
    _activity(_store().get_cluster(name), f"access granted to {mapping.arn or mapping.account}")
    return json_response(202, started, {"Location": _location(f"/clusters/{name}/access")})


@api.route("/clusters/{name}/access", methods=["DELETE"], authorizer=IAM)
@_handled
@_idempotent
def remove_access(name: str) -> Response:
    params: Mapping[str, str] = api.current_request.query_params or {}
    arn = params.get("arn", "")
    if not arn:
        raise BadRequestError("say which mapping to remove: ?arn=<IAM role/user ARN or account id>", field="arn")
    _owned(name, "change access to")
    started = access.request_access_change(_ctx(), name, access.REMOVE, {"arn": arn})
    _activity(_store().get_cluster(name), f"access removed from {arn}")
    return json_response(202, started, {"Location": _location(f"/clusters/{name}/access")})


@api.route("/clusters/{name}/config", methods=["GET"], authorizer=IAM)
@_handled
def get_cluster_config(name: str) -> Response:
    """The cluster's spec as an eksctl ClusterConfig (YAML; JSON with Accept: application/json)."""
    from chalicelib.model import clusterconfig

    config = clusterconfig.from_spec(ClusterSpec.model_validate(_store().get_cluster(name)["spec"]))
    return yaml_or_json(api.current_request, config)


@api.route("/clusters/{name}/kubeconfig", methods=["GET"], authorizer=IAM)
@_handled
def get_kubeconfig(name: str) -> Response:
    """A kubeconfig for the cluster (YAML; JSON when asked with Accept: application/json)."""
    record = _store().get_cluster(name)
    config = access.kubeconfig(record)
    _activity(record, "kubeconfig fetched")
    return yaml_or_json(api.current_request, config)


@api.route("/quotas", methods=["GET"], authorizer=IAM)
@_handled
def get_quotas() -> Response:
    """Headroom under the account quotas a cluster takes, in `?region=` or each region the policy allows."""
    params: Mapping[str, str] = api.current_request.query_params or {}
    return json_response(200, quotas.report(_ctx(), params.get("region")))


@api.route("/openapi.json", methods=["GET"], authorizer=IAM)
@_handled
def get_openapi() -> Response:
    """This API described as OpenAPI 3.1, from the route table and the request models."""
    from chalicelib.handlers import openapi  # only this route builds JSON Schemas

    return json_response(200, openapi.document(api.current_app.routes))
