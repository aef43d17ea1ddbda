"""The EKS bearer token, made as `aws eks get-token` makes it.

A presigned STS GetCallerIdentity URL with `x-k8s-aws-id: <cluster>` signed in,
valid 60 s, base64url-encoded behind `k8s-aws-v1.`. The cluster's authenticator
replays the URL to learn who we are. Tokens are secrets: never log them, nor the URL inside.
"""

from __future__ import annotations

import base64
from typing import Any

TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_TTL_SECONDS = 60
CLUSTER_ID_HEADER = "x-k8s-aws-id"
_CLUSTER_PARAM = "ClusterName"


def _inject_cluster_name(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if _CLUSTER_PARAM in params:
        context["eks_cluster"] = params.pop(_CLUSTER_PARAM)


def _sign_cluster_header(request: Any, **_: Any) -> None:
    cluster = request.context.get("eks_cluster")
    if cluster:
        request.headers[CLUSTER_ID_HEADER] = cluster


def prepare_token_client(sts: Any) -> Any:
    """Teach an STS client to carry the cluster name into the signed headers (once per client)."""
    events = sts.meta.events
    events.register("provide-client-params.sts.GetCallerIdentity", _inject_cluster_name, unique_id="ekspress-eks-id")
    events.register("before-sign.sts.GetCallerIdentity", _sign_cluster_header, unique_id="ekspress-eks-sign")
    return sts


def eks_token(sts: Any, cluster: str) -> str:
    """A bearer token for `cluster`, from an STS client prepared by `prepare_token_client`."""
    url = sts.generate_presigned_url(
        "get_caller_identity", Params={_CLUSTER_PARAM: cluster}, ExpiresIn=TOKEN_TTL_SECONDS, HttpMethod="GET"
    )
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
