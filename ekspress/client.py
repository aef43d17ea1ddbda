"""A typed client for the ekspress API: one method per route, pydantic answers, typed errors.

Requests are signed with SigV4 (service `execute-api`) with the caller's AWS credentials as
botocore finds them (environment, profile, SSO, instance role), as API Gateway's AWS_IAM
authorizer expects. Every mutating call carries an `Idempotency-Key`, the same on each retry
after a timeout, a dropped connection or a 5xx, so a retry never starts a second workflow.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ekspress import errors
from ekspress.models import (
    DELETED,
    FAILED_STATUSES,
    AccessChange,
    AccessMappings,
    ClusterPage,
    ClusterRecord,
    ClusterSummary,
    DryRun,
    Lease,
    ServiceAccounts,
    StartedOperation,
    TimelineEvent,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

DEFAULT_ENDPOINT = "http://localhost:8000"
DEFAULT_REGION = "us-east-1"
SERVICE = "execute-api"
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "ekspress-client/0.1"
# https://ID.execute-api.REGION.amazonaws.com[/stage]
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
YAML_TYPE = "application/x-yaml"


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class Transport(Protocol):
    """Sends one request; raises TimeoutError or ConnectionError when no answer came."""

    def __call__(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> RawResponse: ...


def urllib_transport(method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float) -> RawResponse:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return RawResponse(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as err:
        return RawResponse(err.code, dict(err.headers or {}), err.read())
    except TimeoutError as exc:
        raise TimeoutError(f"{method} {url}: no answer in {timeout:g} s") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(f"{method} {url}: no answer in {timeout:g} s") from exc
        raise ConnectionError(f"{method} {url}: {exc.reason}") from exc
    except (ConnectionError, OSError) as exc:
        raise ConnectionError(f"{method} {url}: {exc}") from exc


def region_of(endpoint: str) -> str | None:
    """The region an execute-api endpoint is in, from its host name."""
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    match = _REGION_IN_HOST.search(host)
    return match.group(1) if match else None


class Signer:
    """SigV4 for `execute-api` with botocore's credentials (the only botocore the client needs)."""

    def __init__(self, region: str | None, credentials: Any = None, aws_profile: str | None = None) -> None:
        self.region = region
        self._credentials = credentials
        self._profile = aws_profile
        self._resolved = credentials is not None and region is not None

    def credentials(self) -> Any:
        """botocore's credentials (environment, profile, SSO, instance role), and its region when none was given."""
        if not self._resolved:
            import botocore.session

            session = botocore.session.Session(profile=self._profile)
            if self._credentials is None:
                self._credentials = session.get_credentials()
            if self.region is None:
                self.region = session.get_config_variable("region") or DEFAULT_REGION
            self._resolved = True
        return self._credentials

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
        """Headers plus the signature (Authorization, X-Amz-Date, X-Amz-Security-Token), if there are credentials."""
        credentials = self.credentials()
        if credentials is None:
            return headers
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), SERVICE, self.region or DEFAULT_REGION).add_auth(request)
        return dict(request.headers.items())


@dataclass
class Retry:
    """How often and how patiently a request is sent again after a timeout, a dropped connection or a 5xx."""

    attempts: int = 3
    backoff: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep)


class Client:
    """The ekspress API.

    `endpoint` is the API's base URL (the stage's invoke URL on AWS; the local engine's
    `http://localhost:8000` by default). `sign=None` signs when botocore finds credentials;
    `sign=False` sends unsigned requests (the local engine names them the local developer).
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        region: str | None = None,
        sign: bool | None = None,
        credentials: Any = None,
        aws_profile: str | None = None,
        timeout: float = 30.0,
        retry: Retry | None = None,
        transport: Transport | None = None,
        key_factory: Callable[[], str] | None = None,
    ) -> None:
        if (
            urllib.parse.urlsplit(endpoint).scheme not in ("http", "https")
            or not urllib.parse.urlsplit(endpoint).netloc
        ):
            raise ValueError(f"the endpoint must be an http(s) URL, such as {DEFAULT_ENDPOINT}; got {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        # The signing region: given, else the execute-api host's, else botocore's (a custom domain says none).
        self.region = region or region_of(self.endpoint)
        self.timeout = timeout
        self.retry = retry or Retry()
        self._transport: Transport = transport or urllib_transport
        self._signer = None if sign is False else Signer(self.region, credentials, aws_profile)
        self._new_key = key_factory or (lambda: str(uuid.uuid4()))

    # -- HTTP ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
        query: dict[str, Any] | None = None,
        accept: str = "application/json",
        idempotency_key: str | None = None,
        idempotent: bool = True,
    ) -> Any:
        """One call: JSON (or YAML) decoded, or the typed error. Mutating calls get an Idempotency-Key."""
        url = self.endpoint + path
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        if data is not None:
            headers["Content-Type"] = content_type
        if method != "GET" and idempotent:
            headers[IDEMPOTENCY_HEADER] = idempotency_key or self._new_key()
        reply = self._send(method, url, headers, data)
        decoded = _decode(reply)
        if reply.status >= 400:
            raise errors.from_response(reply.status, decoded, reply.headers)
        return decoded

    def _send(self, method: str, url: str, headers: dict[str, str], data: bytes | None) -> RawResponse:
        """Send, and send again (same headers, so the same key) after a timeout, a lost connection or a 5xx."""
        attempt = 0
        while True:
            attempt += 1
            signed = self._signer.sign(method, url, dict(headers), data) if self._signer else headers
            try:
                reply = self._transport(method, url, signed, data, self.timeout)
            except (TimeoutError, ConnectionError):
                if attempt >= self.retry.attempts:
                    raise
            else:
                if reply.status < 500 or attempt >= self.retry.attempts:
                    return reply
            self.retry.sleep(self.retry.backoff * 2 ** (attempt - 1))

    # -- clusters -----------------------------------------------------------------------

    def create_cluster(self, spec: dict[str, Any], *, idempotency_key: str | None = None) -> ClusterRecord:
        """`POST /clusters` with a cluster request (eksctl's ClusterConfig field names)."""
        return ClusterRecord.model_validate(
            self.request("POST", "/clusters", body=spec, idempotency_key=idempotency_key)
        )

    def create_cluster_from_config(
        self, config_yaml: str | bytes, *, idempotency_key: str | None = None
    ) -> ClusterRecord:
        """`POST /clusters` with an eksctl ClusterConfig file, sent as it is."""
        raw = config_yaml.encode() if isinstance(config_yaml, str) else config_yaml
        return ClusterRecord.model_validate(
            self.request("POST", "/clusters", raw=raw, content_type=YAML_TYPE, idempotency_key=idempotency_key)
        )

    def dry_run_create(self, spec: dict[str, Any] | str | bytes) -> DryRun:
        """`POST /clusters?dryRun=true`: the create's checks, the ClusterConfig with its defaults and the stacks
        it would build; a cluster request (dict) or a ClusterConfig file (YAML text)."""
        query = {"dryRun": "true"}
        if isinstance(spec, dict):
            return DryRun.model_validate(self.request("POST", "/clusters", body=spec, query=query, idempotent=False))
        raw = spec.encode() if isinstance(spec, str) else spec
        return DryRun.model_validate(
            self.request("POST", "/clusters", raw=raw, content_type=YAML_TYPE, query=query, idempotent=False)
        )

    def list_clusters(self, *, limit: int | None = None, next_token: str | None = None) -> ClusterPage:
        """One page of `GET /clusters`."""
        return ClusterPage.model_validate(
            self.request("GET", "/clusters", query={"limit": limit, "nextToken": next_token})
        )

    def iter_clusters(self, *, page_size: int = 100) -> Iterator[ClusterSummary]:
        """Every cluster, page after page."""
        token: str | None = None
        while True:
            page = self.list_clusters(limit=page_size, next_token=token)
            yield from page.clusters
            token = page.nextToken
            if not token:
                return

    def get_cluster(self, name: str) -> ClusterRecord:
        """`GET /clusters/{name}`: status, phase, stacks, endpoint, failure, timeline."""
        return ClusterRecord.model_validate(self.request("GET", f"/clusters/{_seg(name)}"))

    def delete_cluster(self, name: str, *, idempotency_key: str | None = None) -> ClusterRecord:
        return ClusterRecord.model_validate(
            self.request("DELETE", f"/clusters/{_seg(name)}", idempotency_key=idempotency_key)
        )

    def extend_lease(self, name: str, hours: int, *, idempotency_key: str | None = None) -> Lease:
        return Lease.model_validate(
            self.request(
                "POST", f"/clusters/{_seg(name)}/lease", body={"hours": hours}, idempotency_key=idempotency_key
            )
        )

    def get_config(self, name: str) -> str:
        """The cluster's spec as an eksctl ClusterConfig, YAML text."""
        return str(self.request("GET", f"/clusters/{_seg(name)}/config", accept="application/yaml"))

    def get_config_dict(self, name: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/clusters/{_seg(name)}/config"))

    def get_kubeconfig(self, name: str) -> dict[str, Any]:
        """A kubeconfig whose user runs `aws eks get-token`."""
        return dict(self.request("GET", f"/clusters/{_seg(name)}/kubeconfig"))

    # -- node groups --------------------------------------------------------------------

    def add_nodegroup(
        self, name: str, nodegroup: dict[str, Any], *, managed: bool = True, idempotency_key: str | None = None
    ) -> StartedOperation:
        query = None if managed else {"managed": "false"}
        return StartedOperation.model_validate(
            self.request(
                "POST",
                f"/clusters/{_seg(name)}/nodegroups",
                body=nodegroup,
                query=query,
                idempotency_key=idempotency_key,
            )
        )

    def scale_nodegroup(
        self,
        name: str,
        nodegroup: str,
        *,
        desired: int | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        idempotency_key: str | None = None,
    ) -> StartedOperation:
        sizes = {"minSize": min_size, "desiredCapacity": desired, "maxSize": max_size}
        body = {k: v for k, v in sizes.items() if v is not None}
        return StartedOperation.model_validate(
            self.request(
                "PATCH",
                f"/clusters/{_seg(name)}/nodegroups/{_seg(nodegroup)}",
                body=body,
                idempotency_key=idempotency_key,
            )
        )

    def delete_nodegroup(self, name: str, nodegroup: str, *, idempotency_key: str | None = None) -> StartedOperation:
        return StartedOperation.model_validate(
            self.request(
                "DELETE", f"/clusters/{_seg(name)}/nodegroups/{_seg(nodegroup)}", idempotency_key=idempotency_key
            )
        )

    # -- access (aws-auth) --------------------------------------------------------------

    def get_access(self, name: str) -> AccessMappings:
        return AccessMappings.model_validate(self.request("GET", f"/clusters/{_seg(name)}/access"))

    def add_access(
        self,
        name: str,
        *,
        arn: str | None = None,
        username: str | None = None,
        groups: Iterable[str] = (),
        account: str | None = None,
        no_duplicate_arns: bool | None = None,
        idempotency_key: str | None = None,
    ) -> AccessChange:
        body: dict[str, Any] = {"arn": arn, "username": username, "account": account}
        body = {k: v for k, v in body.items() if v is not None}
        if groups:
            body["groups"] = list(groups)
        if no_duplicate_arns is not None:
            body["noDuplicateARNs"] = no_duplicate_arns
        return AccessChange.model_validate(
            self.request("POST", f"/clusters/{_seg(name)}/access", body=body, idempotency_key=idempotency_key)
        )

    def remove_access(self, name: str, arn: str, *, idempotency_key: str | None = None) -> AccessChange:
        """Remove every mapping of an ARN (or an account id)."""
        return AccessChange.model_validate(
            self.request(
                "DELETE", f"/clusters/{_seg(name)}/access", query={"arn": arn}, idempotency_key=idempotency_key
            )
        )

    # -- service accounts, quotas, the API's description ---------------------------------

    def list_service_accounts(self, name: str) -> ServiceAccounts:
        return ServiceAccounts.model_validate(self.request("GET", f"/clusters/{_seg(name)}/serviceaccounts"))

    def add_service_account(
        self, name: str, service_account: dict[str, Any], *, idempotency_key: str | None = None
    ) -> StartedOperation:
        return StartedOperation.model_validate(
            self.request(
                "POST", f"/clusters/{_seg(name)}/serviceaccounts", body=service_account, idempotency_key=idempotency_key
            )
        )

    def delete_service_account(
        self, name: str, namespace: str, service_account: str, *, idempotency_key: str | None = None
    ) -> StartedOperation:
        path = f"/clusters/{_seg(name)}/serviceaccounts/{_seg(namespace)}/{_seg(service_account)}"
        return StartedOperation.model_validate(self.request("DELETE", path, idempotency_key=idempotency_key))

    # -- warm pools (admins only) ---------------------------------------------------------
    # A claim is `create_cluster({..., "pool": NAME, "whenPoolEmpty": "create" | "fail" | "wait"})`.

    def create_pool(self, pool: dict[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        return dict(self.request("POST", "/pools", body=pool, idempotency_key=idempotency_key))

    def list_pools(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/pools")["pools"])

    def get_pool(self, name: str) -> dict[str, Any]:
        """The pool, its size now, and its unclaimed clusters with their state (WARMING, READY, ...)."""
        return dict(self.request("GET", f"/pools/{_seg(name)}"))

    def update_pool(self, name: str, change: dict[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Change `size`, `maxAgeHours` or `schedule` (None removes the last two)."""
        return dict(self.request("PATCH", f"/pools/{_seg(name)}", body=change, idempotency_key=idempotency_key))

    def delete_pool(self, name: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        return dict(self.request("DELETE", f"/pools/{_seg(name)}", idempotency_key=idempotency_key))

    def quotas(self, region: str | None = None) -> dict[str, Any]:
        return dict(self.request("GET", "/quotas", query={"region": region}))

    def openapi(self) -> dict[str, Any]:
        return dict(self.request("GET", "/openapi.json"))

    # -- waiting ------------------------------------------------------------------------

    def wait_until(
        self,
        name: str,
        status: str | Iterable[str],
        timeout: float = 1800.0,
        *,
        poll: float = 2.0,
        on_event: Callable[[TimelineEvent, ClusterRecord], None] | None = None,
        on_poll: Callable[[ClusterRecord], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> ClusterRecord:
        """The record once its status is `status` (or one of them), following the timeline.

        `on_event` sees each timeline event once, in order, as it appears. A FAILED or
        DELETE_FAILED cluster (unless waited for) raises ClusterFailed; running out of time
        raises WaitTimeout. Waiting for DELETED also ends when the name is gone (404).
        """
        wanted = {status} if isinstance(status, str) else set(status)
        deadline = clock() + timeout
        seen: set[tuple[str, str, str]] = set()
        record: ClusterRecord | None = None
        while True:
            try:
                record = self.get_cluster(name)
            except errors.NotFound:
                if DELETED in wanted and record is not None:
                    return record.model_copy(update={"status": DELETED})
                raise
            for event in record.events or []:
                key = (event.at, event.type, event.message)
                if key not in seen:
                    seen.add(key)
                    if on_event:
                        on_event(event, record)
            if on_poll:
                on_poll(record)
            if record.status in wanted:
                return record
            if record.status in FAILED_STATUSES:
                raise errors.ClusterFailed(record)
            if clock() >= deadline:
                raise errors.WaitTimeout(
                    f"cluster {name!r} is {record.status} after {timeout:g} s, not {'/'.join(sorted(wanted))}", record
                )
            sleep(poll)

    def wait_for_operation(
        self,
        name: str,
        operation_id: str,
        timeout: float = 1800.0,
        *,
        poll: float = 2.0,
        on_event: Callable[[TimelineEvent, ClusterRecord], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> ClusterRecord:
        """The record once the operation `operation_id` no longer holds it (a node group change done).

        A change that failed is in the record's `lastFailure` (and the timeline).
        """
        deadline = clock() + timeout
        seen: set[tuple[str, str, str]] = set()
        while True:
            record = self.get_cluster(name)
            for event in record.events or []:
                key = (event.at, event.type, event.message)
                if key not in seen:
                    seen.add(key)
                    if on_event:
                        on_event(event, record)
            if record.operation is None or record.operation.id != operation_id:
                return record
            if clock() >= deadline:
                raise errors.WaitTimeout(f"operation {operation_id} on {name!r} still runs after {timeout:g} s", record)
            sleep(poll)


def _seg(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _decode(reply: RawResponse) -> Any:
    content_type = next((v for k, v in reply.headers.items() if k.lower() == "content-type"), "")
    text = reply.body.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text or "null")
        except ValueError:
            return {"message": text}
    if "yaml" in content_type and reply.status < 400:
        return text
    if reply.status >= 400:
        try:
            return json.loads(text)
        except ValueError:
            return {"message": text}
    return text
