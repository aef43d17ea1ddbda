"""CloudFormation models for EKS clusters, node groups, add-ons and access entries on moto's EKS.

moto's CloudFormation skips resource types it has no model for; it has none for
EKS. These register themselves (moto finds models through
`CloudFormationModel.__subclasses__()`), so stacks built by
`chalicelib.cfn.templates` create real moto EKS clusters and node groups, whose
attributes (endpoint, CA, ARN) flow into the stack outputs.

A cluster is made as EKS makes one: in subnets that exist, in at least two zones, with the
security group EKS makes for every cluster (`eks-cluster-sg-NAME-<digits>`, tagged
`kubernetes.io/cluster/NAME: owned` and `aws:eks:cluster-name`) on the control plane's network
interface in one of its subnets, reported as `resourcesVpcConfig.clusterSecurityGroupId`;
interface and group go when the cluster goes (local/ec2_models.py).

moto's EKS has no add-ons or access entries. Their models keep them on the moto cluster (so
they go with it, and with a reset) and refuse what EKS refuses: an unknown cluster, a second
one of a name or principal, an add-on EKS does not offer, an access entry on a cluster whose
authentication mode has no access entries, reserved Kubernetes groups and user names. An add-on
that runs a Deployment (coredns, aws-ebs-csi-driver, ...) on a cluster with no ready node is
DEGRADED, and its resource fails as CloudFormation's, which waits for ACTIVE, does.

A cluster's `EncryptionConfig` key must be a KMS key of its region, enabled, symmetric and for
encryption. A cluster with logging writes to `/aws/eks/NAME/cluster`, made if absent and never deleted
with the cluster, and an `AWS::Logs::LogGroup` whose name is taken fails its resource (AlreadyExists),
as CloudFormation reports it, rather than the CreateStack call as moto's does.
Nothing in the service reads them back (it calls no add-on or access entry API), so no API
is served for them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.eks.models import eks_backends
from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.logs.exceptions import ResourceAlreadyExistsException
from moto.logs.models import LogGroup, logs_backends
from moto.utilities.utils import get_partition

from local import cfn_models, ec2_models, nodes, podidentity_models
from local.cfn_models import (
    LocalModel,
    ResourceFailed,
    UpdatableModel,
    handler_failed,
    refresh,
    service_errors,
    service_failed,
)

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


def _eks_refused(code: str, message: str) -> cfn_models.ResourceFailed:
    return handler_failed("Eks", code, message)


def _cluster_vpc(account_id: str, region_name: str, subnet_ids: list[str]) -> str:
    """The VPC of a cluster's subnets, refused as EKS refuses subnets that do not exist or share one zone."""
    ec2 = ec2_models.ec2_backends[account_id][region_name]
    subnets = []
    for subnet_id in subnet_ids:
        try:
            subnets.append(ec2.get_subnet(subnet_id))
        except service_errors():
            raise _eks_refused("InvalidParameterException", f"The subnet ID '{subnet_id}' does not exist") from None
    if len({s.availability_zone for s in subnets}) < 2:
        raise _eks_refused("InvalidParameterException", "Subnets specified must be in at least two different AZs")
    vpcs = {s.vpc_id for s in subnets}
    if len(vpcs) != 1:
        raise _eks_refused("InvalidParameterException", "Subnets must all be in the same VPC")
    return str(vpcs.pop())


# EKS's CreateCluster answer to an Auto Mode asked for in part (compute, load balancing and block storage go together).
AUTO_MODE_PARTIAL = (
    "For EKS Auto Mode, please ensure that all required configs, including computeConfig, kubernetesNetworkConfig, "
    "and blockStorage are all either fully enabled or fully disabled."
)


def _cluster_auto_mode(account_id: str, region_name: str, props: dict[str, Any]) -> dict[str, Any]:
    """The cluster's Auto Mode settings as DescribeCluster shows them, refused as EKS refuses them."""
    compute = props.get("ComputeConfig") or {}
    network = props.get("KubernetesNetworkConfig") or {}
    enabled = (
        bool(compute.get("Enabled")),
        bool((network.get("ElasticLoadBalancing") or {}).get("Enabled")),
        bool(((props.get("StorageConfig") or {}).get("BlockStorage") or {}).get("Enabled")),
    )
    if len(set(enabled)) != 1:
        raise _eks_refused("InvalidParameterException", AUTO_MODE_PARTIAL)
    if not enabled[0]:
        if compute.get("NodePools") or compute.get("NodeRoleArn"):
            message = "When computeConfig.enabled is false, nodePools and nodeRoleArn must not be specified."
            raise _eks_refused("InvalidParameterException", message)
        return {}
    role = compute.get("NodeRoleArn")
    if compute.get("NodePools") and not role:
        raise _eks_refused("InvalidParameterException", "nodeRoleArn is required when nodePools are specified.")
    if role:
        try:
            iam_backends[account_id][get_partition(region_name)].get_role_by_arn(role)
        except service_errors():
            raise _eks_refused("InvalidParameterException", f"Role with arn: {role}, does not exist.") from None
    return {
        "compute_config": {"enabled": True, "nodePools": list(compute.get("NodePools") or []), "nodeRoleArn": role},
        "storage_config": {"blockStorage": {"enabled": True}},
        "elastic_load_balancing": {"enabled": True},
    }


def _default_service_range(ec2: Any, subnets: list[str]) -> str:
    """The service range EKS picks when none is given: 172.20.0.0/16 for a VPC in 10.0.0.0/8, else 10.100.0.0/16."""
    ten = ipaddress.ip_network("10.0.0.0/8")
    for subnet_id in subnets[:1]:
        vpc = ec2.get_vpc(ec2.get_subnet(subnet_id).vpc_id)
        if ipaddress.ip_network(vpc.cidr_block).overlaps(ten):
            return "172.20.0.0/16"
    return "10.100.0.0/16"


def _cluster_network(account_id: str, region_name: str, props: dict[str, Any], subnets: list[str]) -> dict[str, Any]:
    """The cluster's Kubernetes network as DescribeCluster shows it (ipFamily, the service range).

    An IPv6 cluster gets an IPv6 service range EKS picks (a /108 of a unique local block), and is refused,
    as EKS refuses it, in subnets that have no IPv6 block.
    """
    network = props.get("KubernetesNetworkConfig") or {}
    family = str(network.get("IpFamily") or "ipv4").lower()
    ec2 = ec2_models.ec2_backends[account_id][region_name]
    if family != "ipv6":
        return {
            "serviceIpv4Cidr": network.get("ServiceIpv4Cidr") or _default_service_range(ec2, subnets),
            "ipFamily": family,
        }
    for subnet_id in subnets:
        if not ec2.get_subnet(subnet_id).ipv6_cidr_block_association_set:
            message = f"Subnet {subnet_id} has no IPv6 CIDR block: an ipv6 cluster's subnets need IPv6 CIDR blocks"
            raise _eks_refused("InvalidParameterException", message)
    unique_local = f"fd{random.randrange(16**2):02x}:{random.randrange(16**4):04x}:{random.randrange(16**4):04x}::/108"
    return {"serviceIpv6Cidr": unique_local, "ipFamily": "ipv6"}


# The address space EKS takes for a hybrid cluster's remote node and pod networks.
_REMOTE_SPACE = tuple(
    ipaddress.ip_network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def _remote_networks(account_id: str, region_name: str, props: dict[str, Any], vpc_id: str) -> dict[str, Any] | None:
    """The cluster's RemoteNetworkConfig as DescribeCluster shows it, refused as EKS refuses it: with the
    CONFIG_MAP authentication mode (hybrid nodes join through access entries), outside RFC 1918 and
    100.64.0.0/10, overlapping the VPC's CIDRs or one another."""
    remote = props.get("RemoteNetworkConfig")
    if not remote:
        return None
    if (props.get("AccessConfig") or {}).get("AuthenticationMode", "CONFIG_MAP") == "CONFIG_MAP":
        message = "Remote network config requires the cluster authentication mode to be API or API_AND_CONFIG_MAP"
        raise _eks_refused("InvalidParameterException", message)
    vpc = ec2_models.ec2_backends[account_id][region_name].get_vpc(vpc_id)
    taken = [ipaddress.ip_network(c["cidr_block"]) for c in vpc.get_cidr_block_association_set()]
    described: dict[str, Any] = {}
    for kind in ("RemoteNodeNetworks", "RemotePodNetworks"):
        for network in remote.get(kind) or []:
            for cidr in network.get("Cidrs") or []:
                block = ipaddress.ip_network(cidr, strict=False)
                if not any(block.subnet_of(space) for space in _REMOTE_SPACE):  # type: ignore[arg-type]
                    message = f"Remote network CIDR {cidr} must be within RFC 1918 or 100.64.0.0/10 address space"
                    raise _eks_refused("InvalidParameterException", message)
                if any(block.overlaps(other) for other in taken):
                    message = f"Remote network CIDR {cidr} overlaps with the VPC CIDR or another remote network CIDR"
                    raise _eks_refused("InvalidParameterException", message)
                taken.append(block)
        if remote.get(kind):
            described[kind[0].lower() + kind[1:]] = [{"cidrs": list(n.get("Cidrs") or [])} for n in remote[kind]]
    return described


# A KMS key ARN (or alias ARN) as EncryptionConfig's Provider.KeyArn names it.
KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:(key|alias)/.+")


def _check_encryption_key(account_id: str, region_name: str, props: dict[str, Any]) -> list[dict[str, Any]]:
    """The cluster's EncryptionConfig as DescribeCluster shows it, refused as EKS refuses a key it cannot use.

    EKS takes a symmetric encryption key, enabled, in the cluster's region (and makes itself a grant on it).
    """
    configs = []
    for config in props.get("EncryptionConfig") or []:
        arn = (config.get("Provider") or {}).get("KeyArn", "")
        match = KMS_KEY_ARN.fullmatch(arn)
        if match is None or match["region"] != region_name:
            message = f"Key ARN {arn} is not a KMS key ARN in the cluster's region {region_name}"
            raise _eks_refused("InvalidParameterException", message)
        try:
            key = kms_backends[account_id][region_name].describe_key(arn)
        except (KeyError, *service_errors()):
            message = f"Key ARN {arn} does not exist or is not accessible"
            raise _eks_refused("InvalidParameterException", message) from None
        if not key.enabled or key.key_state != "Enabled":
            raise _eks_refused("InvalidParameterException", f"KMS key {arn} is {key.key_state}; it must be Enabled")
        usage = key.key_usage or "ENCRYPT_DECRYPT"  # KMS's default, which moto leaves unset
        if usage != "ENCRYPT_DECRYPT" or key.key_spec != "SYMMETRIC_DEFAULT":
            message = (
                f"KMS key {arn} is a {key.key_spec} key for {usage}; the key must be symmetric "
                "(SYMMETRIC_DEFAULT) for ENCRYPT_DECRYPT"
            )
            raise _eks_refused("InvalidParameterException", message)
        configs.append({"resources": list(config.get("Resources") or []), "provider": {"keyArn": arn}})
    return configs


def _cluster_logging(props: dict[str, Any]) -> dict[str, Any] | None:
    """The cluster's logging as DescribeCluster shows it; None without Logging."""
    enabled = [t["Type"] for t in ((props.get("Logging") or {}).get("ClusterLogging") or {}).get("EnabledTypes") or []]
    if not enabled:
        return None
    return {"clusterLogging": [{"types": enabled, "enabled": True}]}


def _ensure_log_group(account_id: str, region_name: str, cluster: str) -> None:
    """EKS writes a logging cluster's logs to `/aws/eks/NAME/cluster`, making it if absent (and never deleting it)."""
    logs_backends[account_id][region_name].ensure_log_group(f"/aws/eks/{cluster}/cluster")


# What of a cluster CloudFormation updates in place (UpdateClusterConfig) that the engine models: endpoint access.
_UPDATABLE_VPC_CONFIG = ("EndpointPublicAccess", "EndpointPrivateAccess", "PublicAccessCidrs")


class EKSClusterModel(UpdatableModel, CloudFormationModel):
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
        subnets = list(vpc.get("SubnetIds", []))
        vpc_id = _cluster_vpc(account_id, region_name, subnets)
        network = _cluster_network(account_id, region_name, props, subnets)
        auto_mode = _cluster_auto_mode(account_id, region_name, props)
        encryption = _check_encryption_key(account_id, region_name, props)
        logging = _cluster_logging(props)
        remote = _remote_networks(account_id, region_name, props, vpc_id)
        try:
            cluster = eks_backends[account_id][region_name].create_cluster(
                name=props.get("Name", resource_name),
                role_arn=props["RoleArn"],
                resources_vpc_config={
                    "subnetIds": subnets,
                    "securityGroupIds": vpc.get("SecurityGroupIds", []),
                    "endpointPublicAccess": vpc.get("EndpointPublicAccess", True),
                    "endpointPrivateAccess": vpc.get("EndpointPrivateAccess", False),
                },
                version=props.get("Version"),
                tags=_tags(props.get("Tags")),
                encryption_config=encryption,
                logging=logging,
                kubernetes_network_config=network,
                remote_network_config=remote,
            )
        except service_errors() as refused:
            raise service_failed("Eks", refused) from None
        if logging:
            _ensure_log_group(account_id, region_name, cluster.name)
        # What moto's cluster does not keep, kept as DescribeCluster names it (for tests and tools).
        for key, prop in (
            ("zonal_shift_config", "ZonalShiftConfig"),
            ("upgrade_policy", "UpgradePolicy"),
            ("control_plane_scaling_config", "ControlPlaneScalingConfig"),
        ):
            if props.get(prop):
                cluster.__dict__[key] = {k[0].lower() + k[1:]: v for k, v in props[prop].items()}
        access = props.get("AccessConfig") or {}
        # Without AccessConfig, EKS's default for clusters made through its API or CloudFormation.
        cluster.access_config = {
            "authenticationMode": access.get("AuthenticationMode", "CONFIG_MAP"),
            "bootstrapClusterCreatorAdminPermissions": access.get("BootstrapClusterCreatorAdminPermissions", True),
        }
        if auto_mode:
            cluster.compute_config = {k: v for k, v in auto_mode["compute_config"].items() if v}
            cluster.storage_config = auto_mode["storage_config"]
            cluster.kubernetes_network_config = {
                **(cluster.kubernetes_network_config or {}),
                "elasticLoadBalancing": auto_mode["elastic_load_balancing"],
            }
        group = ec2_models.create_cluster_security_group(
            account_id, region_name, cluster.name, vpc_id, subnets[0], list(vpc.get("SecurityGroupIds", []))
        )
        cluster.resources_vpc_config.update({"clusterSecurityGroupId": group, "vpcId": vpc_id})
        for hook in cluster_created_hooks:
            hook(cluster, region_name)
        return cls(cluster, account_id, region_name)

    def update(self, props: dict[str, Any], account_id: str, region_name: str) -> EKSClusterModel:
        """EKS's UpdateClusterConfig for endpoint access (a fully private cluster's last step); any other change
        is refused as one the engine does not model, rather than silently not made."""
        before = dict(self.cfn_properties)
        vpc_before, vpc_after = before.get("ResourcesVpcConfig") or {}, props.get("ResourcesVpcConfig") or {}
        unmodelled = sorted(
            {k for k in {*before, *props} if k != "ResourcesVpcConfig" and before.get(k) != props.get(k)}
            | {
                f"ResourcesVpcConfig.{k}"
                for k in {*vpc_before, *vpc_after}
                if k not in _UPDATABLE_VPC_CONFIG and vpc_before.get(k) != vpc_after.get(k)
            }
        )
        if unmodelled:
            raise cfn_models.ResourceFailed(f"the local engine does not update a cluster's {', '.join(unmodelled)}")
        public = vpc_after.get("EndpointPublicAccess", True)
        private = vpc_after.get("EndpointPrivateAccess", False)
        if not public and not private:
            raise _eks_refused(
                "InvalidParameterException", "Cluster must have either public or private endpoint access enabled"
            )
        config = self.cluster.resources_vpc_config
        config.update({"endpointPublicAccess": public, "endpointPrivateAccess": private})
        config["publicAccessCidrs"] = list(vpc_after.get("PublicAccessCidrs") or ["0.0.0.0/0"]) if public else []
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        """moto's stack deletion calls this on each resource it parsed when creating the stack."""
        backend = eks_backends[account_id][region_name]
        if self.cluster.name in backend.clusters:
            cluster = backend.delete_cluster(self.cluster.name)  # refuses while node groups remain
            for hook in cluster_deleted_hooks:
                hook(cluster, region_name)
        group = (self.cluster.resources_vpc_config or {}).get("clusterSecurityGroupId")
        if group:  # EKS deletes its interfaces and group with the cluster
            ec2_models.delete_cluster_security_group(account_id, region_name, self.cluster.name, group)


def _check_nodegroup_launch_template(
    account_id: str, region_name: str, template: dict[str, Any], ami_type: str | None, remote: Any
) -> None:
    """What EKS refuses of a node group's launch template (CreateNodegroup, InvalidParameterException): one that
    does not exist (or lacks the version), RemoteAccess with it, and an AmiType other than CUSTOM when it names
    an image (CUSTOM when it names none) — "Launch templates support" in the EKS user guide."""
    from moto.ec2.models import ec2_backends

    found = ec2_backends[account_id][region_name].launch_templates.get(str(template.get("Id")))
    if found is None:
        raise _eks_refused("InvalidParameterException", f"Launch template {template.get('Id')} does not exist")
    try:
        version = found.get_version(template.get("Version", "$Default"))
    except Exception:  # moto's InvalidLaunchTemplateVersionNotFound
        message = f"Launch template {found.id} has no version {template.get('Version')}"
        raise _eks_refused("InvalidParameterException", message) from None
    if remote:
        message = "Remote access configuration cannot be specified with a launch template."
        raise _eks_refused("InvalidParameterException", message)
    if version.image_id and ami_type not in (None, "CUSTOM"):
        message = "You cannot specify an image id within the launch template when AmiType is not CUSTOM."
        raise _eks_refused("InvalidParameterException", message)
    if not version.image_id and ami_type == "CUSTOM":
        message = "You must specify an image id within the launch template when AmiType is CUSTOM."
        raise _eks_refused("InvalidParameterException", message)


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
        template = props.get("LaunchTemplate")
        remote = props.get("RemoteAccess")
        if template:
            _check_nodegroup_launch_template(account_id, region_name, template, props.get("AmiType"), remote)
        if remote and remote["Ec2SshKey"] not in ec2_models.ec2_backends[account_id][region_name].key_pairs:
            # moto's EKS takes any name; EKS refuses a key pair EC2 does not have in the region.
            message = f"The key pair '{remote['Ec2SshKey']}' does not exist"
            raise cfn_models.handler_failed("Eks", "InvalidParameterException", message)
        try:
            # With a launch template EKS takes neither DiskSize nor RemoteAccess (InvalidParameterException).
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
                disk_size=int(props["DiskSize"]) if "DiskSize" in props else (None if template else 20),
                instance_types=props.get("InstanceTypes"),
                ami_type=props.get("AmiType"),
                labels=props.get("Labels"),
                # CloudFormation's Key/Value/Effect are the API's key/value/effect.
                taints=[{k[0].lower() + k[1:]: v for k, v in t.items()} for t in props.get("Taints") or []] or None,
                tags=_tags(props.get("Tags")),
                launch_template=(
                    {"id": template["Id"], "version": str(template.get("Version", "$Default"))} if template else None
                ),
                remote_access=(
                    {"ec2SshKey": remote["Ec2SshKey"], "sourceSecurityGroups": remote.get("SourceSecurityGroups", [])}
                    if remote
                    else None
                ),
                release_version=props.get("ReleaseVersion"),
            )
        except cfn_models.service_errors() as error:
            raise cfn_models.service_failed("Eks", error) from None
        if not remote:
            nodegroup.remote_access = None  # moto makes one up; EKS describes none
        repair = props.get("NodeRepairConfig")
        if repair is not None:
            nodegroup.node_repair_config = {"enabled": bool(repair.get("Enabled", False))}
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


# The add-ons EKS offers (DescribeAddonVersions): AWS's own and the community ones it publishes.
EKS_ADDONS = frozenset(
    {
        "adot",
        "amazon-cloudwatch-observability",
        "aws-ebs-csi-driver",
        "aws-efs-csi-driver",
        "aws-fsx-csi-driver",
        "aws-guardduty-agent",
        "aws-mountpoint-s3-csi-driver",
        "aws-network-flow-monitoring-agent",
        "cert-manager",
        "coredns",
        "eks-node-monitoring-agent",
        "eks-pod-identity-agent",
        "external-dns",
        "kube-proxy",
        "kube-state-metrics",
        "metrics-server",
        "prometheus-node-exporter",
        "snapshot-controller",
        "vpc-cni",
    }
)
# Add-ons whose pods are DaemonSets only: with no node there is nothing to schedule, and EKS reports
# them ACTIVE. Every other add-on runs a Deployment (coredns, the CSI controllers, metrics-server, ...)
# whose pods stay Pending until a node takes them.
DAEMONSET_ADDONS = frozenset(
    {
        "aws-guardduty-agent",
        "aws-network-flow-monitoring-agent",
        "eks-node-monitoring-agent",
        "eks-pod-identity-agent",
        "kube-proxy",
        "prometheus-node-exporter",
        "vpc-cni",
    }
)
# EKS's health issue for an add-on whose Deployment has fewer ready replicas than it wants.
INSUFFICIENT_REPLICAS = {
    "code": "InsufficientNumberOfReplicas",
    "message": "The add-on is unhealthy because it doesn't have the desired number of replicas.",
}
ADDON_VERSION = re.compile(r"v\d+\.\d+\.\d+-eksbuild\.\d+")
# The namespace EKS installs the add-ons it offers here in (their pod identity associations' too).
ADDON_NAMESPACE = "kube-system"
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/.+")
PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+")
ACCESS_POLICY_ARN = re.compile(r"arn:aws[a-z-]*:eks::aws:cluster-access-policy/[A-Za-z0-9]+")
ACCESS_ENTRY_TYPES = ("STANDARD", "FARGATE_LINUX", "EC2_LINUX", "EC2_WINDOWS", "EC2", "HYBRID_LINUX", "HYPERPOD_LINUX")
ACCESS_ENTRY_MODES = ("API", "API_AND_CONFIG_MAP")
NODE_ACCESS_ENTRY_TYPES = ("EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX", "HYPERPOD_LINUX")
RESERVED_USERNAME_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")


def _live_cluster(account_id: str, region_name: str, name: str) -> Any:
    cluster = eks_backends[account_id][region_name].clusters.get(name)
    if cluster is None:
        raise _eks_refused("ResourceNotFoundException", f"No cluster found for name: {name}.")
    return cluster


def _addons(cluster: Any) -> dict[str, Addon]:
    found: dict[str, Addon] = cluster.__dict__.setdefault("local_addons", {})
    return found


def _access_entries(cluster: Any) -> dict[str, AccessEntry]:
    found: dict[str, AccessEntry] = cluster.__dict__.setdefault("local_access_entries", {})
    return found


@dataclass
class Addon:
    cluster: str
    name: str
    arn: str
    version: str | None = None
    resolve_conflicts: str | None = None
    configuration_values: str | None = None
    service_account_role_arn: str | None = None
    pod_identity_associations: list[dict[str, str]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "ACTIVE"
    health_issues: list[dict[str, str]] = field(default_factory=list)


def _degraded(addon: Addon) -> ResourceFailed:
    """What CloudFormation reports when an add-on it waits on is DEGRADED instead of ACTIVE.

    On AWS the resource handler keeps polling until its stabilization timeout, minutes later;
    here it fails at once, with the add-on's state and EKS's health issue as the reason.
    """
    issues = "; ".join(f"{i['code']}: {i['message']}" for i in addon.health_issues)
    return ResourceFailed(
        f'Resource handler returned message: "Addon {addon.name} is in DEGRADED state: {issues}" '
        f"(RequestToken: {uuid.uuid4()}, HandlerErrorCode: NotStabilized)"
    )


def _check_addon(cluster: Any, props: dict[str, Any]) -> None:
    """What CreateAddon and UpdateAddon refuse."""
    name = props["AddonName"]
    if name not in EKS_ADDONS:
        raise _eks_refused(
            "InvalidParameterException",
            f"Addon {name} specified is not supported in {cluster.version} kubernetes version",
        )
    version = props.get("AddonVersion")
    if version is not None and not ADDON_VERSION.fullmatch(version):
        raise _eks_refused("InvalidParameterException", f"Addon version {version} specified is not supported")
    role = props.get("ServiceAccountRoleArn")
    if role is not None and not ROLE_ARN.fullmatch(role):
        raise _eks_refused("InvalidParameterException", f"Invalid role ARN {role}")
    values = props.get("ConfigurationValues")
    if values is not None:
        try:
            parsed = yaml.safe_load(values)
        except yaml.YAMLError:
            parsed = None
        if not isinstance(parsed, dict):
            raise _eks_refused(
                "InvalidParameterException",
                "ConfigurationValue provided in request is not supported: not a JSON object",
            )


class EKSAddonModel(UpdatableModel, CloudFormationModel):
    """AWS::EKS::Addon: an add-on on a live cluster; Ref is `CLUSTER|ADDON`, as CloudFormation's."""

    CFN_TYPE = "AWS::EKS::Addon"
    CFN_ATTRIBUTES = {"Arn": lambda m: m.addon.arn}

    def __init__(self, addon: Addon) -> None:
        self.addon = addon

    @property
    def physical_resource_id(self) -> str:
        return f"{self.addon.cluster}|{self.addon.name}"

    @classmethod
    def create(cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> EKSAddonModel:
        cluster = _live_cluster(account_id, region_name, props["ClusterName"])
        _check_addon(cluster, props)
        addons = _addons(cluster)
        if props["AddonName"] in addons:
            raise _eks_refused("ResourceInUseException", "Addon already exists.")
        arn = (
            f"arn:{get_partition(region_name)}:eks:{region_name}:{account_id}:"
            f"addon/{cluster.name}/{props['AddonName']}/{uuid.uuid4()}"
        )
        addon = Addon(cluster.name, props["AddonName"], arn)
        addons[addon.name] = addon
        try:
            made = cls(addon).update(props, account_id, region_name)
        except ResourceFailed:
            del addons[addon.name]
            raise
        if addon.name not in DAEMONSET_ADDONS and not nodes.nodes_of(cluster, region_name):
            # No node for its pods: EKS reports it DEGRADED, and the stack, which waits for ACTIVE,
            # fails and rolls back (deleting the add-on).
            addon.status, addon.health_issues = "DEGRADED", [dict(INSUFFICIENT_REPLICAS)]
            del addons[addon.name]
            podidentity_models.release_addon(cluster, addon.name)
            raise _degraded(addon)
        return made

    def update(self, props: dict[str, Any], account_id: str, region_name: str) -> EKSAddonModel:
        cluster = _live_cluster(account_id, region_name, self.addon.cluster)
        _check_addon(cluster, props)
        self.addon.version = props.get("AddonVersion")
        self.addon.resolve_conflicts = props.get("ResolveConflicts")
        self.addon.configuration_values = props.get("ConfigurationValues")
        self.addon.service_account_role_arn = props.get("ServiceAccountRoleArn")
        # EKS makes (and owns) a pod identity association per item, in the add-on's namespace.
        items = list(props.get("PodIdentityAssociations") or [])
        podidentity_models.associate_addon(cluster, account_id, region_name, self.addon.name, ADDON_NAMESPACE, items)
        self.addon.pod_identity_associations = items
        self.addon.tags = _tags(props.get("Tags"))
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        cluster = eks_backends[account_id][region_name].clusters.get(self.addon.cluster)
        if cluster is not None:  # a deleted cluster took its add-ons with it
            _addons(cluster).pop(self.addon.name, None)
            podidentity_models.release_addon(cluster, self.addon.name)


@dataclass
class AccessEntry:
    cluster: str
    principal_arn: str
    arn: str
    type: str = "STANDARD"
    username: str | None = None
    kubernetes_groups: list[str] = field(default_factory=list)
    access_policies: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def _check_access_entry(cluster: Any, props: dict[str, Any]) -> None:
    """What CreateAccessEntry, UpdateAccessEntry and AssociateAccessPolicy refuse."""
    mode = (getattr(cluster, "access_config", None) or {}).get("authenticationMode", "CONFIG_MAP")
    if mode not in ACCESS_ENTRY_MODES:
        modes = ", ".join(ACCESS_ENTRY_MODES)
        wrong_mode = f"The cluster's authentication mode must be set to one of [{modes}] to perform this operation."
        raise _eks_refused("InvalidRequestException", wrong_mode)
    principal = props["PrincipalArn"]
    if not PRINCIPAL_ARN.fullmatch(principal):
        raise _eks_refused("InvalidParameterException", f"The specified principalArn is invalid: {principal}")
    kind = props.get("Type", "STANDARD")
    if kind not in ACCESS_ENTRY_TYPES:
        raise _eks_refused("InvalidParameterException", f"The specified access entry type {kind} is invalid")
    if kind == "HYBRID_LINUX" and not getattr(cluster, "remote_network_config", None):
        message = "HYBRID_LINUX access entries require the cluster to have a remote network configuration"
        raise _eks_refused("InvalidParameterException", message)
    groups, username = props.get("KubernetesGroups") or [], props.get("Username")
    if kind != "STANDARD" and (groups or username):
        raise _eks_refused(
            "InvalidParameterException", f"Kubernetes groups and username cannot be specified for type {kind}"
        )
    if kind in NODE_ACCESS_ENTRY_TYPES and props.get("AccessPolicies"):
        # EKS gives a node's or Fargate pod's entry its permissions itself; AssociateAccessPolicy refuses it.
        raise _eks_refused("InvalidParameterException", f"Access policies cannot be associated with type {kind}")
    for group in groups:
        if group.startswith("system:"):
            raise _eks_refused(
                "InvalidParameterException",
                f"The kubernetes group name {group} is invalid, it cannot start with system:",
            )
    if username and username.startswith(RESERVED_USERNAME_PREFIXES):
        raise _eks_refused(
            "InvalidParameterException",
            f"The username {username} is invalid, it cannot start with {', '.join(RESERVED_USERNAME_PREFIXES)}",
        )
    policies = [p["PolicyArn"] for p in props.get("AccessPolicies") or []]
    if len(set(policies)) != len(policies):
        raise _eks_refused("InvalidParameterException", "An access policy is associated more than once")
    for policy in props.get("AccessPolicies") or []:
        if not ACCESS_POLICY_ARN.fullmatch(policy["PolicyArn"]):
            raise _eks_refused("ResourceNotFoundException", f"The specified policy {policy['PolicyArn']} was not found")
        scope = policy["AccessScope"]
        if (scope["Type"] == "namespace") != bool(scope.get("Namespaces")):
            raise _eks_refused(
                "InvalidParameterException",
                "Namespaces must be specified for, and only for, an access scope of type namespace",
            )


class EKSAccessEntryModel(UpdatableModel, CloudFormationModel):
    """AWS::EKS::AccessEntry with its access policies; Ref is `CLUSTER|PRINCIPAL`, as CloudFormation's."""

    CFN_TYPE = "AWS::EKS::AccessEntry"
    CFN_ATTRIBUTES = {"AccessEntryArn": lambda m: m.entry.arn}

    def __init__(self, entry: AccessEntry) -> None:
        self.entry = entry

    @property
    def physical_resource_id(self) -> str:
        return f"{self.entry.cluster}|{self.entry.principal_arn}"

    @classmethod
    def create(
        cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str
    ) -> EKSAccessEntryModel:
        cluster = _live_cluster(account_id, region_name, props["ClusterName"])
        _check_access_entry(cluster, props)
        entries = _access_entries(cluster)
        principal = props["PrincipalArn"]
        if principal in entries:
            raise _eks_refused(
                "ResourceInUseException", "The specified access entry resource is already in use on this cluster."
            )
        kind = "role" if ":role/" in principal else "user"
        arn = (
            f"arn:{get_partition(region_name)}:eks:{region_name}:{account_id}:access-entry/{cluster.name}/"
            f"{kind}/{account_id}/{principal.rsplit('/', 1)[-1]}/{uuid.uuid4()}"
        )
        entry = AccessEntry(cluster.name, principal, arn, type=props.get("Type", "STANDARD"))
        entries[principal] = entry
        return cls(entry).update(props, account_id, region_name)

    def update(self, props: dict[str, Any], account_id: str, region_name: str) -> EKSAccessEntryModel:
        _check_access_entry(_live_cluster(account_id, region_name, self.entry.cluster), props)
        self.entry.username = props.get("Username")
        self.entry.kubernetes_groups = list(props.get("KubernetesGroups") or [])
        self.entry.access_policies = list(props.get("AccessPolicies") or [])
        self.entry.tags = _tags(props.get("Tags"))
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        cluster = eks_backends[account_id][region_name].clusters.get(self.entry.cluster)
        if cluster is not None:  # a deleted cluster took its access entries with it
            _access_entries(cluster).pop(self.entry.principal_arn, None)


def addons_of(account_id: str, region_name: str, cluster: str) -> dict[str, Addon]:
    """The add-ons the stacks made on a live cluster, by name (for tests and tools)."""
    return dict(_addons(_live_cluster(account_id, region_name, cluster)))


def access_entries_of(account_id: str, region_name: str, cluster: str) -> dict[str, AccessEntry]:
    """The access entries the stacks made on a live cluster, by principal ARN (for tests and tools)."""
    return dict(_access_entries(_live_cluster(account_id, region_name, cluster)))


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


_log_groups_installed = False


def _log_groups_fail_as_cloudformation_does() -> None:
    """A log group whose name is taken fails its resource (AlreadyExists), not the CreateStack call.

    moto's AWS::Logs::LogGroup raises the Logs API's error out of CreateStack; CloudFormation accepts the
    stack and reports the resource's failure. It matters for the control plane's group, which EKS leaves
    behind when a cluster that logged is deleted.
    """
    global _log_groups_installed
    if _log_groups_installed:
        return
    create = LogGroup.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_or_fail(
        cls: type[LogGroup], resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kw: Any
    ) -> LogGroup:
        try:
            return create(cls, resource_name, cloudformation_json, account_id, region_name, **kw)  # type: ignore[no-any-return]
        except ResourceAlreadyExistsException:
            raise ResourceFailed(
                f"Resource handler returned message: \"Resource of type 'AWS::Logs::LogGroup' with identifier "
                f"'{resource_name}' already exists.\" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: AlreadyExists)",
                str(kw.get("LogicalId") or ""),
            ) from None

    LogGroup.create_from_cloudformation_json = classmethod(create_or_fail)  # type: ignore[method-assign,assignment,arg-type]
    _log_groups_installed = True


def register() -> None:
    """Make moto's CloudFormation see the models above (its model list is cached) and fail stacks as AWS does."""
    cfn_models.install()
    _log_groups_fail_as_cloudformation_does()
    refresh()
    assert parsing.get_model_map()["AWS::EKS::Cluster"] is EKSClusterModel
