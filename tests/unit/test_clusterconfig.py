"""eksctl ClusterConfig in and out: the example files, safe YAML, templates, round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.cfn import templates
from chalicelib.model import clusterconfig
from chalicelib.model.errors import BadRequestError, SpecValidationError
from chalicelib.model.spec import ClusterSpec
from tests.cfn_lint import cfn_lint
from tests.unit.test_templates import ZONES, all_templates, resources_of_type

# Copies of eksctl example files, each headed by its source and licence.
EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs"
# Each example file and exactly the fields it uses that are not supported (none: it is accepted).
EXPECTED_UNSUPPORTED: dict[str, list[str]] = {
    "eksctl-01-simple-cluster.yaml": [],
    "eksctl-16-fargate-profile.yaml": [],
    "eksctl-20-bottlerocket.yaml": [],
    "eksctl-15-managed-nodes.yaml": [
        # Over HTTP: the service cannot read a key file; `ekspress create cluster -f` reads it (test_ssh_keys).
        "managedNodeGroups[0].ssh.publicKeyPath",
    ],
    "eksctl-35-iamidentitymappings.yaml": [],
    "eksctl-42-auto-mode.yaml": [],
    "eksctl-11-cloudwatch-cluster-logging.yaml": [],
    "eksctl-41-zonal-shift.yaml": [],
    "eksctl-45-upgrade-policy-example.yaml": [],
    "eksctl-46-control-plane-scaling-config.yaml": [],
    "eksctl-02-custom-vpc-cidr-no-nodes.yaml": [],
    "eksctl-30-vpc-with-ip-family.yaml": [],
    "eksctl-14-windows-nodes.yaml": [],
    "eksctl-32-windows-nodes-with-containerd.yaml": [],
}


def config(**fields: Any) -> bytes:
    document = {"apiVersion": "eksctl.io/v1alpha5", "kind": "ClusterConfig", **fields}
    return yaml.safe_dump(document).encode()


def test_every_example_file_is_listed() -> None:
    found = sorted(p.name for p in EXAMPLES.glob("eksctl-*.yaml"))  # copies of eksctl examples
    assert found, f"no example files in {EXAMPLES}"
    assert found == sorted(EXPECTED_UNSUPPORTED)


@pytest.mark.parametrize("name", sorted(EXPECTED_UNSUPPORTED))
def test_each_example_gets_a_422_naming_exactly_its_unsupported_fields(name: str) -> None:
    if not EXPECTED_UNSUPPORTED[name]:
        assert clusterconfig.parse((EXAMPLES / name).read_bytes()).name
        return
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse((EXAMPLES / name).read_bytes())

    fields = refused.value.details["fields"]
    assert [f["field"] for f in fields] == EXPECTED_UNSUPPORTED[name]
    assert {f["rule"] for f in fields} == {"unsupported_field"}
    if "nodeGroups" in EXPECTED_UNSUPPORTED[name]:
        (self_managed,) = [f for f in fields if f["field"] == "nodeGroups"]
        assert "use managedNodeGroups" in self_managed["message"]


# Example 15's placeholders (`sg-1`, `ami-custom`, `lt-1234`) as IDs AWS could have.
_PLACEHOLDERS = {
    "sg-1": "sg-0123456789abcdef1",
    "sg-2": "sg-0123456789abcdef2",
    "ami-custom": "ami-0123456789abcdef0",
    "lt-1234": "lt-0123456789abcdef0",
}


def _real_ids(document: dict[str, Any]) -> None:
    """Example 15's placeholder IDs made real; its ssh group with attachIDs loses ssh (EKS takes no
    RemoteAccess with a launch template, and attached groups need one)."""
    for group in document.get("managedNodeGroups", []):
        if "securityGroups" in group:
            group["securityGroups"]["attachIDs"] = [
                _PLACEHOLDERS.get(g, g) for g in group["securityGroups"]["attachIDs"]
            ]
            group.pop("ssh", None)
        if "ami" in group:
            group["ami"] = _PLACEHOLDERS.get(group["ami"], group["ami"])
        if "launchTemplate" in group:
            group["launchTemplate"]["id"] = _PLACEHOLDERS.get(
                group["launchTemplate"]["id"], group["launchTemplate"]["id"]
            )


def test_the_examples_without_their_unsupported_fields_build() -> None:
    """What the examples do use maps onto templates: strip the refused fields and build them."""
    for name, paths in EXPECTED_UNSUPPORTED.items():
        document = yaml.safe_load((EXAMPLES / name).read_text())
        for path in paths:
            parent: Any = document
            parts = path.replace("]", "").replace("[", ".").split(".")
            for part in parts[:-1]:
                parent = parent[int(part)] if part.isdigit() else parent[part]
            del parent[parts[-1]]
        zones = sorted({z for g in document.get("managedNodeGroups", []) for z in g.get("availabilityZones", [])})
        if zones:  # node group zones are chosen among the cluster's
            document["availabilityZones"] = zones
        for group in document.get("managedNodeGroups", []):  # a key file is refused: name a key pair instead
            if group.get("ssh", {}).get("allow") and "publicKeyName" not in group["ssh"]:
                group["ssh"]["publicKeyName"] = "ops"
        if document.get("iamIdentityMappings"):  # a mapping with only refused fields is left out
            document["iamIdentityMappings"] = [m for m in document["iamIdentityMappings"] if m]
        _real_ids(document)
        spec = clusterconfig.parse(yaml.safe_dump(document).encode())
        for template in all_templates(spec, ZONES):
            assert cfn_lint(template, spec.region) == [], name


def test_example_15_keeps_its_managed_node_group_settings() -> None:
    document = yaml.safe_load((EXAMPLES / "eksctl-15-managed-nodes.yaml").read_text())
    group = document["managedNodeGroups"][0]
    for unsupported in ("availabilityZones", "securityGroups", "ssh", "iam"):
        del group[unsupported]
    spec = clusterconfig.parse(config(metadata=document["metadata"], managedNodeGroups=[group]))

    properties = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")["Resources"]["ManagedNodeGroup"][
        "Properties"
    ]
    assert properties["ScalingConfig"] == {"MinSize": 2, "DesiredSize": 3, "MaxSize": 4}
    assert properties["DiskSize"] == 20
    assert properties["Labels"] == {"role": "worker"}
    assert properties["Taints"] == [
        {"Key": "key1", "Value": "value1", "Effect": "NO_SCHEDULE"},
        {"Key": "key2", "Effect": "NO_EXECUTE"},
    ]
    assert properties["Tags"]["nodegroup-role"] == "worker"
    assert properties["UpdateConfig"] == {"MaxUnavailable": 3}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"a: !!python/object:os.system {}", "tags are not accepted"),
        (b"metadata: !Ref Something", "tags are not accepted"),
        (b"base: &b {name: x}\nmetadata: *b", "anchors and aliases"),
        (b"a: [" * 20 + b"]" * 20, "nests deeper"),
        (b"x: " + b"y" * (clusterconfig.MAX_YAML_BYTES + 1), "larger than"),
        (b"a: 1\n---\nb: 2\n", "exactly one"),
        (b"a: [unclosed", "not valid YAML"),
        (b"metadata: {name: a, name: b}", "has the key 'metadata.name' twice"),
        (b"metadata: {<<: {name: a}, name: b}", "merge keys"),
    ],
)
def test_yaml_is_read_safely(raw: bytes, problem: str) -> None:
    with pytest.raises(BadRequestError, match=problem):
        clusterconfig.load_yaml(raw)


@pytest.mark.parametrize(
    ("raw", "field", "line"),
    [
        (b"kind: ClusterConfig\nmetadata:\n  name: a\n  region: us-west-2\n  name: b\n", "metadata.name", 5),
        (b"managedNodeGroups:\n- name: a\n- name: b\n  minSize: 1\n  minSize: 3\n", "managedNodeGroups[1].minSize", 5),
        (b"metadata:\n  tags: {team: x, team: y}\n", "metadata.tags.team", 2),
        (b"kind: ClusterConfig\nkind: ClusterConfig\n", "kind", 2),
        # Keys are compared as built, as a dict would: PyYAML reads both of these as the number 1.
        (b"labels:\n  1: a\n  1.0: b\n", "labels.1.0", 3),
    ],
)
def test_given_a_key_twice_in_one_mapping_then_400_names_its_path(raw: bytes, field: str, line: int) -> None:
    with pytest.raises(BadRequestError) as refused:
        clusterconfig.load_yaml(raw)

    assert refused.value.details["fields"] == [
        {"field": field, "rule": "duplicate_key", "message": "a key may appear once per mapping"}
    ]
    assert f"(line {line})" in refused.value.message


def test_the_same_key_in_different_mappings_is_fine() -> None:
    document = clusterconfig.load_yaml(b"managedNodeGroups:\n- {name: a, minSize: 1}\n- {name: b, minSize: 1}\n")

    assert document == {"managedNodeGroups": [{"name": "a", "minSize": 1}, {"name": "b", "minSize": 1}]}


def test_given_a_billion_laughs_document_then_it_is_refused_before_anything_is_built() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    raw = "\n".join(lines).encode()
    assert len(raw) < clusterconfig.MAX_YAML_BYTES, "small on the wire; 9**10 strings once built"

    with pytest.raises(BadRequestError, match="anchors and aliases"):
        clusterconfig.load_yaml(raw)


def test_api_version_and_kind_are_checked() -> None:
    raw = yaml.safe_dump({"apiVersion": "eksctl.io/v1alpha4", "kind": "Cluster", "metadata": {"name": "x"}})
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(raw.encode())
    assert [f["field"] for f in refused.value.details["fields"]] == ["apiVersion", "kind"]


def test_errors_name_clusterconfig_paths() -> None:
    raw = config(metadata={"name": "-bad"}, managedNodeGroups=[{"name": "a", "minSize": 3, "maxSize": 1}])
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(raw)
    assert {f["field"] for f in refused.value.details["fields"]} == {"metadata.name", "managedNodeGroups[0].maxSize"}


def test_cluster_fields_reach_the_cluster_template() -> None:
    spec = clusterconfig.parse(
        config(
            metadata={"name": "wide", "region": "eu-west-1", "version": "1.31", "tags": {"team": "x"}},
            availabilityZones=["eu-west-1a", "eu-west-1b", "eu-west-1c"],
            vpc={
                "cidr": "10.1.0.0/16",
                "nat": {"gateway": "HighlyAvailable"},
                "clusterEndpoints": {"publicAccess": True, "privateAccess": True},
                "publicAccessCIDRs": ["198.51.100.0/24"],
            },
            cloudWatch={"clusterLogging": {"enableTypes": ["all"]}},
            kubernetesNetworkConfig={"serviceIPv4CIDR": "172.20.0.0/16"},
        )
    )
    assert spec.availability_zones == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    template = templates.build_cluster_template(spec, "cid", spec.availability_zones or [])

    assert len(resources_of_type(template, "AWS::EC2::NatGateway")) == 3
    assert len(resources_of_type(template, "AWS::EC2::RouteTable")) == 4
    control = template["Resources"]["ControlPlane"]["Properties"]
    assert control["Version"] == "1.31"
    assert control["ResourcesVpcConfig"]["EndpointPrivateAccess"] is True
    assert control["ResourcesVpcConfig"]["PublicAccessCidrs"] == ["198.51.100.0/24"]
    assert [t["Type"] for t in control["Logging"]["ClusterLogging"]["EnabledTypes"]] == [
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    ]
    assert control["KubernetesNetworkConfig"] == {"ServiceIpv4Cidr": "172.20.0.0/16"}
    assert cfn_lint(template, "eu-west-1") == []


def test_without_nat_private_subnets_have_no_default_route_and_private_nodes_are_refused() -> None:
    spec = clusterconfig.parse(config(metadata={"name": "closed"}, vpc={"nat": {"gateway": "Disable"}}))
    template = templates.build_cluster_template(spec, "cid", ZONES[:2])
    assert resources_of_type(template, "AWS::EC2::NatGateway") == {}
    assert len(resources_of_type(template, "AWS::EC2::Route")) == 1  # the public route to the internet gateway

    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(
            config(
                metadata={"name": "closed"},
                vpc={"nat": {"gateway": "Disable"}},
                managedNodeGroups=[{"name": "p", "privateNetworking": True}],
            )
        )
    assert refused.value.details["fields"][0]["rule"] == "no_nat"


def test_node_group_fields_reach_the_node_group_template() -> None:
    spec = clusterconfig.parse(
        config(
            metadata={"name": "ng", "version": "1.32"},  # EKS has AL2 images up to 1.32
            managedNodeGroups=[
                {
                    "name": "arm-spot",
                    "instanceTypes": ["m6g.large", "m7g.large"],
                    "spot": True,
                    "amiFamily": "AmazonLinux2",
                    "updateConfig": {"maxUnavailablePercentage": 33},
                }
            ],
        )
    )
    properties = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")["Resources"]["ManagedNodeGroup"][
        "Properties"
    ]
    assert properties["InstanceTypes"] == ["m6g.large", "m7g.large"]
    assert properties["CapacityType"] == "SPOT"
    assert properties["AmiType"] == "AL2_ARM_64"
    assert properties["UpdateConfig"] == {"MaxUnavailablePercentage": 33}


def test_a_stored_spec_with_both_instance_fields_reads_back() -> None:
    spec = ClusterSpec.model_validate(
        {"name": "x", "managedNodeGroups": [{"name": "a", "instanceTypes": ["c5.large"]}]}
    )
    again = ClusterSpec.model_validate(spec.model_dump(mode="json", exclude_none=True))
    assert again == spec and again.nodegroups[0].instance_type == "c5.large"


def test_instance_type_and_instance_types_are_exclusive() -> None:
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(
            config(
                metadata={"name": "x"},
                managedNodeGroups=[{"name": "a", "instanceType": "m5.large", "instanceTypes": ["c5.large"]}],
            )
        )
    assert refused.value.details["fields"][0]["rule"] == "one_of"


def test_export_then_import_gives_the_same_spec() -> None:
    spec = ClusterSpec.model_validate(
        {
            "name": "round",
            "region": "ap-northeast-1",
            "tags": {"team": "x"},
            "vpc": {"cidr": "10.9.0.0/16", "nat": {"gateway": "HighlyAvailable"}, "publicAccessCIDRs": ["1.2.3.0/24"]},
            "managedNodeGroups": [
                {
                    "name": "a",
                    "instanceTypes": ["c5.large"],
                    "spot": True,
                    "taints": [{"key": "k", "effect": "NoExecute"}],
                },
                {"name": "b", "labels": {"x": "y"}, "privateNetworking": True, "minSize": 1, "maxSize": 5},
            ],
            "iamIdentityMappings": [
                {"arn": "arn:aws:iam::123456789012:role/dev", "groups": ["dev"]},
                {"serviceName": "emr-containers", "namespace": "emr"},
            ],
            "cloudWatch": {"clusterLogging": {"enableTypes": ["api"]}},
        }
    )

    exported = yaml.safe_dump(clusterconfig.from_spec(spec), sort_keys=False).encode()

    assert clusterconfig.parse(exported) == spec


NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)
NODEGROUP = st.fixed_dictionaries(
    {
        "instanceType": st.sampled_from(["m5.large", "c6g.xlarge", "t3.medium"]),
        "desiredCapacity": st.integers(0, 20),
        "volumeSize": st.integers(20, 500),
        "privateNetworking": st.booleans(),
        "spot": st.booleans(),
        "amiFamily": st.sampled_from(["AmazonLinux2023", "AmazonLinux2", "Bottlerocket"]),
        "labels": st.dictionaries(
            st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.from_regex(r"[a-z0-9]{0,8}", fullmatch=True), max_size=3
        ),
    }
)
SPECS = st.fixed_dictionaries(
    {
        "name": NAMES,
        "region": st.sampled_from(["us-west-2", "eu-west-1", "ap-northeast-1"]),
        "version": st.sampled_from(["1.30", "1.31", "1.32", "1.33", "1.34"]),
        "vpc": st.fixed_dictionaries(
            {
                "cidr": st.sampled_from(["192.168.0.0/16", "10.0.0.0/16", "172.16.0.0/20", "10.42.0.0/24"]),
                "nat": st.fixed_dictionaries({"gateway": st.sampled_from(["Single", "HighlyAvailable"])}),
            }
        ),
        "managedNodeGroups": st.lists(NODEGROUP, max_size=3),
        "cloudWatch": st.fixed_dictionaries(
            {
                "clusterLogging": st.fixed_dictionaries(
                    {"enableTypes": st.lists(st.sampled_from(["api", "audit"]), max_size=2)}
                )
            }
        ),
    }
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=SPECS, zone_count=st.integers(2, 3))
def test_any_valid_spec_builds_templates_that_pass_cfn_lint(body: dict[str, Any], zone_count: int) -> None:
    groups = [{**g, "name": f"ng{i}"} for i, g in enumerate(body["managedNodeGroups"])]
    spec = ClusterSpec.model_validate({**body, "managedNodeGroups": groups})
    zones = [f"{spec.region}{z}" for z in "abc"[:zone_count]]
    for template in all_templates(spec, zones):
        assert cfn_lint(template, spec.region) == [], json.dumps(body)


def test_oidc_addons_and_access_entries_reach_the_cluster_template() -> None:
    spec = clusterconfig.parse(
        config(
            metadata={"name": "modern", "region": "us-west-2"},
            iam={"withOIDC": True},
            addons=[{"name": "vpc-cni", "version": "v1.18.3-eksbuild.2"}, {"name": "coredns"}, {"name": "kube-proxy"}],
            accessConfig={
                "authenticationMode": "API",
                "accessEntries": [
                    {
                        "principalARN": "arn:aws:iam::123456789012:role/viewers",
                        "kubernetesGroups": ["viewers"],
                        "accessPolicies": [
                            {
                                "policyARN": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
                                "accessScope": {"type": "namespace", "namespaces": ["default"]},
                            }
                        ],
                    }
                ],
            },
        )
    )
    template = templates.build_cluster_template(spec, "cid", ZONES[:2])

    oidc = template["Resources"]["OIDCProvider"]["Properties"]
    assert oidc["Url"] == {"Fn::GetAtt": ["ControlPlane", "OpenIdConnectIssuerUrl"]}
    assert template["Outputs"]["OIDCProviderARN"]["Value"] == {"Ref": "OIDCProvider"}
    addons = resources_of_type(template, "AWS::EKS::Addon")
    # coredns needs nodes: it is the add-ons stack's, made after the node groups.
    assert sorted(a["Properties"]["AddonName"] for a in addons.values()) == ["kube-proxy", "vpc-cni"]
    assert template["Resources"]["AddonVpcCni"]["Properties"]["AddonVersion"] == "v1.18.3-eksbuild.2"
    after_nodes = templates.build_addons_template(spec, "cid")
    assert after_nodes is not None
    assert "AddonVersion" not in after_nodes["Resources"]["AddonCoredns"]["Properties"]
    control = template["Resources"]["ControlPlane"]["Properties"]
    assert control["AccessConfig"]["AuthenticationMode"] == "API"
    (entry,) = resources_of_type(template, "AWS::EKS::AccessEntry").values()
    assert entry["Properties"]["PrincipalArn"] == "arn:aws:iam::123456789012:role/viewers"
    assert entry["Properties"]["AccessPolicies"][0]["AccessScope"] == {"Type": "namespace", "Namespaces": ["default"]}
    assert cfn_lint(template, "us-west-2") == []


def test_node_groups_can_keep_to_some_zones_and_get_a_launch_template_when_needed() -> None:
    spec = clusterconfig.parse(
        config(
            metadata={"name": "lt", "region": "us-west-2"},
            availabilityZones=["us-west-2a", "us-west-2b", "us-west-2c"],
            managedNodeGroups=[
                {"name": "one-zone", "availabilityZones": ["us-west-2b"], "volumeType": "gp2", "volumeSize": 100},
                {"name": "dense", "maxPodsPerNode": 110},
                {"name": "bottle", "amiFamily": "Bottlerocket", "maxPodsPerNode": 58},
            ],
        )
    )
    one_zone, dense, bottle = (templates.build_nodegroup_template(spec, group, "cid") for group in spec.nodegroups)

    properties = one_zone["Resources"]["ManagedNodeGroup"]["Properties"]
    assert properties["Subnets"] == [{"Fn::ImportValue": "eksctl-lt-cluster::SubnetsPublic2"}]
    assert "DiskSize" not in properties
    assert properties["LaunchTemplate"]["Id"] == {"Ref": "LaunchTemplate"}
    disk = one_zone["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["BlockDeviceMappings"][0]
    assert disk == {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 100, "VolumeType": "gp2", "Encrypted": True}}
    assert (
        "maxPods: 110"
        in dense["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
    )
    bottle_data = bottle["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert "max-pods = 58" in bottle_data["UserData"]["Fn::Base64"]
    assert bottle_data["BlockDeviceMappings"][0]["DeviceName"] == "/dev/xvdb"
    cluster = templates.build_cluster_template(spec, "cid", spec.availability_zones or [])
    assert cluster["Outputs"]["SubnetsPublic2"]["Export"]["Name"] == "eksctl-lt-cluster::SubnetsPublic2"
    for template in (cluster, one_zone, dense, bottle):
        assert cfn_lint(template, "us-west-2") == []


@pytest.mark.parametrize(
    ("fields", "where", "rule"),
    [
        (
            {"managedNodeGroups": [{"name": "a", "availabilityZones": ["us-west-2a"]}]},
            "managedNodeGroups[0].availabilityZones[0]",
            "zone_not_in_cluster",
        ),
        (
            {"managedNodeGroups": [{"name": "a", "amiFamily": "AmazonLinux2", "maxPodsPerNode": 50}]},
            "managedNodeGroups[0]",
            "max_pods_ami",
        ),
        (
            {
                "accessConfig": {
                    "authenticationMode": "CONFIG_MAP",
                    "accessEntries": [{"principalARN": "arn:aws:iam::123456789012:role/x"}],
                }
            },
            "accessConfig.accessEntries",
            "access_mode",
        ),
        (
            {"accessConfig": {"authenticationMode": "API"}, "iamIdentityMappings": [{"account": "123456789012"}]},
            "iamIdentityMappings",
            "access_mode",
        ),
        (
            {
                "accessConfig": {
                    "accessEntries": [
                        {"principalARN": "arn:aws:iam::123456789012:role/x", "kubernetesGroups": ["system:masters"]}
                    ]
                }
            },
            "accessConfig.accessEntries[0].kubernetesGroups",
            "group_reserved",
        ),
        ({"addons": [{"name": "istio"}]}, "addons[0].name", "literal_error"),
    ],
)
def test_combinations_eks_refuses_are_refused_here(fields: dict[str, Any], where: str, rule: str) -> None:
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(config(metadata={"name": "x", "region": "us-west-2"}, **fields))
    assert (where, rule) in [(f["field"], f["rule"]) for f in refused.value.details["fields"]]


def test_ekspress_own_fields_stay_behind_in_the_exported_config_so_it_reads_back() -> None:
    spec = ClusterSpec.model_validate({"name": "own", "ttlHours": 4, "protected": True, "timeoutMinutes": 40})

    exported = clusterconfig.from_spec(spec)

    assert not {"ttlHours", "protected", "timeoutMinutes"} & set(exported)
    assert clusterconfig.parse(yaml.safe_dump(exported).encode()).name == "own"


def test_example_27_is_refused_only_for_its_unprefixed_email_user_names() -> None:
    # EKS prefixes OIDC user names with the issuer unless the claim is `email`: unprefixed, the issuer could
    # name Kubernetes' own users. With a usernamePrefix the example builds.
    raw = (EXAMPLES_27 := EXAMPLES / "example-27-oidc-provider.yaml").read_bytes()
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(raw)
    assert [(f["field"], f["rule"]) for f in refused.value.details["fields"]] == [
        ("identityProviders[0].usernamePrefix", "oidc_username_prefix")
    ]
    document = yaml.safe_load(EXAMPLES_27.read_text())
    document["identityProviders"][0]["usernamePrefix"] = "oidc:"
    assert clusterconfig.parse(yaml.safe_dump(document).encode()).identity_providers
