"""KubeEmulator: one local EKS cluster's Kubernetes API server, wiring TLS, tokens, authz and objects together."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from local.credentials import Credential
from local.credentials import lookup as lookup_credential
from local.kube import authz, discovery, openapi, tls
from local.kube.api import ResourceApi, attributes, route
from local.kube.objects import ObjectStore
from local.kube.status import ApiError
from local.kube.tokens import TokenError, verify
from local.kube.transport import HttpsServer, Request

IMPERSONATE_EXTRA = "impersonate-extra-"

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


class KubeEmulator:
    """A Kubernetes API server for one local EKS cluster: namespaces, configmaps, serviceaccounts, nodes and
    discovery over HTTPS.

    Authentication follows aws-iam-authenticator (presigned STS GetCallerIdentity tokens checked against
    this cluster's name and the signing key's secret as the engine's IAM and STS know it); authorisation
    is RBAC over the cluster's own Roles and bindings (see local.kube.authz).
    """

    def __init__(
        self,
        cluster_name: str,
        region: str,
        *,
        sts_hosts: set[str],
        creator_arn: str,
        secrets: dict[str, str] | None = None,
        identities: dict[str, str] | None = None,
        credentials: Callable[[str], Credential | None] | None = None,
        access_entries: Callable[[], Iterable[Any]] | None = None,
        authentication_mode: Callable[[], str] | None = None,
        nodes: Callable[[], list[dict[str, Any]]] | None = None,
        controllers: Callable[[KubeEmulator], Any] | None = None,
        service_cidr: str | None = None,
        reachable: Callable[[], bool] | None = None,
    ) -> None:
        """Prepare an emulator; nothing listens until start()."""
        self.cluster_name = cluster_name
        self.region = region
        # Who may sign tokens: `credentials` (by default every key the engine's IAM and STS issued,
        # local.credentials.lookup), and before it the fixed keys of `secrets` (access key → secret) and
        # `identities` (→ caller ARN), which tests and tools may add to (references, not copies).
        self.sts_hosts = sts_hosts
        self.secrets = secrets if secrets is not None else {}
        self.identities = identities if identities is not None else {}
        self.credentials = credentials or lookup_credential
        self.creator_arn = creator_arn
        # The cluster's access entries (objects with principal_arn, type, username, kubernetes_groups) and
        # its authentication mode (API, API_AND_CONFIG_MAP or CONFIG_MAP): aws-auth alone when not given.
        self.access_entries = access_entries
        self.authentication_mode = authentication_mode or (lambda: "CONFIG_MAP")
        self.nodes = nodes or (lambda: [])
        # Whether the cluster's public endpoint is on: every HTTPS caller is outside its VPC.
        self.reachable = reachable or (lambda: True)
        self.endpoint = ""
        self.ca_data = ""
        self.requests: list[tuple[str, str, int]] = []
        self.auth_failures: list[str] = []
        # Services take their cluster IPs in the cluster's Service range (kubernetesNetworkConfig.serviceIpv4Cidr).
        self.objects = ObjectStore(service_cidr)
        # The control loops (local.kube.controllers): made from this emulator, run while it serves.
        self.controllers = controllers(self) if controllers is not None else None
        self._server: HttpsServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen on a free 127.0.0.1 port and serve HTTPS from a daemon thread."""
        material = tls.issue()
        self.ca_data = material.ca_data
        server = HttpsServer(
            ("127.0.0.1", 0), tls.server_context(material), self._handle, self._record, lambda: self.reachable()
        )
        self._server = server
        self.endpoint = f"https://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"kube-{self.cluster_name}", daemon=True
        )
        self._thread.start()
        if self.controllers is not None:
            self.controllers.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self.controllers is not None:
            self.controllers.stop()
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

    def _credential(self, akid: str) -> Credential | None:
        """The credential behind an access key: the fixed tables first, then the engine's IAM and STS."""
        if akid in self.secrets:
            return Credential(akid, self.secrets[akid], self.identities.get(akid, ""), fixed=True)
        return self.credentials(akid)

    def _authenticate(self, authorization: str) -> tuple[str, list[str]]:
        """Return the caller's Kubernetes username and groups (always with system:authenticated), or raise 401
        (noting why in auth_failures).

        The bearer token is checked as aws-iam-authenticator checks it (tokens.verify); the caller's ARN is the
        one STS names the signing key's owner by, and its username and groups come from the creator rule, the
        cluster's access entries and aws-auth (authz.identity_of).
        """
        scheme, _, token = authorization.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token:
                raise TokenError("no bearer token")
            credential = verify(token.strip(), self.cluster_name, self.sts_hosts, self._credential)
            arn = credential.arn
            if not arn:
                raise TokenError(f"no identity for access key {credential.access_key_id!r}")
            found = authz.identity_of(
                arn,
                self.creator_arn,
                lambda: self.objects.configmap_data(*authz.AWS_AUTH),
                self.access_entries,
                self.authentication_mode(),
            )
            if found is None:
                raise TokenError(f"{arn} is not mapped in aws-auth or an access entry")
        except TokenError as error:
            with self._lock:
                self.auth_failures.append(str(error))
            raise ApiError(401, "Unauthorized", "Unauthorized") from None
        username, groups = found
        return username, [*groups, authz.AUTHENTICATED]

    def _impersonate(self, username: str, groups: list[str], headers: dict[str, str]) -> tuple[str, list[str]]:
        """The identity a request acts as: the caller's own, or the one its Impersonate-* headers name once the
        caller is authorized to `impersonate` each part of it (users, groups and serviceaccounts in the core
        group; uids and userextras in authentication.k8s.io), as the API server's impersonation filter does."""
        user = headers.get("impersonate-user", "")
        wanted_groups = [g for g in headers.get("impersonate-group", "").split("\n") if g]
        uid = headers.get("impersonate-uid", "")
        extras = {
            unquote(key.removeprefix(IMPERSONATE_EXTRA)): [v for v in value.split("\n") if v]
            for key, value in headers.items()
            if key.startswith(IMPERSONATE_EXTRA)
        }
        if not (user or wanted_groups or uid or extras):
            return username, groups
        if not user:
            raise ApiError(400, "BadRequest", "requested impersonation of groups, a uid or extras without a user")
        checks: list[authz.Attributes] = []
        if user.startswith(authz.SERVICE_ACCOUNT_PREFIX) and user.count(":") == 3:
            namespace, _, name = user.removeprefix(authz.SERVICE_ACCOUNT_PREFIX).partition(":")
            checks.append(authz.Attributes("impersonate", "", "serviceaccounts", namespace, name))
            implied = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
        else:
            checks.append(authz.Attributes("impersonate", "", "users", "", user))
            implied = []
        checks += [authz.Attributes("impersonate", "", "groups", "", group) for group in wanted_groups]
        if uid:
            checks.append(authz.Attributes("impersonate", "authentication.k8s.io", "uids", "", uid))
        for key, values in extras.items():
            for value in values:
                checks.append(authz.Attributes("impersonate", "authentication.k8s.io", "userextras", "", value, key))
        for attrs in checks:
            authz.authorize_request(username, groups, attrs, self.objects)
        as_groups = [*wanted_groups, *[g for g in implied if g not in wanted_groups]]
        if authz.AUTHENTICATED not in as_groups:
            as_groups.append(authz.AUTHENTICATED)
        return user, as_groups

    def _handle(self, request: Request) -> tuple[int, Any]:
        """Answer one request with a status code and a JSON object (or a stream of watch events).

        Health and version need no credential; everything else is authenticated, then authorized as the API
        server's authorizer sees the request (authz.Attributes), then served.
        """
        path = request.path.rstrip("/") or "/"
        if path in discovery.UNAUTHENTICATED_PATHS:
            if request.method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on {path}")
            return 200, discovery.unauthenticated(path)
        username, groups = self._authenticate(request.authorization)
        username, groups = self._impersonate(username, groups, request.headers)
        found = route(path)
        authz.authorize_request(username, groups, attributes(request.method, path, request.query, found), self.objects)
        if found is None:
            answer = discovery.discovery(path, self.endpoint.removeprefix("https://"))
            if answer is None:
                answer = openapi.document(path, request.query)
            if answer is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            if request.method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on {path}")
            return 200, answer

        def guard(resource: str, namespace: str, obj: dict[str, Any]) -> None:
            authz.confirm_no_escalation(username, groups, resource, namespace, obj, self.objects)

        api = ResourceApi(
            self.objects, self.nodes, self._create, self._replace, lambda: self._server is not None, guard
        )
        return api.answer(Request(request.method, path, request.query, request.headers, request.body), found)
