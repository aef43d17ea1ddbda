"""EKS bearer tokens for tests, made the way `aws eks get-token` makes them.

Written apart from chalicelib/kube/token.py on purpose: the emulator's checks are tested against a
second, independent token maker. Presigning calls nothing.
"""

from __future__ import annotations

import base64
from typing import Any

import boto3


def eks_token(
    cluster: str,
    *,
    key: str,
    secret: str,
    session_token: str | None = None,
    region: str = "us-west-2",
    endpoint_url: str | None = None,
) -> str:
    """A token for `cluster` signed with these credentials (STS's regional endpoint unless one is given)."""
    sts = boto3.client(
        "sts",
        region_name=region,
        endpoint_url=endpoint_url or f"https://sts.{region}.amazonaws.com",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=session_token,
    )

    def keep_cluster_name(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        # ClusterName is not an STS parameter: move it aside before botocore validates the call.
        if "ClusterName" in params:
            context["ClusterName"] = params.pop("ClusterName")

    def add_header(request: Any, **_: Any) -> None:
        if "ClusterName" in request.context:
            request.headers["x-k8s-aws-id"] = request.context["ClusterName"]

    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", keep_cluster_name)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_header)
    url = sts.generate_presigned_url(
        "get_caller_identity", Params={"ClusterName": cluster}, ExpiresIn=60, HttpMethod="GET"
    )
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
