"""CloudFormation templates for a cluster and its node groups: pure functions of the spec.

Mirrors eksctl's `pkg/cfn/builder`: the cluster stack owns the network, the
control-plane security group, the service role and the control plane, and
exports what node group stacks import. Nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import TYPE_CHECKING, Any

from chalicelib import naming
from chalicelib.spec import AMI_FAMILIES

if TYPE_CHECKING:
    from chalicelib.spec import ClusterSpec, NodegroupSpec

OUTPUT_CLUSTER_NAME = "ClusterName"
OUTPUT_ENDPOINT = "Endpoint"
OUTPUT_CA = "CertificateAuthorityData"
OUTPUT_ARN = "ARN"
OUTPUT_VPC = "VPC"
OUTPUT_SUBNETS_PUBLIC = "SubnetsPublic"
OUTPUT_SUBNETS_PRIVATE = "SubnetsPrivate"
OUTPUT_SECURITY_GROUP = "SecurityGroup"
OUTPUT_SERVICE_ROLE_ARN = "ServiceRoleARN"
OUTPUT_NODE_ROLE_ARN = "NodeInstanceRoleARN"
OUTPUT_OIDC_PROVIDER_ARN = "OIDCProviderARN"
OUTPUT_NODEGROUP_NAME = "NodegroupName"

MIN_ZONES = 2
MAX_ZONES = 4
# The VPC is cut into eight equal blocks, as eksctl does: public subnets first, then private.
SUBNET_SPLIT_BITS = 3
WORKER_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
# Graviton families end in "g" (m6g, c7g, t4g, r8g...) and need the ARM AMI.
_ARM_FAMILY = re.compile(r"^[a-z]+\d+[a-z]*g[a-z]*\.")
# Kubernetes taint effects as AWS::EKS::Nodegroup spells them.
TAINT_EFFECT = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}


def export_name(cluster: str, output: str) -> str:
    return f"{naming.cluster_stack_name(cluster)}::{output}"


def to_json(template: dict[str, Any]) -> str:
    return json.dumps(template, sort_keys=True, separators=(",", ":"))


def subnet_cidrs(vpc_cidr: str, zone_count: int) -> tuple[list[str], list[str]]:
    """(public, private) subnet CIDRs, one of each per zone."""
    if not MIN_ZONES <= zone_count <= MAX_ZONES:
        raise ValueError(f"between {MIN_ZONES} and {MAX_ZONES} availability zones are supported, not {zone_count}")
    blocks = [str(b) for b in ipaddress.IPv4Network(vpc_cidr).subnets(prefixlen_diff=SUBNET_SPLIT_BITS)]
    return blocks[:zone_count], blocks[zone_count : 2 * zone_count]


# The EKS access policy the service's own roles hold on every cluster.
CLUSTER_ADMIN_POLICY = "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def _policy_arn(name: str) -> dict[str, str]:
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{name}"}


def _role(service: str, policies: tuple[str, ...], tags: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": [service]}, "Action": ["sts:AssumeRole"]}],
            },
            "ManagedPolicyArns": [_policy_arn(p) for p in policies],
            "Tags": tags,
        },
    }


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


class _ClusterBuilder:
    """Accumulates the cluster stack's resources; one method per part of the network."""

    def __init__(self, spec: ClusterSpec, cluster_id: str, zones: list[str]) -> None:
        self.spec = spec
        self.stack = naming.cluster_stack_name(spec.name)
        # User tags first so ours win; the spec already refuses our reserved prefixes.
        self.tags = {**spec.tags, **naming.ownership_tags(spec.name, cluster_id)}
        self.zones = zones
        self.resources: dict[str, Any] = {}

    def ec2_tags(self, logical_id: str, extra: dict[str, str] | None = None) -> list[dict[str, str]]:
        return _tag_list({**self.tags, "Name": f"{self.stack}/{logical_id}", **(extra or {})})

    def add(self, logical_id: str, resource_type: str, properties: dict[str, Any], **extra: Any) -> dict[str, str]:
        self.resources[logical_id] = {"Type": resource_type, "Properties": properties, **extra}
        return {"Ref": logical_id}

    def network(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        owned = {f"kubernetes.io/cluster/{self.spec.name}": "owned"}
        vpc = self.add(
            "VPC",
            "AWS::EC2::VPC",
            {
                "CidrBlock": self.spec.vpc.cidr,
                "EnableDnsHostnames": True,
                "EnableDnsSupport": True,
                "Tags": self.ec2_tags("VPC", owned),
            },
        )
        igw = self.add("InternetGateway", "AWS::EC2::InternetGateway", {"Tags": self.ec2_tags("InternetGateway")})
        self.add("VPCGatewayAttachment", "AWS::EC2::VPCGatewayAttachment", {"VpcId": vpc, "InternetGatewayId": igw})
        public_cidrs, private_cidrs = subnet_cidrs(self.spec.vpc.cidr, len(self.zones))
        public = self.subnets("Public", public_cidrs, {**owned, "kubernetes.io/role/elb": "1"}, vpc)
        private = self.subnets("Private", private_cidrs, {**owned, "kubernetes.io/role/internal-elb": "1"}, vpc)

        public_rt = self.route_table("PublicRouteTable", vpc, public)
        self.add(
            "PublicSubnetRoute",
            "AWS::EC2::Route",
            {"RouteTableId": public_rt, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw},
            DependsOn="VPCGatewayAttachment",
        )
        mode = self.spec.vpc.nat.gateway
        if mode == "Single":
            nat = self.nat_gateway("", public[0])
            private_rt = self.route_table("PrivateRouteTable", vpc, private)
            self.private_route("NATPrivateSubnetRoute", private_rt, nat)
        elif mode == "HighlyAvailable":  # one NAT gateway and route table per zone, as eksctl
            for index, (public_subnet, private_subnet) in enumerate(zip(public, private, strict=True)):
                zone = str(index + 1)
                nat = self.nat_gateway(zone, public_subnet)
                private_rt = self.route_table(f"PrivateRouteTable{zone}", vpc, [private_subnet])
                self.private_route(f"NATPrivateSubnetRoute{zone}", private_rt, nat)
        else:  # Disable: private subnets reach only the VPC
            self.route_table("PrivateRouteTable", vpc, private)
        return public, private

    def nat_gateway(self, suffix: str, subnet: dict[str, str]) -> dict[str, str]:
        self.add(f"NATIP{suffix}", "AWS::EC2::EIP", {"Domain": "vpc", "Tags": self.ec2_tags(f"NATIP{suffix}")})
        return self.add(
            f"NATGateway{suffix}",
            "AWS::EC2::NatGateway",
            {
                "AllocationId": {"Fn::GetAtt": [f"NATIP{suffix}", "AllocationId"]},
                "SubnetId": subnet,
                "Tags": self.ec2_tags(f"NATGateway{suffix}"),
            },
        )

    def private_route(self, logical_id: str, table: dict[str, str], nat: dict[str, str]) -> None:
        self.add(
            logical_id,
            "AWS::EC2::Route",
            {"RouteTableId": table, "DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": nat},
        )

    def subnets(self, kind: str, cidrs: list[str], tags: dict[str, str], vpc: dict[str, str]) -> list[dict[str, str]]:
        refs = []
        for index, (zone, cidr) in enumerate(zip(self.zones, cidrs, strict=True)):
            logical_id = f"Subnet{kind}{index + 1}"
            properties: dict[str, Any] = {
                "VpcId": vpc,
                "CidrBlock": cidr,
                "AvailabilityZone": zone,
                "Tags": self.ec2_tags(logical_id, tags),
            }
            if kind == "Public":
                properties["MapPublicIpOnLaunch"] = True
            refs.append(self.add(logical_id, "AWS::EC2::Subnet", properties))
        return refs

    def route_table(self, logical_id: str, vpc: dict[str, str], subnets: list[dict[str, str]]) -> dict[str, str]:
        table = self.add(logical_id, "AWS::EC2::RouteTable", {"VpcId": vpc, "Tags": self.ec2_tags(logical_id)})
        for subnet in subnets:
            self.add(
                f"RouteTableAssociation{subnet['Ref']}",
                "AWS::EC2::SubnetRouteTableAssociation",
                {"RouteTableId": table, "SubnetId": subnet},
            )
        return table


def build_cluster_template(
    spec: ClusterSpec, cluster_id: str, zones: list[str], service_roles: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The `eksctl-NAME-cluster` stack: network, security group, service role, control plane.

    `service_roles` (the service's own functions that speak to Kubernetes) each get a
    cluster-admin access entry, so they reach the cluster whoever created it.
    """
    if len(zones) < MIN_ZONES:
        raise ValueError(f"EKS needs subnets in at least {MIN_ZONES} availability zones, got {len(zones)}")
    b = _ClusterBuilder(spec, cluster_id, zones)
    vpc = {"Ref": "VPC"}
    public, private = b.network()
    security_group = b.add(
        "ControlPlaneSecurityGroup",
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "Communication between the control plane and worker nodegroups",
            "VpcId": vpc,
            "Tags": b.ec2_tags("ControlPlaneSecurityGroup"),
        },
    )
    b.resources["ServiceRole"] = _role("eks.amazonaws.com", ("AmazonEKSClusterPolicy",), _tag_list(b.tags))
    endpoints = spec.vpc.cluster_endpoints
    vpc_config: dict[str, Any] = {
        "SecurityGroupIds": [security_group],
        "SubnetIds": public + private,
        "EndpointPublicAccess": endpoints.public_access,
        "EndpointPrivateAccess": endpoints.private_access,
    }
    if spec.vpc.public_access_cid_rs and endpoints.public_access:
        vpc_config["PublicAccessCidrs"] = list(spec.vpc.public_access_cid_rs)
    control_plane: dict[str, Any] = {
        "Name": spec.name,
        "Version": spec.version,
        "RoleArn": {"Fn::GetAtt": ["ServiceRole", "Arn"]},
        "ResourcesVpcConfig": vpc_config,
        "Tags": _tag_list(b.tags),
    }
    if spec.cloud_watch and spec.cloud_watch.cluster_logging.enable_types:
        enabled = [{"Type": t} for t in spec.cloud_watch.cluster_logging.enable_types]
        control_plane["Logging"] = {"ClusterLogging": {"EnabledTypes": enabled}}
    if spec.kubernetes_network_config and spec.kubernetes_network_config.service_ipv4_cidr:
        control_plane["KubernetesNetworkConfig"] = {"ServiceIpv4Cidr": spec.kubernetes_network_config.service_ipv4_cidr}
    access = spec.access_config
    if access:
        control_plane["AccessConfig"] = {
            "AuthenticationMode": access.authentication_mode,
            "BootstrapClusterCreatorAdminPermissions": access.bootstrap_cluster_creator_admin_permissions,
        }
    elif service_roles:
        control_plane["AccessConfig"] = {
            "AuthenticationMode": "API_AND_CONFIG_MAP",
            "BootstrapClusterCreatorAdminPermissions": True,
        }
    b.add("ControlPlane", "AWS::EKS::Cluster", control_plane)
    cluster_ref = {"Ref": "ControlPlane"}
    if spec.iam and spec.iam.with_oidc:
        b.add(
            "OIDCProvider",
            "AWS::IAM::OIDCProvider",
            {
                "Url": {"Fn::GetAtt": ["ControlPlane", "OpenIdConnectIssuerUrl"]},
                "ClientIdList": ["sts.amazonaws.com"],
                "Tags": _tag_list(b.tags),
            },
        )
    for addon in spec.addons:
        properties: dict[str, Any] = {
            "ClusterName": cluster_ref,
            "AddonName": addon.name,
            "ResolveConflicts": "OVERWRITE",
            "Tags": _tag_list(b.tags),
        }
        if addon.version and addon.version != "latest":
            properties["AddonVersion"] = addon.version
        b.add(f"Addon{_logical(addon.name)}", "AWS::EKS::Addon", properties)
    for index, entry in enumerate(access.access_entries if access else []):
        properties = {
            "ClusterName": cluster_ref,
            "PrincipalArn": entry.principal_arn,
            "Type": "STANDARD",
            "Tags": _tag_list(b.tags),
        }
        if entry.kubernetes_groups:
            properties["KubernetesGroups"] = list(entry.kubernetes_groups)
        if entry.kubernetes_username:
            properties["Username"] = entry.kubernetes_username
        if entry.access_policies:
            properties["AccessPolicies"] = [
                {
                    "PolicyArn": policy.policy_arn,
                    "AccessScope": {
                        "Type": policy.access_scope.type,
                        **({"Namespaces": policy.access_scope.namespaces} if policy.access_scope.namespaces else {}),
                    },
                }
                for policy in entry.access_policies
            ]
        b.add(f"AccessEntry{index + 1}", "AWS::EKS::AccessEntry", properties)
    requested = {entry.principal_arn for entry in (access.access_entries if access else [])}
    # A principal has one access entry: a role the request already names keeps the request's.
    for index, role in enumerate(r for r in service_roles if r not in requested):
        b.add(
            f"ServiceAccessEntry{index + 1}",
            "AWS::EKS::AccessEntry",
            {
                "ClusterName": cluster_ref,
                "PrincipalArn": role,
                "Type": "STANDARD",
                "AccessPolicies": [
                    {
                        "PolicyArn": {"Fn::Sub": CLUSTER_ADMIN_POLICY},
                        "AccessScope": {"Type": "cluster"},
                    }
                ],
                "Tags": _tag_list(b.tags),
            },
        )
    outputs = {
        OUTPUT_CLUSTER_NAME: {"Ref": "ControlPlane"},
        OUTPUT_ENDPOINT: {"Fn::GetAtt": ["ControlPlane", "Endpoint"]},
        OUTPUT_CA: {"Fn::GetAtt": ["ControlPlane", "CertificateAuthorityData"]},
        OUTPUT_ARN: {"Fn::GetAtt": ["ControlPlane", "Arn"]},
        OUTPUT_VPC: vpc,
        OUTPUT_SUBNETS_PUBLIC: {"Fn::Join": [",", public]},
        OUTPUT_SUBNETS_PRIVATE: {"Fn::Join": [",", private]},
        OUTPUT_SECURITY_GROUP: security_group,
        OUTPUT_SERVICE_ROLE_ARN: {"Fn::GetAtt": ["ServiceRole", "Arn"]},
        # One per zone too, so a node group can keep to some of the zones.
        **{f"{OUTPUT_SUBNETS_PUBLIC}{i + 1}": subnet for i, subnet in enumerate(public)},
        **{f"{OUTPUT_SUBNETS_PRIVATE}{i + 1}": subnet for i, subnet in enumerate(private)},
    }
    if spec.iam and spec.iam.with_oidc:
        outputs[OUTPUT_OIDC_PROVIDER_ARN] = {"Ref": "OIDCProvider"}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"EKS cluster {spec.name} (dedicated VPC, control plane) [created by ekspress]",
        # Zones are chosen per region from DescribeAvailabilityZones (skipping those EKS
        # does not support), as eksctl does, so naming them here is deliberate.
        "Metadata": {"cfn-lint": {"config": {"ignore_checks": ["W3010"]}}},
        "Resources": b.resources,
        "Outputs": {
            key: {"Value": value, "Export": {"Name": export_name(spec.name, key)}} for key, value in outputs.items()
        },
    }


def ami_type(instance_type: str, family: str = "AmazonLinux2023") -> str:
    x86, arm = AMI_FAMILIES[family]
    return arm if _ARM_FAMILY.match(instance_type) else x86


def build_nodegroup_template(spec: ClusterSpec, nodegroup: NodegroupSpec, cluster_id: str) -> dict[str, Any]:
    """The `eksctl-NAME-nodegroup-NG` stack: node role and managed node group."""
    tags = {**spec.tags, **nodegroup.tags, **naming.ownership_tags(spec.name, cluster_id)}
    tags.update({naming.TAG_NODEGROUP: nodegroup.name, naming.TAG_EKSCTL_NODEGROUP: nodegroup.name})
    kind = OUTPUT_SUBNETS_PRIVATE if nodegroup.private_networking else OUTPUT_SUBNETS_PUBLIC
    if nodegroup.availability_zones:
        cluster_zones = list(spec.availability_zones or [])
        picked = [cluster_zones.index(z) + 1 for z in nodegroup.availability_zones]
        subnet_ids: Any = [{"Fn::ImportValue": export_name(spec.name, f"{kind}{i}")} for i in picked]
    else:
        subnet_ids = {"Fn::Split": [",", {"Fn::ImportValue": export_name(spec.name, kind)}]}
    properties: dict[str, Any] = {
        "ClusterName": spec.name,
        "NodegroupName": nodegroup.name,
        "NodeRole": {"Fn::GetAtt": ["NodeInstanceRole", "Arn"]},
        "Subnets": subnet_ids,
        "ScalingConfig": {
            "MinSize": nodegroup.min_size,
            "DesiredSize": nodegroup.desired_capacity,
            "MaxSize": nodegroup.max_size,
        },
        "InstanceTypes": nodegroup.types,
        "AmiType": ami_type(nodegroup.types[0], nodegroup.ami_family),
        "CapacityType": "SPOT" if nodegroup.spot else "ON_DEMAND",
        "DiskSize": nodegroup.volume_size,
        "Tags": tags,  # AWS::EKS::Nodegroup takes a map, not a list
    }
    if nodegroup.labels:
        properties["Labels"] = dict(nodegroup.labels)
    resources: dict[str, Any] = {}
    if nodegroup.volume_type or nodegroup.max_pods_per_node:
        # EKS takes the disk from the launch template then, never from DiskSize.
        del properties["DiskSize"]
        resources["LaunchTemplate"] = _launch_template(nodegroup, tags)
        properties["LaunchTemplate"] = {
            "Id": {"Ref": "LaunchTemplate"},
            "Version": {"Fn::GetAtt": ["LaunchTemplate", "LatestVersionNumber"]},
        }
    if nodegroup.taints:
        properties["Taints"] = [
            {"Key": t.key, **({"Value": t.value} if t.value else {}), "Effect": TAINT_EFFECT[t.effect]}
            for t in nodegroup.taints
        ]
    if nodegroup.update_config:
        update = nodegroup.update_config
        properties["UpdateConfig"] = (
            {"MaxUnavailable": update.max_unavailable}
            if update.max_unavailable is not None
            else {"MaxUnavailablePercentage": update.max_unavailable_percentage}
        )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"EKS managed node group {nodegroup.name} of cluster {spec.name} [created by ekspress]",
        "Resources": {
            "NodeInstanceRole": _role("ec2.amazonaws.com", WORKER_POLICIES, _tag_list(tags)),
            **resources,
            "ManagedNodeGroup": {"Type": "AWS::EKS::Nodegroup", "Properties": properties},
        },
        "Outputs": {
            OUTPUT_NODE_ROLE_ARN: {"Value": {"Fn::GetAtt": ["NodeInstanceRole", "Arn"]}},
            OUTPUT_NODEGROUP_NAME: {"Value": {"Fn::GetAtt": ["ManagedNodeGroup", "NodegroupName"]}},
        },
    }


def _logical(name: str) -> str:
    """`aws-ebs-csi-driver` → `AwsEbsCsiDriver` (CloudFormation logical ids are alphanumeric)."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name))


def _node_user_data(nodegroup: NodegroupSpec) -> str | None:
    """Settings the node's bootstrap reads, in the format its AMI family expects."""
    if nodegroup.max_pods_per_node is None:
        return None
    if nodegroup.ami_family == "Bottlerocket":
        return f"[settings.kubernetes]\nmax-pods = {nodegroup.max_pods_per_node}\n"
    # AL2023's nodeadm reads a NodeConfig from a MIME part; EKS merges its own parts in.
    return (
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="//"\n\n'
        "--//\nContent-Type: application/node.eks.aws\n\n"
        "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    config:\n"
        f"      maxPods: {nodegroup.max_pods_per_node}\n\n--//--\n"
    )


def _launch_template(nodegroup: NodegroupSpec, tags: dict[str, str]) -> dict[str, Any]:
    # Bottlerocket keeps containers on its second (data) volume; the others on the root volume.
    device = "/dev/xvdb" if nodegroup.ami_family == "Bottlerocket" else "/dev/xvda"
    data: dict[str, Any] = {
        "BlockDeviceMappings": [
            {
                "DeviceName": device,
                "Ebs": {
                    "VolumeSize": nodegroup.volume_size,
                    "VolumeType": nodegroup.volume_type or "gp3",
                    "Encrypted": True,
                },
            }
        ],
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        "TagSpecifications": [
            {"ResourceType": kind, "Tags": _tag_list(tags)} for kind in ("instance", "volume", "network-interface")
        ],
    }
    user_data = _node_user_data(nodegroup)
    if user_data:
        data["UserData"] = {"Fn::Base64": user_data}
    return {"Type": "AWS::EC2::LaunchTemplate", "Properties": {"LaunchTemplateData": data}}
