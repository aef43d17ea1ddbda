"""A fully private cluster (`privateCluster`): no internet in or out once it is built, as eksctl makes it.

As eksctl builds it (`pkg/cfn/builder/vpc_ipv4.go`, `vpc_endpoint.go`, `pkg/ctl/create/cluster.go`):

- the VPC has private subnets only: no internet gateway, no NAT gateway, no public subnet;
- the nodes reach AWS through VPC endpoints: interface endpoints for `ec2`, `ecr.api`, `ecr.dkr`
  and `sts` (and `logs` when control plane logging is on), a gateway endpoint for `s3`, plus those
  of `additionalEndpointServices` (`autoscaling`, `cloudformation`, `logs`);
- the control plane is created with public and private access, so that the service can map the
  node roles in aws-auth and create service accounts, and the public endpoint is turned off as the
  create's last step. From then on only the VPC (or a network joined to it) reaches the API server.

What eksctl refuses is a 422 on its field: `vpc.clusterEndpoints` (a private cluster's endpoint
access is the service's to set: `private_cluster_endpoints`), a node group without
`privateNetworking: true` (`private_networking_required`), public subnets or a NAT gateway
(`private_cluster_public_network`), an existing VPC without private subnets, and
`skipEndpointCreation` with `additionalEndpointServices` or for a VPC ekspress builds. In an existing
VPC the endpoints go in its private subnets, and S3's on their route tables (operations/network.py
checks what EC2 would refuse there). Not built yet, each refused saying what to do instead: IPv6 and
hybrid nodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from chalicelib.model.validation import SpecModel

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.model.validation import Problem

# The interface endpoints every private cluster gets, and the gateway endpoint (eksctl's required services).
REQUIRED_INTERFACE_SERVICES = ("ec2", "ecr.api", "ecr.dkr", "sts")
GATEWAY_SERVICE = "s3"
LOGS_SERVICE = "logs"
OptionalEndpointService = Literal["autoscaling", "cloudformation", "logs"]


class PrivateClusterSpec(SpecModel):
    enabled: bool = False
    skip_endpoint_creation: bool = False
    additional_endpoint_services: Annotated[list[OptionalEndpointService], Field(max_length=3)] = Field(
        default_factory=list
    )


def enabled(spec: ClusterSpec) -> bool:
    """Whether the cluster is fully private (privateCluster.enabled)."""
    return bool(spec.private_cluster and spec.private_cluster.enabled)


def interface_services(spec: ClusterSpec) -> list[str]:
    """The interface endpoints the cluster's VPC gets, in eksctl's order: required, then additional.

    `logs` is added when control plane logging is on, as eksctl adds it; none when the caller's VPC
    has its own (`skipEndpointCreation`).
    """
    private = spec.private_cluster
    if private is None or not private.enabled or private.skip_endpoint_creation:
        return []
    services = [*REQUIRED_INTERFACE_SERVICES, *private.additional_endpoint_services]
    if spec.cloud_watch and spec.cloud_watch.cluster_logging.enable_types:
        services.append(LOGS_SERVICE)
    return list(dict.fromkeys(services))


def private_cluster_problems(spec: ClusterSpec) -> list[Problem]:
    """What eksctl refuses in a fully private cluster, and what ekspress does not build for one yet."""
    private = spec.private_cluster
    if private is None:
        return []
    here = ("privateCluster",)
    problems: list[Problem] = []
    services = private.additional_endpoint_services
    if len(set(services)) != len(services):
        problems.append(
            ((*here, "additionalEndpointServices"), "duplicate_endpoint_service", "a service is listed twice", services)
        )
    if not private.enabled:
        if private.skip_endpoint_creation or services:
            message = "endpoints are made only for a fully private cluster: set enabled: true, or leave them out"
            problems.append(((*here, "enabled"), "private_cluster_disabled", message, False))
        return problems
    vpc = spec.vpc
    if private.skip_endpoint_creation and services:
        message = "additionalEndpointServices cannot be set when skipEndpointCreation is true (eksctl's rule)"
        problems.append(((*here, "additionalEndpointServices"), "private_cluster_endpoints", message, services))
    if private.skip_endpoint_creation and not vpc.existing:
        message = (
            "skipEndpointCreation is for an existing VPC that has its endpoints; the VPC ekspress builds gets them"
        )
        problems.append(((*here, "skipEndpointCreation"), "private_cluster_endpoints", message, True))
    if "cluster_endpoints" in vpc.model_fields_set and (
        not vpc.cluster_endpoints.public_access or not vpc.cluster_endpoints.private_access
    ):
        message = (
            "a fully private cluster's endpoint access is set by the service (private only once it is built); "
            "leave vpc.clusterEndpoints out (eksctl's rule)"
        )
        problems.append((("vpc", "clusterEndpoints"), "private_cluster_endpoints", message, None))
    if vpc.subnets is not None and vpc.subnets.public:
        message = "a fully private cluster has private subnets only; leave vpc.subnets.public out (eksctl's rule)"
        problems.append((("vpc", "subnets", "public"), "private_cluster_public_network", message, None))
    if vpc.existing and (vpc.subnets is None or not vpc.subnets.private):
        message = "vpc.subnets.private must be given for a fully private cluster in an existing VPC (eksctl's rule)"
        problems.append((("vpc", "subnets", "private"), "private_cluster_public_network", message, None))
    if not vpc.existing and "nat" in vpc.model_fields_set and vpc.nat.gateway != "Disable":
        message = "a fully private cluster has no NAT gateway: its nodes reach AWS through VPC endpoints"
        problems.append((("vpc", "nat", "gateway"), "private_cluster_public_network", message, vpc.nat.gateway))
    for index, group in enumerate(spec.nodegroups):
        if not group.private_networking:
            message = "privateNetworking must be set true for a fully private cluster: it has no public subnets"
            problems.append(
                ((*spec.group_loc(index), "privateNetworking"), "private_networking_required", message, False)
            )
    network = spec.kubernetes_network_config
    if network and network.ipv6:
        message = "a fully private IPv6 cluster is not built yet; use ipFamily IPv4"
        problems.append((("kubernetesNetworkConfig", "ipFamily"), "private_cluster_ipv6", message, "IPv6"))
    if spec.remote_network_config is not None:
        message = "hybrid nodes reach a cluster through a gateway, which a fully private cluster is not built with yet"
        problems.append((("remoteNetworkConfig",), "private_cluster_remote_networks", message, None))
    return problems
