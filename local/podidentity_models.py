"""A CloudFormation model for EKS Pod Identity associations on moto's EKS, which has none.

AWS::EKS::PodIdentityAssociation is held to what EKS's CreatePodIdentityAssociation refuses: a cluster
that does not exist or is not ACTIVE, a role that does not exist, a second association for one
namespace and service account, names Kubernetes would not take. Deleting the resource removes the
association; a deleted cluster takes its associations with it (they are kept on the moto cluster).

An add-on's `PodIdentityAssociations` are associations EKS makes and owns for the add-on
(local/eks_models.py calls `associate_addon` and `release_addon`): they count against the one
association per service account like any other, and go with the add-on.

Nothing in the service reads associations back, so no API is served for them; tests and tools read
them with `associations_of`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.eks.models import eks_backends
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

from local.cfn_models import UpdatableModel, handler_failed, refresh

# The name's length is left to IAM: moto names a stack's roles in full where CloudFormation shortens them.
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/(?:[\x21-\x7e]+/)?(?P<name>[\w+=,.@-]+)")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


@dataclass
class Association:
    cluster: str
    namespace: str
    service_account: str
    role_arn: str
    association_id: str
    arn: str
    # The add-on that owns the association (made with it), else None.
    owner: str | None = None
    disable_session_tags: bool = False
    target_role_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def _refused(code: str, message: str) -> Exception:
    return handler_failed("Eks", code, message)


def _associations(cluster: Any) -> dict[tuple[str, str], Association]:
    found: dict[tuple[str, str], Association] = cluster.__dict__.setdefault("local_pod_identity_associations", {})
    return found


def _active_cluster(account_id: str, region_name: str, name: str) -> Any:
    cluster = eks_backends[account_id][region_name].clusters.get(name)
    if cluster is None:
        raise _refused("ResourceNotFoundException", f"No cluster found for name: {name}.")
    if cluster.status != "ACTIVE":
        raise _refused("InvalidRequestException", f"Cluster '{name}' is not in ACTIVE status")
    return cluster


def _check_role(account_id: str, region_name: str, arn: str, what: str = "role") -> None:
    """The role must be a role that exists (in this account: moto holds no other)."""
    matched = ROLE_ARN.fullmatch(arn)
    if matched is None:
        raise _refused("InvalidParameterException", f"Invalid {what} ARN {arn}")
    backend = iam_backends[account_id][get_partition(region_name)]
    try:
        backend.get_role_by_arn(arn)
    except Exception:  # moto's IAM raises its NoSuchEntity
        raise _refused("InvalidParameterException", f"Role provided in the request does not exist: {arn}") from None


def _check_names(namespace: str, service_account: str) -> None:
    if not _DNS_LABEL.fullmatch(namespace):
        raise _refused("InvalidParameterException", f"Namespace {namespace!r} is not a valid Kubernetes namespace")
    if not _DNS_SUBDOMAIN.fullmatch(service_account):
        raise _refused(
            "InvalidParameterException", f"Service account {service_account!r} is not a valid Kubernetes name"
        )


def _associate(
    cluster: Any,
    account_id: str,
    region_name: str,
    namespace: str,
    service_account: str,
    role_arn: str,
    owner: str | None = None,
) -> Association:
    """What CreatePodIdentityAssociation does, for a cluster already known ACTIVE."""
    _check_names(namespace, service_account)
    _check_role(account_id, region_name, role_arn)
    found = _associations(cluster)
    if (namespace, service_account) in found:
        raise _refused(
            "ResourceInUseException",
            f"Association already exists for service account {service_account} in namespace {namespace}",
        )
    association_id = f"a-{uuid.uuid4().hex[:17]}"
    arn = (
        f"arn:{get_partition(region_name)}:eks:{region_name}:{account_id}:"
        f"podidentityassociation/{cluster.name}/{association_id}"
    )
    made = Association(cluster.name, namespace, service_account, role_arn, association_id, arn, owner=owner)
    found[(namespace, service_account)] = made
    return made


class EKSPodIdentityAssociationModel(UpdatableModel, CloudFormationModel):
    """AWS::EKS::PodIdentityAssociation; Ref and AssociationArn are its ARN, as CloudFormation's."""

    CFN_TYPE = "AWS::EKS::PodIdentityAssociation"
    CFN_ATTRIBUTES = {
        "AssociationArn": lambda m: m.association.arn,
        "AssociationId": lambda m: m.association.association_id,
    }

    def __init__(self, association: Association) -> None:
        self.association = association

    @property
    def physical_resource_id(self) -> str:
        return self.association.arn

    @classmethod
    def create(
        cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str
    ) -> EKSPodIdentityAssociationModel:
        cluster = _active_cluster(account_id, region_name, props["ClusterName"])
        association = _associate(
            cluster, account_id, region_name, props["Namespace"], props["ServiceAccount"], props["RoleArn"]
        )
        try:
            return cls(association).update(props, account_id, region_name)
        except Exception:
            _associations(cluster).pop((association.namespace, association.service_account), None)
            raise

    def update(self, props: dict[str, Any], account_id: str, region_name: str) -> EKSPodIdentityAssociationModel:
        _active_cluster(account_id, region_name, self.association.cluster)
        _check_role(account_id, region_name, props["RoleArn"])
        target = props.get("TargetRoleArn")
        if target is not None and not ROLE_ARN.fullmatch(target):
            raise _refused("InvalidParameterException", f"Invalid target role ARN {target}")
        self.association.role_arn = props["RoleArn"]
        self.association.target_role_arn = target
        self.association.disable_session_tags = bool(props.get("DisableSessionTags", False))
        self.association.tags = {t["Key"]: t["Value"] for t in props.get("Tags") or []}
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        cluster = eks_backends[account_id][region_name].clusters.get(self.association.cluster)
        if cluster is not None:  # a deleted cluster took its associations with it
            key = (self.association.namespace, self.association.service_account)
            if _associations(cluster).get(key) is self.association:
                del _associations(cluster)[key]


def associate_addon(
    cluster: Any, account_id: str, region_name: str, addon: str, namespace: str, items: list[dict[str, Any]]
) -> None:
    """The associations EKS makes for an add-on's PodIdentityAssociations (replacing the add-on's own)."""
    release_addon(cluster, addon)
    made: list[Association] = []
    try:
        for item in items:
            made.append(
                _associate(cluster, account_id, region_name, namespace, item["ServiceAccount"], item["RoleArn"], addon)
            )
    except Exception:
        for association in made:
            _associations(cluster).pop((association.namespace, association.service_account), None)
        raise


def release_addon(cluster: Any, addon: str) -> None:
    """Remove the associations an add-on owns (the add-on is deleted, or its associations replaced)."""
    found = _associations(cluster)
    for key in [k for k, a in found.items() if a.owner == addon]:
        del found[key]


def associations_of(account_id: str, region_name: str, cluster: str) -> dict[tuple[str, str], Association]:
    """The pod identity associations of a live cluster, by (namespace, service account) (for tests and tools)."""
    live = eks_backends[account_id][region_name].clusters.get(cluster)
    if live is None:
        raise KeyError(cluster)
    return dict(_associations(live))


def register() -> None:
    """Make moto's CloudFormation see the model above (its model list is cached)."""
    refresh()
    assert parsing.get_model_map()["AWS::EKS::PodIdentityAssociation"] is EKSPodIdentityAssociationModel
