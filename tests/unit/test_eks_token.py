"""The EKS bearer token: what `aws eks get-token` makes, made with botocore's signer."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import boto3

from chalicelib.kube import token as kubeauth


def _decode(token: str) -> str:
    body = token.removeprefix(kubeauth.TOKEN_PREFIX)
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def _sts(region: str = "eu-west-1") -> object:
    client = boto3.client(
        "sts",
        region_name=region,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        endpoint_url=f"https://sts.{region}.amazonaws.com",
    )
    return kubeauth.prepare_token_client(client)


def test_the_token_is_an_unpadded_base64url_presigned_sts_url() -> None:
    token = kubeauth.eks_token(_sts(), "mz-k8s")

    assert token.startswith("k8s-aws-v1.")
    assert "=" not in token
    url = urlsplit(_decode(token))
    assert (url.scheme, url.netloc) == ("https", "sts.eu-west-1.amazonaws.com")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["Action"] == "GetCallerIdentity"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].startswith("AKIDEXAMPLE/")
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"].split(";")


def test_the_cluster_name_is_signed_in_so_tokens_differ_per_cluster() -> None:
    sts = _sts()

    def signature(cluster: str) -> str:
        return parse_qs(urlsplit(_decode(kubeauth.eks_token(sts, cluster))).query)["X-Amz-Signature"][0]

    assert signature("one") != signature("two")


def test_a_prepared_client_still_makes_ordinary_presigned_calls() -> None:
    url = _sts().generate_presigned_url("get_caller_identity", ExpiresIn=60)  # type: ignore[attr-defined]
    assert "x-k8s-aws-id" not in url
