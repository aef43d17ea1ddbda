"""Talk to a cluster's Kubernetes API as EKS expects: bearer token (token.py), verified TLS, aws-auth edits.

- `KubeClient` is the handful of Kubernetes calls we need, on urllib3 (already
  shipped with botocore, so it costs no package and little import time).
- `update_aws_auth` is read → merge → write under `resourceVersion`; a 409 means
  someone else wrote in between, so it re-reads and merges again.
"""

from __future__ import annotations

import base64
import json
import random
import ssl
import time
from typing import TYPE_CHECKING, Any

from chalicelib.kube import awsauth
from chalicelib.model.errors import EkspressError

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_CONFLICT_RETRIES = 20
RBAC_PATH = "/apis/rbac.authorization.k8s.io/v1"


class KubeUnavailableError(EkspressError):
    """The Kubernetes API could not be reached or answered 5xx; worth retrying."""

    status = 503
    code = "KubernetesUnavailable"


class KubeAuthError(EkspressError):
    """The Kubernetes API refused our token (401) or the action (403)."""

    status = 502
    code = "KubernetesAuth"


class KubeConflictError(EkspressError):
    """A write lost an optimistic-concurrency race (409)."""

    status = 409
    code = "KubernetesConflict"


class KubeClient:
    """Just the Kubernetes API calls ekspress makes, over TLS verified with the cluster's CA."""

    def __init__(self, endpoint: str, ca_data: str, token: Callable[[], str], timeout: float = 10.0) -> None:
        # Imported here: only aws-auth steps need an HTTP client of their own.
        import urllib3

        context = ssl.create_default_context(cadata=base64.b64decode(ca_data).decode())
        self._http = urllib3.PoolManager(ssl_context=context, retries=False, timeout=timeout)
        self._endpoint = endpoint.rstrip("/")
        self._token = token

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        import urllib3

        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body).encode()
        try:
            resp = self._http.request(method, self._endpoint + path, body=payload, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise KubeUnavailableError(f"Kubernetes API unreachable: {type(exc).__name__}") from None
        data = json.loads(resp.data) if resp.data else None
        message = (data or {}).get("message", "") if isinstance(data, dict) else ""
        if resp.status >= 500:
            raise KubeUnavailableError(f"Kubernetes API answered {resp.status}: {message}")
        if resp.status in (401, 403):
            raise KubeAuthError(f"Kubernetes API answered {resp.status}: {message}")
        if resp.status == 409:
            raise KubeConflictError(message or "conflict")
        return resp.status, data

    # -- one object by its path: read (None when missing), create, replace under its resourceVersion --

    def _get(self, path: str) -> dict[str, Any] | None:
        status, data = self._call("GET", path)
        if status == 404:
            return None
        self._expect(status, data, 200)
        return dict(data)

    def _create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, data = self._call("POST", path, body)
        self._expect(status, data, 201, 200)
        return dict(data)

    def _replace(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, data = self._call("PUT", path, body)
        self._expect(status, data, 200)
        return dict(data)

    def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")

    def create_configmap(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._create(f"/api/v1/namespaces/{namespace}/configmaps", body)

    def replace_configmap(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._replace(f"/api/v1/namespaces/{namespace}/configmaps/{name}", body)

    def get_namespace(self, name: str) -> dict[str, Any] | None:
        return self._get(f"/api/v1/namespaces/{name}")

    def create_namespace(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._create("/api/v1/namespaces", body)

    def get_serviceaccount(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")

    def create_serviceaccount(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._create(f"/api/v1/namespaces/{namespace}/serviceaccounts", body)

    def replace_serviceaccount(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._replace(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}", body)

    def delete_serviceaccount(self, namespace: str, name: str) -> bool:
        """Delete a ServiceAccount; False when it was not there (already gone is done)."""
        status, data = self._call("DELETE", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
        if status == 404:
            return False
        self._expect(status, data, 200, 202)
        return True

    def get_rbac(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A namespaced RBAC object (`resource` is roles or rolebindings); None when it does not exist."""
        return self._get(f"{RBAC_PATH}/namespaces/{namespace}/{resource}/{name}")

    def create_rbac(self, resource: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._create(f"{RBAC_PATH}/namespaces/{namespace}/{resource}", body)

    def replace_rbac(self, resource: str, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._replace(f"{RBAC_PATH}/namespaces/{namespace}/{resource}/{name}", body)

    def list_nodes(self) -> list[dict[str, Any]]:
        status, data = self._call("GET", "/api/v1/nodes")
        self._expect(status, data, 200)
        return list(data.get("items", []))

    @staticmethod
    def _expect(status: int, data: Any, *ok: int) -> None:
        if status not in ok:
            message = data.get("message") if isinstance(data, dict) else data
            raise EkspressError(f"Kubernetes API answered {status}: {message}")


def update_aws_auth(
    kube: KubeClient,
    edit: Callable[[awsauth.AuthMap], awsauth.AuthMap],
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = MAX_CONFLICT_RETRIES,
) -> awsauth.AuthMap:
    """Apply `edit` to aws-auth without losing anyone else's concurrent change.

    Every attempt re-reads the ConfigMap and re-applies the edit to what is
    there now; the write carries the resourceVersion that was read, so the
    API server refuses it (409) if anything changed in between.
    """
    for attempt in range(attempts):
        current = kube.get_configmap(awsauth.NAMESPACE, awsauth.NAME)
        merged = edit(awsauth.parse(current))
        body = awsauth.render(merged, current)
        try:
            if current is None:
                kube.create_configmap(awsauth.NAMESPACE, body)
            else:
                kube.replace_configmap(awsauth.NAMESPACE, awsauth.NAME, body)
            return merged
        except KubeConflictError:
            sleep(min(2.0, 0.05 * 2**attempt) * random.random())  # full jitter: racing writers spread out
    raise KubeConflictError(f"aws-auth kept changing; gave up after {attempts} attempts")
