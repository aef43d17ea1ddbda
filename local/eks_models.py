"""CloudFormation models for AWS::EKS::Cluster and AWS::EKS::Nodegroup on moto's EKS.

moto's CloudFormation skips resource types it has no model for; it has none for
EKS. These register themselves (moto finds models through
`CloudFormationModel.__subclasses__()`), so stacks built by
`chalicelib.cfn.templates` create real moto EKS clusters and node groups, whose
attributes (endpoint, CA, ARN) flow into the stack outputs.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.eks.models import eks_backends
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

from local.cfn_models import LocalModel, refresh

if TYPE_CHECKING:
    from collections.abc import Callable

# Called with each new moto EKS cluster and its region; the local engine uses this to
# give the cluster a real Kubernetes API endpoint (see local/kube/).
cluster_created_hooks: list[Callable[[Any, str], None]] = []
cluster_deleted_hooks: list[Callable[[Any, str], None]] = []


def _tags(raw: Any) -> dict[str, str]:
    if isinstance(raw, list):  # AWS::EKS::Cluster takes [{Key, Value}]
        return {t["Key"]: t["Value"] for t in raw}
    return dict(raw or {})  # AWS::EKS::Nodegroup takes a map


class EKSClusterModel(LocalModel, CloudFormationModel):
    CFN_TYPE = "AWS::EKS::Cluster"
    CFN_NAME_PROPERTY = "Name"
    CFN_ATTRIBUTES = {
        "Arn": lambda m: m.cluster.arn,
        "Endpoint": lambda m: m.cluster.endpoint,
        "CertificateAuthorityData": lambda m: m.cluster.certificate_authority["data"],
        "ClusterSecurityGroupId": lambda m: (m.cluster.resources_vpc_config or {}).get("clusterSecurityGroupId", ""),
        "OpenIdConnectIssuerUrl": lambda m: m.cluster.identity["oidc"]["issuer"],
    }

    def __init__(self, cluster: Any, account_id: str, region_name: str) -> None:
        self.cluster = cluster
        self.account_id = account_id
        self.region_name = region_name

    @property
    def physical_resource_id(self) -> str:
        return str(self.cluster.name)

    @classmethod
    def create(cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> EKSClusterModel:
        vpc = props.get("ResourcesVpcConfig", {})
        cluster = eks_backends[account_id][region_name].create_cluster(
            name=props.get("Name", resource_name),
            role_arn=props["RoleArn"],
            resources_vpc_config={
                "subnetIds": vpc.get("SubnetIds", []),
                "securityGroupIds": vpc.get("SecurityGroupIds", []),
                "endpointPublicAccess": vpc.get("EndpointPublicAccess", True),
                "endpointPrivateAccess": vpc.get("EndpointPrivateAccess", False),
            },
            version=props.get("Version"),
            tags=_tags(props.get("Tags")),
        )
        for hook in cluster_created_hooks:
            hook(cluster, region_name)
        return cls(cluster, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        """moto's stack deletion calls this on each resource it parsed when creating the stack."""
        backend = eks_backends[account_id][region_name]
        if self.cluster.name in backend.clusters:
            cluster = backend.delete_cluster(self.cluster.name)  # refuses while node groups remain
            for hook in cluster_deleted_hooks:
                hook(cluster, region_name)


class EKSNodegroupModel(LocalModel, CloudFormationModel):
    CFN_TYPE = "AWS::EKS::Nodegroup"
    CFN_NAME_PROPERTY = "NodegroupName"
    CFN_ATTRIBUTES = {
        "Arn": lambda m: m.nodegroup.arn,
        "ClusterName": lambda m: m.nodegroup.cluster_name,
        "NodegroupName": lambda m: m.nodegroup.nodegroup_name,
    }

    def __init__(self, nodegroup: Any, account_id: str, region_name: str) -> None:
        self.nodegroup = nodegroup
        self.account_id = account_id
        self.region_name = region_name

    @property
    def physical_resource_id(self) -> str:
        return f"{self.nodegroup.cluster_name}/{self.nodegroup.nodegroup_name}"

    @classmethod
    def create(cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> EKSNodegroupModel:
        scaling = props.get("ScalingConfig", {})
        nodegroup = eks_backends[account_id][region_name].create_nodegroup(
            cluster_name=props["ClusterName"],
            node_role=props["NodeRole"],
            nodegroup_name=props.get("NodegroupName", resource_name),
            subnets=props["Subnets"],
            scaling_config={
                "minSize": int(scaling.get("MinSize", 1)),
                "maxSize": int(scaling.get("MaxSize", 1)),
                "desiredSize": int(scaling.get("DesiredSize", 1)),
            },
            disk_size=int(props.get("DiskSize", 20)),
            instance_types=props.get("InstanceTypes"),
            ami_type=props.get("AmiType"),
            labels=props.get("Labels"),
            tags=_tags(props.get("Tags")),
        )
        return cls(nodegroup, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: EKSNodegroupModel,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> EKSNodegroupModel:
        """Scaling is an in-place update on AWS (UpdateNodegroupConfig); so it is here."""
        scaling = cloudformation_json.get("Properties", {}).get("ScalingConfig", {})
        ng = original_resource.nodegroup
        eks_backends[account_id][region_name].update_nodegroup_config(
            cluster_name=ng.cluster_name,
            nodegroup_name=ng.nodegroup_name,
            scaling_config={
                "minSize": int(scaling.get("MinSize", ng.scaling_config["minSize"])),
                "maxSize": int(scaling.get("MaxSize", ng.scaling_config["maxSize"])),
                "desiredSize": int(scaling.get("DesiredSize", ng.scaling_config["desiredSize"])),
            },
        )
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        backend = eks_backends[account_id][region_name]
        cluster = backend.clusters.get(self.nodegroup.cluster_name)
        if cluster is not None and self.nodegroup.nodegroup_name in cluster.nodegroups:
            backend.delete_nodegroup(cluster.name, self.nodegroup.nodegroup_name)


class OIDCProviderModel(LocalModel, CloudFormationModel):
    """AWS::IAM::OIDCProvider (moto has the IAM API but no CloudFormation model): IRSA's trust anchor."""

    CFN_TYPE = "AWS::IAM::OIDCProvider"
    CFN_ATTRIBUTES = {"Arn": lambda m: m.provider.arn}

    def __init__(self, provider: Any, account_id: str) -> None:
        self.provider = provider
        self.account_id = account_id

    @property
    def physical_resource_id(self) -> str:
        return str(self.provider.arn)

    @classmethod
    def create(cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> OIDCProviderModel:
        provider = iam_backends[account_id][get_partition(region_name)].create_open_id_connect_provider(
            url=props["Url"],
            thumbprint_list=props.get("ThumbprintList") or [],
            client_id_list=props.get("ClientIdList") or [],
            tags=props.get("Tags") or [],
        )
        return cls(provider, account_id)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = iam_backends[account_id][get_partition(region_name)]
        with contextlib.suppress(Exception):  # already gone
            backend.delete_open_id_connect_provider(self.provider.arn)


def register() -> None:
    """Make moto's CloudFormation see the models above (its model list is cached)."""
    refresh()
    assert parsing.get_model_map()["AWS::EKS::Cluster"] is EKSClusterModel
