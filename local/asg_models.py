"""Auto Scaling groups and security group rules in moto's CloudFormation, as AWS handles a node group stack's.

moto's AWS::AutoScaling::AutoScalingGroup differs from AWS's where an eksctl node group stack notices:
- it launches instances from a launch template whose image does not exist; AWS's CreateAutoScalingGroup
  (and UpdateAutoScalingGroup) refuse it ("You must use a valid fully-formed launch template. The image
  id '[ami-...]' does not exist"), and the resource goes CREATE_FAILED (UPDATE_FAILED);
- an update deletes the group and makes a new one (new name, new instances); on AWS sizes, launch
  template, subnets and tags all update in place (only AutoScalingGroupName replaces it);
- `"false"` for PropagateAtLaunch counts as true, and with a MixedInstancesPolicy whose launch template
  names no InstanceType it launches instances of no type (AWS takes the first override, "prioritized");
  its On-Demand/Spot split truncates both parts, launching fewer instances than desired.
Each instance also remembers the launch template version it was launched from (AWS tags it
`aws:ec2launchtemplate:version`, moto tags the default one): its user data and instance profile are
what decide whether it joins a cluster (local/selfmanaged_nodes.py); a later template version changes
only instances launched after it, as on AWS without a rolling update policy.

moto has no AWS::EC2::SecurityGroupEgress (it skips it) and its SecurityGroupIngress stays behind
when its stack goes; here both are made and revoked.
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from local.cfn_models import LocalModel, ResourceFailed, check_properties, handler_failed, service_errors

ASG_TYPE = "AWS::AutoScaling::AutoScalingGroup"
_installed = False


def _ec2(account_id: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def template_spec(props: dict[str, Any]) -> dict[str, Any] | None:
    """The launch template specification of an ASG's properties (plain or inside a MixedInstancesPolicy)."""
    mixed = props.get("MixedInstancesPolicy") or {}
    return props.get("LaunchTemplate") or (mixed.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")


def _check_image(props: dict[str, Any], account_id: str, region: str) -> None:
    """Refuse, as Auto Scaling does, a launch template whose image EC2 does not have."""
    spec = template_spec(props)
    if not spec:
        return
    ec2 = _ec2(account_id, region)
    try:
        if spec.get("LaunchTemplateId"):
            template = ec2.get_launch_template(spec["LaunchTemplateId"])
        else:
            template = ec2.get_launch_template_by_name(spec.get("LaunchTemplateName"))
        version = template.get_version(spec.get("Version") or "$Default")
    except service_errors() as error:
        raise handler_failed("AutoScaling", "ValidationError", str(getattr(error, "message", error))) from None
    image = version.image_id
    if not image or image not in ec2.amis:
        raise handler_failed(
            "AutoScaling",
            "ValidationError",
            f"You must use a valid fully-formed launch template. The image id '[{image}]' does not exist",
        )


def _check_load_balancers(props: dict[str, Any], account_id: str, region: str) -> None:
    """Refuse, as Auto Scaling does, target groups and Classic Load Balancers ELB does not have in the region.

    moto's Auto Scaling fails on a missing target group with ELB's error and passes over a missing
    load balancer; AWS's CreateAutoScalingGroup and UpdateAutoScalingGroup refuse both.
    """
    from moto.elb.models import elb_backends
    from moto.elbv2.models import elbv2_backends

    groups = elbv2_backends[account_id][region].target_groups
    if any(arn not in groups for arn in props.get("TargetGroupARNs") or []):
        raise handler_failed(
            "AutoScaling",
            "ValidationError",
            "Provided Target Groups may not be valid. Please ensure they exist and try again.",
        )
    balancers = elb_backends[account_id][region].load_balancers
    if any(name not in balancers for name in props.get("LoadBalancerNames") or []):
        raise handler_failed(
            "AutoScaling",
            "ValidationError",
            "Provided Load Balancers may not be valid. Please ensure they exist and try again.",
        )


def _moto_properties(props: dict[str, Any]) -> dict[str, Any]:
    """Properties as moto's back end needs them: sizes as numbers (CloudFormation's are strings)."""
    out = dict(props)
    for key in ("MinSize", "MaxSize", "DesiredCapacity", "Cooldown", "HealthCheckGracePeriod"):
        if out.get(key) is not None:
            out[key] = int(out[key])
    return out


def _tags(props: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [
        {
            "Key": t["Key"],
            "Value": t["Value"],
            "PropagateAtLaunch": bool(t.get("PropagateAtLaunch")),
            "ResourceId": name,
            "ResourceType": "auto-scaling-group",
        }
        for t in props.get("Tags") or []
    ]


def _launch_interfaces(ec2: Any, instance: Any, data: dict[str, Any]) -> None:
    """The interfaces an instance gets at launch, as EC2 makes them from the launch template.

    Each has the security groups its `NetworkInterfaces` entry names (moto's launch ignores them) and
    goes with the instance unless it says DeleteOnTermination false (moto keeps them, and the groups
    then refuse deletion as still in use).
    """
    specs = {int(n.get("DeviceIndex", 0)): n for n in data.get("NetworkInterfaces") or []}
    for index, nic in instance.nics.items():
        spec = specs.get(int(index), {})
        nic.delete_on_termination = str(spec.get("DeleteOnTermination", True)).lower() != "false"
        groups = [ec2.get_security_group_from_id(g) for g in spec.get("Groups") or []]
        if groups and all(groups):
            nic._group_set = groups


def _attach_load_balancers(group: Any, props: dict[str, Any]) -> None:
    """An update's TargetGroupARNs and LoadBalancerNames, in place as on AWS: instances leave the target
    groups and load balancers no longer named and join the new ones."""
    backend = group.autoscaling_backend
    ids = [state.instance.id for state in group.instance_states]
    targets, names = list(props.get("TargetGroupARNs") or []), list(props.get("LoadBalancerNames") or [])
    for arn in [a for a in group.target_group_arns if a not in targets]:
        if arn in backend.elbv2_backend.target_groups and ids:
            backend.elbv2_backend.deregister_targets(arn, [{"Id": i} for i in ids])
    for name in [n for n in group.load_balancer_names if n not in names]:
        if name in backend.elb_backend.load_balancers and ids:
            backend.elb_backend.deregister_instances(name, ids, from_autoscaling=True)
    group.target_group_arns, group.load_balancer_names = targets, names
    backend.update_attached_target_groups(group.name)
    backend.update_attached_elbs(group.name)


def _install_asg() -> None:
    from moto.autoscaling.models import FakeAutoScalingGroup

    moto_create = FakeAutoScalingGroup.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    moto_instance_type = FakeAutoScalingGroup.instance_type
    moto_replace = FakeAutoScalingGroup.replace_autoscaling_group_instances

    def create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region: str, **kw: Any) -> Any:
        logical_id = str(kw.get("LogicalId") or resource_name)
        props = check_properties(ASG_TYPE, cloudformation_json.get("Properties", {}), logical_id)
        try:
            _check_image(props, account_id, region)
            _check_load_balancers(props, account_id, region)
            name = props.get("AutoScalingGroupName", resource_name)
            moto_props = _moto_properties({**props, "Tags": _tags(props, name)})
            group = moto_create(cls, name, {"Properties": moto_props}, account_id, region)
        except ResourceFailed as failed:
            failed.logical_id = logical_id
            raise
        except service_errors() as error:
            raise handler_failed("AutoScaling", "ValidationError", str(getattr(error, "message", error))) from None
        group.tags = _tags(props, group.name)
        group.cfn_properties = props
        return group

    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        original, new_name, region = original_resource, new_resource_name, region_name
        logical_id = str(getattr(original, "logical_resource_id", "") or new_name)
        props = check_properties(ASG_TYPE, cloudformation_json.get("Properties", {}), logical_id)
        before = getattr(original, "cfn_properties", {})
        if props.get("AutoScalingGroupName") != before.get("AutoScalingGroupName"):
            made = create(cls, new_name, cloudformation_json, account_id, region, LogicalId=logical_id)
            original.delete(account_id, region)
            return made
        try:
            _check_image(props, account_id, region)
            _check_load_balancers(props, account_id, region)
            moto_props = _moto_properties(props)
            original.update(
                availability_zones=moto_props.get("AvailabilityZones") or [],
                desired_capacity=moto_props.get("DesiredCapacity"),
                max_size=moto_props.get("MaxSize"),
                min_size=moto_props.get("MinSize"),
                launch_config_name=moto_props.get("LaunchConfigurationName"),
                launch_template=moto_props.get("LaunchTemplate") or {},
                vpc_zone_identifier=",".join(moto_props.get("VPCZoneIdentifier") or []),
                health_check_period=moto_props.get("HealthCheckGracePeriod"),
                health_check_type=moto_props.get("HealthCheckType"),
                mixed_instances_policy=moto_props.get("MixedInstancesPolicy"),
            )
        except ResourceFailed as failed:
            failed.logical_id = logical_id
            raise
        except service_errors() as error:
            raise handler_failed("AutoScaling", "ValidationError", str(getattr(error, "message", error))) from None
        original.tags = _tags(props, original.name)
        _attach_load_balancers(original, props)
        original.cfn_properties = props
        return original

    def instance_type(self: Any) -> str:
        overrides = ((self.mixed_instances_policy or {}).get("LaunchTemplate") or {}).get("Overrides") or []
        if overrides and overrides[0].get("InstanceType"):
            return str(overrides[0]["InstanceType"])
        return str(moto_instance_type.fget(self))

    def replace_instances(self: Any, count_needed: int, propagated_tags: dict[str, str]) -> None:
        version = None
        if self.ec2_launch_template is not None:
            version = self.ec2_launch_template.get_version(self.launch_template_version)
        known = {id(state) for state in self.instance_states}
        moto_replace(self, count_needed, propagated_tags)
        for state in self.instance_states:
            if id(state) not in known:
                state.instance.launched_from = version
                if version is not None:
                    state.instance.add_tags({"aws:ec2launchtemplate:version": str(version.number)})
                    _launch_interfaces(self.ec2_backend, state.instance, version.data)

    moto_set_desired = FakeAutoScalingGroup.set_desired_capacity

    def set_desired_capacity(self: Any, new_capacity: int | None) -> None:
        """Set the capacity; instances that leave the group leave its target groups too (moto keeps them)."""
        before = {state.instance.id for state in self.instance_states}
        set_capacity(self, new_capacity)
        gone = before - {state.instance.id for state in self.instance_states}
        if gone and self.target_group_arns:
            self.autoscaling_backend.elbv2_backend.notify_terminate_instances(sorted(gone))

    def set_capacity(self: Any, new_capacity: int | None) -> None:
        """With unweighted overrides, the group runs its desired capacity in instances, On-Demand and Spot together.

        moto splits the capacity by OnDemandPercentageAboveBaseCapacity and truncates both parts: 2 at 25%
        launches 1 instance. AWS rounds the On-Demand part up and fills the rest with Spot.
        """
        overrides = ((self.mixed_instances_policy or {}).get("LaunchTemplate") or {}).get("Overrides") or []
        if not overrides or any(str(o.get("WeightedCapacity", "1")) != "1" for o in overrides):
            moto_set_desired(self, new_capacity)
            return
        self.desired_capacity = self.min_size if new_capacity is None else new_capacity
        delta = int(self.desired_capacity or 0) - len(self.active_instances())
        if delta > 0:
            self.replace_autoscaling_group_instances(delta, self.get_propagated_tags())
        elif delta < 0:
            leaving = [s for s in self.instance_states if not s.protected_from_scale_in][:-delta]
            if leaving:
                self.autoscaling_backend.ec2_backend.terminate_instances([s.instance.id for s in leaving])
                self.instance_states = [s for s in self.instance_states if s not in leaving]
        if self.name in self.autoscaling_backend.autoscaling_groups:
            self.autoscaling_backend.update_attached_elbs(self.name)
            self.autoscaling_backend.update_attached_target_groups(self.name)

    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity  # type: ignore[method-assign]
    FakeAutoScalingGroup.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]
    FakeAutoScalingGroup.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign,assignment]
    FakeAutoScalingGroup.instance_type = property(instance_type)  # type: ignore[method-assign,assignment]
    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_instances  # type: ignore[method-assign]


def _rule(props: dict[str, Any], peer_key: str) -> dict[str, Any]:
    """A security group rule's arguments to moto's authorize/revoke calls."""
    peer = props.get(peer_key)
    ranges = [{"CidrIp": props["CidrIp"], "Description": props.get("Description")}] if props.get("CidrIp") else []
    return {
        "group_name_or_id": props["GroupId"],
        "ip_protocol": str(props["IpProtocol"]),
        "from_port": props.get("FromPort"),
        "to_port": props.get("ToPort"),
        "ip_ranges": ranges,
        "source_groups": [{"GroupId": peer}] if peer else [],
    }


class SecurityGroupEgressModel(LocalModel, CloudFormationModel):
    """AWS::EC2::SecurityGroupEgress: one outbound rule on a group (which may be another stack's export)."""

    CFN_TYPE = "AWS::EC2::SecurityGroupEgress"
    CFN_ATTRIBUTES = {"Id": lambda m: m.rule_id}

    def __init__(self, args: dict[str, Any], rule_id: str) -> None:
        self.args = args
        self.rule_id = rule_id

    @property
    def physical_resource_id(self) -> str:
        return self.rule_id

    @classmethod
    def create(
        cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str
    ) -> SecurityGroupEgressModel:
        args = _rule(props, "DestinationSecurityGroupId")
        try:
            rules, _ = _ec2(account_id, region_name).authorize_security_group_egress(**args)
        except service_errors() as error:
            from local.cfn_models import service_failed

            raise service_failed("Ec2", error) from None
        return cls(args, str(rules[0].id) if rules else resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        _remove_rules(_ec2(account_id, region_name), self.args, egress=True)


def _ingress_delete(self: Any, account_id: str, region_name: str) -> None:
    """Revoke the rule moto's SecurityGroupIngress model authorized (CloudFormation does, with its stack)."""
    args = _rule(self.properties, "SourceSecurityGroupId")
    args["group_name_or_id"] = self.security_group.id
    _remove_rules(_ec2(account_id, region_name), args, egress=False)


def _remove_rules(ec2: Any, args: dict[str, Any], egress: bool) -> None:
    """Take a stack's rule off its group, matched by protocol, ports and peer.

    Matched here rather than by moto's revoke, which looks the peer group up first: moto deletes a
    stack's resources in no particular order, and the peer may already be gone.
    """
    group = ec2.get_security_group_from_id(args["group_name_or_id"])
    if group is None:  # gone with its group
        return
    peers = {g.get("GroupId") for g in args["source_groups"]}
    cidrs = {r.get("CidrIp") for r in args["ip_ranges"]}
    ports = (
        int(args["from_port"]) if args["from_port"] is not None else None,
        int(args["to_port"]) if args["to_port"] is not None else None,
    )

    def matches(rule: Any) -> bool:
        same = rule.ip_protocol == args["ip_protocol"] and (rule.from_port, rule.to_port) == ports
        return same and (rule.source_group.get("GroupId") in peers or rule.ip_range.get("CidrIp") in cidrs)

    if egress:
        group.egress_rules = [r for r in group.egress_rules if not matches(r)]
    else:
        group.ingress_rules = [r for r in group.ingress_rules if not matches(r)]


def install() -> None:
    """Patch moto's Auto Scaling group and ingress models; register the egress model (once per process)."""
    global _installed
    if _installed:
        return
    from moto.ec2.models.security_groups import SecurityGroupIngress

    from local.cfn_models import refresh

    _install_asg()
    SecurityGroupIngress.delete = _ingress_delete  # type: ignore[attr-defined]
    refresh()
    _installed = True
