"""CloudFormation templates: what eksctl builds, tagged as ours, and clean under cfn-lint."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from chalicelib.cfn import kinds, templates, upload
from chalicelib.model import naming
from chalicelib.model.spec import ADDON_NAMES, ClusterSpec, NodeGroupBase
from local import cfn_quotas
from tests.cfn_lint import cfn_lint
from tests.processes import outputs_under_hash_seeds

ZONES = ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]


def spec_of(body: dict[str, Any]) -> ClusterSpec:
    return ClusterSpec.model_validate({"region": "ap-northeast-1", **body})


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


# What the operations layer resolves a self-managed group's `ami` to before its stack is built.
TEST_IMAGE_ID = "ami-0123456789abcdef0"


def with_image(group: NodeGroupBase) -> NodeGroupBase:
    """A self-managed group as its stack is built: its image resolved (a request leaves imageId out)."""
    if group.managed or getattr(group, "image_id", None):
        return group
    return group.model_copy(update={"image_id": TEST_IMAGE_ID})


def all_templates(spec: ClusterSpec, zones: list[str]) -> list[dict[str, Any]]:
    """Every template of a cluster: its own, each node group's (managed and self-managed), each workload stack's
    (Fargate, service accounts, pod identities, add-ons)."""
    return (
        [templates.build_cluster_template(spec, "cid", zones)]
        + [templates.build_nodegroup_template(spec, with_image(group), "cid") for group in spec.nodegroups]
        + [
            templates.build_workload_template(spec, item["kind"], item["member"], "cid")
            for item in templates.workload_stacks(spec)
        ]
    )


VARIANTS = [
    ({"name": "mz-k8s"}, ZONES[:2]),
    (
        {
            "name": "big",
            "version": "1.30",
            "vpc": {"cidr": "10.20.30.0/24"},
            "tags": {"team": "data", "cost-centre": "42"},
            "managedNodeGroups": [
                {"name": "general", "instanceType": "m5.xlarge", "minSize": 0, "maxSize": 10},
                {"name": "arm", "instanceType": "m6g.large", "privateNetworking": True, "labels": {"arch": "arm64"}},
            ],
        },
        ZONES,
    ),
    ({"name": "empty", "managedNodeGroups": []}, ZONES),
    (
        {
            "name": "kitchen-sink",
            "vpc": {
                "nat": {"gateway": "HighlyAvailable"},
                "clusterEndpoints": {"publicAccess": True, "privateAccess": True},
                "publicAccessCIDRs": ["203.0.113.0/24"],
            },
            "cloudWatch": {"clusterLogging": {"enableTypes": ["audit", "authenticator"]}},
            "kubernetesNetworkConfig": {"serviceIPv4CIDR": "172.20.0.0/16"},
            "iam": {"withOIDC": True},
            "addons": [
                {"name": "vpc-cni"},
                {"name": "coredns", "version": "v1.11.3-eksbuild.1"},
                {"name": "aws-ebs-csi-driver"},
            ],
            "accessConfig": {
                "accessEntries": [
                    {
                        "principalARN": "arn:aws:iam::123456789012:role/admins",
                        "accessPolicies": [
                            {
                                "policyARN": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                                "accessScope": {"type": "cluster"},
                            }
                        ],
                    }
                ]
            },
            "managedNodeGroups": [
                {
                    "name": "spot",
                    "instanceTypes": ["m5.large", "m5a.large"],
                    "spot": True,
                    "amiFamily": "Bottlerocket",
                    "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}],
                    "tags": {"purpose": "batch"},
                    "updateConfig": {"maxUnavailablePercentage": 25},
                    "privateNetworking": True,
                    "volumeType": "gp3",
                    "maxPodsPerNode": 58,
                }
            ],
        },
        ZONES,
    ),
    ({"name": "no-nat", "vpc": {"nat": {"gateway": "Disable"}}}, ZONES[:2]),
    (
        {
            "name": "windows",
            "managedNodeGroups": [
                {"name": "linux"},
                {
                    "name": "win-managed",
                    "amiFamily": "WindowsServer2022CoreContainer",
                    "preBootstrapCommands": ["New-Item -Path C:\\temp -ItemType Directory"],
                    "volumeType": "gp3",
                },
            ],
            "nodeGroups": [
                {
                    "name": "win",
                    "amiFamily": "WindowsServer2019FullContainer",
                    "containerRuntime": "containerd",
                    "labels": {"os": "windows"},
                    "taints": [{"key": "os", "value": "windows", "effect": "NoSchedule"}],
                    "maxPodsPerNode": 30,
                },
                {
                    "name": "win-custom",
                    "amiFamily": "WindowsServer2022FullContainer",
                    "ami": "ami-01579b74557facaf7",
                    "overrideBootstrapCommand": '& $EKSBootstrapScriptFile -EKSClusterName "$EKSClusterName" '
                    '-KubeletExtraArgs "$KubeletExtraArgs"',
                },
            ],
        },
        ZONES,
    ),
    (
        {
            "name": "workloads",
            "iam": {
                "serviceAccounts": [
                    {
                        "metadata": {"name": "reader", "namespace": "apps", "labels": {"team": "data"}},
                        "attachPolicyARNs": ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
                        "wellKnownPolicies": {"autoScaler": True},
                        "permissionsBoundary": "arn:aws:iam::123456789012:policy/boundary",
                    },
                    {"metadata": {"name": "given"}, "attachRoleARN": "arn:aws:iam::123456789012:role/existing"},
                ],
                "fargatePodExecutionRolePermissionsBoundary": "arn:aws:iam::123456789012:policy/boundary",
            },
            "fargateProfiles": [{"name": "fp-default", "selectors": [{"namespace": "default"}]}],
            "managedNodeGroups": [
                {"name": "mng", "iam": {"instanceRolePermissionsBoundary": "arn:aws:iam::123456789012:policy/b"}}
            ],
            "nodeGroups": [
                {"name": "ng", "iam": {"instanceRolePermissionsBoundary": "arn:aws:iam::123456789012:policy/b"}}
            ],
        },
        ZONES,
    ),
]


@pytest.mark.parametrize(("body", "zones"), VARIANTS, ids=[v[0]["name"] for v in VARIANTS])
def test_every_template_passes_cfn_lint(body: dict[str, Any], zones: list[str]) -> None:
    spec = spec_of(body)
    for template in all_templates(spec, zones):
        assert cfn_lint(template, spec.region) == []


def test_subnets_split_the_vpc_like_eksctl() -> None:
    assert templates.subnet_cidrs("192.168.0.0/16", 2) == (
        ["192.168.0.0/19", "192.168.32.0/19"],
        ["192.168.64.0/19", "192.168.96.0/19"],
    )
    public, private = templates.subnet_cidrs("10.0.0.0/24", 3)
    assert public == ["10.0.0.0/27", "10.0.0.32/27", "10.0.0.64/27"]
    assert private[0] == "10.0.0.96/27"


def test_the_cluster_stack_has_a_public_and_private_subnet_per_zone_one_nat_and_the_control_plane() -> None:
    template = templates.build_cluster_template(spec_of({"name": "mz"}), "cid", ZONES)

    subnets = resources_of_type(template, "AWS::EC2::Subnet")
    assert sorted(s["Properties"]["AvailabilityZone"] for s in subnets.values()) == sorted(ZONES * 2)
    assert len(resources_of_type(template, "AWS::EC2::NatGateway")) == 1
    assert len(resources_of_type(template, "AWS::EC2::InternetGateway")) == 1
    assert len(resources_of_type(template, "AWS::EC2::SubnetRouteTableAssociation")) == 6
    (plane,) = resources_of_type(template, "AWS::EKS::Cluster").values()
    assert plane["Properties"]["Name"] == "mz"
    assert len(plane["Properties"]["ResourcesVpcConfig"]["SubnetIds"]) == 6
    assert set(template["Outputs"]) >= {"Endpoint", "CertificateAuthorityData", "ARN", "VPC", "SubnetsPrivate"}
    assert template["Outputs"]["SubnetsPrivate"]["Export"]["Name"] == "eksctl-mz-cluster::SubnetsPrivate"


def test_public_subnets_are_for_public_load_balancers_private_for_internal_ones() -> None:
    template = templates.build_cluster_template(spec_of({"name": "mz"}), "cid", ZONES[:2])

    for logical_id, subnet in resources_of_type(template, "AWS::EC2::Subnet").items():
        tags = {t["Key"]: t["Value"] for t in subnet["Properties"]["Tags"]}
        role = "kubernetes.io/role/elb" if "Public" in logical_id else "kubernetes.io/role/internal-elb"
        assert tags[role] == "1"
        assert tags["kubernetes.io/cluster/mz"] == "owned"


# Types that take no tags at all: neither a Tags property nor the stack's tags.
UNTAGGABLE = {"AWS::EC2::VPCGatewayAttachment", "AWS::EC2::Route", "AWS::EC2::SubnetRouteTableAssociation"}


def own_tags(resource: dict[str, Any]) -> dict[str, str]:
    raw = resource["Properties"].get("Tags") or {}
    return raw if isinstance(raw, dict) else {t["Key"]: t["Value"] for t in raw}


def with_stacks(spec: ClusterSpec, zones: list[str]) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Each template with the tags its stack is created with (create.py passes the same)."""
    cluster = (
        templates.stack_tags(spec, "cid", kinds.CLUSTER.name),
        templates.build_cluster_template(spec, "cid", zones),
    )
    groups = [
        (
            templates.stack_tags(spec, "cid", kinds.NODEGROUP.name, group.name),
            templates.build_nodegroup_template(spec, group, "cid"),
        )
        for group in spec.nodegroups
    ]
    return [cluster, *groups]


def test_every_resource_that_takes_tags_carries_our_ownership_tags_and_the_users() -> None:
    """CloudFormation propagates the stack's tags to each resource that takes tags: the stack's
    tags and the resource's own together are what the resource ends up with."""
    spec = spec_of({"name": "mz", "tags": {"team": "data"}, "managedNodeGroups": [{"name": "a"}]})

    for stack_tags, template in with_stacks(spec, ZONES[:2]):
        assert naming.is_ours(stack_tags, "mz")
        assert stack_tags[naming.TAG_CLUSTER_ID] == "cid"
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] in UNTAGGABLE:
                assert "Tags" not in resource["Properties"], logical_id
                continue
            tags = {**stack_tags, **own_tags(resource)}
            assert naming.is_ours(tags, "mz"), logical_id
            assert tags["team"] == "data"


def test_no_resource_repeats_a_stack_tag() -> None:
    """Copies of the stack's tags on every resource took big clusters past CloudFormation's
    51,200-byte TemplateBody: a resource lists only what propagation does not give it."""
    spec = spec_of(
        {
            "name": "mz",
            "tags": {"team": "data"},
            "iam": {"withOIDC": True},
            "addons": [{"name": "vpc-cni"}],
            "managedNodeGroups": [{"name": "a", "tags": {"purpose": "batch"}}],
        }
    )

    for stack_tags, template in with_stacks(spec, ZONES[:2]):
        for logical_id, resource in template["Resources"].items():
            repeated = {k for k, v in own_tags(resource).items() if stack_tags.get(k) == v}
            assert repeated == set(), logical_id
            if resource["Type"] == "AWS::EC2::Subnet":  # the console's Name stays on EC2 resources
                assert own_tags(resource)["Name"] == f"eksctl-mz-cluster/{logical_id}"


def test_the_nodes_get_every_tag_as_propagation_never_reaches_them() -> None:
    spec = spec_of(
        {
            "name": "mz",
            "tags": {"team": "data"},
            "managedNodeGroups": [{"name": "a", "tags": {"purpose": "batch"}, "volumeType": "gp3"}],
        }
    )
    template = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")

    # The node group resource takes the stack's tags; only its own are listed.
    assert template["Resources"]["ManagedNodeGroup"]["Properties"]["Tags"] == {"purpose": "batch"}
    # Instances, volumes and interfaces get theirs from the launch template only.
    data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    for spec_of_kind in data["TagSpecifications"]:
        tags = {t["Key"]: t["Value"] for t in spec_of_kind["Tags"]}
        assert naming.is_ours(tags, "mz") and tags[naming.TAG_CLUSTER_ID] == "cid"
        assert (tags["team"], tags["purpose"], tags[naming.TAG_NODEGROUP]) == ("data", "batch", "a")
        assert naming.TAG_STACK_KIND not in tags


def test_stack_tags_stay_within_cloudformations_fifty() -> None:
    spec = spec_of({"name": "mz", "tags": {f"tag-{i}": "v" for i in range(40)}, "managedNodeGroups": [{"name": "a"}]})

    assert len(templates.stack_tags(spec, "cid", kinds.CLUSTER.name)) <= cfn_quotas.MAX_STACK_TAGS
    assert len(templates.stack_tags(spec, "cid", kinds.NODEGROUP.name, "a")) <= cfn_quotas.MAX_STACK_TAGS


def test_node_groups_use_the_subnets_their_networking_asks_for() -> None:
    spec = spec_of({"name": "mz", "managedNodeGroups": [{"name": "pub"}, {"name": "priv", "privateNetworking": True}]})
    pub, priv = (templates.build_nodegroup_template(spec, g, "cid") for g in spec.nodegroups)

    def imported(template: dict[str, Any]) -> str:
        subnets = template["Resources"]["ManagedNodeGroup"]["Properties"]["Subnets"]
        return str(subnets["Fn::Split"][1]["Fn::ImportValue"])

    assert imported(pub) == "eksctl-mz-cluster::SubnetsPublic"
    assert imported(priv) == "eksctl-mz-cluster::SubnetsPrivate"


def test_node_group_sizes_type_disk_labels_and_worker_policies() -> None:
    body = {
        "name": "mz",
        "managedNodeGroups": [
            {
                "name": "a",
                "instanceType": "c7g.large",
                "minSize": 1,
                "desiredCapacity": 3,
                "maxSize": 6,
                "volumeSize": 100,
                "labels": {"role": "worker"},
            },
        ],
    }
    spec = spec_of(body)
    template = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")

    props = template["Resources"]["ManagedNodeGroup"]["Properties"]
    assert props["ScalingConfig"] == {"MinSize": 1, "DesiredSize": 3, "MaxSize": 6}
    assert (props["InstanceTypes"], props["DiskSize"], props["Labels"]) == (["c7g.large"], 100, {"role": "worker"})
    assert props["AmiType"] == "AL2023_ARM_64_STANDARD"
    # The group is named by its stack's tags, which CloudFormation propagates to it: it lists no Tags of its own.
    assert templates.stack_tags(spec, "cid", kinds.NODEGROUP.name, "a")[naming.TAG_NODEGROUP] == "a"
    assert "Tags" not in props
    policies = [
        p["Fn::Sub"].rsplit("/", 1)[1]
        for p in template["Resources"]["NodeInstanceRole"]["Properties"]["ManagedPolicyArns"]
    ]
    assert sorted(policies) == sorted(templates.WORKER_POLICIES)
    assert template["Outputs"][templates.OUTPUT_NODE_ROLE_ARN]


@pytest.mark.parametrize(
    ("instance_type", "ami"),
    [
        ("m5.large", "AL2023_x86_64_STANDARD"),
        ("m6g.large", "AL2023_ARM_64_STANDARD"),
        ("t4g.small", "AL2023_ARM_64_STANDARD"),
        ("m6gd.xlarge", "AL2023_ARM_64_STANDARD"),
        ("g5.xlarge", "AL2023_x86_64_STANDARD"),
        ("c6i.large", "AL2023_x86_64_STANDARD"),
    ],
)
def test_a_spec_recorded_before_ami_types_were_chosen_keeps_the_name_guess(instance_type: str, ami: str) -> None:
    group = spec_of({"name": "mz", "managedNodeGroups": [{"name": "a", "instanceType": instance_type}]}).nodegroups[0]
    assert templates.ami_type(group) == ami


def test_the_ami_type_chosen_at_request_time_is_the_one_built() -> None:
    body = {
        "name": "mz",
        "managedNodeGroups": [{"name": "a", "instanceType": "g5.xlarge", "amiType": "AL2023_x86_64_NVIDIA"}],
    }
    spec = spec_of(body)

    props = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")["Resources"]["ManagedNodeGroup"]

    assert props["Properties"]["AmiType"] == "AL2023_x86_64_NVIDIA"


def test_fewer_than_two_zones_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        templates.build_cluster_template(spec_of({"name": "mz"}), "cid", ["ap-northeast-1a"])


def test_building_is_deterministic() -> None:
    """The same text in any process (a retried task in another Lambda): CloudFormation compares it."""
    body = {
        "name": "mz",
        "region": "ap-northeast-1",
        "tags": {"b": "1", "a": "2", "team": "data"},
        "managedNodeGroups": [
            {"name": "web", "labels": {"tier": "web", "app": "shop"}, "instanceTypes": ["m5.large", "m5a.large"]},
            {"name": "gpu", "instanceType": "g5.xlarge", "amiType": "AL2023_x86_64_NVIDIA", "privateNetworking": True},
        ],
    }
    code = (
        "from chalicelib.cfn import templates\n"
        "from chalicelib.model.spec import ClusterSpec\n"
        f"spec = ClusterSpec.model_validate({body!r})\n"
        f"print(templates.to_json(templates.build_cluster_template(spec, 'cid', {ZONES!r})))\n"
        "for group in spec.nodegroups:\n"
        "    print(templates.to_json(templates.build_nodegroup_template(spec, group, 'cid')))"
    )

    runs = outputs_under_hash_seeds(code)

    (text,) = set(runs.values())
    spec = spec_of(body)
    assert text.splitlines()[0] == templates.to_json(templates.build_cluster_template(spec, "cid", ZONES))


def test_templates_import_no_aws_sdk() -> None:
    code = "import sys, chalicelib.cfn.templates; print('boto3' in sys.modules or 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


SERVICE_ROLES = (
    "arn:aws:iam::123456789012:role/ekspress-dev-UpdateAwsAuthRole-ABC",
    "arn:aws:iam::123456789012:role/ekspress-dev-ApiHandlerRole-DEF",
)


def test_service_roles_get_cluster_admin_access_entries() -> None:
    """A deployment's Kubernetes-speaking functions reach every cluster, whoever created it."""
    template = templates.build_cluster_template(spec_of({"name": "mz"}), "cid", ZONES[:2], SERVICE_ROLES)
    entries = resources_of_type(template, "AWS::EKS::AccessEntry")
    assert sorted(e["Properties"]["PrincipalArn"] for e in entries.values()) == sorted(SERVICE_ROLES)
    for entry in entries.values():
        (policy,) = entry["Properties"]["AccessPolicies"]
        assert policy["PolicyArn"]["Fn::Sub"].endswith("/AmazonEKSClusterAdminPolicy")
        assert policy["AccessScope"] == {"Type": "cluster"}
    access = template["Resources"]["ControlPlane"]["Properties"]["AccessConfig"]
    assert access["AuthenticationMode"] == "API_AND_CONFIG_MAP"
    assert cfn_lint(template, "ap-northeast-1") == []


def test_without_service_roles_the_cluster_keeps_eks_defaults() -> None:
    template = templates.build_cluster_template(spec_of({"name": "mz"}), "cid", ZONES[:2])
    assert resources_of_type(template, "AWS::EKS::AccessEntry") == {}
    assert "AccessConfig" not in template["Resources"]["ControlPlane"]["Properties"]


# The example: the request's maximum of tags, HA NAT in three zones, OIDC, every add-on,
# 20 access entries, and a deployment's four Kubernetes roles. 144,890 bytes with the stack's tags
# copied onto every resource; CloudFormation takes 51,200 in a request.
BIG = {
    "name": "big",
    "region": "us-west-2",
    "tags": {f"team-tag-{i:02d}": f"value-for-tag-number-{i:02d}" for i in range(40)},
    "vpc": {"nat": {"gateway": "HighlyAvailable"}},
    "iam": {"withOIDC": True},
    "addons": [{"name": name} for name in ADDON_NAMES],
    "accessConfig": {
        "accessEntries": [
            {
                "principalARN": f"arn:aws:iam::123456789012:role/team-{i:02d}-admins",
                "kubernetesGroups": ["viewers"],
                "accessPolicies": [
                    {
                        "policyARN": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
                        "accessScope": {"type": "namespace", "namespaces": ["default", f"team-{i:02d}"]},
                    }
                ],
            }
            for i in range(20)
        ]
    },
}
DEPLOYED_ROLES = tuple(f"arn:aws:iam::123456789012:role/ekspress-dev-Role{i}-ABCDEFGHIJKL" for i in range(4))


def test_the_big_cluster_fits_in_a_request() -> None:
    spec = ClusterSpec.model_validate(BIG)
    template = templates.build_cluster_template(
        spec, "0" * 32, ["us-west-2a", "us-west-2b", "us-west-2c"], DEPLOYED_ROLES
    )

    assert len(templates.to_json(template).encode()) < upload.TEMPLATE_BODY_LIMIT / 2
    assert cfn_lint(template, "us-west-2") == []


# Requests across what the model accepts: up to 40 tags of AWS's longest keys (128) and values (256),
# 100 access entries with up to 3 groups and 3 policies of up to 5 namespaces (Kubernetes' 63
# characters), every add-on, node groups with tags of their own. The model admits more still (20
# policies of 20 namespaces on each of 100 entries, some 3 MB): the create step refuses such a
# template before CloudFormation (upload.TemplateTooLargeError); a request-time limit belongs in
# the spec's validation.
def sized(prefix: str, index: int, length: int) -> str:
    """A name unique by its index, `length` characters long: sizes, not spellings, make templates big."""
    stem = f"{prefix}{index}"
    return stem + "x" * max(0, length - len(stem))


# Each size is drawn from the small and the largest the model (or Kubernetes) allows, so every run
# meets the extremes; hypothesis could not build a hundred long random entries within its budget.
TAGS = st.builds(
    lambda n, key, value: {sized("tag-", i, key): "v" * value for i in range(n)},
    st.sampled_from([0, 3, 40]),
    st.sampled_from([8, 128]),
    st.sampled_from([1, 256]),
)
ENTRIES = st.builds(
    lambda n, name, groups, policies, namespaces, namespaced: [
        {
            "principalARN": f"arn:aws:iam::123456789012:role/{sized('role-', i, name)}",
            "kubernetesGroups": [sized("group-", g, 63) for g in range(groups)],
            "accessPolicies": [
                {
                    "policyARN": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy",
                    "accessScope": {"type": "namespace", "namespaces": [sized("ns-", k, 63) for k in range(namespaces)]}
                    if namespaced
                    else {"type": "cluster"},
                }
                for _ in range(policies)
            ],
        }
        for i in range(n)
    ],
    st.sampled_from([0, 1, 20, 100]),
    st.sampled_from([8, 64]),
    st.sampled_from([0, 3]),
    st.sampled_from([0, 1, 3]),
    st.sampled_from([1, 5]),
    st.booleans(),
)
LARGE_SPECS = st.fixed_dictionaries(
    {
        "name": st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True),
        "region": st.just("us-west-2"),
        "tags": TAGS,
        "vpc": st.fixed_dictionaries(
            {"nat": st.fixed_dictionaries({"gateway": st.sampled_from(["Single", "HighlyAvailable"])})}
        ),
        "iam": st.fixed_dictionaries({"withOIDC": st.booleans()}),
        "addons": st.lists(st.sampled_from(ADDON_NAMES), unique=True).map(lambda names: [{"name": n} for n in names]),
        "accessConfig": st.fixed_dictionaries({"accessEntries": ENTRIES}),
        "managedNodeGroups": st.lists(
            st.fixed_dictionaries({"tags": TAGS, "volumeType": st.just("gp3")}), max_size=3
        ).map(lambda groups: [{**g, "name": f"ng{i}"} for i, g in enumerate(groups)]),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=LARGE_SPECS, zone_count=st.integers(2, 3))
def test_every_template_fits_cloudformations_quotas(body: dict[str, Any], zone_count: int) -> None:
    spec = ClusterSpec.model_validate(body)
    zones = [f"us-west-2{z}" for z in "abc"[:zone_count]]
    built = [templates.build_cluster_template(spec, "0" * 32, zones, DEPLOYED_ROLES)]
    built += [templates.build_nodegroup_template(spec, group, "0" * 32) for group in spec.nodegroups]
    addons = templates.build_addons_template(spec, "0" * 32)
    built += [addons] if addons else []
    for template in built:
        assert len(template["Resources"]) <= cfn_quotas.MAX_RESOURCES
        assert len(template["Outputs"]) <= cfn_quotas.MAX_OUTPUTS
        assert len(template.get("Parameters", {})) <= cfn_quotas.MAX_PARAMETERS
        size = len(templates.to_json(template).encode())
        # In the request, or else by TemplateURL (upload.template_source).
        assert size <= upload.TEMPLATE_BODY_LIMIT or size <= upload.TEMPLATE_URL_LIMIT
        assert cfn_quotas.template_problem(templates.to_json(template)) is None
    # Steer the search toward the largest cluster templates.
    target(float(len(templates.to_json(built[0]))), label="cluster template bytes")
    assert len(templates.stack_tags(spec, "0" * 32, kinds.CLUSTER.name)) <= cfn_quotas.MAX_STACK_TAGS


def test_a_node_roles_permissions_boundary_is_set_on_the_role_of_either_kind_of_group() -> None:
    spec = spec_of(dict(VARIANTS[-1][0]))

    boundaries = [
        resources_of_type(templates.build_nodegroup_template(spec, with_image(group), "cid"), "AWS::IAM::Role")[
            "NodeInstanceRole"
        ]["Properties"].get("PermissionsBoundary")
        for group in spec.nodegroups
    ]

    assert boundaries == ["arn:aws:iam::123456789012:policy/b"] * 2


def test_the_workload_stacks_are_fargates_and_one_per_service_account_that_needs_a_role() -> None:
    spec = spec_of(dict(VARIANTS[-1][0]))

    assert templates.workload_stacks(spec) == [
        {"kind": "fargate", "member": ""},
        {"kind": "iamserviceaccount", "member": "apps-reader"},
    ]
    with pytest.raises(ValueError, match="no iamserviceaccount stack 'default-given'"):
        templates.build_workload_template(spec, "iamserviceaccount", "default-given", "cid")
