"""The local engine as strict as AWS for self-managed node groups: images, Auto Scaling groups and joining nodes.

Templates are written here by hand (as eksctl's node group stack has them), independently of the
service's builder; the SSM parameter paths are spelled here from AWS's documentation.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
import yaml
from moto.eks.models import eks_backends

from local import nodes
from local.bootstrap_userdata import parse_text

REGION = "us-west-2"
ACCOUNT = "123456789012"
CLUSTER = "sm"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-service"
MISSING_AMI = "ami-0000000000000dead"

# (parameter, architecture, owner) as AWS documents them, one or more per family and variant.
DOCUMENTED = [
    (
        "/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/standard/recommended/image_id",
        "x86_64",
        "602401143452",
    ),
    (
        "/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/neuron/recommended/image_id",
        "x86_64",
        "602401143452",
    ),
    (
        "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/nvidia/recommended/image_id",
        "x86_64",
        "602401143452",
    ),
    (
        "/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/arm64/standard/recommended/image_id",
        "arm64",
        "602401143452",
    ),
    (
        "/aws/service/eks/optimized-ami/1.32/amazon-linux-2023/arm64/nvidia/recommended/image_id",
        "arm64",
        "602401143452",
    ),
    ("/aws/service/eks/optimized-ami/1.32/amazon-linux-2/recommended/image_id", "x86_64", "602401143452"),
    ("/aws/service/eks/optimized-ami/1.30/amazon-linux-2-arm64/recommended/image_id", "arm64", "602401143452"),
    ("/aws/service/eks/optimized-ami/1.31/amazon-linux-2-gpu/recommended/image_id", "x86_64", "602401143452"),
    ("/aws/service/bottlerocket/aws-k8s-1.33/x86_64/latest/image_id", "x86_64", "092701018921"),
    ("/aws/service/bottlerocket/aws-k8s-1.34/arm64/latest/image_id", "arm64", "092701018921"),
    ("/aws/service/bottlerocket/aws-k8s-1.30-nvidia/x86_64/latest/image_id", "x86_64", "092701018921"),
    ("/aws/service/bottlerocket/aws-k8s-1.31-nvidia/arm64/latest/image_id", "arm64", "092701018921"),
]
UNPUBLISHED = [
    "/aws/service/eks/optimized-ami/1.33/amazon-linux-2/recommended/image_id",  # AL2 stops at 1.32
    "/aws/service/eks/optimized-ami/1.34/amazon-linux-2-gpu/recommended/image_id",
    "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/arm64/neuron/recommended/image_id",  # Neuron: x86_64 only
    "/aws/service/eks/optimized-ami/1.29/amazon-linux-2023/x86_64/standard/recommended/image_id",
]


def client(service: str, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region)


def stack(name: str, resources: dict[str, Any], update: bool = False, outputs: dict[str, Any] | None = None) -> str:
    """Create (or update) a stack; its status once CloudFormation is done."""
    body = json.dumps({"Resources": resources, "Outputs": outputs or {}})
    call = client("cloudformation").update_stack if update else client("cloudformation").create_stack
    call(StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    return str(client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])


def failure(name: str) -> tuple[str, str]:
    events = client("cloudformation").describe_stack_events(StackName=name)["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] in ("CREATE_FAILED", "UPDATE_FAILED")]
    assert failed, [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events]
    return failed[0]["LogicalResourceId"], failed[0].get("ResourceStatusReason", "")


def image(parameter: str = DOCUMENTED[0][0]) -> str:
    return str(client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"])


# -- images and their parameters ------------------------------------------------------------


@pytest.mark.parametrize("region", ["us-west-2", "eu-west-1", "ap-northeast-1", "us-east-2"])
def test_each_documented_parameter_names_an_image_describe_images_returns(region: str) -> None:
    ssm, ec2 = client("ssm", region), client("ec2", region)
    for name, architecture, owner in DOCUMENTED:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        described = ec2.describe_images(ImageIds=[value])["Images"]
        assert [(i["Architecture"], i["OwnerId"], i["State"], i["ImageOwnerAlias"]) for i in described] == [
            (architecture, owner, "available", "amazon")
        ], name
    names = [name for name, _, _ in DOCUMENTED[:10]]
    answer = ssm.get_parameters(Names=names)
    assert sorted(p["Name"] for p in answer["Parameters"]) == sorted(names)
    assert answer["InvalidParameters"] == []
    assert sorted(ssm.get_parameters(Names=UNPUBLISHED)["InvalidParameters"]) == sorted(UNPUBLISHED)


def test_regions_have_their_own_image_ids_and_a_reset_keeps_them() -> None:
    name = DOCUMENTED[0][0]
    assert image(name) != client("ssm", "eu-west-1").get_parameter(Name=name)["Parameter"]["Value"]
    found = image(name)
    boto3.client("ec2", region_name=REGION).describe_images(ImageIds=[found])
    from moto.backends import get_backend

    get_backend("ssm").reset()
    get_backend("ec2").reset()
    assert image(name) == found
    assert client("ec2").describe_images(ImageIds=[found])["Images"]


# -- the node group stack -------------------------------------------------------------------


def network() -> list[str]:
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    return [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
        for i, z in enumerate("ab")
    ]


def make_cluster(subnets: list[str], mode: str | None = None) -> Any:
    props: dict[str, Any] = {"Name": CLUSTER, "RoleArn": ROLE, "ResourcesVpcConfig": {"SubnetIds": subnets}}
    if mode:
        props["AccessConfig"] = {"AuthenticationMode": mode}
    assert (
        stack("sm-cluster", {"ControlPlane": {"Type": "AWS::EKS::Cluster", "Properties": props}}) == "CREATE_COMPLETE"
    )
    return eks_backends[ACCOUNT][REGION].clusters[CLUSTER]


def nodeadm(cluster: Any, name: str | None = None, endpoint: str | None = None) -> str:
    config = {
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {
            "cluster": {
                "name": name or cluster.name,
                "apiServerEndpoint": endpoint or cluster.endpoint,
                "certificateAuthority": cluster.certificate_authority["data"],
                "cidr": "10.100.0.0/16",
            },
            "kubelet": {
                "config": {"maxPods": 58},
                "flags": [
                    "--node-labels=alpha.eksctl.io/nodegroup-name=ng-1,team=blue",
                    "--register-with-taints=dedicated=gpu:NoSchedule",
                ],
            },
        },
    }
    return (
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="//"\n\n--//\n'
        "Content-Type: application/node.eks.aws\n\n---\n"
        f"{yaml.safe_dump(config)}\n--//--\n"
    )


def al2(cluster: Any) -> str:
    return (
        "#!/bin/bash\nset -ex\n"
        f"/etc/eks/bootstrap.sh {cluster.name} --apiserver-endpoint '{cluster.endpoint}' \\\n"
        f"  --b64-cluster-ca '{cluster.certificate_authority['data']}' \\\n"
        "  --kubelet-extra-args '--node-labels=alpha.eksctl.io/nodegroup-name=ng-1,team=blue "
        "--register-with-taints=dedicated=gpu:NoSchedule --max-pods=58'\n"
    )


def bottlerocket(cluster: Any) -> str:
    return (
        "[settings.kubernetes]\n"
        f'cluster-name = "{cluster.name}"\napi-server = "{cluster.endpoint}"\n'
        f'cluster-certificate = "{cluster.certificate_authority["data"]}"\nmax-pods = 58\n'
        '[settings.kubernetes.node-labels]\n"alpha.eksctl.io/nodegroup-name" = "ng-1"\nteam = "blue"\n'
        '[settings.kubernetes.node-taints]\ndedicated = "gpu:NoSchedule"\n'
    )


def nodegroup(
    subnets: list[str], user_data: str, desired: int = 2, ami: str | None = None, mixed: bool = False
) -> dict[str, Any]:
    """eksctl's node group stack, by hand: role, instance profile, security group, launch template, ASG."""
    spec = {"LaunchTemplateId": {"Ref": "NodeGroupLaunchTemplate"}}
    spec["Version"] = {"Fn::GetAtt": ["NodeGroupLaunchTemplate", "LatestVersionNumber"]}
    asg: dict[str, Any] = {
        "MinSize": "0",
        "MaxSize": "5",
        "DesiredCapacity": str(desired),
        "VPCZoneIdentifier": subnets,
        "Tags": [
            {"Key": "Name", "Value": f"{CLUSTER}-ng-1-Node", "PropagateAtLaunch": "true"},
            {"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned", "PropagateAtLaunch": "true"},
        ],
    }
    if mixed:
        overrides = [{"InstanceType": "m6i.large"}, {"InstanceType": "m5.large"}]
        asg["MixedInstancesPolicy"] = {
            "LaunchTemplate": {"LaunchTemplateSpecification": spec, "Overrides": overrides},
            "InstancesDistribution": {"OnDemandBaseCapacity": 0, "OnDemandPercentageAboveBaseCapacity": 25},
        }
    else:
        asg["LaunchTemplate"] = spec
    data: dict[str, Any] = {
        "ImageId": ami or image(),
        "IamInstanceProfile": {"Arn": {"Fn::GetAtt": ["NodeInstanceProfile", "Arn"]}},
        "UserData": base64.b64encode(user_data.encode()).decode(),
        "NetworkInterfaces": [{"DeviceIndex": 0, "Groups": [{"Ref": "SG"}]}],
        "MetadataOptions": {"HttpPutResponseHopLimit": 2, "HttpTokens": "required"},
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "sm-ng-1-Node"}]}],
    }
    if not mixed:
        data["InstanceType"] = "m5.large"
    trust = {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}
    return {
        "NodeInstanceRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {"Path": "/", "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]}},
        },
        "NodeInstanceProfile": {
            "Type": "AWS::IAM::InstanceProfile",
            "Properties": {"Path": "/", "Roles": [{"Ref": "NodeInstanceRole"}]},
        },
        "SG": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": "nodes", "VpcId": vpc_of(subnets)},
        },
        "NodeGroupLaunchTemplate": {
            "Type": "AWS::EC2::LaunchTemplate",
            "Properties": {"LaunchTemplateName": "sm-ng-1", "LaunchTemplateData": data},
        },
        "NodeGroup": {"Type": "AWS::AutoScaling::AutoScalingGroup", "Properties": asg},
    }


def vpc_of(subnets: list[str]) -> str:
    return str(client("ec2").describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"])


def node_role() -> str:
    for role in client("iam").list_roles()["Roles"]:
        if "NodeInstanceRole" in role["RoleName"]:
            return str(role["Arn"])
    raise AssertionError("no node role")


def map_roles(
    emulator: Any, *role_arns: str, groups: tuple[str, ...] = ("system:bootstrappers", "system:nodes")
) -> None:
    """Write aws-auth's mapRoles as eksctl writes a node role's entry."""
    entries = [
        {"rolearn": a, "username": "system:node:{{EC2PrivateDNSName}}", "groups": list(groups)} for a in role_arns
    ]
    body = {"metadata": {"name": "aws-auth", "namespace": "kube-system"}, "data": {"mapRoles": json.dumps(entries)}}
    try:
        current = emulator.objects.configmap("kube-system", "aws-auth")
    except Exception:
        emulator.objects.create("kube-system", body)
        return
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    emulator.objects.replace("kube-system", "aws-auth", body)


def joined(cluster: Any) -> list[dict[str, Any]]:
    return [n for n in nodes.nodes_of(cluster, REGION) if "eks.amazonaws.com/nodegroup" not in n["metadata"]["labels"]]


@pytest.fixture
def cluster(kube: dict[tuple[str, str], Any]) -> tuple[Any, Any, list[str]]:
    """A cluster with a live Kubernetes API (the emulator holds aws-auth), its emulator and subnets."""
    subnets = network()
    made = make_cluster(subnets)
    return made, kube[(REGION, CLUSTER)], subnets


def test_a_launch_template_with_an_image_that_does_not_exist_fails_the_auto_scaling_group(
    cluster: tuple[Any, Any, list[str]],
) -> None:
    made, _, subnets = cluster
    assert stack("sm-ng-1", nodegroup(subnets, nodeadm(made), ami=MISSING_AMI)) == "ROLLBACK_COMPLETE"
    logical, reason = failure("sm-ng-1")
    assert logical == "NodeGroup"
    assert f"The image id '[{MISSING_AMI}]' does not exist" in reason
    assert "Service: AutoScaling" in reason and "HandlerErrorCode: InvalidRequest" in reason
    assert client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []
    assert not [
        r for r in client("ec2").describe_instances()["Reservations"] if r["Instances"][0]["State"]["Name"] == "running"
    ]


def test_an_update_to_an_image_that_does_not_exist_rolls_back_and_keeps_the_nodes(
    cluster: tuple[Any, Any, list[str]],
) -> None:
    made, emulator, subnets = cluster
    assert stack("sm-ng-1", nodegroup(subnets, nodeadm(made))) == "CREATE_COMPLETE"
    map_roles(emulator, node_role())
    assert len(joined(made)) == 2
    assert stack("sm-ng-1", nodegroup(subnets, nodeadm(made), desired=3, ami=MISSING_AMI), update=True) == (
        "UPDATE_ROLLBACK_COMPLETE"
    )
    assert failure("sm-ng-1")[0] == "NodeGroup"
    assert len(joined(made)) == 2


def test_nodes_join_with_this_clusters_bootstrap_and_a_mapped_role_only(cluster: tuple[Any, Any, list[str]]) -> None:
    made, emulator, subnets = cluster
    assert stack("sm-ng-1", nodegroup(subnets, nodeadm(made))) == "CREATE_COMPLETE"
    assert joined(made) == []  # (b) the role is not in aws-auth yet
    map_roles(emulator, node_role())
    running = {
        i["PrivateDnsName"]
        for r in client("ec2").describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] == "running"
    }
    found = joined(made)
    assert {n["metadata"]["name"] for n in found} == running and len(running) == 2
    assert all(
        {"type": "Ready", "status": "True", "reason": "KubeletReady"}.items()
        <= next(c for c in n["status"]["conditions"] if c["type"] == "Ready").items()
        for n in found
    )
    # (b) without the mapping (or with it but not in system:nodes) the nodes are gone
    map_roles(emulator, "arn:aws:iam::123456789012:role/someone-else")
    assert joined(made) == []
    map_roles(emulator, node_role(), groups=("system:bootstrappers",))
    assert joined(made) == []
    map_roles(emulator, node_role())
    assert len(joined(made)) == 2


@pytest.mark.parametrize("wrong", ["cluster", "endpoint"])
def test_a_bootstrap_into_another_cluster_or_endpoint_never_joins(
    cluster: tuple[Any, Any, list[str]], wrong: str
) -> None:
    made, emulator, subnets = cluster
    user_data = nodeadm(made, name="other") if wrong == "cluster" else nodeadm(made, endpoint="https://10.0.0.1:443")
    assert stack("sm-ng-1", nodegroup(subnets, user_data)) == "CREATE_COMPLETE"
    map_roles(emulator, node_role())
    assert joined(made) == []


@pytest.mark.parametrize("fmt", ["nodeadm", "al2", "bottlerocket"])
def test_labels_and_taints_come_from_each_user_data_format(cluster: tuple[Any, Any, list[str]], fmt: str) -> None:
    made, emulator, subnets = cluster
    user_data = {"nodeadm": nodeadm, "al2": al2, "bottlerocket": bottlerocket}[fmt](made)
    assert stack("sm-ng-1", nodegroup(subnets, user_data, desired=1)) == "CREATE_COMPLETE"
    map_roles(emulator, node_role())
    [node] = joined(made)
    labels = node["metadata"]["labels"]
    assert labels["alpha.eksctl.io/nodegroup-name"] == "ng-1" and labels["team"] == "blue"
    assert labels["node.kubernetes.io/instance-type"] == "m5.large"
    assert labels["kubernetes.io/hostname"] == node["metadata"]["name"]
    assert node["spec"]["taints"] == [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    assert node["status"]["capacity"]["pods"] == "58"


def test_a_custom_bootstrap_script_joins_only_when_it_runs_a_recognisable_bootstrap(
    cluster: tuple[Any, Any, list[str]],
) -> None:
    made, emulator, subnets = cluster
    script = (
        "#!/bin/bash\nset -o xtrace\nCLUSTER=" + made.name + "\nENDPOINT=" + made.endpoint + "\n"
        '/etc/eks/bootstrap.sh "${CLUSTER}" --apiserver-endpoint "$ENDPOINT" '
        "--kubelet-extra-args '--node-labels=custom=yes'\n"
    )
    assert stack("sm-ng-1", nodegroup(subnets, script, desired=1)) == "CREATE_COMPLETE"
    map_roles(emulator, node_role())
    assert [n["metadata"]["labels"]["custom"] for n in joined(made)] == ["yes"]
    assert parse_text("#!/bin/bash\necho hello\n") is None
    embedded = "#!/bin/bash\ncat <<EOF > /etc/nc.yaml\n" + nodeadm(made).split("---\n", 1)[1].split("\n\n")[0]
    boot = parse_text(embedded + "\nEOF\nnodeadm init --config-source file:///etc/nc.yaml\n")
    assert boot is not None and boot.cluster == CLUSTER and boot.endpoint == made.endpoint
    # nodeadm refuses a NodeConfig without the service CIDR (or name, endpoint, CA)
    assert parse_text(nodeadm(made).replace("cidr: 10.100.0.0/16", "")) is None


def test_scaling_through_update_stack_changes_the_nodes_and_deleting_the_stack_removes_them(
    cluster: tuple[Any, Any, list[str]],
) -> None:
    made, emulator, subnets = cluster
    assert stack("sm-ng-1", nodegroup(subnets, nodeadm(made), desired=2)) == "CREATE_COMPLETE"
    map_roles(emulator, node_role())
    [group] = client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    before = {n["metadata"]["name"] for n in joined(made)}
    assert len(before) == 2
    assert stack("sm-ng-1", nodegroup(subnets, nodeadm(made), desired=3), update=True) == "UPDATE_COMPLETE"
    [scaled] = client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert scaled["AutoScalingGroupName"] == group["AutoScalingGroupName"]  # updated in place, as on AWS
    after = {n["metadata"]["name"] for n in joined(made)}
    assert len(after) == 3 and before < after
    assert stack("sm-ng-1", nodegroup(subnets, nodeadm(made), desired=1), update=True) == "UPDATE_COMPLETE"
    assert len(joined(made)) == 1
    group_id = client("cloudformation").describe_stack_resource(StackName="sm-ng-1", LogicalResourceId="SG")
    interfaces = client("ec2").describe_network_interfaces()["NetworkInterfaces"]
    on_nodes = [e for e in interfaces if e.get("Attachment", {}).get("InstanceId")]
    # the launch template's interface groups, and the interface goes with its instance
    assert [[g["GroupId"] for g in e["Groups"]] for e in on_nodes] == [
        [group_id["StackResourceDetail"]["PhysicalResourceId"]]
    ]
    assert on_nodes[0]["Attachment"]["DeleteOnTermination"] is True
    stack_id = client("cloudformation").describe_stacks(StackName="sm-ng-1")["Stacks"][0]["StackId"]
    client("cloudformation").delete_stack(StackName="sm-ng-1")
    assert client("cloudformation").describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert joined(made) == []
    assert client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []


def test_a_new_launch_template_version_applies_to_instances_launched_after_it(
    cluster: tuple[Any, Any, list[str]],
) -> None:
    made, emulator, subnets = cluster
    assert stack("sm-ng-1", nodegroup(subnets, nodeadm(made, name="typo"), desired=1)) == "CREATE_COMPLETE"
    map_roles(emulator, node_role())
    assert joined(made) == []
    assert stack("sm-ng-1", nodegroup(subnets, nodeadm(made), desired=2), update=True) == "UPDATE_COMPLETE"
    [group] = client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert group["LaunchTemplate"]["Version"] == "2"
    assert len(joined(made)) == 1  # the first instance still runs the old bootstrap


def test_a_mixed_instances_policy_launches_its_first_override(cluster: tuple[Any, Any, list[str]]) -> None:
    made, emulator, subnets = cluster
    assert stack("sm-ng-1", nodegroup(subnets, nodeadm(made), mixed=True)) == "CREATE_COMPLETE"
    map_roles(emulator, node_role())
    found = joined(made)
    # 2 at 25% On-Demand is 2 instances (1 On-Demand, rounded up, and 1 Spot), not moto's truncated 1
    assert [n["metadata"]["labels"]["node.kubernetes.io/instance-type"] for n in found] == ["m6i.large"] * 2
    assert stack("sm-ng-1", nodegroup(subnets, nodeadm(made), desired=3, mixed=True), update=True) == "UPDATE_COMPLETE"
    assert len(joined(made)) == 3


def test_an_ec2_linux_access_entry_lets_the_role_in_without_aws_auth(kube: dict[tuple[str, str], Any]) -> None:
    subnets = network()
    made = make_cluster(subnets, mode="API")
    assert stack("sm-ng-1", nodegroup(subnets, nodeadm(made))) == "CREATE_COMPLETE"
    map_roles(kube[(REGION, CLUSTER)], node_role())
    assert joined(made) == []  # API mode: aws-auth is not read
    entry = {"ClusterName": CLUSTER, "PrincipalArn": node_role(), "Type": "EC2_LINUX"}
    assert stack("sm-entry", {"Entry": {"Type": "AWS::EKS::AccessEntry", "Properties": entry}}) == "CREATE_COMPLETE"
    assert len(joined(made)) == 2
    client("cloudformation").delete_stack(StackName="sm-entry")
    assert joined(made) == []


def test_rules_on_an_exported_group_instance_profiles_and_tagged_templates_are_made_and_deleted() -> None:
    subnets = network()
    vpc = vpc_of(subnets)
    shared = {"Shared": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "shared", "VpcId": vpc}}}
    exported = {"SharedSG": {"Value": {"Ref": "Shared"}, "Export": {"Name": "sm-cluster::SharedSecurityGroup"}}}
    assert stack("sm-base", shared, outputs=exported) == "CREATE_COMPLETE"
    resources = nodegroup(subnets, "#!/bin/bash\n", desired=0)
    rule = {"GroupId": {"Fn::ImportValue": "sm-cluster::SharedSecurityGroup"}, "IpProtocol": "tcp"}
    resources["IngressFromNodes"] = {
        "Type": "AWS::EC2::SecurityGroupIngress",
        "Properties": {**rule, "SourceSecurityGroupId": {"Ref": "SG"}, "FromPort": 443, "ToPort": 443},
    }
    resources["EgressToNodes"] = {
        "Type": "AWS::EC2::SecurityGroupEgress",
        "Properties": {**rule, "DestinationSecurityGroupId": {"Ref": "SG"}, "FromPort": 1025, "ToPort": 65535},
    }
    assert stack("sm-ng-1", resources) == "CREATE_COMPLETE"
    shared_id = client("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": ["*Shared*"]}])
    [group] = [g for g in shared_id["SecurityGroups"] if g["Description"] == "shared"]
    described = client("ec2").describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]
    assert [p["FromPort"] for p in described["IpPermissions"]] == [443]
    assert 1025 in [p.get("FromPort") for p in described["IpPermissionsEgress"]]
    [profile] = client("iam").list_instance_profiles()["InstanceProfiles"]
    assert [r["Arn"] for r in profile["Roles"]] == [node_role()]
    [template] = client("ec2").describe_launch_templates()["LaunchTemplates"]
    version = client("ec2").describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])
    assert version["LaunchTemplateVersions"][0]["LaunchTemplateData"]["TagSpecifications"]
    client("cloudformation").delete_stack(StackName="sm-ng-1")
    described = client("ec2").describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]
    assert described["IpPermissions"] == []
    assert 1025 not in [p.get("FromPort") for p in described["IpPermissionsEgress"]]
    assert client("iam").list_instance_profiles()["InstanceProfiles"] == []
