"""The local Kubernetes API emulator's pure pieces: tokens, authorisation, the object store and TLS."""

from __future__ import annotations

import base64
import datetime as dt
import ssl
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import yaml
from cryptography import x509

from local.kube import authz, tls
from local.kube.objects import ObjectStore, find_node, parse_configmap
from local.kube.status import ApiError
from local.kube.tokens import TokenError, verify_token

if TYPE_CHECKING:
    from collections.abc import Mapping

CLUSTER = "demo"
REGION = "us-west-2"
STS_HOST = f"sts.{REGION}.amazonaws.com"
AKID, SECRET = "AKIDEXAMPLE", "secret"
SECRETS = {AKID: SECRET}
CREATOR = "arn:aws:iam::123456789012:user/creator"


def make_token(action: str = "get_caller_identity", *, cluster: str | None = CLUSTER, host: str = STS_HOST) -> str:
    """A token made as `aws eks get-token` makes it; cluster=None leaves x-k8s-aws-id out of the signature."""
    sts = boto3.client(
        "sts",
        region_name=REGION,
        endpoint_url=f"https://{host}",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        aws_session_token=None,
    )
    if cluster is not None:

        def add_header(request: Any, **_: Any) -> None:
            request.headers["x-k8s-aws-id"] = cluster

        sts.meta.events.register("before-sign.sts.*", add_header)
    url = sts.generate_presigned_url(action, ExpiresIn=60, HttpMethod="GET")
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def url_of(token: str) -> str:
    """The presigned URL inside a token."""
    encoded = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


def token_of(url: str) -> str:
    """A token wrapping a (possibly altered) presigned URL."""
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def verify(token: str, now: dt.datetime | None = None) -> str:
    return verify_token(token, CLUSTER, {STS_HOST}, SECRETS, now=now)


# --- tokens ---


def test_given_a_get_token_style_token_when_verifying_then_its_access_key_is_returned() -> None:
    assert verify(make_token()) == AKID


def test_given_a_token_for_another_sts_host_when_verifying_then_it_is_refused() -> None:
    with pytest.raises(TokenError, match="unexpected STS host"):
        verify(make_token(host="sts.evil.example.com"))


def test_given_a_presigned_call_other_than_get_caller_identity_when_verifying_then_it_is_refused() -> None:
    with pytest.raises(TokenError, match="Action must be GetCallerIdentity"):
        verify(make_token("get_session_token"))


def test_given_a_token_past_its_expiry_when_verifying_then_it_is_refused() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    with pytest.raises(TokenError, match="expired"):
        verify(make_token(), now=later)


def test_given_a_token_signed_in_the_future_when_verifying_then_it_is_refused() -> None:
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    with pytest.raises(TokenError, match="future"):
        verify(make_token(), now=earlier)


def test_given_a_token_without_the_cluster_header_signed_when_verifying_then_it_is_refused() -> None:
    with pytest.raises(TokenError, match="x-k8s-aws-id"):
        verify(make_token(cluster=None))


def test_given_another_clusters_token_when_verifying_then_the_signature_does_not_match() -> None:
    with pytest.raises(TokenError, match="signature mismatch"):
        verify(make_token(cluster="other"))


def test_given_a_repeated_query_parameter_when_verifying_then_it_is_refused() -> None:
    with pytest.raises(TokenError, match="repeated"):
        verify(token_of(url_of(make_token()) + "&Action=GetCallerIdentity"))


def test_given_no_prefix_or_undecodable_body_when_verifying_then_it_is_refused() -> None:
    with pytest.raises(TokenError, match="prefix"):
        verify(url_of(make_token()))
    with pytest.raises(TokenError, match="decode"):
        verify("k8s-aws-v1.//8")


# --- authorisation ---


def aws_auth(**entries: list[Any]) -> Mapping[str, Any]:
    """aws-auth ConfigMap data with mapRoles, mapUsers or mapAccounts as YAML."""
    return {key: yaml.safe_dump(value) for key, value in entries.items()}


def test_given_an_assumed_role_session_when_canonicalising_then_it_becomes_the_role_arn() -> None:
    session = "arn:aws:sts::123456789012:assumed-role/Dev/alice"
    assert authz.canonical_arn(session) == "arn:aws:iam::123456789012:role/Dev"
    assert authz.canonical_arn(CREATOR) == CREATOR


def test_given_the_creator_when_grouping_then_masters_without_reading_aws_auth() -> None:
    def unread() -> Mapping[str, Any]:
        raise AssertionError("aws-auth must not be read for the creator")

    assert authz.groups_of(CREATOR, CREATOR, unread) == [authz.MASTERS]


def test_given_aws_auth_mappings_when_grouping_then_roles_users_and_accounts_map() -> None:
    data = aws_auth(
        mapRoles=[{"rolearn": "arn:aws:iam::123456789012:role/Dev", "groups": ["system:masters"]}],
        mapUsers=[{"userarn": "arn:aws:iam::123456789012:user/reader", "groups": ["viewers"]}],
        mapAccounts=[210987654321],
    )

    assert authz.groups_of("arn:aws:iam::123456789012:role/Dev", CREATOR, lambda: data) == ["system:masters"]
    assert authz.groups_of("arn:aws:iam::123456789012:user/reader", CREATOR, lambda: data) == ["viewers"]
    assert authz.groups_of("arn:aws:iam::210987654321:user/anyone", CREATOR, lambda: data) == []
    assert authz.groups_of("arn:aws:iam::123456789012:user/stranger", CREATOR, lambda: data) is None


def test_given_malformed_aws_auth_when_grouping_then_nothing_is_granted() -> None:
    data = {"mapRoles": "- rolearn: [unclosed", "mapUsers": "not a list"}
    assert authz.groups_of("arn:aws:iam::123456789012:role/Dev", CREATOR, lambda: data) is None


# --- objects ---


def configmap(name: str = "aws-auth", **metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, **metadata}, "data": {"k": "v"}}


def test_given_a_created_configmap_when_replacing_with_its_version_then_the_version_advances() -> None:
    store = ObjectStore()
    created = store.create("kube-system", configmap(uid="client-chosen"))
    assert created["metadata"]["uid"] != "client-chosen"

    body = {**created, "data": {"k": "w"}}
    replaced = store.replace("kube-system", "aws-auth", body)

    assert int(replaced["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    assert store.configmap("kube-system", "aws-auth") == replaced
    assert store.configmap_list("kube-system")["metadata"]["resourceVersion"] == replaced["metadata"]["resourceVersion"]


@pytest.mark.parametrize("version", ["stale", None])
def test_given_a_stale_or_missing_resource_version_when_replacing_then_409_and_unchanged(version: str | None) -> None:
    store = ObjectStore()
    created = store.create("kube-system", configmap())
    store.replace("kube-system", "aws-auth", created)
    body = configmap() if version is None else configmap(resourceVersion=created["metadata"]["resourceVersion"])
    body["data"] = {"k": "lost"}

    with pytest.raises(ApiError) as raised:
        store.replace("kube-system", "aws-auth", body)

    assert (raised.value.code, raised.value.reason) == (409, "Conflict")
    assert store.configmap("kube-system", "aws-auth")["data"] == {"k": "v"}


def test_given_an_existing_or_missing_configmap_when_creating_or_replacing_then_409_or_404() -> None:
    store = ObjectStore()
    store.create("kube-system", configmap())
    with pytest.raises(ApiError) as exists:
        store.create("kube-system", configmap())
    with pytest.raises(ApiError) as missing:
        store.replace("kube-system", "absent", configmap("absent"))
    assert (exists.value.code, exists.value.reason) == (409, "AlreadyExists")
    assert (missing.value.code, missing.value.reason) == (404, "NotFound")


def test_given_handed_out_objects_when_the_caller_mutates_them_then_the_store_is_unchanged() -> None:
    store = ObjectStore()
    store.create("kube-system", configmap())["data"]["k"] = "mutated"
    store.configmap("kube-system", "aws-auth")["data"]["k"] = "mutated"
    assert store.configmap_data("kube-system", "aws-auth") == {"k": "v"}
    assert store.configmap_data("kube-system", "absent") == {}


@pytest.mark.parametrize(
    ("body", "name", "code"),
    [
        (b"{", None, 400),
        (b'{"metadata": {}}', None, 422),
        (b'{"metadata": {"name": "a"}}', "b", 400),
        (b'{"metadata": {"name": "a", "namespace": "default"}}', None, 400),
        (b'{"kind": "Secret", "metadata": {"name": "a"}}', None, 400),
        (b'{"metadata": {"name": "a"}, "data": {"k": 1}}', None, 400),
    ],
)
def test_given_an_invalid_configmap_body_when_parsing_then_it_is_refused(
    body: bytes, name: str | None, code: int
) -> None:
    with pytest.raises(ApiError) as raised:
        parse_configmap(body, "kube-system", name)
    assert raised.value.code == code


def test_given_nodes_when_listing_and_finding_then_they_carry_the_revision_or_404() -> None:
    store = ObjectStore()
    store.create("kube-system", configmap())
    node = {"metadata": {"name": "ip-1"}}

    assert store.node_list([node]) == {
        "kind": "NodeList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "1"},
        "items": [node],
    }
    assert find_node([node], "ip-1") is node
    with pytest.raises(ApiError) as raised:
        find_node([node], "ip-2")
    assert raised.value.code == 404


# --- TLS ---


def test_given_issued_material_when_inspected_then_ca_data_is_base64_pem_and_the_cert_names_the_endpoint() -> None:
    material = tls.issue()

    assert base64.b64decode(material.ca_data) == material.ca_pem
    ca = x509.load_pem_x509_certificate(material.ca_pem)
    server = x509.load_pem_x509_certificate(material.chain_pem)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    server.verify_directly_issued_by(ca)
    assert server.not_valid_after_utc - server.not_valid_before_utc == dt.timedelta(days=1)
    # Backdated so that clients whose clock lags a little still accept it.
    assert dt.datetime.now(dt.UTC) - ca.not_valid_before_utc >= dt.timedelta(minutes=4)


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_given_a_client_trusting_only_ca_data_when_handshaking_then_the_server_is_verified(hostname: str) -> None:
    material = tls.issue()
    client_context = ssl.create_default_context(cadata=base64.b64decode(material.ca_data).decode())
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(to_client, to_server, server_hostname=hostname)
    server = tls.server_context(material).wrap_bio(to_server, to_client, server_side=True)

    # Pump the in-memory handshake: each side reads what the other wrote until both finish.
    done = {"client": False, "server": False}
    for _ in range(10):
        for side, end in (("client", client), ("server", server)):
            try:
                end.do_handshake()
                done[side] = True
            except ssl.SSLWantReadError:
                pass
        if all(done.values()):
            break

    assert all(done.values())
    assert client.getpeercert()["subject"] == ((("commonName", "kube-apiserver"),),)
