"""The emulator lets in any identity the engine's IAM and STS issued, as aws-iam-authenticator would: its token is
checked against the key's real secret (and session token), and aws-auth or an access entry names it."""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
import yaml

from local.kube import KubeEmulator
from local.kube.tokens import TokenError, verify
from tests.eks_tokens import eks_token

if TYPE_CHECKING:
    from collections.abc import Iterator

CLUSTER = "walk"
REGION = "us-west-2"
ACCOUNT = "123456789012"
STS_HOST = f"sts.{REGION}.amazonaws.com"
CREATOR = f"arn:aws:iam::{ACCOUNT}:user/creator"
AWS_AUTH_PATH = "/api/v1/namespaces/kube-system/configmaps/aws-auth"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def make_token(key: str, secret: str, session_token: str | None = None, cluster: str = CLUSTER) -> str:
    """An EKS bearer token as `aws eks get-token` makes it for these credentials."""
    return eks_token(
        cluster, key=key, secret=secret, session_token=session_token, region=REGION, endpoint_url=f"https://{STS_HOST}"
    )


def rewrite(token: str, **params: str | None) -> str:
    """The token with query parameters replaced (None drops one): a tampered token."""
    encoded = token.removeprefix("k8s-aws-v1.")
    parts = urlsplit(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())
    query = dict(parse_qsl(parts.query))
    for name, value in params.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    url = urlunsplit(parts._replace(query=urlencode(query)))
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


@pytest.fixture
def emulator(aws: None) -> Iterator[KubeEmulator]:
    emulator = KubeEmulator(CLUSTER, REGION, sts_hosts={STS_HOST}, creator_arn=CREATOR)
    emulator.start()
    yield emulator
    emulator.stop()


def call(
    emulator: KubeEmulator, path: str, token: str, method: str = "GET", body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context(cadata=base64.b64decode(emulator.ca_data).decode())
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(emulator.endpoint + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def map_in_aws_auth(emulator: KubeEmulator, **data: list[dict[str, Any]]) -> None:
    """The cluster creator (an IAM user of the engine) writes aws-auth, as eksctl or kubectl would."""
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "aws-auth", "namespace": "kube-system"},
        "data": {key: yaml.safe_dump(value) for key, value in data.items()},
    }
    status, answer = call(emulator, "/api/v1/namespaces/kube-system/configmaps", creator_token(), "POST", body)
    assert status == 201, answer


def creator_token() -> str:
    """A token of the cluster creator, an IAM user of the engine (a fresh access key each time)."""
    iam = boto3.client("iam", region_name=REGION)
    try:
        iam.create_user(UserName="creator")
    except iam.exceptions.EntityAlreadyExistsException:
        for old in iam.list_access_keys(UserName="creator")["AccessKeyMetadata"]:
            iam.delete_access_key(UserName="creator", AccessKeyId=old["AccessKeyId"])
    key = iam.create_access_key(UserName="creator")["AccessKey"]
    return make_token(key["AccessKeyId"], key["SecretAccessKey"])


def new_user(name: str) -> tuple[str, str]:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_a_new_iam_user_is_refused_until_aws_auth_maps_it(emulator: KubeEmulator) -> None:
    token = make_token(*new_user("alice"))

    status, body = call(emulator, "/api", token)
    assert (status, body["reason"]) == (401, "Unauthorized")
    assert (
        emulator.auth_failures[-1] == f"arn:aws:iam::{ACCOUNT}:user/alice is not mapped in aws-auth or an access entry"
    )

    map_in_aws_auth(
        emulator,
        mapUsers=[{"userarn": f"arn:aws:iam::{ACCOUNT}:user/alice", "username": "alice", "groups": ["readonly"]}],
    )
    status, _ = call(emulator, "/api", token)
    assert status == 200
    assert emulator._authenticate(f"Bearer {token}") == ("alice", ["readonly", "system:authenticated"])


def test_an_assumed_role_session_maps_through_its_role(emulator: KubeEmulator) -> None:
    boto3.client("iam", region_name=REGION).create_role(RoleName="Dev", AssumeRolePolicyDocument=TRUST)
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/Dev", RoleSessionName="carol"
    )["Credentials"]
    token = make_token(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    map_in_aws_auth(
        emulator,
        mapRoles=[
            {"rolearn": f"arn:aws:iam::{ACCOUNT}:role/Dev", "username": "dev:{{SessionName}}", "groups": ["devs"]}
        ],
    )

    assert call(emulator, "/api", token)[0] == 200
    assert emulator._authenticate(f"Bearer {token}") == ("dev:carol", ["devs", "system:authenticated"])

    # Temporary credentials need their session token, the one STS issued with them.
    assert call(emulator, "/api", make_token(creds["AccessKeyId"], creds["SecretAccessKey"]))[0] == 401
    assert "missing or wrong session token" in emulator.auth_failures[-1]
    wrong = make_token(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"] + "x")
    assert call(emulator, "/api", wrong)[0] == 401


def test_a_token_signed_with_the_wrong_secret_is_refused(emulator: KubeEmulator) -> None:
    key, _ = new_user("mallory")
    map_in_aws_auth(emulator, mapUsers=[{"userarn": f"arn:aws:iam::{ACCOUNT}:user/mallory", "groups": []}])

    assert call(emulator, "/api", make_token(key, "not-the-secret"))[0] == 401
    assert "signature mismatch" in emulator.auth_failures[-1]
    assert call(emulator, "/api", make_token("AKIANOSUCHKEY0000000", "secret"))[0] == 401
    assert "unknown access key" in emulator.auth_failures[-1]


def test_a_long_term_key_with_a_session_token_is_refused(emulator: KubeEmulator) -> None:
    key, secret = new_user("dave")
    map_in_aws_auth(emulator, mapUsers=[{"userarn": f"arn:aws:iam::{ACCOUNT}:user/dave", "groups": []}])
    assert call(emulator, "/api", make_token(key, secret))[0] == 200
    assert call(emulator, "/api", make_token(key, secret, "made-up-session-token"))[0] == 401
    assert "session token with the long-term access key" in emulator.auth_failures[-1]


def test_an_expired_token_is_refused(emulator: KubeEmulator) -> None:
    key, secret = new_user("erin")
    map_in_aws_auth(emulator, mapUsers=[{"userarn": f"arn:aws:iam::{ACCOUNT}:user/erin", "groups": []}])
    token = make_token(key, secret)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    with pytest.raises(TokenError, match="expired"):
        verify(token, CLUSTER, {STS_HOST}, emulator._credential, now=later)
    stale = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).strftime("%Y%m%dT%H%M%SZ")
    assert call(emulator, "/api", rewrite(token, **{"X-Amz-Date": stale}))[0] == 401


def test_a_deactivated_key_is_refused(emulator: KubeEmulator) -> None:
    key, secret = new_user("frank")
    map_in_aws_auth(emulator, mapUsers=[{"userarn": f"arn:aws:iam::{ACCOUNT}:user/frank", "groups": []}])
    assert call(emulator, "/api", make_token(key, secret))[0] == 200
    boto3.client("iam", region_name=REGION).update_access_key(UserName="frank", AccessKeyId=key, Status="Inactive")
    assert call(emulator, "/api", make_token(key, secret))[0] == 401


def test_access_entries_name_callers_when_the_mode_allows(aws: None) -> None:
    from dataclasses import dataclass, field

    @dataclass
    class Entry:
        principal_arn: str
        type: str = "STANDARD"
        username: str | None = None
        kubernetes_groups: list[str] = field(default_factory=list)

    mode = ["API_AND_CONFIG_MAP"]
    entries = [Entry(f"arn:aws:iam::{ACCOUNT}:user/gina", kubernetes_groups=["viewers"])]
    emulator = KubeEmulator(
        CLUSTER,
        REGION,
        sts_hosts={STS_HOST},
        creator_arn=CREATOR,
        access_entries=lambda: entries,
        authentication_mode=lambda: mode[0],
    )
    token = f"Bearer {make_token(*new_user('gina'))}"
    assert emulator._authenticate(token) == (f"arn:aws:iam::{ACCOUNT}:user/gina", ["viewers", "system:authenticated"])
    mode[0] = "CONFIG_MAP"
    with pytest.raises(Exception, match="Unauthorized"):
        emulator._authenticate(token)


def test_the_creator_and_fixed_test_keys_still_work(aws: None) -> None:
    creator = creator_token()
    emulator = KubeEmulator(
        CLUSTER,
        REGION,
        sts_hosts={STS_HOST},
        creator_arn=CREATOR,
        secrets={"AKIDFIXED": "fixed-secret"},
        identities={"AKIDFIXED": f"arn:aws:iam::{ACCOUNT}:user/creator"},
    )
    expected = (CREATOR, ["system:masters", "system:authenticated"])
    assert emulator._authenticate(f"Bearer {creator}") == expected
    assert emulator._authenticate(f"Bearer {make_token('AKIDFIXED', 'fixed-secret')}") == expected
    # Fixed keys are not STS's: like moto's STS, the emulator does not check a session token sent with one.
    assert emulator._authenticate(f"Bearer {make_token('AKIDFIXED', 'fixed-secret', 'testing')}") == expected


def test_a_readonly_group_bound_to_view_lists_pods_but_may_not_create_one(emulator: KubeEmulator) -> None:
    token = make_token(*new_user("alice"))
    map_in_aws_auth(
        emulator,
        mapUsers=[{"userarn": f"arn:aws:iam::{ACCOUNT}:user/alice", "username": "alice", "groups": ["readonly"]}],
    )
    pods = "/api/v1/namespaces/default/pods"
    status, body = call(emulator, pods, token)
    assert (status, body["message"]) == (
        403,
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"',
    )
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "readonly-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "readonly"}],
    }
    path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
    assert call(emulator, path, creator_token(), "POST", binding)[0] == 201

    assert call(emulator, pods, token)[0] == 200
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "nginx"},
        "spec": {"containers": [{"name": "nginx", "image": "nginx"}]},
    }
    status, body = call(emulator, pods, token, "POST", pod)
    assert (status, body["reason"], body["details"]["kind"]) == (403, "Forbidden", "pods")
    assert body["message"].endswith(
        'User "alice" cannot create resource "pods" in API group "" in the namespace "default"'
    )
