"""Self-managed node group stacks (eksctl's `nodeGroups[]`): role, security groups, launch template, user data, ASG."""

from __future__ import annotations

import email
import shlex
import tomllib
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from chalicelib.cfn import templates
from chalicelib.cfn.node_userdata import toml_string
from chalicelib.model import naming
from chalicelib.model.spec import ClusterSpec
from tests.unit.test_templates import TEST_IMAGE_ID, all_templates, cfn_lint, resources_of_type

REGION = "ap-northeast-1"
ZONES = ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]
ENDPOINT = "https://ABCDEF.gr7.ap-northeast-1.eks.amazonaws.com"
CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"


def spec_of(groups: list[dict[str, Any]], **extra: Any) -> ClusterSpec:
    body = {"name": "sm", "region": REGION, "availabilityZones": ZONES, "managedNodeGroups": [], **extra}
    body["nodeGroups"] = [{"imageId": TEST_IMAGE_ID, **g} for g in groups]
    return ClusterSpec.model_validate(body)


def build(group: dict[str, Any], **extra: Any) -> dict[str, Any]:
    spec = spec_of([{"name": "ng", **group}], **extra)
    return templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return dict(template["Resources"][logical_id]["Properties"])


def launch_data(template: dict[str, Any]) -> dict[str, Any]:
    return dict(props(template, "NodeGroupLaunchTemplate")["LaunchTemplateData"])


def user_data(template: dict[str, Any]) -> str:
    """The user data as the node reads it: `Fn::Sub` done with a known endpoint and CA."""
    encoded = launch_data(template)["UserData"]["Fn::Base64"]
    if isinstance(encoded, str):  # a script of the user's own imports nothing
        return encoded
    text, variables = encoded["Fn::Sub"]
    assert variables == {
        "Endpoint": {"Fn::ImportValue": "eksctl-sm-cluster::Endpoint"},
        "CA": {"Fn::ImportValue": "eksctl-sm-cluster::CertificateAuthorityData"},
    }
    text = text.replace("${Endpoint}", ENDPOINT).replace("${CA}", CA)
    assert "${" not in text.replace("${!", "")  # every other `${` is literal
    return str(text.replace("${!", "${"))


def mime_parts(text: str) -> list[tuple[str, str]]:
    message = email.message_from_string(text)
    assert message.get_content_type() == "multipart/mixed" and message.get_boundary() == "//"
    return [(part.get_content_type(), str(part.get_payload())) for part in message.walk() if not part.is_multipart()]


def asg_tags(template: dict[str, Any]) -> dict[str, str]:
    tags = props(template, "NodeGroup")["Tags"]
    assert all(t["PropagateAtLaunch"] is True for t in tags)
    return {t["Key"]: t["Value"] for t in tags}


# --- the cluster stack's shared node security group -----------------------------------------------------


def test_the_cluster_stack_exports_a_shared_node_security_group_open_to_eks_cluster_security_group() -> None:
    template = templates.build_cluster_template(spec_of([{"name": "ng"}]), "cid", ZONES)

    shared = props(template, "ClusterSharedNodeSecurityGroup")
    assert shared["VpcId"] == {"Ref": "VPC"}
    rules = {k: r["Properties"] for k, r in resources_of_type(template, "AWS::EC2::SecurityGroupIngress").items()}
    own, eks = {"Ref": "ClusterSharedNodeSecurityGroup"}, {"Fn::GetAtt": ["ControlPlane", "ClusterSecurityGroupId"]}
    assert {(k, str(r["GroupId"]), str(r["SourceSecurityGroupId"]), r["IpProtocol"]) for k, r in rules.items()} == {
        ("IngressInterNodeGroupSG", str(own), str(own), "-1"),
        ("IngressDefaultClusterToNodeSG", str(own), str(eks), "-1"),
        ("IngressNodeToDefaultClusterSG", str(eks), str(own), "-1"),
    }
    output = template["Outputs"][templates.OUTPUT_SHARED_NODE_SECURITY_GROUP]
    assert output == {"Value": own, "Export": {"Name": "eksctl-sm-cluster::SharedNodeSecurityGroup"}}


# --- role and policies ------------------------------------------------------------------------------------


def managed_names(template: dict[str, Any]) -> list[str]:
    arns = props(template, "NodeInstanceRole")["ManagedPolicyArns"]
    return [a["Fn::Sub"].split(":policy/")[1] if isinstance(a, dict) else a for a in arns]


def test_the_instance_role_holds_the_worker_policies_and_its_profile_holds_the_role() -> None:
    template = build({})

    role = props(template, "NodeInstanceRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["ec2.amazonaws.com"]} and trust["Action"] == ["sts:AssumeRole"]
    assert managed_names(template) == list(templates.WORKER_POLICIES)
    assert role["ManagedPolicyArns"][0] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonEKSWorkerNodePolicy"
    }
    assert "Policies" not in role
    assert props(template, "NodeInstanceProfile")["Roles"] == [{"Ref": "NodeInstanceRole"}]
    assert template["Outputs"][templates.OUTPUT_NODE_ROLE_ARN] == {"Value": {"Fn::GetAtt": ["NodeInstanceRole", "Arn"]}}
    assert launch_data(template)["IamInstanceProfile"] == {"Arn": {"Fn::GetAtt": ["NodeInstanceProfile", "Arn"]}}


def test_attach_policy_arns_replace_the_worker_policies_but_nodes_keep_reading_ecr_as_eksctl() -> None:
    mine = "arn:aws:iam::123456789012:policy/team-nodes"
    template = build({"iam": {"attachPolicyARNs": ["arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", mine]}})

    assert managed_names(template) == [
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        mine,
        "AmazonEC2ContainerRegistryReadOnly",
    ]


def test_addon_policies_are_aws_managed_where_eksctl_uses_them_and_inline_otherwise() -> None:
    flags = ["autoScaler", "ebs", "efs", "albIngress", "cloudWatch", "externalDNS", "certManager", "xRay", "fsx"]
    template = build({"iam": {"withAddonPolicies": {**dict.fromkeys(flags, True), "imageBuilder": True}}})

    # imageBuilder's PowerUser holds ECR's reads: ReadOnly is not attached next to it.
    assert managed_names(template) == [
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "service-role/AmazonEBSCSIDriverPolicy",
        "CloudWatchAgentServerPolicy",
        "AmazonEC2ContainerRegistryPowerUser",
    ]
    inline = {
        p["PolicyName"]: p["PolicyDocument"]["Statement"] for p in props(template, "NodeInstanceRole")["Policies"]
    }
    assert set(inline) == {
        "PolicyAutoScaling",
        "PolicyAWSLoadBalancerController",
        "PolicyExternalDNS",
        "PolicyCertManager",
        "PolicyEFS",
        "PolicyFSX",
        "PolicyXRay",
    }
    # Changes are scoped: the autoscaler to this cluster's groups, DNS to hosted zones, EFS to its own access points.
    scaling = next(s for s in inline["PolicyAutoScaling"] if "autoscaling:SetDesiredCapacity" in s["Action"])
    assert scaling["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/sm": "owned"}}
    change = next(s for s in inline["PolicyExternalDNS"] if "route53:ChangeResourceRecordSets" in s["Action"])
    assert change["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:route53:::hostedzone/*"}
    deletes = next(s for s in inline["PolicyEFS"] if "elasticfilesystem:DeleteAccessPoint" in s["Action"])
    assert deletes["Condition"] == {"StringEquals": {"aws:ResourceTag/efs.csi.aws.com/cluster": "true"}}
    deleting = next(
        s for s in inline["PolicyAWSLoadBalancerController"] if "elasticloadbalancing:DeleteLoadBalancer" in s["Action"]
    )
    assert deleting["Condition"] == {"Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}
    # No action wildcard a service-wide `*` (eksctl's fsx:* and elasticfilesystem:*).
    actions = [a for statements in inline.values() for s in statements for a in s["Action"]]
    assert not [a for a in actions if a.endswith(":*")]


def test_the_load_balancer_controller_policy_is_the_same_under_either_flag() -> None:
    def policies(flag: str) -> Any:
        return props(build({"iam": {"withAddonPolicies": {flag: True}}}), "NodeInstanceRole")["Policies"]

    assert policies("albIngress") == policies("awsLoadBalancerController")


# --- security groups --------------------------------------------------------------------------------------


CONTROL_PLANE = {"Fn::ImportValue": "eksctl-sm-cluster::SecurityGroup"}
SHARED = {"Fn::ImportValue": "eksctl-sm-cluster::SharedNodeSecurityGroup"}


def node_security_groups(template: dict[str, Any]) -> list[Any]:
    data = launch_data(template)
    if "NetworkInterfaces" in data:
        (interface,) = data["NetworkInterfaces"]
        return list(interface["Groups"])
    return list(data["SecurityGroupIds"])


def test_by_default_nodes_are_in_the_shared_group_and_their_own_which_the_control_plane_reaches() -> None:
    template = build({})

    assert node_security_groups(template) == [SHARED, {"Ref": "SG"}]
    own = props(template, "SG")
    assert own["VpcId"] == {"Fn::ImportValue": "eksctl-sm-cluster::VPC"}
    assert {(r["FromPort"], r["ToPort"]) for r in own["SecurityGroupIngress"]} == {(1025, 65535), (443, 443)}
    assert all(r["SourceSecurityGroupId"] == CONTROL_PLANE for r in own["SecurityGroupIngress"])
    egress = resources_of_type(template, "AWS::EC2::SecurityGroupEgress").values()
    assert {(e["Properties"]["FromPort"], e["Properties"]["ToPort"]) for e in egress} == {(1025, 65535), (443, 443)}
    assert all(e["Properties"]["GroupId"] == CONTROL_PLANE for e in egress)
    assert all(e["Properties"]["DestinationSecurityGroupId"] == {"Ref": "SG"} for e in egress)
    api = props(template, "IngressInterClusterCP")
    assert (api["GroupId"], api["SourceSecurityGroupId"], api["FromPort"]) == (CONTROL_PLANE, {"Ref": "SG"}, 443)


def test_without_local_only_the_shared_and_attached_groups() -> None:
    attached = ["sg-0123456789abcdef0", "sg-0123456789abcdef1"]
    template = build({"securityGroups": {"withLocal": False, "attachIDs": attached}})

    assert node_security_groups(template) == [*attached, SHARED]
    assert resources_of_type(template, "AWS::EC2::SecurityGroup") == {}
    assert resources_of_type(template, "AWS::EC2::SecurityGroupEgress") == {}


def test_without_shared_the_nodes_keep_their_own_group() -> None:
    template = build({"securityGroups": {"withShared": False}})
    assert node_security_groups(template) == [{"Ref": "SG"}]


def ssh_rules(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in props(template, "SG")["SecurityGroupIngress"] if r["FromPort"] == 22]


def test_ssh_opens_port_22_from_anywhere_as_eksctl_and_names_the_key() -> None:
    template = build({"ssh": {"allow": True, "publicKeyName": "ops"}})

    assert launch_data(template)["KeyName"] == "ops"
    assert [(r.get("CidrIp"), r.get("CidrIpv6")) for r in ssh_rules(template)] == [("0.0.0.0/0", None), (None, "::/0")]
    assert "KeyName" not in launch_data(build({}))
    assert ssh_rules(build({})) == []


def test_ssh_from_given_groups_only() -> None:
    sources = ["sg-0123456789abcdef0", "sg-0123456789abcdef1"]
    template = build({"ssh": {"allow": True, "publicKeyName": "ops", "sourceSecurityGroupIds": sources}})
    assert [r["SourceSecurityGroupId"] for r in ssh_rules(template)] == sources
    assert all("CidrIp" not in r for r in ssh_rules(template))


def test_ssh_to_private_nodes_is_from_inside_the_vpc() -> None:
    template = build({"ssh": {"allow": True, "publicKeyName": "ops"}, "privateNetworking": True})
    assert [r["CidrIp"] for r in ssh_rules(template)] == ["192.168.0.0/16"]


# --- launch template --------------------------------------------------------------------------------------


def test_the_launch_template_launches_the_resolved_image_in_public_subnets_with_an_address() -> None:
    data = launch_data(build({"instanceType": "c5.xlarge"}))

    assert (data["ImageId"], data["InstanceType"]) == (TEST_IMAGE_ID, "c5.xlarge")
    (interface,) = data["NetworkInterfaces"]
    assert interface["DeviceIndex"] == 0 and interface["AssociatePublicIpAddress"] is True
    assert "SecurityGroupIds" not in data
    private = launch_data(build({"privateNetworking": True}))
    assert "NetworkInterfaces" not in private and private["SecurityGroupIds"]


def test_a_group_without_its_image_is_not_built() -> None:
    spec = spec_of([{"name": "ng"}])
    group = spec.nodegroups[0].model_copy(update={"image_id": None})
    with pytest.raises(ValueError, match="ng has no imageId"):
        templates.build_nodegroup_template(spec, group, "cid")


@pytest.mark.parametrize(
    ("settings", "tokens", "hops"),
    [
        ({}, "required", 2),
        ({"disableIMDSv1": False}, "optional", 2),
        ({"disablePodIMDS": True}, "required", 1),
        ({"disableIMDSv1": False, "disablePodIMDS": True}, "required", 1),
    ],
)
def test_instance_metadata_options(settings: dict[str, Any], tokens: str, hops: int) -> None:
    options = launch_data(build(settings))["MetadataOptions"]
    assert options == {"HttpTokens": tokens, "HttpPutResponseHopLimit": hops}


def test_volumes_encrypted_with_a_key_and_bottlerocket_data_volume() -> None:
    key = "arn:aws:kms:ap-northeast-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    (mapping,) = launch_data(build({"volumeEncrypted": True, "volumeKmsKeyID": key, "volumeSize": 120}))[
        "BlockDeviceMappings"
    ]
    assert mapping == {
        "DeviceName": "/dev/xvda",
        "Ebs": {"VolumeSize": 120, "VolumeType": "gp3", "Encrypted": True, "KmsKeyId": key},
    }
    (io,) = launch_data(build({"volumeType": "io1", "amiFamily": "Bottlerocket"}))["BlockDeviceMappings"]
    assert io == {"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 80, "VolumeType": "io1", "Iops": 100}}
    (gp3,) = launch_data(build({"volumeIOPS": 4000, "volumeThroughput": 250}))["BlockDeviceMappings"]
    assert (gp3["Ebs"]["Iops"], gp3["Ebs"]["Throughput"]) == (4000, 250)


def test_monitoring_ebs_optimization_and_cpu_credits() -> None:
    data = launch_data(build({"enableDetailedMonitoring": True, "ebsOptimized": False, "cpuCredits": "unlimited"}))
    assert data["Monitoring"] == {"Enabled": True}
    assert data["EbsOptimized"] is False
    assert data["CreditSpecification"] == {"CpuCredits": "unlimited"}
    assert not {"Monitoring", "EbsOptimized", "CreditSpecification"} & set(launch_data(build({})))


def test_what_the_nodes_launch_is_tagged_with_every_node_tag_and_a_name() -> None:
    spec = spec_of([{"name": "ng", "tags": {"purpose": "batch"}}], tags={"team": "data"})
    data = launch_data(templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid"))
    assert [s["ResourceType"] for s in data["TagSpecifications"]] == ["instance", "volume", "network-interface"]
    for kind in data["TagSpecifications"]:
        tags = {t["Key"]: t["Value"] for t in kind["Tags"]}
        assert naming.is_ours(tags, "sm") and tags[naming.TAG_NODEGROUP] == "ng"
        assert (tags["Name"], tags["team"], tags["purpose"]) == ("sm-ng-Node", "data", "batch")
        assert naming.TAG_STACK_KIND not in tags
    named = launch_data(build({"instanceName": "worker"}))["TagSpecifications"][0]["Tags"]
    assert {"Key": "Name", "Value": "worker"} in named


# --- user data --------------------------------------------------------------------------------------------


def nodeconfig(text: str) -> dict[str, Any]:
    (config,) = [body for kind, body in mime_parts(text) if kind == "application/node.eks.aws"]
    return dict(yaml.safe_load(config))


def test_al2023_user_data_is_a_nodeconfig_with_the_cluster_labels_taints_and_kubelet_config() -> None:
    template = build(
        {
            "labels": {"role": "worker"},
            "taints": [
                {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                {"key": "b", "effect": "NoExecute"},
            ],
            "maxPodsPerNode": 42,
            "kubeletExtraConfig": {"kubeReserved": {"cpu": "250m"}, "maxPods": 7},
            "preBootstrapCommands": ["echo ${HOME} > /tmp/pre", "#!/bin/sh\necho second"],
        },
        kubernetesNetworkConfig={"serviceIPv4CIDR": "172.20.0.0/16"},
    )
    text = user_data(template)

    parts = mime_parts(text)
    assert [kind for kind, _ in parts] == ["text/x-shellscript", "text/x-shellscript", "application/node.eks.aws"]
    assert parts[0][1].strip() == "#!/bin/bash\necho ${HOME} > /tmp/pre"
    assert parts[1][1].strip() == "#!/bin/sh\necho second"
    config = nodeconfig(text)
    assert (config["apiVersion"], config["kind"]) == ("node.eks.aws/v1alpha1", "NodeConfig")
    assert config["spec"]["cluster"] == {
        "name": "sm",
        "apiServerEndpoint": ENDPOINT,
        "certificateAuthority": CA,
        "cidr": "172.20.0.0/16",
    }
    kubelet = config["spec"]["kubelet"]
    assert kubelet["config"] == {"maxPods": 42, "kubeReserved": {"cpu": "250m"}}
    assert kubelet["flags"] == [
        "--node-labels=alpha.eksctl.io/cluster-name=sm,alpha.eksctl.io/nodegroup-name=ng,role=worker",
        "--register-with-taints=dedicated=gpu:NoSchedule,b:NoExecute",
    ]


def test_al2023_defaults_to_eks_service_range_and_no_kubelet_config() -> None:
    config = nodeconfig(user_data(build({})))
    assert config["spec"]["cluster"]["cidr"] == "10.100.0.0/16"
    assert set(config["spec"]["kubelet"]) == {"flags"}


def test_al2023_in_a_vpc_of_10_0_0_0_8_gets_the_range_eks_picks_there() -> None:
    # EKS gives a cluster whose VPC is in 10.0.0.0/8 172.20.0.0/16, so nodes must look for DNS there.
    config = nodeconfig(user_data(build({}, vpc={"cidr": "10.30.0.0/16"})))
    assert config["spec"]["cluster"]["cidr"] == "172.20.0.0/16"


def test_al2023_override_runs_the_script_instead_of_the_nodeconfig() -> None:
    text = user_data(build({"preBootstrapCommands": ["echo pre"], "overrideBootstrapCommand": "/opt/boot.sh $X"}))
    parts = mime_parts(text)
    assert [kind for kind, _ in parts] == ["text/x-shellscript", "text/x-shellscript"]
    assert parts[1][1].strip() == "#!/bin/bash\n/opt/boot.sh $X"


def bootstrap_words(text: str) -> list[str]:
    (line,) = [line for line in text.splitlines() if line.startswith("/etc/eks/bootstrap.sh")]
    return shlex.split(line)


def test_al2_user_data_runs_bootstrap_sh_with_the_endpoint_ca_and_kubelet_args() -> None:
    text = user_data(
        build(
            {
                "amiFamily": "AmazonLinux2",
                "labels": {"role": "w"},
                "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}],
                "maxPodsPerNode": 20,
                "preBootstrapCommands": ["yum install -y jq"],
            }
        )
    )
    lines = text.splitlines()
    assert lines[:3] == ["#!/bin/bash", "set -o errexit -o pipefail", "yum install -y jq"]  # no -x: no trace of secrets
    words = bootstrap_words(text)
    assert words[:6] == ["/etc/eks/bootstrap.sh", "sm", "--apiserver-endpoint", ENDPOINT, "--b64-cluster-ca", CA]
    assert words[6:8] == ["--use-max-pods", "false"]
    assert words[8] == "--kubelet-extra-args"
    assert shlex.split(words[9]) == [
        "--node-labels=alpha.eksctl.io/cluster-name=sm,alpha.eksctl.io/nodegroup-name=ng,role=w",
        "--register-with-taints=k=v:NoSchedule",
        "--max-pods=20",
    ]


def test_al2_override_replaces_the_bootstrap_line() -> None:
    group = {"amiFamily": "AmazonLinux2", "ami": TEST_IMAGE_ID, "overrideBootstrapCommand": "/etc/eks/bootstrap.sh x"}
    text = user_data(build(group))
    assert text == "#!/bin/bash\nset -o errexit -o pipefail\n/etc/eks/bootstrap.sh x\n"


def test_al2_merges_kubelet_extra_config_into_the_image_config_before_bootstrap() -> None:
    text = user_data(build({"amiFamily": "AmazonLinux2", "kubeletExtraConfig": {"cpuCFSQuota": False}}))
    merge = next(line for line in text.splitlines() if "jq" in line)
    assert '{"cpuCFSQuota": false}' in merge and text.index(merge) < text.index("/etc/eks/bootstrap.sh")


def test_bottlerocket_user_data_is_toml_with_labels_and_taints_escaped() -> None:
    awkward = 'a "quoted" \\ value'
    spec = spec_of(
        [
            {
                "name": "ng",
                "amiFamily": "Bottlerocket",
                "labels": {"example.com/role": "w"},
                "taints": [
                    {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                    {"key": "dedicated", "effect": "NoExecute"},
                    {"key": "spot", "effect": "PreferNoSchedule"},
                ],
                "maxPodsPerNode": 29,
            }
        ]
    )
    settings = tomllib.loads(user_data(templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")))
    kubernetes = settings["settings"]["kubernetes"]
    assert (kubernetes["cluster-name"], kubernetes["api-server"], kubernetes["cluster-certificate"]) == (
        "sm",
        ENDPOINT,
        CA,
    )
    assert kubernetes["max-pods"] == 29
    assert kubernetes["node-labels"] == {
        "example.com/role": "w",
        "alpha.eksctl.io/cluster-name": "sm",
        "alpha.eksctl.io/nodegroup-name": "ng",
    }
    assert kubernetes["node-taints"] == {"dedicated": ["gpu:NoSchedule", ":NoExecute"], "spot": ":PreferNoSchedule"}
    assert tomllib.loads(f"x = {toml_string(awkward + chr(1) + chr(10))}")["x"] == awkward + "\x01\n"


def test_user_data_over_ec2s_16_kb_is_refused_naming_the_group() -> None:
    with pytest.raises(ValueError, match="node group big: its user data"):
        spec = spec_of([{"name": "big", "preBootstrapCommands": ["echo " + "x" * 4000] * 5}])
        templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")


# --- the Auto Scaling group -------------------------------------------------------------------------------


def test_the_group_launches_the_latest_template_version_at_the_requested_sizes() -> None:
    asg = props(build({"minSize": 1, "desiredCapacity": 2, "maxSize": 5}), "NodeGroup")
    assert (asg["MinSize"], asg["DesiredCapacity"], asg["MaxSize"]) == ("1", "2", "5")
    assert asg["LaunchTemplate"] == {
        "LaunchTemplateId": {"Ref": "NodeGroupLaunchTemplate"},
        "Version": {"Fn::GetAtt": ["NodeGroupLaunchTemplate", "LatestVersionNumber"]},
    }
    assert asg["VPCZoneIdentifier"] == {"Fn::Split": [",", {"Fn::ImportValue": "eksctl-sm-cluster::SubnetsPublic"}]}
    assert "MixedInstancesPolicy" not in asg and "CapacityRebalance" not in asg


def test_mixed_instances_override_the_type_and_mix_spot_and_on_demand() -> None:
    template = build(
        {
            "instancesDistribution": {
                "instanceTypes": ["m5.large", "m5a.large", "m6i.large"],
                "maxPrice": 0.07,
                "onDemandBaseCapacity": 1,
                "onDemandPercentageAboveBaseCapacity": 20,
                "spotInstancePools": 2,
                "capacityRebalance": True,
            }
        }
    )
    asg = props(template, "NodeGroup")
    policy = asg["MixedInstancesPolicy"]
    assert policy["LaunchTemplate"]["Overrides"] == [
        {"InstanceType": "m5.large"},
        {"InstanceType": "m5a.large"},
        {"InstanceType": "m6i.large"},
    ]
    assert policy["LaunchTemplate"]["LaunchTemplateSpecification"]["LaunchTemplateId"] == {
        "Ref": "NodeGroupLaunchTemplate"
    }
    assert policy["InstancesDistribution"] == {
        "OnDemandBaseCapacity": 1,
        "OnDemandPercentageAboveBaseCapacity": 20,
        "SpotInstancePools": 2,
        "SpotMaxPrice": "0.070000",
    }
    assert asg["CapacityRebalance"] is True and "LaunchTemplate" not in asg
    assert "InstanceType" not in launch_data(template)


def test_private_groups_in_some_zones_take_those_zones_private_subnets() -> None:
    asg = props(build({"privateNetworking": True, "availabilityZones": ["ap-northeast-1c"]}), "NodeGroup")
    assert asg["VPCZoneIdentifier"] == [{"Fn::ImportValue": "eksctl-sm-cluster::SubnetsPrivate2"}]


def test_subnets_named_by_key_or_id_in_an_existing_vpc() -> None:
    vpc = {
        "id": "vpc-0a1b2c3d4e5f60718",
        "subnets": {
            "public": {"edge-a": {"id": "subnet-00000000000000001", "az": "ap-northeast-1a"}},
            "private": {
                "ap-northeast-1a": {"id": "subnet-00000000000000003"},
                "ap-northeast-1c": {"id": "subnet-00000000000000004"},
            },
        },
    }
    spec = ClusterSpec.model_validate(
        {
            "name": "sm",
            "region": REGION,
            "vpc": vpc,
            "managedNodeGroups": [],
            "nodeGroups": [
                {"name": "named", "imageId": TEST_IMAGE_ID, "subnets": ["ap-northeast-1a", "subnet-00000000000000004"]},
                {"name": "edge", "imageId": TEST_IMAGE_ID, "subnets": ["edge-a"]},
            ],
        }
    )
    named, edge = (templates.build_nodegroup_template(spec, g, "cid") for g in spec.nodegroups)

    assert props(named, "NodeGroup")["VPCZoneIdentifier"] == ["subnet-00000000000000003", "subnet-00000000000000004"]
    assert props(edge, "NodeGroup")["VPCZoneIdentifier"] == ["subnet-00000000000000001"]
    # Private subnets: no public address, whatever privateNetworking says; public ones get one.
    assert "SecurityGroupIds" in launch_data(named) and "NetworkInterfaces" in launch_data(edge)
    for template in [*all_templates(spec, ["ap-northeast-1a", "ap-northeast-1c"])]:
        assert cfn_lint(template, REGION) == []


def test_the_group_is_tagged_owned_by_the_cluster_and_named_and_propagates_to_nodes() -> None:
    spec = spec_of([{"name": "ng", "tags": {"purpose": "batch"}}], tags={"team": "data"})
    tags = asg_tags(templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid"))
    # The stack's own tags reach the group by propagation; it lists the rest.
    assert tags == {"Name": "sm-ng-Node", "kubernetes.io/cluster/sm": "owned", "purpose": "batch"}


def test_cluster_autoscaler_tags_with_its_policy_and_propagated_labels_and_taints() -> None:
    template = build(
        {
            "labels": {"role": "gpu"},
            "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
            "propagateASGTags": True,
            "iam": {"withAddonPolicies": {"autoScaler": True}},
        }
    )
    tags = asg_tags(template)
    assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
    assert tags["k8s.io/cluster-autoscaler/sm"] == "owned"
    assert tags["k8s.io/cluster-autoscaler/node-template/label/role"] == "gpu"
    assert tags["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"] == "true:NoSchedule"
    assert "k8s.io/cluster-autoscaler/enabled" not in asg_tags(build({"propagateASGTags": True}))


def test_more_than_fifty_tags_is_refused_naming_the_group() -> None:
    """The spec refuses such a request (a 422); the builder still refuses a group that slipped past it."""
    body = [{"name": "tagged", "labels": {f"l{i}": "v" for i in range(5)}, "propagateASGTags": True}]
    with pytest.raises(ValidationError, match="too_many_asg_tags"):
        spec_of(body, tags={f"t{i}": "v" for i in range(40)})
    spec = spec_of(body, tags={f"t{i}": "v" for i in range(30)})
    loud = spec.model_copy(update={"tags": {f"t{i}": "v" for i in range(40)}})  # as if never validated
    with pytest.raises(ValueError, match=r"node group tagged: .* 54 tags"):
        templates.build_nodegroup_template(loud, spec.nodegroups[0], "cid")


def test_metrics_lifetime_and_rolling_updates() -> None:
    template = build(
        {
            "asgMetricsCollection": [{"granularity": "1Minute", "metrics": ["GroupMinSize", "GroupMaxSize"]}],
            "maxInstanceLifetime": 604800,
        }
    )
    asg = props(template, "NodeGroup")
    assert asg["MetricsCollection"] == [{"Granularity": "1Minute", "Metrics": ["GroupMinSize", "GroupMaxSize"]}]
    assert asg["MaxInstanceLifetime"] == 604800
    update = template["Resources"]["NodeGroup"]["UpdatePolicy"]
    assert update == {"AutoScalingRollingUpdate": {}}
    assert "CreationPolicy" not in template["Resources"]["NodeGroup"]


def test_the_stack_is_described_as_self_managed_and_outputs_the_role_and_group() -> None:
    template = build({})
    assert template["Description"].startswith("EKS self-managed node group ng of cluster sm")
    assert set(template["Outputs"]) == {templates.OUTPUT_NODE_ROLE_ARN, templates.OUTPUT_ASG_NAME}


# --- whole specs through cfn-lint -------------------------------------------------------------------------


FULL_SPECS = [
    {"name": "plain", "nodeGroups": [{"name": "ng"}]},
    {
        "name": "everything",
        "managedNodeGroups": [{"name": "managed"}],
        "kubernetesNetworkConfig": {"serviceIPv4CIDR": "172.20.0.0/16"},
        "nodeGroups": [
            {
                "name": "al2023",
                "labels": {"role": "w"},
                "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}],
                "ssh": {"allow": True, "publicKeyName": "ops"},
                "volumeEncrypted": True,
                "volumeKmsKeyID": "arn:aws:kms:ap-northeast-1:123456789012:key/abc",
                "iam": {"withAddonPolicies": {"autoScaler": True, "albIngress": True, "efs": True, "fsx": True}},
                "propagateASGTags": True,
                "asgMetricsCollection": [{"granularity": "1Minute"}],
                "maxInstanceLifetime": 86400,
                "cpuCredits": "standard",
                "instanceType": "t3.large",
            },
            {
                "name": "mixed",
                "amiFamily": "Bottlerocket",
                "privateNetworking": True,
                "availabilityZones": ["ap-northeast-1c"],
                "instancesDistribution": {
                    "instanceTypes": ["m5.large", "m5a.large"],
                    "spotAllocationStrategy": "capacity-optimized",
                    "capacityRebalance": True,
                },
                "securityGroups": {"withLocal": False, "attachIDs": ["sg-0123456789abcdef0"]},
            },
            {
                "name": "al2",
                "amiFamily": "AmazonLinux2",
                "maxPodsPerNode": 30,
                "kubeletExtraConfig": {"cpuCFSQuota": False},
                "volumeType": "io2",
                "disableIMDSv1": False,
                "iam": {"attachPolicyARNs": ["arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"]},
            },
        ],
    },
    {
        "name": "ha",
        "vpc": {"nat": {"gateway": "HighlyAvailable"}, "cidr": "10.0.0.0/16"},
        "tags": {"team": "data"},
        "nodeGroups": [
            {"name": "private", "privateNetworking": True, "ssh": {"allow": True, "publicKeyName": "ops"}},
            {
                "name": "override",
                "overrideBootstrapCommand": "#!/bin/bash\nnodeadm init",
                "preBootstrapCommands": ["x"],
            },
        ],
    },
]


@pytest.mark.parametrize("body", FULL_SPECS, ids=[s["name"] for s in FULL_SPECS])
def test_every_template_of_a_spec_with_self_managed_groups_passes_cfn_lint(body: dict[str, Any]) -> None:
    spec = ClusterSpec.model_validate({"region": REGION, "availabilityZones": ZONES, **body})
    built = all_templates(spec, ZONES)
    assert len(built) == 1 + len(spec.nodegroups)
    for template in built:
        assert cfn_lint(template, REGION) == []
