"""KubeEmulator: one local EKS cluster's Kubernetes API server, wiring TLS, tokens, authz and objects together."""

from __future__ import annotations

import copy
import re
import threading
from typing import TYPE_CHECKING, Any

from local.kube import authz, discovery, tls
from local.kube.objects import KINDS, Kind, ObjectStore, find_node, parse_configmap, parse_object
from local.kube.status import ApiError
from local.kube.tokens import TokenError, verify_token
from local.kube.transport import HttpsServer

if TYPE_CHECKING:
    from collections.abc import Callable

CONFIGMAPS_PATH = re.compile(r"^/api/v1/namespaces/(?P<namespace>[a-z0-9-]+)/configmaps(?:/(?P<name>[^/]+))?$")
NODES_PATH = re.compile(r"^/api/v1/nodes(?:/(?P<name>[^/]+))?$")
# Every other stored kind (objects.KINDS): namespaced ones under their namespace, the rest at the top.
NAMESPACED_PATH = re.compile(
    r"^/api/v1/namespaces/(?P<namespace>[a-z0-9-]+)/(?P<resource>[a-z]+)(?:/(?P<name>[^/]+))?$"
)
CLUSTER_PATH = re.compile(r"^/api/v1/(?P<resource>[a-z]+)(?:/(?P<name>[^/]+))?$")
# Namespaced kinds of a named API group (objects.KINDS whose api_version is GROUP/VERSION).
GROUP_NAMESPACED_PATH = re.compile(
    r"^/apis/(?P<group_version>[a-z0-9.-]+/v[0-9a-z]+)/namespaces/(?P<namespace>[a-z0-9-]+)/(?P<resource>[a-z]+)"
    r"(?:/(?P<name>[^/]+))?$"
)


class KubeEmulator:
    """A Kubernetes API server for one local EKS cluster: namespaces, configmaps, serviceaccounts, nodes and
    discovery over HTTPS.

    Authentication follows aws-iam-authenticator (presigned STS GetCallerIdentity tokens checked against
    this cluster's name); authorisation is deliberately simple instead of RBAC (see local.kube.authz).
    """

    def __init__(
        self,
        cluster_name: str,
        region: str,
        *,
        sts_hosts: set[str],
        secrets: dict[str, str],
        identities: dict[str, str],
        creator_arn: str,
        nodes: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        """Prepare an emulator; nothing listens until start()."""
        self.cluster_name = cluster_name
        self.region = region
        # References, not copies: the local engine may add credentials after the cluster exists.
        self.sts_hosts = sts_hosts
        self.secrets = secrets
        self.identities = identities
        self.creator_arn = creator_arn
        self.nodes = nodes or (lambda: [])
        self.endpoint = ""
        self.ca_data = ""
        self.requests: list[tuple[str, str, int]] = []
        self.auth_failures: list[str] = []
        self.objects = ObjectStore()
        self._server: HttpsServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen on a free 127.0.0.1 port and serve HTTPS from a daemon thread."""
        material = tls.issue()
        self.ca_data = material.ca_data
        server = HttpsServer(("127.0.0.1", 0), tls.server_context(material), self._handle, self._record)
        self._server = server
        self.endpoint = f"https://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"kube-{self.cluster_name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- the names local/faults.py reaches for to stage a racing aws-auth writer ---

    @property
    def _lock(self) -> threading.Lock:
        """The one lock guarding the objects, requests and auth_failures."""
        return self.objects.lock

    @property
    def _store(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The ConfigMaps by (namespace, name)."""
        return self.objects.configmaps

    def _stored(self, obj: dict[str, Any], namespace: str, uid: str, created: str) -> dict[str, Any]:
        """See ObjectStore.stored (caller holds the lock)."""
        return self.objects.stored(obj, namespace, uid, created)

    def _create(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new ConfigMap (every create goes through here, so a fault hook can wrap it)."""
        return self.objects.create(namespace, obj)

    def _replace(self, namespace: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace a ConfigMap (every replace goes through here, so a fault hook can wrap it)."""
        return self.objects.replace(namespace, name, obj)

    # --- requests ---

    def _record(self, method: str, path: str, code: int) -> None:
        """Note an answered request in requests."""
        with self._lock:
            self.requests.append((method, path, code))

    def _authenticate(self, authorization: str) -> tuple[str, list[str]]:
        """Return the caller's ARN and groups, or raise 401 (noting why in auth_failures)."""
        scheme, _, token = authorization.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token:
                raise TokenError("no bearer token")
            akid = verify_token(token.strip(), self.cluster_name, self.sts_hosts, self.secrets)
            arn = self.identities.get(akid)
            if arn is None:
                raise TokenError(f"no identity for access key {akid!r}")
            groups = authz.groups_of(
                authz.canonical_arn(arn), self.creator_arn, lambda: self.objects.configmap_data(*authz.AWS_AUTH)
            )
            if groups is None:
                raise TokenError(f"{arn} is not mapped in aws-auth")
        except TokenError as error:
            with self._lock:
                self.auth_failures.append(str(error))
            raise ApiError(401, "Unauthorized", "Unauthorized") from None
        return arn, groups

    def _handle(self, method: str, path: str, authorization: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one request with a status code and a JSON object."""
        path = path.rstrip("/") or "/"
        if path in discovery.UNAUTHENTICATED_PATHS:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on {path}")
            return 200, discovery.unauthenticated(path)
        _, groups = self._authenticate(authorization)
        authz.authorize(method, path, groups)
        found = discovery.discovery(path, self.endpoint.removeprefix("https://"))
        if found is not None:
            return 200, found
        if match := CONFIGMAPS_PATH.match(path):
            return self._configmaps(method, match["namespace"], match["name"], body)
        if match := NODES_PATH.match(path):
            return self._nodes(method, match["name"])
        match = NAMESPACED_PATH.match(path)
        kind = KINDS.get(match["resource"]) if match else None
        if match and kind and kind.namespaced and kind.api_version == "v1":
            return self._objects(method, kind, match["namespace"], match["name"], body)
        match = GROUP_NAMESPACED_PATH.match(path)
        kind = KINDS.get(match["resource"]) if match else None
        if match and kind and kind.namespaced and kind.api_version == match["group_version"]:
            return self._objects(method, kind, match["namespace"], match["name"], body)
        match = CLUSTER_PATH.match(path)
        kind = KINDS.get(match["resource"]) if match else None
        if match and kind and not kind.namespaced and kind.api_version == "v1":
            return self._objects(method, kind, "", match["name"], body)
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _objects(
        self, method: str, kind: Kind, namespace: str, name: str | None, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        """List, create, get, replace or (where the kind allows it) delete objects of a kind other than ConfigMaps."""
        if name is None and method == "GET":
            return 200, self.objects.list_of(kind, namespace if kind.namespaced else None)
        if name is None and method == "POST":
            return 201, self.objects.create(namespace, parse_object(body, kind, namespace, None), kind)
        if name is not None and method == "GET":
            return 200, self.objects.get(kind, namespace, name)
        if name is not None and method == "PUT":
            return 200, self.objects.replace(namespace, name, parse_object(body, kind, namespace, name), kind)
        if name is not None and method == "DELETE" and kind.deletable:
            return 200, self.objects.delete(kind, namespace, name)
        raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on {kind.resource}: {method}")

    def _configmaps(self, method: str, namespace: str, name: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        """List, create, get or replace ConfigMaps."""
        if name is None and method == "GET":
            return 200, self.objects.configmap_list(namespace)
        if name is None and method == "POST":
            return 201, self._create(namespace, parse_configmap(body, namespace, None))
        if name is not None and method == "GET":
            return 200, self.objects.configmap(namespace, name)
        if name is not None and method == "PUT":
            return 200, self._replace(namespace, name, parse_configmap(body, namespace, name))
        raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on configmaps: {method}")

    def _nodes(self, method: str, name: str | None) -> tuple[int, dict[str, Any]]:
        """List or get the Node objects that nodes() reports."""
        if method != "GET":
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on nodes: {method}")
        items = copy.deepcopy(self.nodes())
        if name is None:
            return 200, self.objects.node_list(items)
        return 200, find_node(items, name)
