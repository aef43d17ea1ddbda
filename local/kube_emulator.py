"""A small HTTPS Kubernetes API server emulator: one per local EKS cluster, EKS-style IAM authentication."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import os
import re
import socket
import ssl
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    from collections.abc import Callable

TOKEN_PREFIX = "k8s-aws-v1."
K8S_AWS_ID_HEADER = "x-k8s-aws-id"
MAX_EXPIRES_SECONDS = 60  # `aws eks get-token` presigns for 60 s
CLOCK_SKEW = dt.timedelta(seconds=30)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()  # botocore signs STS presigned URLs with the empty-body hash
SIGV4_DATE = "%Y%m%dT%H%M%SZ"
ALLOWED_PARAMS = {
    "Action",
    "Version",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
}
ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>[^:]+):sts::(?P<account>\d+):assumed-role/(?P<role>[^/]+)/[^/]+$")
ACCOUNT_OF_ARN = re.compile(r"^arn:[^:]+:(?:iam|sts)::(?P<account>\d+):")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
UNAUTHENTICATED_PATHS = {"/version", "/healthz", "/livez", "/readyz"}
MASTERS = "system:masters"
AWS_AUTH = ("kube-system", "aws-auth")
VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-eks-local",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}
API_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "v1",
    "resources": [
        {
            "name": "configmaps",
            "singularName": "configmap",
            "namespaced": True,
            "kind": "ConfigMap",
            "verbs": ["create", "get", "list", "update"],
            "shortNames": ["cm"],
        },
        {
            "name": "nodes",
            "singularName": "node",
            "namespaced": False,
            "kind": "Node",
            "verbs": ["get", "list"],
            "shortNames": ["no"],
        },
    ],
}
CONFIGMAPS_PATH = re.compile(r"^/api/v1/namespaces/(?P<namespace>[a-z0-9-]+)/configmaps(?:/(?P<name>[^/]+))?$")
NODES_PATH = re.compile(r"^/api/v1/nodes(?:/(?P<name>[^/]+))?$")


class TokenError(Exception):
    """An EKS bearer token that does not prove an identity for this cluster."""


class ApiError(Exception):
    """A failure to answer as a Kubernetes Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


def _utcnow() -> dt.datetime:
    """The current UTC time, timezone-aware."""
    return dt.datetime.now(dt.UTC)


def _is_loopback(host: str) -> bool:
    """Whether a host[:port] names a loopback address."""
    hostname = urlsplit(f"//{host}").hostname or ""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _sigv4_quote(value: str) -> str:
    """URI-encode as SigV4 requires (everything but unreserved characters)."""
    return quote(value, safe="-_.~")


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """Derive the SigV4 signing key for a credential scope."""
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def verify_token(
    token: str, cluster_name: str, sts_hosts: set[str], secrets: dict[str, str], now: dt.datetime | None = None
) -> str:
    """Verify an EKS bearer token (presigned STS GetCallerIdentity URL) and return its access key id."""
    if not token.startswith(TOKEN_PREFIX):
        raise TokenError("token lacks the k8s-aws-v1. prefix")
    encoded = token[len(TOKEN_PREFIX) :]
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        parts = urlsplit(url)
    except (ValueError, UnicodeDecodeError) as error:
        raise TokenError(f"token does not decode to a URL: {error}") from None
    host = parts.netloc
    if host not in sts_hosts:
        raise TokenError(f"unexpected STS host {host!r}")
    # Plain http is only tolerable for the local engine's own STS on a loopback address.
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(host)):
        raise TokenError(f"unexpected scheme {parts.scheme!r}")

    pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    params = dict(pairs)
    if len(params) != len(pairs):
        raise TokenError("repeated query parameter")
    unexpected = set(params) - ALLOWED_PARAMS
    if unexpected:
        raise TokenError(f"unexpected query parameters {sorted(unexpected)}")
    expected = {"Action": "GetCallerIdentity", "Version": "2011-06-15", "X-Amz-Algorithm": "AWS4-HMAC-SHA256"}
    for key, value in expected.items():
        if params.get(key) != value:
            raise TokenError(f"{key} must be {value}")
    for key in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"):
        if not params.get(key):
            raise TokenError(f"missing {key}")

    credential = params["X-Amz-Credential"].split("/")
    if len(credential) != 5 or credential[3] != "sts" or credential[4] != "aws4_request":
        raise TokenError("malformed X-Amz-Credential")
    akid, scope_date, region, service, _ = credential
    try:
        signed_at = dt.datetime.strptime(params["X-Amz-Date"], SIGV4_DATE).replace(tzinfo=dt.UTC)
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        raise TokenError("malformed X-Amz-Date or X-Amz-Expires") from None
    if scope_date != params["X-Amz-Date"][:8]:
        raise TokenError("credential scope date does not match X-Amz-Date")
    if not 0 < expires <= MAX_EXPIRES_SECONDS:
        raise TokenError(f"X-Amz-Expires must be between 1 and {MAX_EXPIRES_SECONDS}")
    now = now or _utcnow()
    if now > signed_at + dt.timedelta(seconds=expires) + CLOCK_SKEW:
        raise TokenError("token expired")
    if signed_at > now + CLOCK_SKEW:
        raise TokenError("token signed in the future")

    signed_headers = params["X-Amz-SignedHeaders"].split(";")
    if K8S_AWS_ID_HEADER not in signed_headers or "host" not in signed_headers:
        raise TokenError("X-Amz-SignedHeaders must include host and x-k8s-aws-id")
    # Only these two headers travel with the token; anything else signed could not be reproduced.
    if set(signed_headers) != {"host", K8S_AWS_ID_HEADER}:
        raise TokenError(f"unsupported signed headers {signed_headers}")
    secret = secrets.get(akid)
    if secret is None:
        raise TokenError(f"unknown access key {akid!r}")

    canonical_query = "&".join(
        f"{k}={v}" for k, v in sorted((_sigv4_quote(k), _sigv4_quote(v)) for k, v in pairs if k != "X-Amz-Signature")
    )
    header_values = {"host": host.lower(), K8S_AWS_ID_HEADER: cluster_name}
    canonical_headers = "".join(f"{name}:{header_values[name]}\n" for name in sorted(signed_headers))
    canonical_request = "\n".join(
        [
            "GET",
            quote(parts.path or "/", safe="/~"),
            canonical_query,
            canonical_headers,
            ";".join(sorted(signed_headers)),
            EMPTY_SHA256,
        ]
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            f"{scope_date}/{region}/{service}/aws4_request",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _signing_key(secret, scope_date, region, service)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, params["X-Amz-Signature"].lower()):
        raise TokenError("signature mismatch (wrong secret, tampered URL or another cluster's token)")
    return akid


def canonical_arn(arn: str) -> str:
    """Map an assumed-role session ARN to its IAM role ARN, as aws-iam-authenticator does; others unchanged."""
    match = ASSUMED_ROLE.match(arn)
    if match is None:
        return arn
    return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"


def _make_tls(tmpdir: str) -> tuple[ssl.SSLContext, str]:
    """Create a one-day self-signed CA and a 127.0.0.1/localhost server certificate; return context and CA base64."""
    now = _utcnow() - dt.timedelta(minutes=5)  # tolerate clients whose clock lags a little
    until = now + dt.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = os.path.join(tmpdir, "server.crt"), os.path.join(tmpdir, "server.key")
    with open(cert_path, "wb") as handle:
        handle.write(server_cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
    with open(key_path, "wb") as handle:
        handle.write(
            server_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context, base64.b64encode(ca_pem).decode()


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Kubernetes Status object for a failure."""
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        status["details"] = details
    return status


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that does each TLS handshake in the request's own thread."""

    daemon_threads = True
    emulator: KubeEmulator

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Wrap the accepted socket in TLS here so a slow handshake never blocks the accept loop."""
        request.settimeout(30)
        try:
            tls = self.emulator._tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that drop connections."""


class _Handler(BaseHTTPRequestHandler):
    """Routes one HTTP request to the emulator."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Print nothing per request."""

    def do_GET(self) -> None:
        """Serve a read."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """Serve a create."""
        self._dispatch("POST")

    def do_PUT(self) -> None:
        """Serve a replace."""
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        """Refuse a patch (unsupported) after authenticating it."""
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        """Refuse a delete (unsupported) after authenticating it."""
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        """Read the body, let the emulator answer, and write the JSON response."""
        emulator = self.server.emulator
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            code, payload = emulator._handle(method, path, self.headers.get("Authorization", ""), body)
        except ApiError as error:
            code, payload = error.code, _status(error.code, error.reason, error.message, error.details)
        except Exception as error:  # a bug here must still answer, not hang the client
            code, payload = 500, _status(500, "InternalError", f"internal error: {error!r}")
        data = json.dumps(payload).encode()
        with emulator._lock:
            emulator.requests.append((method, path, code))
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class KubeEmulator:
    """A Kubernetes API server for one local EKS cluster: configmaps, nodes and discovery over HTTPS.

    Authentication follows aws-iam-authenticator (presigned STS GetCallerIdentity tokens checked against
    this cluster's name); authorisation is deliberately simple instead of RBAC: the cluster creator and
    aws-auth members of system:masters may do anything, other mapped callers may only read.
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
        self._lock = threading.Lock()
        self._store: dict[tuple[str, str], dict[str, Any]] = {}
        self._revision = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tls: ssl.SSLContext

    def start(self) -> None:
        """Listen on a free 127.0.0.1 port and serve HTTPS from a daemon thread."""
        # The key only touches disk for as long as load_cert_chain needs it.
        with tempfile.TemporaryDirectory(prefix="kube-emulator-") as tmpdir:
            self._tls, self.ca_data = _make_tls(tmpdir)
        server = _Server(("127.0.0.1", 0), _Handler)
        server.emulator = self
        server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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

    # --- authentication and authorisation ---

    def _authenticate(self, authorization: str) -> tuple[str, list[str]]:
        """Return the caller's ARN and groups, or raise 401."""
        scheme, _, token = authorization.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token:
                raise TokenError("no bearer token")
            akid = verify_token(token.strip(), self.cluster_name, self.sts_hosts, self.secrets)
            arn = self.identities.get(akid)
            if arn is None:
                raise TokenError(f"no identity for access key {akid!r}")
            groups = self._groups_of(canonical_arn(arn))
            if groups is None:
                raise TokenError(f"{arn} is not mapped in aws-auth")
        except TokenError as error:
            with self._lock:
                self.auth_failures.append(str(error))
            raise ApiError(401, "Unauthorized", "Unauthorized") from None
        return arn, groups

    def _groups_of(self, arn: str) -> list[str] | None:
        """Groups of a canonical ARN per the creator rule and aws-auth; None if the caller is not mapped."""
        if arn == canonical_arn(self.creator_arn):
            return [MASTERS]
        with self._lock:
            config = self._store.get(AWS_AUTH)
            data = dict(config.get("data") or {}) if config else {}

        def entries(key: str) -> list[Any]:
            try:
                loaded = yaml.safe_load(data.get(key) or "[]")
            except yaml.YAMLError:
                return []  # a malformed mapping grants nothing, as in EKS
            return loaded if isinstance(loaded, list) else []

        for key, field in (("mapRoles", "rolearn"), ("mapUsers", "userarn")):
            for entry in entries(key):
                if isinstance(entry, dict) and entry.get(field) == arn:
                    return [str(group) for group in entry.get("groups") or []]
        account = ACCOUNT_OF_ARN.match(arn)
        if account and account["account"] in {str(item) for item in entries("mapAccounts")}:
            return []
        return None

    # --- routing ---

    def _handle(self, method: str, path: str, authorization: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one request with a status code and a JSON object."""
        path = path.rstrip("/") or "/"
        if path in UNAUTHENTICATED_PATHS:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on {path}")
            return 200, dict(VERSION) if path == "/version" else {"status": "ok"}
        _, groups = self._authenticate(authorization)
        if method in WRITE_METHODS and MASTERS not in groups:
            raise ApiError(403, "Forbidden", f"caller is not allowed to {method} {path} (read-only access)")
        if path == "/api":
            host = self.endpoint.removeprefix("https://")
            return 200, {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
            }
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        if path == "/api/v1":
            return 200, copy.deepcopy(API_RESOURCES)
        if match := CONFIGMAPS_PATH.match(path):
            return self._configmaps(method, match["namespace"], match["name"], body)
        if match := NODES_PATH.match(path):
            return self._nodes(method, match["name"])
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _configmaps(self, method: str, namespace: str, name: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        """List, create, get or replace ConfigMaps."""
        if name is None and method == "GET":
            with self._lock:
                items = [copy.deepcopy(cm) for (ns, _), cm in sorted(self._store.items()) if ns == namespace]
                revision = str(self._revision)
            return 200, {
                "kind": "ConfigMapList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": revision},
                "items": items,
            }
        if name is None and method == "POST":
            return 201, self._create(namespace, self._parse(body, namespace, None))
        if name is not None and method == "GET":
            with self._lock:
                found = self._store.get((namespace, name))
                if found is not None:
                    return 200, copy.deepcopy(found)
            raise ApiError(404, "NotFound", f'configmaps "{name}" not found', {"name": name, "kind": "configmaps"})
        if name is not None and method == "PUT":
            return 200, self._replace(namespace, name, self._parse(body, namespace, name))
        raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on configmaps: {method}")

    def _parse(self, body: bytes, namespace: str, name: str | None) -> dict[str, Any]:
        """Decode and check a ConfigMap request body."""
        try:
            obj = json.loads(body or b"null")
        except ValueError as error:
            raise ApiError(400, "BadRequest", f"body is not JSON: {error}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise ApiError(400, "BadRequest", "body must be a ConfigMap object with metadata")
        if obj.get("kind", "ConfigMap") != "ConfigMap":
            raise ApiError(400, "BadRequest", f"expected kind ConfigMap, got {obj.get('kind')!r}")
        metadata = obj["metadata"]
        if not metadata.get("name"):
            raise ApiError(422, "Invalid", "ConfigMap metadata.name is required")
        if name is not None and metadata["name"] != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        if metadata.get("namespace", namespace) != namespace:
            raise ApiError(400, "BadRequest", "the namespace of the object does not match the namespace on the URL")
        data = obj.get("data") or {}
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ApiError(400, "BadRequest", "ConfigMap data must map strings to strings")
        return obj

    def _stored(self, obj: dict[str, Any], namespace: str, uid: str, created: str) -> dict[str, Any]:
        """The object as stored: server-managed metadata set, revision bumped (caller holds the lock)."""
        self._revision += 1
        metadata = {
            **{k: v for k, v in obj["metadata"].items() if k not in {"uid", "resourceVersion", "creationTimestamp"}},
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": str(self._revision),
            "creationTimestamp": created,
        }
        stored = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
        for key in ("data", "binaryData", "immutable"):
            if key in obj:
                stored[key] = copy.deepcopy(obj[key])
        return stored

    def _create(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new ConfigMap, or raise 409 AlreadyExists."""
        name = obj["metadata"]["name"]
        with self._lock:
            if (namespace, name) in self._store:
                raise ApiError(
                    409, "AlreadyExists", f'configmaps "{name}" already exists', {"name": name, "kind": "configmaps"}
                )
            created = _utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
            stored = self._stored(obj, namespace, str(uuid.uuid4()), created)
            self._store[(namespace, name)] = stored
            return copy.deepcopy(stored)

    def _replace(self, namespace: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace a ConfigMap if the caller saw its current resourceVersion, else raise 409 Conflict."""
        with self._lock:
            current = self._store.get((namespace, name))
            if current is None:
                raise ApiError(404, "NotFound", f'configmaps "{name}" not found', {"name": name, "kind": "configmaps"})
            # Strict optimistic concurrency: a PUT without a resourceVersion is a conflict, not a blind overwrite.
            if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on configmaps "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                    {"name": name, "kind": "configmaps"},
                )
            meta = current["metadata"]
            stored = self._stored(obj, namespace, meta["uid"], meta["creationTimestamp"])
            self._store[(namespace, name)] = stored
            return copy.deepcopy(stored)

    def _nodes(self, method: str, name: str | None) -> tuple[int, dict[str, Any]]:
        """List or get the Node objects that nodes() reports."""
        if method != "GET":
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on nodes: {method}")
        items = copy.deepcopy(self.nodes())
        if name is None:
            with self._lock:
                revision = str(self._revision)
            return 200, {
                "kind": "NodeList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": revision},
                "items": items,
            }
        for node in items:
            if node.get("metadata", {}).get("name") == name:
                return 200, node
        raise ApiError(404, "NotFound", f'nodes "{name}" not found', {"name": name, "kind": "nodes"})
