"""The ekspress client and command line against recorded answers of the API (no server, or a tiny one)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from botocore.credentials import Credentials

from ekspress import errors
from ekspress.cli import _eksctl_booleans, explain, table
from ekspress.client import Client, RawResponse, Retry, region_of
from ekspress.config import resolve
from ekspress.kubeconfig import entries, merge, principal_name

if TYPE_CHECKING:
    from collections.abc import Iterator

ANSWERS = json.loads((Path(__file__).parents[1] / "data" / "client" / "answers.json").read_text())
ENDPOINT = "https://abc123.execute-api.ap-northeast-1.amazonaws.com/api"


def answer(name: str) -> RawResponse | Exception:
    recorded = ANSWERS[name]
    raw = recorded["text"] if "text" in recorded else json.dumps(recorded["body"])
    return RawResponse(recorded["status"], dict(recorded["headers"]), raw.encode())


class Transport:
    """Plays recorded answers in order and keeps each request it was given."""

    def __init__(self, *answers: str | Exception | RawResponse) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def __call__(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> RawResponse:
        self.requests.append({"method": method, "url": url, "headers": headers, "body": body})
        next_answer = self.answers.pop(0)
        if isinstance(next_answer, Exception):
            raise next_answer
        if isinstance(next_answer, RawResponse):
            return next_answer
        result = answer(next_answer)
        assert isinstance(result, RawResponse)
        return result


def client(transport: Transport, **kwargs: Any) -> Client:
    return Client(ENDPOINT, sign=False, transport=transport, retry=Retry(sleep=lambda _: None), **kwargs)


def test_create_sends_the_request_with_an_idempotency_key_and_returns_the_record() -> None:
    transport = Transport("create_202")

    record = client(transport).create_cluster({"name": "mz-k8s", "region": "ap-northeast-1"})

    sent = transport.requests[0]
    assert (sent["method"], sent["url"]) == ("POST", ENDPOINT + "/clusters")
    assert json.loads(sent["body"]) == {"name": "mz-k8s", "region": "ap-northeast-1"}
    assert sent["headers"]["Content-Type"] == "application/json"
    assert len(sent["headers"]["Idempotency-Key"]) == 36
    assert (record.name, record.status, record.phase) == ("mz-k8s", "CREATING", "REQUESTED")


def test_a_clusterconfig_file_is_sent_as_it_is() -> None:
    transport = Transport("create_202")
    text = "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: mz-k8s}\n"

    client(transport).create_cluster_from_config(text)

    assert transport.requests[0]["body"] == text.encode()
    assert transport.requests[0]["headers"]["Content-Type"] == "application/x-yaml"


def test_reads_carry_no_idempotency_key() -> None:
    transport = Transport("active")

    record = client(transport).get_cluster("mz-k8s")

    assert "Idempotency-Key" not in transport.requests[0]["headers"]
    assert record.cluster is not None and record.cluster.endpoint
    assert [e.type for e in record.events or []][-1] == "ACTIVE"


def test_a_retry_after_a_5xx_or_a_timeout_sends_the_same_key() -> None:
    transport = Transport("error_503", TimeoutError("slow"), "create_202")

    client(transport).create_cluster({"name": "mz-k8s"})

    keys = {r["headers"]["Idempotency-Key"] for r in transport.requests}
    assert len(transport.requests) == 3 and len(keys) == 1


def test_each_new_call_gets_a_new_key() -> None:
    transport = Transport("create_202", "create_202")
    api = client(transport)

    api.create_cluster({"name": "a"})
    api.create_cluster({"name": "b"})

    assert transport.requests[0]["headers"]["Idempotency-Key"] != transport.requests[1]["headers"]["Idempotency-Key"]


def test_retries_end_with_the_last_error() -> None:
    transport = Transport("error_503", "error_503", "error_503")

    with pytest.raises(errors.ServerError) as raised:
        client(transport).delete_cluster("mz-k8s")

    assert raised.value.status == 503 and raised.value.code == "WorkflowUnavailable"
    assert len(transport.requests) == 3


def test_a_422_carries_each_field_and_rule() -> None:
    with pytest.raises(errors.ValidationFailed) as raised:
        client(Transport("error_422")).create_cluster({"name": "x"})

    assert [(f["field"], f["rule"]) for f in raised.value.fields] == [
        ("managedNodeGroups[0].desiredCapacity", "size_order"),
        ("region", "region_not_allowed"),
    ]


def test_a_409_names_who_holds_the_cluster_and_since_when() -> None:
    with pytest.raises(errors.Conflict) as raised:
        client(Transport("error_409_busy")).scale_nodegroup("mz-k8s", "ng-1", desired=3)

    assert raised.value.holder == "arn:aws:iam::123456789012:role/platform-admin"
    assert raised.value.since == "2026-12-01T02:40:00Z"


def test_a_403_names_the_policy_that_refused() -> None:
    with pytest.raises(errors.Forbidden) as raised:
        client(Transport("error_403_policy")).add_access(
            "mz-k8s", arn="arn:aws:iam::1:role/x", groups=["system:masters"]
        )

    assert (raised.value.rule, raised.value.setting) == ("cluster_admin_not_allowed", "EKSPRESS_MASTERS_ALLOWED")


def test_a_404_is_not_found() -> None:
    with pytest.raises(errors.NotFound):
        client(Transport("error_404")).get_cluster("nobody")


def test_every_route_has_its_method() -> None:
    transport = Transport(
        "nodegroup_202",
        "nodegroup_202",
        "nodegroup_202",
        "access_200",
        "access_202",
        "access_202",
        "config_yaml",
        "lease_200",
    )
    api = client(transport)

    api.add_nodegroup("mz-k8s", {"name": "ng-2"}, managed=False)
    started = api.scale_nodegroup("mz-k8s", "ng-1", desired=3, max_size=4)
    api.delete_nodegroup("mz-k8s", "ng-1")
    access = api.get_access("mz-k8s")
    api.add_access("mz-k8s", arn="arn:aws:iam::123456789012:role/Dev", groups=["dev"])
    api.remove_access("mz-k8s", "arn:aws:iam::123456789012:role/Dev")
    config = api.get_config("mz-k8s")
    lease = api.extend_lease("mz-k8s", 4)

    calls = [(r["method"], r["url"].removeprefix(ENDPOINT)) for r in transport.requests]
    assert calls == [
        ("POST", "/clusters/mz-k8s/nodegroups?managed=false"),
        ("PATCH", "/clusters/mz-k8s/nodegroups/ng-1"),
        ("DELETE", "/clusters/mz-k8s/nodegroups/ng-1"),
        ("GET", "/clusters/mz-k8s/access"),
        ("POST", "/clusters/mz-k8s/access"),
        ("DELETE", "/clusters/mz-k8s/access?arn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FDev"),
        ("GET", "/clusters/mz-k8s/config"),
        ("POST", "/clusters/mz-k8s/lease"),
    ]
    assert json.loads(transport.requests[1]["body"]) == {"desiredCapacity": 3, "maxSize": 4}
    assert started.operation.id == "op-7" and started.operation.nodegroup == "ng-1"
    assert access.mapAccounts == ["111122223333"]
    assert yaml.safe_load(config)["kind"] == "ClusterConfig"
    assert lease.expiresAt == "2026-12-01T12:00:00Z"


def test_listing_follows_next_token() -> None:
    transport = Transport("list_200", "list_200_last")

    names = [c.name for c in client(transport).iter_clusters(page_size=1)]

    assert names == ["a", "b"]
    assert "nextToken=eyJuYW1lIjogImEifQ%3D%3D" in transport.requests[1]["url"]


def test_wait_until_follows_the_timeline_once_per_event() -> None:
    transport = Transport("creating_1", "creating_1", "active")
    seen: list[str] = []

    record = client(transport).wait_until(
        "mz-k8s", "ACTIVE", 60, poll=0, on_event=lambda e, _: seen.append(e.type), sleep=lambda _: None
    )

    assert record.status == "ACTIVE"
    assert seen == ["REQUESTED", "WORKFLOW_STARTED", "STACK_CREATING", "STACK_CREATE_COMPLETE", "ACTIVE"]


def test_wait_until_raises_with_the_failure() -> None:
    with pytest.raises(errors.ClusterFailed) as raised:
        client(Transport("creating_1", "failed")).wait_until("mz-k8s", "ACTIVE", 60, poll=0, sleep=lambda _: None)

    assert raised.value.record.failure.stack == "eksctl-mz-k8s-cluster"
    assert "maximum number of VPCs" in str(raised.value)


def test_wait_until_gives_up_at_its_timeout() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += 10

    with pytest.raises(errors.WaitTimeout) as raised:
        client(Transport(*["creating_1"] * 5)).wait_until(
            "mz-k8s", "ACTIVE", 25, poll=10, clock=lambda: now[0], sleep=sleep
        )

    assert raised.value.record.status == "CREATING"


def test_requests_are_signed_with_sigv4_for_execute_api_in_the_endpoints_region() -> None:
    transport = Transport("create_202")
    api = Client(
        ENDPOINT,
        credentials=Credentials("AKIDEXAMPLE", "secret", "token"),
        transport=transport,
        key_factory=lambda: "key-1",
    )

    api.create_cluster({"name": "mz-k8s"})

    headers = {k.lower(): v for k, v in transport.requests[0]["headers"].items()}
    authorization = headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/ap-northeast-1/execute-api/aws4_request" in authorization
    assert "idempotency-key" in authorization.split("SignedHeaders=")[1]
    assert headers["x-amz-security-token"] == "token" and headers["x-amz-date"]


def test_unsigned_when_asked_and_the_region_from_the_host() -> None:
    transport = Transport("active")
    Client("http://localhost:8000", sign=False, transport=transport).get_cluster("mz-k8s")

    assert "Authorization" not in transport.requests[0]["headers"]
    assert region_of(ENDPOINT) == "ap-northeast-1" and region_of("http://localhost:8000") is None


def test_the_client_imports_without_the_service_or_boto3() -> None:
    script = (
        "import sys, ekspress, ekspress.cli; "
        "bad = [m for m in ('boto3', 'chalice', 'chalicelib', 'moto') if m in sys.modules]; "
        "assert not bad, bad"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)

    assert out.returncode == 0, out.stderr


def test_the_answer_models_name_what_the_service_records() -> None:
    from chalicelib.model import record as service
    from ekspress import models

    for name in ("ClusterRecord", "ClusterSummary", "Operation", "StackEntry", "Failure", "Endpoint", "TimelineEvent"):
        assert set(getattr(models, name).model_fields) == set(getattr(service, name).model_fields), name


# -- over HTTP: a tiny server that fails first -------------------------------------------------


class _Flaky(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Flaky.seen.append(dict(self.headers))
        if len(_Flaky.seen) == 1:
            time.sleep(0.5)  # longer than the client waits
        if len(_Flaky.seen) <= 2:
            self._send(503, ANSWERS["error_503"]["body"])
        else:
            self._send(202, ANSWERS["create_202"]["body"])

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may have given up waiting
            self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def flaky_server() -> Iterator[str]:
    _Flaky.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_over_http_a_timeout_and_a_503_are_retried_with_the_same_key(flaky_server: str) -> None:
    api = Client(flaky_server, sign=False, timeout=0.2, retry=Retry(attempts=3, sleep=lambda _: None))

    record = api.create_cluster({"name": "mz-k8s"})

    assert record.status == "CREATING"
    assert len({seen["Idempotency-Key"] for seen in _Flaky.seen}) == 1 and len(_Flaky.seen) == 3


def test_over_http_nothing_listening_is_a_connection_error() -> None:
    api = Client("http://127.0.0.1:9", sign=False, retry=Retry(attempts=1))

    with pytest.raises(ConnectionError):
        api.get_cluster("x")


# -- the command line's pieces -------------------------------------------------------------


def test_refusals_read_as_one_line_per_field_the_holder_and_the_policy() -> None:
    def error(name: str) -> errors.ApiError:
        recorded = ANSWERS[name]
        return errors.from_response(recorded["status"], recorded["body"])

    invalid = explain(error("error_422"))
    assert invalid[1] == (
        "  managedNodeGroups[0].desiredCapacity: desiredCapacity (1) must be >= minSize (3) [size_order]"
    )
    assert invalid[2].startswith("  region: ap-south-1 is not allowed") and len(invalid) == 3
    busy = explain(error("error_409_busy"))
    assert (
        busy[1]
        == "  held by a delete operation of arn:aws:iam::123456789012:role/platform-admin since 2026-12-01T02:40:00Z"
    )
    refused = explain(error("error_403_policy"))
    assert refused[1] == "  refused by the service policy's EKSPRESS_MASTERS_ALLOWED (rule cluster_admin_not_allowed)"


def test_eksctl_style_booleans() -> None:
    assert _eksctl_booleans(["delete", "cluster", "x", "--wait=false"]) == ["delete", "cluster", "x", "--no-wait"]
    assert _eksctl_booleans(["--wait=true", "--managed=false"]) == ["--wait", "--no-managed"]
    assert _eksctl_booleans(["--wait=maybe"]) == ["--wait=maybe"]


def test_table_aligns_columns() -> None:
    text = table([{"a": "x", "b": ["g1", "g2"]}, {"a": "long", "b": None}], [("A", "a"), ("B", "b")])

    assert text.splitlines() == ["A     B", "x     g1,g2", "long  -"]


def test_endpoint_precedence_and_profiles(tmp_path: Path) -> None:
    (tmp_path / "ekspress").mkdir()
    (tmp_path / "ekspress" / "config.toml").write_text(
        '[default]\nendpoint = "http://localhost:9000"\n[prod]\nendpoint = "https://x.execute-api.eu-west-1.amazonaws.com/api"\n'
        'aws_profile = "platform"\n'
    )
    env = {"XDG_CONFIG_HOME": str(tmp_path)}

    assert resolve(None, None, None, None, env).endpoint == "http://localhost:9000"
    assert resolve(None, None, None, None, env).sign is False
    prod = resolve(None, "prod", None, None, env)
    assert (prod.aws_profile, prod.sign) == ("platform", None)
    assert resolve(None, None, None, None, {**env, "EKSPRESS_URL": "http://h:1"}).endpoint == "http://h:1"
    assert resolve("http://flag:2", None, None, None, {**env, "EKSPRESS_URL": "http://h:1"}).endpoint == "http://flag:2"
    assert resolve(None, None, None, None, {"EKSPRESS_PORT": "8123", "XDG_CONFIG_HOME": "/nowhere"}).endpoint == (
        "http://localhost:8123"
    )


def test_kubeconfig_entries_are_named_as_eksctl_names_them_and_merged_alone() -> None:
    api_config = {
        "clusters": [{"name": "arn", "cluster": {"server": "https://k", "certificate-authority-data": "Q0E="}}],
        "users": [{"name": "arn", "user": {"exec": {"command": "aws"}}}],
    }
    new = entries(api_config, "mz-k8s", "ap-northeast-1", principal_name("arn:aws:iam::1:user/team/alice"))
    existing = {
        "clusters": [
            {"name": "other", "cluster": {"server": "https://o"}},
            {"name": "mz-k8s.ap-northeast-1.eksctl.io"},
        ],
        "contexts": [{"name": "other", "context": {}}],
        "users": [{"name": "other", "user": {}}],
        "current-context": "other",
    }

    merged = merge(existing, new)

    assert merged["current-context"] == "alice@mz-k8s.ap-northeast-1.eksctl.io"
    assert [c["name"] for c in merged["clusters"]] == ["other", "mz-k8s.ap-northeast-1.eksctl.io"]
    assert merged["clusters"][1]["cluster"]["server"] == "https://k"
    assert [c["name"] for c in merged["users"]] == ["other", "alice@mz-k8s.ap-northeast-1.eksctl.io"]
    assert merge(existing, new, set_context=False)["current-context"] == "other"


def test_a_kubeconfig_is_private_from_the_moment_it_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Made 0600, not made with the umask's mode and narrowed afterwards (a window others could read it in)."""
    import os

    from ekspress import kubeconfig

    api_config = {"clusters": [{"name": "arn", "cluster": {}}], "users": [{"name": "arn", "user": {}}]}
    new = entries(api_config, "k", "us-west-2", "alice")
    path = tmp_path / "kube" / "config"
    # A later chmod would hide a wide first mode; without one the file keeps the mode it was made with.
    monkeypatch.setattr(Path, "chmod", lambda *_a, **_k: None)
    monkeypatch.setattr(os, "chmod", lambda *_a, **_k: None)
    monkeypatch.setattr(os, "fchmod", lambda *_a, **_k: None)
    previous = os.umask(0o022)
    try:
        kubeconfig.write(path, new)
        kubeconfig.write(path, new, set_context=False)
    finally:
        os.umask(previous)

    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config"]  # no temporary file left behind
    assert yaml.safe_load(path.read_text())["current-context"] == "alice@k.us-west-2.eksctl.io"


def test_a_dry_run_posts_with_dry_run_true_and_reads_the_plan() -> None:
    plan = {
        "dryRun": True,
        "name": "mz-k8s",
        "region": "ap-northeast-1",
        "zones": ["ap-northeast-1a", "ap-northeast-1c"],
        "clusterConfig": {"kind": "ClusterConfig", "metadata": {"name": "mz-k8s"}},
        "stacks": [{"name": "eksctl-mz-k8s-cluster", "kind": "cluster", "resources": 31, "templateBytes": 24000}],
    }
    transport = Transport(RawResponse(200, {"Content-Type": "application/json"}, json.dumps(plan).encode()))

    result = client(transport).dry_run_create("apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\n")

    assert transport.requests[0]["url"] == ENDPOINT + "/clusters?dryRun=true"
    assert transport.requests[0]["headers"]["Content-Type"] == "application/x-yaml"
    assert "Idempotency-Key" not in transport.requests[0]["headers"]  # it records nothing, so nothing to replay
    assert result.stacks[0].resources == 31 and result.clusterConfig["kind"] == "ClusterConfig"


def test_behind_a_custom_domain_the_signing_region_is_botocores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    transport = Transport("active")

    Client("https://eks.example.com", credentials=Credentials("AKID", "secret"), transport=transport).get_cluster("x")

    assert "/eu-central-1/execute-api/aws4_request" in transport.requests[0]["headers"]["Authorization"]
