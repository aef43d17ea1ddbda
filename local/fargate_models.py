"""The CloudFormation model of AWS::EKS::FargateProfile on moto's EKS, as strict as EKS.

moto's CloudFormation has no model for Fargate profiles; its EKS back end keeps them (and serves
ListFargateProfiles and DescribeFargateProfile), so this model makes them there, after refusing what
CreateFargateProfile refuses:

- a cluster that does not exist, or is not ACTIVE (moto's back end checks both);
- a pod execution role that does not exist;
- a subnet that does not exist, is outside the cluster's VPC, or is public (its route table, or the
  VPC's main one, routes to an internet gateway): Fargate gives pods no public address;
- a profile made while another profile of the cluster is CREATING: EKS makes one at a time
  (ResourceInUseException). CloudFormation creates a stack's resources in parallel unless one depends
  on another, and waits for a resource's profile to be ACTIVE before making what depends on it; moto
  makes them one by one. So a profile made earlier in the same stack creation is still CREATING when
  the next is made, unless the next depends on it, directly or through others (DependsOn, Ref, GetAtt);
- a name used twice in the cluster, and selectors EKS refuses (moto's back end).

Deleting the resource deletes the profile.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Self

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.ec2.models import ec2_backends
from moto.eks.models import eks_backends
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

from local import cfn_models
from local.cfn_models import ResourceFailed, UpdatableModel, handler_failed, service_errors, service_failed

# Where a profile came from: the stack and logical id that made it (kept on moto's profile).
_ORIGIN = "local_origin"
# The stack and logical id of the profile being made (a replacement made by an update has neither).
_MAKING: ContextVar[tuple[str, str]] = ContextVar("fargate_profile_making", default=("", ""))


def _refused(code: str, message: str) -> ResourceFailed:
    return handler_failed("Eks", code, message)


def _labels(raw: Any) -> dict[str, str]:
    return {label["Key"]: label["Value"] for label in raw or []}


def _tags(raw: Any) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in raw or []}


def _references(value: Any) -> set[str]:
    """The logical ids a resource's JSON names through Ref, Fn::GetAtt or Fn::Sub's `${Name}`."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt" and isinstance(inner, list) and inner:
                found.add(str(inner[0]))
            elif key == "Fn::GetAtt" and isinstance(inner, str):
                found.add(inner.split(".", 1)[0])
            found |= _references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _references(inner)
    return found


def _direct_dependencies(resource: dict[str, Any]) -> set[str]:
    depends = resource.get("DependsOn") or []
    names = {depends} if isinstance(depends, str) else set(depends)
    return names | _references(resource.get("Properties") or {})


def _ancestors(template: dict[str, Any], logical_id: str) -> set[str]:
    """Everything CloudFormation waits for before it makes `logical_id`."""
    resources = template.get("Resources") or {}
    seen: set[str] = set()
    todo = [logical_id]
    while todo:
        for name in _direct_dependencies(resources.get(todo.pop()) or {}):
            if name in resources and name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def _stack(account_id: str, region_name: str, stack_id: str) -> Any:
    from moto.cloudformation.models import cloudformation_backends

    return cloudformation_backends[account_id][region_name].stacks.get(stack_id)


def _creating(account_id: str, region_name: str, cluster: Any, stack_id: str, logical_id: str) -> str | None:
    """The name of a profile of `cluster` that is CREATING while `logical_id` of `stack_id` is made, if any."""
    stack = _stack(account_id, region_name, stack_id) if stack_id else None
    waited_for = _ancestors(stack.template_dict, logical_id) if stack is not None else set()
    for profile in cluster.fargate_profiles.values():
        if profile.status == "CREATING":
            return str(profile.fargate_profile_name)
        origin = profile.__dict__.get(_ORIGIN)
        if origin and stack_id and origin[0] == stack_id and origin[1] not in waited_for:
            return str(profile.fargate_profile_name)  # made alongside this one: CloudFormation did not wait for it
    return None


def _public(ec2: Any, subnet: Any) -> bool:
    """Whether the subnet's route table (or its VPC's main one) routes anywhere through an internet gateway."""
    tables = list(ec2.route_tables.values())
    # AssociateRouteTable keeps the association on the table; moto's CloudFormation keeps it on the back end.
    stacked = {a.route_table_id for a in ec2.subnet_associations.values() if a.subnet_id == subnet.id}
    own = [t for t in tables if t.id in stacked or any(a.get("SubnetId") == subnet.id for a in t.associations)]
    if not own:
        own = [t for t in tables if t.vpc_id == subnet.vpc_id and t.main_association_id]
    for table in own:
        for route in table.routes:
            gateway = getattr(route, "gateway", None)
            if gateway is not None and str(getattr(gateway, "id", "")).startswith("igw-"):
                return True
    return False


def _check_subnets(account_id: str, region_name: str, cluster: Any, subnet_ids: list[str]) -> list[str]:
    """The profile's subnets as EKS takes them: existing, in the cluster's VPC, private. None given: the
    cluster's private subnets."""
    ec2 = ec2_backends[account_id][region_name]
    vpc_id = (cluster.resources_vpc_config or {}).get("vpcId")
    if not subnet_ids:
        mine = [ec2.get_subnet(s) for s in (cluster.resources_vpc_config or {}).get("subnetIds", [])]
        private = [s.id for s in mine if not _public(ec2, s)]
        if not private:
            raise _refused("InvalidParameterException", "No private subnets found for the cluster's Fargate profile")
        return private
    for subnet_id in subnet_ids:
        try:
            subnet = ec2.get_subnet(subnet_id)
        except service_errors():
            raise _refused("InvalidParameterException", f"The subnet ID '{subnet_id}' does not exist") from None
        if vpc_id and subnet.vpc_id != vpc_id:
            message = f"Subnet {subnet_id} is not in the same VPC as the cluster ({vpc_id})"
            raise _refused("InvalidParameterException", message)
        if _public(ec2, subnet):
            message = f"Subnet {subnet_id} provided in Fargate Profile is not a private subnet"
            raise _refused("InvalidParameterException", message)
    return list(subnet_ids)


class EKSFargateProfileModel(UpdatableModel, CloudFormationModel):
    """AWS::EKS::FargateProfile; Ref is `CLUSTER|PROFILE`, as CloudFormation's. Only Tags update in place."""

    CFN_TYPE = "AWS::EKS::FargateProfile"
    CFN_NAME_PROPERTY = "FargateProfileName"
    CFN_ATTRIBUTES = {"Arn": lambda m: m.profile.fargate_profile_arn}

    def __init__(self, profile: Any) -> None:
        self.profile = profile

    @property
    def physical_resource_id(self) -> str:
        return f"{self.profile.cluster_name}|{self.profile.fargate_profile_name}"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> Self:
        origin = (str(kwargs.get("StackId") or ""), str(kwargs.get("LogicalId") or resource_name))
        token = _MAKING.set(origin)
        try:
            created = super().create_from_cloudformation_json(
                resource_name, cloudformation_json, account_id, region_name, **kwargs
            )
        finally:
            _MAKING.reset(token)
        created.profile.__dict__[_ORIGIN] = origin
        return created

    @classmethod
    def create(cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> Self:
        backend = eks_backends[account_id][region_name]
        cluster = backend.clusters.get(props["ClusterName"])
        name = props.get("FargateProfileName", resource_name)
        if cluster is not None:
            busy = _creating(account_id, region_name, cluster, *_MAKING.get())
            if busy is not None:
                message = (
                    f"Cannot create Fargate Profile {name} because cluster {cluster.name} currently has "
                    f"Fargate profile {busy} in status CREATING"
                )
                raise _refused("ResourceInUseException", message)
            role = props["PodExecutionRoleArn"]
            try:
                iam_backends[account_id][get_partition(region_name)].get_role_by_arn(role)
            except service_errors():
                raise _refused("InvalidParameterException", f"Role with arn: {role}, does not exist.") from None
            subnets = _check_subnets(account_id, region_name, cluster, list(props.get("Subnets") or []))
        else:
            subnets = list(props.get("Subnets") or [])
        try:
            profile = backend.create_fargate_profile(
                fargate_profile_name=name,
                cluster_name=props["ClusterName"],
                selectors=[
                    {"namespace": s["Namespace"], **({"labels": _labels(s["Labels"])} if s.get("Labels") else {})}
                    for s in props["Selectors"]
                ],
                pod_execution_role_arn=props["PodExecutionRoleArn"],
                subnets=subnets,
                tags=_tags(props.get("Tags")),
            )
        except service_errors() as refused:
            raise service_failed("Eks", refused) from None
        return cls(profile)

    def update(self, props: dict[str, Any], account_id: str, region_name: str) -> Self:
        self.profile.tags = _tags(props.get("Tags"))
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        backend = eks_backends[account_id][region_name]
        cluster = backend.clusters.get(self.profile.cluster_name)
        if cluster is not None and self.profile.fargate_profile_name in cluster.fargate_profiles:
            backend.delete_fargate_profile(cluster.name, self.profile.fargate_profile_name)


def register() -> None:
    """Make moto's CloudFormation see the model (its model list is cached) and fail stacks as AWS does."""
    cfn_models.install()
    cfn_models.refresh()
    assert parsing.get_model_map()["AWS::EKS::FargateProfile"] is EKSFargateProfileModel
