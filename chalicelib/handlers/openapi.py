"""The API's OpenAPI 3.1 document, built from the app's route table and the pydantic models.

Paths, methods and path parameters come from the routes Chalice registered, so the
document cannot name a route that does not exist; what each route takes and answers
comes from OPERATIONS, and a route missing there is an error (a test builds the
document from the real app). Request bodies are the models the routes validate with;
responses are described by the small models below, loose where the API promises
little (`additionalProperties` allowed) and exact where it promises much (errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from chalicelib.aws import idempotency
from chalicelib.handlers.api import IDEMPOTENT
from chalicelib.model.pool_spec import PoolDeleted, PoolDetail, PoolList, PoolPatch, PoolRecord, PoolSpec
from chalicelib.model.record import ClusterRecord, ClusterSummary, Operation
from chalicelib.model.serviceaccount_spec import ServiceAccountSpec
from chalicelib.model.spec import (
    NAME_PATTERN,
    REGION_PATTERN,
    ClusterSpec,
    IdentityMapping,
    LeaseRequest,
    NodegroupSpec,
    ScalingRequest,
    SelfManagedNodegroupSpec,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

TITLE = "ekspress"
VERSION = "1"
# Only routes of this module are platform routes (Slack's have their own signing and form bodies).
API_MODULE = "chalicelib.handlers.api"
# The warm pools' routes (admins only) are platform routes too.
POOL_MODULE = "chalicelib.handlers.pool_routes"
API_MODULES = (API_MODULE, POOL_MODULE)
SECURITY_SCHEME = "sigv4"
YAML_TYPES = ("application/x-yaml", "application/yaml", "text/yaml")


# -- response models ------------------------------------------------------------------


class FieldProblem(BaseModel):
    field: str = Field(description="where: `managedNodeGroups[0].maxSize`, or a header name")
    rule: str = Field(description="which rule: `size_order`, `region_not_allowed`, `idempotency_key_reused`, ...")
    message: str


class ErrorBody(BaseModel):
    """Every 4xx and 5xx: `error` and `message`, with `fields` on a 422 and other details as they apply."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(
        description="`BadRequest`, `Unauthenticated`, `Forbidden`, `NotFound`, `Conflict`, `quota_exceeded`, ..."
    )
    message: str
    fields: list[FieldProblem] | None = None


class ClusterPage(BaseModel):
    clusters: list[ClusterSummary]
    nextToken: str | None = Field(default=None, description="pass as `nextToken` for the next page")


class Lease(BaseModel):
    name: str
    expiresAt: str


class NodegroupStarted(BaseModel):
    name: str
    operation: Operation


class ServiceAccountStarted(BaseModel):
    name: str
    operation: Operation


class ServiceAccountList(BaseModel):
    """The cluster's `iam.serviceAccounts`, each with the stack that makes its role (none for attachRoleARN)."""

    model_config = ConfigDict(extra="allow")

    name: str
    serviceAccounts: list[dict[str, Any]]


class AccessStarted(BaseModel):
    model_config = ConfigDict(extra="allow")

    operation: str
    executionArn: str
    action: Literal["add", "remove"]


class AccessMappings(BaseModel):
    """The aws-auth ConfigMap's entries, as read from the cluster's Kubernetes API."""

    model_config = ConfigDict(extra="allow")


class Document(BaseModel):
    """A ClusterConfig or kubeconfig: YAML, or JSON when asked with `Accept: application/json`."""

    model_config = ConfigDict(extra="allow")


class QuotaHeadroom(BaseModel):
    quotaCode: str = Field(description="Service Quotas' code: `L-F678F1CE` (VPCs per Region), ...")
    serviceCode: str = Field(description="`vpc`, `ec2` or `eks`")
    name: str
    value: float = Field(description="what the account may hold (in `zone`, for a per-zone quota)")
    used: int
    available: int
    source: Literal["applied", "default", "documented"] = Field(
        description="Service Quotas' applied value, AWS's default, or the documented default when neither answered"
    )
    zone: str | None = Field(default=None, description="the availability zone of a per-zone quota")


class RegionQuotas(BaseModel):
    region: str
    quotas: list[QuotaHeadroom]


class QuotaReport(BaseModel):
    """The account quotas a cluster takes (a VPC, an internet gateway, Elastic IPs and NAT gateways, an EKS cluster)."""

    regions: list[RegionQuotas]


class OpenApiDocument(BaseModel):
    model_config = ConfigDict(extra="allow")

    openapi: str
    paths: dict[str, Any]


MODELS: tuple[type[BaseModel], ...] = (
    ClusterSpec,
    NodegroupSpec,
    SelfManagedNodegroupSpec,
    ScalingRequest,
    IdentityMapping,
    LeaseRequest,
    ErrorBody,
    ClusterRecord,
    ClusterPage,
    Lease,
    NodegroupStarted,
    ServiceAccountSpec,
    ServiceAccountStarted,
    ServiceAccountList,
    AccessStarted,
    AccessMappings,
    Document,
    QuotaReport,
    OpenApiDocument,
    PoolSpec,
    PoolPatch,
    PoolRecord,
    PoolList,
    PoolDetail,
    PoolDeleted,
)


# -- what each route takes and answers ------------------------------------------------------


@dataclass(frozen=True)
class Route:
    summary: str
    status: int
    returns: type[BaseModel]
    errors: tuple[int, ...]
    body: type[BaseModel] | None = None
    # The body may also be an eksctl ClusterConfig in YAML.
    yaml_body: bool = False
    yaml_answer: bool = False
    location: bool = False
    query: tuple[dict[str, Any], ...] = field(default=())


READ = (401, 404)
CHANGE = (400, 401, 403, 404, 409, 422, 503)
POOL_CHANGE = (400, 401, 403, 404, 409, 422)
OPERATIONS: dict[str, Route] = {
    "create_cluster": Route(
        "Request a cluster (JSON, or an eksctl ClusterConfig as YAML) and start its create workflow",
        202,
        ClusterRecord,
        (400, 401, 403, 409, 422, 503),
        body=ClusterSpec,
        yaml_body=True,
        location=True,
        query=(
            {
                "name": "dryRun",
                "in": "query",
                "description": "true: check as a create does and answer 200 with the ClusterConfig (every default "
                "filled in) and the stacks it would build (names, resource counts, template sizes); "
                "nothing is recorded or started",
                "schema": {"type": "string", "enum": ["true", "false"], "default": "false"},
            },
        ),
    ),
    "list_clusters": Route(
        "Clusters ordered by name, one page at a time",
        200,
        ClusterPage,
        (400, 401),
        query=(
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
            {"name": "nextToken", "in": "query", "schema": {"type": "string"}},
        ),
    ),
    "get_cluster": Route("The cluster's record and timeline", 200, ClusterRecord, READ),
    "delete_cluster": Route(
        "Delete the cluster (a create still running is stopped first)",
        202,
        ClusterRecord,
        CHANGE,
        location=True,
    ),
    "extend_lease": Route("Extend the lease to `hours` from now", 200, Lease, CHANGE, body=LeaseRequest),
    "add_nodegroup": Route(
        "Add a managed node group, or with `managed=false` a self-managed one (body: SelfManagedNodegroupSpec)",
        202,
        NodegroupStarted,
        CHANGE,
        body=NodegroupSpec,
        location=True,
        query=(
            {
                "name": "managed",
                "in": "query",
                "description": "false: a self-managed group (eksctl's --managed=false); body: SelfManagedNodegroupSpec",
                "schema": {"type": "string", "enum": ["true", "false"], "default": "true"},
            },
        ),
    ),
    "scale_nodegroup": Route(
        "Scale a node group (minSize, desiredCapacity, maxSize)",
        202,
        NodegroupStarted,
        CHANGE,
        body=ScalingRequest,
        location=True,
    ),
    "delete_nodegroup": Route("Delete a node group", 202, NodegroupStarted, CHANGE, location=True),
    "list_service_accounts": Route("The cluster's IAM service accounts", 200, ServiceAccountList, READ),
    "add_service_account": Route(
        "Add an IAM service account (its role's stack, then the Kubernetes ServiceAccount)",
        202,
        ServiceAccountStarted,
        CHANGE,
        body=ServiceAccountSpec,
        location=True,
    ),
    "delete_service_account": Route(
        "Delete an IAM service account (the Kubernetes ServiceAccount, then its role's stack)",
        202,
        ServiceAccountStarted,
        CHANGE,
        location=True,
    ),
    "get_access": Route("The cluster's aws-auth mappings, read live", 200, AccessMappings, (401, 404, 409)),
    "add_access": Route(
        "Add one aws-auth mapping",
        202,
        AccessStarted,
        CHANGE,
        body=IdentityMapping,
        location=True,
    ),
    "remove_access": Route(
        "Remove every aws-auth mapping of an ARN or account",
        202,
        AccessStarted,
        CHANGE,
        location=True,
        query=(
            {
                "name": "arn",
                "in": "query",
                "required": True,
                "description": "the IAM role or user ARN, or the account id, to unmap",
                "schema": {"type": "string", "minLength": 1},
            },
        ),
    ),
    "get_cluster_config": Route("The cluster's spec as an eksctl ClusterConfig", 200, Document, READ, yaml_answer=True),
    "get_kubeconfig": Route("A kubeconfig for the cluster", 200, Document, READ, yaml_answer=True),
    "get_quotas": Route(
        "Headroom under the account quotas a cluster takes, per region",
        200,
        QuotaReport,
        (400, 401, 422, 503),
        query=(
            {
                "name": "region",
                "in": "query",
                "description": "one region; without it, each region the service policy allows (else the default)",
                "schema": {"type": "string", "pattern": REGION_PATTERN},
            },
        ),
    ),
    "get_openapi": Route("This document", 200, OpenApiDocument, (401,)),
    # Warm pools: admins only (EKSPRESS_ADMINS).
    "create_pool": Route(
        "Define a warm pool (admins only); the fill builds its clusters",
        201,
        PoolRecord,
        POOL_CHANGE,
        PoolSpec,
        location=True,
    ),
    "list_pools": Route("Every warm pool (admins only)", 200, PoolList, (401, 403)),
    "get_pool": Route(
        "A warm pool, its size now and its unclaimed clusters with their state (admins only)",
        200,
        PoolDetail,
        (401, 403, 404),
    ),
    "update_pool": Route(
        "Change a pool's size, maxAgeHours or schedule (admins only)", 200, PoolRecord, POOL_CHANGE, PoolPatch
    ),
    "delete_pool": Route(
        "Remove a pool and start deleting its unclaimed clusters (admins only)", 202, PoolDeleted, POOL_CHANGE
    ),
}

# Path parameters: what the routes accept (anything else is a 404 or a 422 from the model).
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NAME_PATTERN},
    "nodegroup": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": NAME_PATTERN},
    "namespace": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
    "serviceaccount": {"type": "string", "minLength": 1, "maxLength": 253},
}

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted: the workflow has started",
    400: "Malformed request: not JSON, too large, a bad query parameter",
    401: "No verified caller",
    403: "The caller may not do this (owner, admin or service policy)",
    404: "No such cluster, node group, service account or pool",
    409: "Conflict: the name is taken, another operation runs, the cluster is not ACTIVE, "
    "a request with this Idempotency-Key is still running, "
    "or an account quota has no room for the cluster (`quota_exceeded`)",
    422: "The request breaks a rule; `fields` names each field (or header) and rule",
    503: "The workflow (or the idempotency store, or Service Quotas) could not be reached; retry",
}


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema(
        [(model, "validation") for model in MODELS], ref_template="#/components/schemas/{model}"
    )
    return dict(top.get("$defs", {}))


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _operation(view_name: str, route: Route, path_params: list[str], idempotent: bool) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": PATH_PARAMETERS.get(p, {"type": "string"})}
        for p in path_params
    ]
    parameters.extend(route.query)
    if idempotent:
        parameters.append(
            {
                "name": idempotency.HEADER,
                "in": "header",
                "required": False,
                "description": "retrying with the same key and request replays the first answer "
                f"for {idempotency.KEEP_SECONDS // 3600} hours",
                "schema": {"type": "string", "pattern": idempotency.KEY_PATTERN.pattern},
            }
        )
    success: dict[str, Any] = {"description": STATUS_TEXT[route.status], "content": _json(route.returns)}
    if route.yaml_answer:
        success["content"]["application/yaml"] = {"schema": _ref(route.returns)}
    if route.location:
        success["headers"] = {"Location": {"required": True, "schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(route.status): success}
    for status in route.errors:
        responses[str(status)] = {"description": STATUS_TEXT[status], "content": _json(ErrorBody)}
    operation: dict[str, Any] = {
        "operationId": view_name,
        "summary": route.summary,
        "parameters": parameters,
        "responses": responses,
        "security": [{SECURITY_SCHEME: []}],
    }
    if route.body is not None:
        content = _json(route.body)
        if route.yaml_body:
            for media in YAML_TYPES:
                content[media] = {"schema": {"type": "string", "description": "an eksctl.io/v1alpha5 ClusterConfig"}}
        operation["requestBody"] = {"required": True, "content": content}
    return operation


def document(routes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The OpenAPI document for the platform routes in Chalice's route table (`app.routes`)."""
    paths: dict[str, dict[str, Any]] = {}
    for path, methods in sorted(routes.items()):
        for method, entry in sorted(methods.items()):
            if entry.view_function.__module__ not in API_MODULES:
                continue
            route = OPERATIONS.get(entry.view_name)
            if route is None:
                raise KeyError(f"route {method} {path} ({entry.view_name}) is not described in openapi.OPERATIONS")
            paths.setdefault(path, {})[method.lower()] = _operation(
                entry.view_name, route, list(entry.view_args), getattr(entry.view_function, IDEMPOTENT, False)
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Amazon EKS clusters on request. Every route needs a SigV4-signed (AWS_IAM) caller.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "AWS Signature Version 4 (API Gateway AWS_IAM authorization)",
                }
            },
        },
    }
