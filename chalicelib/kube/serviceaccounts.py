"""Kubernetes ServiceAccounts that carry an IAM role (`eks.amazonaws.com/role-arn`), as eksctl makes them.

The namespace is created when missing (eksctl does the same). A ServiceAccount that does not exist
is created with the labels and annotations asked for; one that does keeps every label and
annotation of its own and gets ours on top, written under the `resourceVersion` that was read: a
409 means someone else wrote in between, so it is read and merged again (as aws-auth is).
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, Literal

from chalicelib.kube.client import MAX_CONFLICT_RETRIES, KubeConflictError

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.kube.client import KubeClient

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
# What apply_service_account did.
Outcome = Literal["created", "updated", "unchanged"]


def ensure_namespace(kube: KubeClient, namespace: str) -> bool:
    """Create `namespace` unless it exists; whether it was created here."""
    if kube.get_namespace(namespace) is not None:
        return False
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    try:
        kube.create_namespace(body)
    except KubeConflictError:  # made by someone else since we looked (AlreadyExists)
        return False
    return True


def wanted_metadata(
    labels: dict[str, str], annotations: dict[str, str], role_arn: str | None
) -> dict[str, dict[str, str]]:
    """The labels and annotations the ServiceAccount must carry: those asked for and the role's ARN, if any.

    A pod identity's ServiceAccount carries no role: EKS Pod Identity finds its role by the association.
    """
    role = {ROLE_ARN_ANNOTATION: role_arn} if role_arn else {}
    return {"labels": dict(labels), "annotations": {**annotations, **role}}


def merge(current: dict[str, Any], wanted: dict[str, dict[str, str]]) -> dict[str, Any]:
    """`current` with `wanted`'s labels and annotations set, and everything else of its own kept."""
    metadata = dict(current.get("metadata") or {})
    for key in ("labels", "annotations"):
        if wanted[key] or metadata.get(key):
            metadata[key] = {**(metadata.get(key) or {}), **wanted[key]}
    return {**current, "metadata": metadata}


def apply_service_account(
    kube: KubeClient,
    namespace: str,
    name: str,
    *,
    role_arn: str | None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = MAX_CONFLICT_RETRIES,
) -> Outcome:
    """Create `namespace/name` (annotated with `role_arn`, when given), or merge that into the one that exists."""
    ensure_namespace(kube, namespace)
    wanted = wanted_metadata(labels or {}, annotations or {}, role_arn)
    for attempt in range(attempts):
        current = kube.get_serviceaccount(namespace, name)
        try:
            if current is None:
                body = {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": namespace, **{k: v for k, v in wanted.items() if v}},
                }
                kube.create_serviceaccount(namespace, body)
                return "created"
            merged = merge(current, wanted)
            if merged == current:
                return "unchanged"
            kube.replace_serviceaccount(namespace, name, merged)
            return "updated"
        except KubeConflictError:
            # Created, or changed, since it was read: read again (full jitter spreads racing writers).
            sleep(min(2.0, 0.05 * 2**attempt) * random.random())
    raise KubeConflictError(f"service account {namespace}/{name} kept changing; gave up after {attempts} attempts")
