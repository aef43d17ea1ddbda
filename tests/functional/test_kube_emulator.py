"""The Kubernetes API emulator: EKS token authentication, aws-auth authorisation, ConfigMaps and kubectl."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import yaml

from local.kube import KubeEmulator
from local.kube.tokens import TokenError, verify_token
from tests.eks_tokens import eks_token

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CLUSTER = "demo"
REGION = "us-west-2"
STS_HOST = f"sts.{REGION}.amazonaws.com"
CREATOR = "arn:aws:iam::123456789012:user/creator"
SECRETS = {"AKIDEXAMPLE": "secret", "AKIDOTHER": "other-secret", "AKIDREADER": "reader-secret"}
IDENTITIES = {
    "AKIDEXAMPLE": CREATOR,
    "AKIDOTHER": "arn:aws:sts::123456789012:assumed-role/Dev/session",
    "AKIDREADER": "arn:aws:iam::123456789012:user/reader",
}
AWS_AUTH_PATH = "/api/v1/namespaces/kube-system/configmaps/aws-auth"
CONFIGMAPS_PATH = "/api/v1/namespaces/kube-system/configmaps"
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ip-192-168-1-2.us-west-2.compute.internal"}}


def make_token(cluster: str = CLUSTER, akid: str = "AKIDEXAMPLE", endpoint: str = f"https://{STS_HOST}") -> str:
    """An EKS bearer token made as `aws eks get-token` makes it."""
    return eks_token(cluster, key=akid, secret=SECRETS[akid], region=REGION, endpoint_url=endpoint)


def token_url(token: str) -> str:
    """The presigned URL inside a token."""
    encoded = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


def url_token(url: str) -> str:
    """A token wrapping a (possibly altered) presigned URL."""
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    emulator = KubeEmulator(
        CLUSTER,
        REGION,
        sts_hosts={STS_HOST},
        secrets=SECRETS,
        identities=IDENTITIES,
        creator_arn=CREATOR,
        nodes=lambda: [NODE],
    )
    emulator.start()
    yield emulator
    emulator.stop()


class Client:
    """A tiny JSON client that trusts only the emulator's CA."""

    def __init__(self, emulator: KubeEmulator) -> None:
        self.endpoint = emulator.endpoint
        self.context = ssl.create_default_context(cadata=base64.b64decode(emulator.ca_data).decode())

    def call(
        self, method: str, path: str, token: str | None = None, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Send one request; return status code and decoded JSON."""
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.endpoint + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture
def client(emulator: KubeEmulator) -> Client:
    return Client(emulator)


def aws_auth(map_roles: list[dict[str, Any]] | None = None, map_users: list[dict[str, Any]] | None = None) -> dict:
    """An aws-auth ConfigMap body."""
    data = {}
    if map_roles is not None:
        data["mapRoles"] = yaml.safe_dump(map_roles)
    if map_users is not None:
        data["mapUsers"] = yaml.safe_dump(map_users)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "aws-auth", "namespace": "kube-system"},
        "data": data,
    }


NODE_ROLE = {"rolearn": "arn:aws:iam::123456789012:role/Node", "username": "system:node:{{EC2PrivateDNSName}}"}


def test_given_no_token_when_getting_version_then_it_answers(client: Client) -> None:
    status, body = client.call("GET", "/version")
    assert status == 200
    assert body["major"] == "1" and body["minor"] == "32" and body["gitVersion"] == "v1.32.0-eks-local"


def test_given_no_token_when_reading_configmaps_then_401(client: Client) -> None:
    status, body = client.call("GET", CONFIGMAPS_PATH)
    assert status == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401


def test_given_creator_when_creating_reading_and_replacing_aws_auth_then_revisions_advance(client: Client) -> None:
    token = make_token()
    status, body = client.call("GET", AWS_AUTH_PATH, token)
    assert (status, body["reason"]) == (404, "NotFound")

    status, created = client.call("POST", CONFIGMAPS_PATH, token, aws_auth([NODE_ROLE]))
    assert status == 201
    assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"]
    status, body = client.call("POST", CONFIGMAPS_PATH, token, aws_auth([NODE_ROLE]))
    assert (status, body["reason"]) == (409, "AlreadyExists")

    status, fetched = client.call("GET", AWS_AUTH_PATH, token)
    assert status == 200 and fetched == created
    fetched["data"]["mapUsers"] = yaml.safe_dump([{"userarn": "arn:aws:iam::123456789012:user/x", "groups": []}])
    status, replaced = client.call("PUT", AWS_AUTH_PATH, token, fetched)
    assert status == 200
    assert int(replaced["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    assert replaced["data"] == fetched["data"]

    status, listed = client.call("GET", CONFIGMAPS_PATH, token)
    assert status == 200 and listed["kind"] == "ConfigMapList" and listed["items"] == [replaced]


def test_given_stale_resource_version_when_replacing_then_409_and_data_unchanged(client: Client) -> None:
    token = make_token()
    _, created = client.call("POST", CONFIGMAPS_PATH, token, aws_auth([NODE_ROLE]))
    fresh = json.loads(json.dumps(created))
    fresh["data"]["mapRoles"] = yaml.safe_dump([NODE_ROLE, {"rolearn": "arn:aws:iam::123456789012:role/A"}])
    assert client.call("PUT", AWS_AUTH_PATH, token, fresh)[0] == 200

    stale = json.loads(json.dumps(created))
    stale["data"]["mapRoles"] = "[]"
    status, body = client.call("PUT", AWS_AUTH_PATH, token, stale)
    assert (status, body["reason"]) == (409, "Conflict")
    assert "the object has been modified" in body["message"]
    del stale["metadata"]["resourceVersion"]
    assert client.call("PUT", AWS_AUTH_PATH, token, stale)[0] == 409
    assert client.call("GET", AWS_AUTH_PATH, token)[1]["data"] == fresh["data"]


def test_given_ten_concurrent_replacements_with_one_resource_version_then_exactly_one_wins(client: Client) -> None:
    token = make_token()
    _, created = client.call("POST", CONFIGMAPS_PATH, token, aws_auth([NODE_ROLE]))
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def replace(index: int) -> None:
        body = json.loads(json.dumps(created))
        body["data"]["writer"] = str(index)
        barrier.wait()
        statuses.append(client.call("PUT", AWS_AUTH_PATH, token, body)[0])

    threads = [threading.Thread(target=replace, args=(index,)) for index in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 9


def test_given_token_for_another_cluster_when_calling_then_401(client: Client) -> None:
    status, _ = client.call("GET", CONFIGMAPS_PATH, make_token(cluster="other"))
    assert status == 401
    with pytest.raises(TokenError, match="signature"):
        verify_token(make_token(cluster="other"), CLUSTER, {STS_HOST}, SECRETS)


def test_given_valid_token_when_verifying_then_access_key_returned() -> None:
    assert verify_token(make_token(), CLUSTER, {STS_HOST}, SECRETS) == "AKIDEXAMPLE"


def test_given_local_http_sts_when_verifying_then_loopback_http_is_accepted() -> None:
    token = make_token(endpoint="http://127.0.0.1:5000")
    assert verify_token(token, CLUSTER, {"127.0.0.1:5000"}, SECRETS) == "AKIDEXAMPLE"
    http_remote = url_token(token_url(make_token()).replace("https://", "http://"))
    with pytest.raises(TokenError, match="scheme"):
        verify_token(http_remote, CLUSTER, {STS_HOST}, SECRETS)


def test_given_expired_token_when_verifying_then_rejected(client: Client) -> None:
    token = make_token()
    with pytest.raises(TokenError, match="expired"):
        verify_token(token, CLUSTER, {STS_HOST}, SECRETS, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2))
    long_lived = url_token(token_url(token).replace("X-Amz-Expires=60", "X-Amz-Expires=900"))
    with pytest.raises(TokenError, match="X-Amz-Expires"):
        verify_token(long_lived, CLUSTER, {STS_HOST}, SECRETS)
    assert client.call("GET", CONFIGMAPS_PATH, long_lived)[0] == 401


def test_given_tampered_signature_when_calling_then_401(client: Client) -> None:
    url = token_url(make_token())
    head, signature = url.rsplit("X-Amz-Signature=", 1)
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    status, body = client.call("GET", CONFIGMAPS_PATH, url_token(f"{head}X-Amz-Signature={flipped}"))
    assert (status, body["reason"]) == (401, "Unauthorized")
    assert client.call("GET", CONFIGMAPS_PATH, "k8s-aws-v1.!!!")[0] == 401
    assert client.call("GET", CONFIGMAPS_PATH, "not-a-token")[0] == 401


def test_given_unknown_sts_host_when_calling_then_401(client: Client) -> None:
    token = make_token(endpoint="https://sts.evil.example.com")
    assert urlsplit(token_url(token)).netloc == "sts.evil.example.com"
    assert client.call("GET", CONFIGMAPS_PATH, token)[0] == 401
    with pytest.raises(TokenError, match="host"):
        verify_token(token, CLUSTER, {STS_HOST}, SECRETS)


def test_given_unknown_access_key_when_verifying_then_rejected() -> None:
    with pytest.raises(TokenError, match="unknown access key"):
        verify_token(make_token(), CLUSTER, {STS_HOST}, {"AKIDOTHER": "other-secret"})


def test_given_assumed_role_caller_when_mapped_as_master_then_allowed(client: Client) -> None:
    creator, dev = make_token(), make_token(akid="AKIDOTHER")
    assert client.call("GET", CONFIGMAPS_PATH, dev)[0] == 401

    _, created = client.call("POST", CONFIGMAPS_PATH, creator, aws_auth([NODE_ROLE]))
    assert client.call("GET", CONFIGMAPS_PATH, dev)[0] == 401
    dev_role = {"rolearn": "arn:aws:iam::123456789012:role/Dev", "username": "dev", "groups": ["system:masters"]}
    created["data"]["mapRoles"] = yaml.safe_dump([NODE_ROLE, dev_role])
    assert client.call("PUT", AWS_AUTH_PATH, creator, created)[0] == 200

    status, current = client.call("GET", AWS_AUTH_PATH, dev)
    assert status == 200
    assert client.call("PUT", AWS_AUTH_PATH, dev, current)[0] == 200


def test_given_caller_mapped_without_masters_when_writing_then_403_but_reads_succeed(client: Client) -> None:
    creator, reader = make_token(), make_token(akid="AKIDREADER")
    user = {"userarn": "arn:aws:iam::123456789012:user/reader", "username": "reader", "groups": ["viewers"]}
    client.call("POST", CONFIGMAPS_PATH, creator, aws_auth([NODE_ROLE], [user]))
    assert client.call("GET", AWS_AUTH_PATH, reader)[0] == 403  # mapped, but RBAC grants the group nothing yet
    view = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "viewers"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "viewers"}],
    }
    assert client.call("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", creator, view)[0] == 201

    status, current = client.call("GET", AWS_AUTH_PATH, reader)
    assert status == 200
    status, body = client.call("PUT", AWS_AUTH_PATH, reader, current)
    assert (status, body["reason"]) == (403, "Forbidden")
    assert client.call("GET", AWS_AUTH_PATH, creator)[1] == current


def test_given_nodes_callback_when_listing_nodes_then_its_nodes_are_served(
    emulator: KubeEmulator, client: Client
) -> None:
    status, body = client.call("GET", "/api/v1/nodes", make_token())
    assert status == 200
    assert body["kind"] == "NodeList" and body["items"] == [NODE]
    assert client.call("GET", f"/api/v1/nodes/{NODE['metadata']['name']}", make_token())[1] == NODE
    assert ("GET", "/api/v1/nodes", 200) in emulator.requests


def test_given_discovery_when_listing_api_then_configmaps_and_nodes_are_advertised(
    emulator: KubeEmulator, client: Client
) -> None:
    token = make_token()
    status, api = client.call("GET", "/api", token)
    assert status == 200 and api["versions"] == ["v1"]
    assert api["serverAddressByClientCIDRs"][0]["serverAddress"] == emulator.endpoint.removeprefix("https://")
    groups = client.call("GET", "/apis", token)[1]["groups"]
    assert [(g["name"], g["preferredVersion"]["groupVersion"]) for g in groups] == [
        ("apps", "apps/v1"),
        ("rbac.authorization.k8s.io", "rbac.authorization.k8s.io/v1"),
    ]
    rbac = client.call("GET", "/apis/rbac.authorization.k8s.io/v1", token)[1]
    assert {r["name"]: r["kind"] for r in rbac["resources"]} == {
        "clusterrolebindings": "ClusterRoleBinding",
        "clusterroles": "ClusterRole",
        "roles": "Role",
        "rolebindings": "RoleBinding",
    }
    resources = {r["name"]: r for r in client.call("GET", "/api/v1", token)[1]["resources"]}
    assert resources["configmaps"]["namespaced"] and not resources["nodes"]["namespaced"]


def test_given_kubeconfig_with_creator_token_when_kubectl_gets_aws_auth_then_it_prints_the_configmap(
    emulator: KubeEmulator, client: Client, tmp_path: Path
) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    token = make_token()
    _, created = client.call("POST", CONFIGMAPS_PATH, token, aws_auth([NODE_ROLE]))
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CLUSTER, "cluster": {"server": emulator.endpoint, "certificate-authority-data": emulator.ca_data}}
        ],
        "users": [{"name": "creator", "user": {"token": token}}],
        "contexts": [{"name": CLUSTER, "context": {"cluster": CLUSTER, "user": "creator"}}],
        "current-context": CLUSTER,
    }
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump(kubeconfig))
    result = subprocess.run(
        [kubectl, "--kubeconfig", str(config), "get", "configmap", "aws-auth", "-n", "kube-system", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["metadata"]["name"] == "aws-auth"
    assert printed["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert printed["data"] == created["data"]
