"""The control plane resource sets: the EKS cluster, its OIDC provider and access entries.

Mirrors eksctl's `cluster.go` in `pkg/cfn/builder`: the AWS::EKS::Cluster with its
logging, network and access settings, then what hangs off it (add-ons are in `addons`). None
of them lists Tags: every one takes tags, so CloudFormation gives each the stack's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn import remote_nodes
from chalicelib.cfn.automode import add_auto_mode
from chalicelib.cfn.cluster_options import add_log_group, control_plane_properties
from chalicelib.cfn.template import (
    OUTPUT_ARN,
    OUTPUT_CA,
    OUTPUT_CLUSTER_NAME,
    OUTPUT_ENDPOINT,
    OUTPUT_OIDC_PROVIDER_ARN,
    Ref,
    Template,
    get_att,
)

if TYPE_CHECKING:
    from chalicelib.cfn.vpc import Network
    from chalicelib.model.spec import AccessConfigSpec, AccessEntrySpec, ClusterSpec

# The EKS access policy the service's own roles hold on every cluster.
CLUSTER_ADMIN_POLICY = "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def add_control_plane(
    t: Template,
    spec: ClusterSpec,
    network: Network,
    security_group: Ref | str,
    service_role_arn: dict[str, list[str]],
    service_roles: tuple[str, ...],
    public_endpoint_closed: bool = False,
) -> Ref:
    """Add the AWS::EKS::Cluster; export its name, endpoint, CA and ARN; return a Ref to it.

    The control plane is in `security_group` (ekspress's, or an existing VPC's `vpc.securityGroup`) and
    in the existing VPC's `vpc.controlPlaneSecurityGroupIDs`.
    """
    endpoints = spec.vpc.cluster_endpoints
    public_access = endpoints.public_access and not public_endpoint_closed
    vpc_config: dict[str, Any] = {
        "SecurityGroupIds": [security_group, *(spec.vpc.control_plane_security_group_ids or [])],
        "SubnetIds": network.control_plane or [*network.public, *network.private],
        "EndpointPublicAccess": public_access,
        "EndpointPrivateAccess": endpoints.private_access,
    }
    if spec.vpc.public_access_cid_rs and public_access:
        vpc_config["PublicAccessCidrs"] = list(spec.vpc.public_access_cid_rs)
    properties: dict[str, Any] = {
        "Name": spec.name,
        "Version": spec.version,
        "RoleArn": service_role_arn,
        "ResourcesVpcConfig": vpc_config,
    }
    if spec.cloud_watch and spec.cloud_watch.cluster_logging.enable_types:
        enabled = [{"Type": kind} for kind in spec.cloud_watch.cluster_logging.enable_types]
        properties["Logging"] = {"ClusterLogging": {"EnabledTypes": enabled}}
    network_config = spec.kubernetes_network_config
    if network_config and network_config.service_ipv4_cidr:
        properties["KubernetesNetworkConfig"] = {"ServiceIpv4Cidr": network_config.service_ipv4_cidr}
    if network_config and network_config.ip_family:
        # EKS's spelling (ipv4, ipv6), as eksctl writes it.
        properties.setdefault("KubernetesNetworkConfig", {})["IpFamily"] = network_config.ip_family.lower()
    access = spec.access_config
    if access:
        properties["AccessConfig"] = {
            "AuthenticationMode": access.authentication_mode,
            "BootstrapClusterCreatorAdminPermissions": access.bootstrap_cluster_creator_admin_permissions,
        }
    elif service_roles or spec.auto_mode or spec.remote_network_config:
        # The service's access entries, the one EKS makes for Auto Mode's node role and hybrid nodes' need
        # the API mode (EKS's default is CONFIG_MAP); the rest stays EKS's default.
        properties["AccessConfig"] = {
            "AuthenticationMode": "API_AND_CONFIG_MAP",
            "BootstrapClusterCreatorAdminPermissions": True,
        }
    if spec.auto_mode_config:
        add_auto_mode(t, spec.auto_mode_config, properties)
    properties.update(control_plane_properties(spec))
    properties.update(remote_nodes.control_plane_properties(spec))
    # With a log retention, the stack makes the log group EKS would make, before the cluster.
    depends_on = add_log_group(t, spec)
    cluster = t.new_resource(
        "ControlPlane", "AWS::EKS::Cluster", properties, **({"DependsOn": depends_on} if depends_on else {})
    )
    t.add_output(OUTPUT_CLUSTER_NAME, cluster, export=True)
    for output, attribute in (
        (OUTPUT_ENDPOINT, "Endpoint"),
        (OUTPUT_CA, "CertificateAuthorityData"),
        (OUTPUT_ARN, "Arn"),
    ):
        t.add_output(output, get_att("ControlPlane", attribute), export=True)
    return cluster


def add_oidc_provider(t: Template) -> None:
    """Add the IAM OIDC provider for the cluster's issuer (IAM roles for service accounts); export its ARN."""
    provider = t.new_resource(
        "OIDCProvider",
        "AWS::IAM::OIDCProvider",
        {
            "Url": get_att("ControlPlane", "OpenIdConnectIssuerUrl"),
            "ClientIdList": ["sts.amazonaws.com"],
        },
    )
    t.add_output(OUTPUT_OIDC_PROVIDER_ARN, provider, export=True)


def add_access_entries(
    t: Template, access: AccessConfigSpec | None, service_roles: tuple[str, ...], cluster: Ref
) -> None:
    """Add the requested access entries, then a cluster-admin entry for each of the service's own roles.

    The service's roles are those of its functions that speak to Kubernetes: with these
    entries they reach the cluster, whoever created it.
    """
    requested = access.access_entries if access else []
    for index, entry in enumerate(requested):
        t.new_resource(f"AccessEntry{index + 1}", "AWS::EKS::AccessEntry", _access_entry(entry, cluster))
    named = {entry.principal_arn for entry in requested}
    # A principal has one access entry: a role the request already names keeps the request's.
    for index, role in enumerate(r for r in service_roles if r not in named):
        t.new_resource(
            f"ServiceAccessEntry{index + 1}",
            "AWS::EKS::AccessEntry",
            {
                "ClusterName": cluster,
                "PrincipalArn": role,
                "Type": "STANDARD",
                "AccessPolicies": [
                    {"PolicyArn": {"Fn::Sub": CLUSTER_ADMIN_POLICY}, "AccessScope": {"Type": "cluster"}}
                ],
            },
        )


def _access_entry(entry: AccessEntrySpec, cluster: Ref) -> dict[str, Any]:
    """The properties of a requested access entry."""
    properties: dict[str, Any] = {
        "ClusterName": cluster,
        "PrincipalArn": entry.principal_arn,
        "Type": entry.type,
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
    return properties
