"""AWS::EKS::IdentityProviderConfig on moto's EKS, which has no identity provider API.

An OIDC identity provider configuration is associated with a live cluster and kept on it (so it goes
with the cluster, and with a reset), refused as EKS refuses it: an unknown cluster, a second OIDC
provider on a cluster (EKS associates one), a name the cluster already has, an issuer that is not an
https URL. Nothing in the service reads it back, so no API is served for it; `identity_providers_of`
gives it to tests.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.eks.models import eks_backends
from moto.utilities.utils import get_partition

from local.cfn_models import LocalModel, ResourceFailed, handler_failed, refresh

ISSUER_URL = re.compile(r"https://[^\s?#]+")
# EKS's quota: one OIDC identity provider configuration per cluster.
MAX_OIDC_PER_CLUSTER = 1


@dataclass
class IdentityProviderConfig:
    cluster: str
    name: str
    arn: str
    type: str = "oidc"
    oidc: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "ACTIVE"


def _configs(cluster: Any) -> dict[str, IdentityProviderConfig]:
    found: dict[str, IdentityProviderConfig] = cluster.__dict__.setdefault("local_identity_provider_configs", {})
    return found


def _refused(code: str, message: str) -> ResourceFailed:
    return handler_failed("Eks", code, message)


class IdentityProviderConfigModel(LocalModel, CloudFormationModel):
    """Ref is `CLUSTER|oidc|NAME`, as CloudFormation's; `IdentityProviderConfigArn` its ARN."""

    CFN_TYPE = "AWS::EKS::IdentityProviderConfig"
    CFN_ATTRIBUTES = {"IdentityProviderConfigArn": lambda m: m.config.arn}

    def __init__(self, config: IdentityProviderConfig) -> None:
        self.config = config

    @property
    def physical_resource_id(self) -> str:
        return f"{self.config.cluster}|{self.config.type}|{self.config.name}"

    @classmethod
    def create(
        cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str
    ) -> IdentityProviderConfigModel:
        name = props["ClusterName"]
        cluster = eks_backends[account_id][region_name].clusters.get(name)
        if cluster is None:
            raise _refused("ResourceNotFoundException", f"No cluster found for name: {name}.")
        oidc = props["Oidc"]
        if not ISSUER_URL.fullmatch(oidc["IssuerUrl"]):
            raise _refused("InvalidParameterException", f"Issuer URL {oidc['IssuerUrl']} must be a valid https URL")
        configs = _configs(cluster)
        config_name = props.get("IdentityProviderConfigName") or resource_name
        if config_name in configs:
            raise _refused("ResourceInUseException", f"Identity provider config {config_name} already exists")
        if len(configs) >= MAX_OIDC_PER_CLUSTER:
            message = f"Cluster {name} already has {len(configs)} OIDC identity provider config(s) associated"
            raise _refused("ResourceLimitExceededException", message)
        arn = (
            f"arn:{get_partition(region_name)}:eks:{region_name}:{account_id}:identityproviderconfig/"
            f"{name}/oidc/{config_name}/{uuid.uuid4()}"
        )
        tags = {t["Key"]: t["Value"] for t in props.get("Tags") or []}
        config = IdentityProviderConfig(name, config_name, arn, props["Type"], dict(oidc), tags)
        configs[config_name] = config
        return cls(config)

    def delete(self, account_id: str, region_name: str) -> None:
        cluster = eks_backends[account_id][region_name].clusters.get(self.config.cluster)
        if cluster is not None:  # a deleted cluster took its configurations with it
            _configs(cluster).pop(self.config.name, None)


def identity_providers_of(account_id: str, region_name: str, cluster: str) -> dict[str, IdentityProviderConfig]:
    """The identity provider configurations the stacks associated with a live cluster, by name."""
    found = eks_backends[account_id][region_name].clusters.get(cluster)
    return dict(_configs(found)) if found is not None else {}


def register() -> None:
    """Make moto's CloudFormation see the model above (its model list is cached)."""
    refresh()
