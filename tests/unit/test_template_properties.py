"""Properties of every template across random valid specs: cfn-lint finds nothing, CloudFormation's limits hold.

Specs mix managed and self-managed node groups (with SSH keys named or imported) over a dedicated VPC (each
NAT mode, CIDRs from /16 to /24) or an existing VPC's subnets, with or without hybrid nodes' remote networks;
the cluster template and each node group's are built as the workflow builds them (a self-managed group's
image resolved first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.cfn import templates, upload
from chalicelib.model.selfmanaged_spec import ASG_PROCESSES
from chalicelib.model.spec import ClusterSpec
from tests.cfn_lint import cfn_lint
from tests.unit.test_templates import with_image

REGION = "us-west-2"
ZONES = ["us-west-2a", "us-west-2b", "us-west-2c"]
# CloudFormation's quotas on one template.
MAX_RESOURCES, MAX_OUTPUTS, MAX_PARAMETERS = 500, 200, 200

LABEL_KEYS = st.sampled_from(["role", "team", "example.com/tier", "workload"])
LABELS = st.dictionaries(LABEL_KEYS, st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), max_size=3)
TAINTS = st.lists(
    st.fixed_dictionaries(
        {"key": LABEL_KEYS, "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"])},
        optional={"value": st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)},
    ),
    max_size=2,
)
SIZES = st.integers(0, 3).flatmap(
    lambda low: st.fixed_dictionaries({"minSize": st.just(low), "maxSize": st.integers(max(low, 1), 6)})
)
VOLUMES = st.one_of(
    st.just({}),
    st.just({"volumeType": "gp2"}),
    st.builds(
        lambda iops, tp: {"volumeType": "gp3", "volumeIOPS": iops, "volumeThroughput": tp},
        st.integers(3000, 16000),
        st.integers(125, 1000),
    ),
    st.builds(lambda iops: {"volumeType": "io1", "volumeIOPS": iops}, st.integers(100, 64000)),
)
ZONE_SUBSET = st.lists(st.sampled_from(ZONES[:2]), min_size=1, max_size=2, unique=True)
KEY_FILES = Path(__file__).resolve().parents[1] / "data" / "ssh"
# An EC2 key pair by name, or an OpenSSH key the group's stack imports (AWS::EC2::KeyPair).
SSH_KEYS = st.sampled_from(
    [
        {"publicKeyName": "ops"},
        {"publicKey": (KEY_FILES / "id_rsa.pub").read_text().strip()},
        {"publicKey": (KEY_FILES / "id_ed25519.pub").read_text().strip()},
    ]
)


def _managed(draw: Any, index: int) -> dict[str, Any]:
    family = draw(st.sampled_from(["AmazonLinux2023", "Bottlerocket", "AmazonLinux2"]))
    group: dict[str, Any] = {"name": f"managed{index}", "amiFamily": family, **draw(SIZES)}
    group["instanceType"] = draw(st.sampled_from(["m5.large", "m6g.large", "c5.xlarge"]))
    group["labels"] = draw(LABELS)
    group["taints"] = draw(TAINTS)
    group.update(draw(VOLUMES))
    if family != "AmazonLinux2" and draw(st.booleans()):
        group["maxPodsPerNode"] = draw(st.integers(10, 110))
    if draw(st.booleans()):
        group["availabilityZones"] = draw(ZONE_SUBSET)
    group["spot"] = draw(st.booleans())
    group["privateNetworking"] = draw(st.booleans())
    if draw(st.booleans()):  # port 22 closed: the key goes in the group's launch template
        group["ssh"] = {**draw(SSH_KEYS), "allow": False}
    return group


ADDON_FLAGS = [
    "autoScaler",
    "ebs",
    "efs",
    "albIngress",
    "cloudWatch",
    "externalDNS",
    "certManager",
    "imageBuilder",
    "xRay",
    "fsx",
]


def _self_managed(draw: Any, index: int, existing: bool) -> dict[str, Any]:
    family = draw(st.sampled_from(["AmazonLinux2023", "Bottlerocket", "AmazonLinux2"]))
    group: dict[str, Any] = {"name": f"self{index}", "amiFamily": family, **draw(SIZES)}
    group["labels"] = draw(LABELS)
    group["taints"] = draw(TAINTS)
    group["privateNetworking"] = draw(st.booleans())
    group.update(draw(VOLUMES))
    if draw(st.booleans()):
        group["instancesDistribution"] = {
            "instanceTypes": draw(
                st.lists(st.sampled_from(["m5.large", "m5a.large", "m6i.large"]), min_size=1, max_size=3, unique=True)
            ),
            "onDemandBaseCapacity": draw(st.integers(0, 2)),
            "onDemandPercentageAboveBaseCapacity": draw(st.integers(0, 100)),
            "spotAllocationStrategy": draw(st.sampled_from(["capacity-optimized", "price-capacity-optimized"])),
            "capacityRebalance": draw(st.booleans()),
        }
        if draw(st.booleans()):
            group["instancesDistribution"]["maxPrice"] = draw(st.floats(0.01, 1.0))
    else:
        group["instanceType"] = draw(st.sampled_from(["m5.large", "t3.medium", "c6g.large"]))
    local, shared = draw(st.booleans()), draw(st.booleans())
    groups: dict[str, Any] = {"withLocal": local, "withShared": shared}
    if not (local or shared) or draw(st.booleans()):
        groups["attachIDs"] = ["sg-0123456789abcdef0"]
    group["securityGroups"] = groups
    if draw(st.booleans()):
        allow = local and draw(st.booleans())  # port 22 is opened on the group's own security group
        group["ssh"] = {**draw(SSH_KEYS), "allow": allow}
        if allow and draw(st.booleans()):
            group["ssh"]["sourceSecurityGroupIds"] = ["sg-0123456789abcdef1"]
    if draw(st.booleans()):
        group["maxPodsPerNode"] = draw(st.integers(10, 110))
    if family != "Bottlerocket":
        if draw(st.booleans()):
            group["preBootstrapCommands"] = draw(
                st.lists(st.sampled_from(["echo ${HOME}", "yum update -y"]), max_size=2)
            )
        if draw(st.booleans()):
            group["kubeletExtraConfig"] = {"kubeReserved": {"cpu": "100m"}}
    if draw(st.booleans()):
        group["iam"] = {
            "withAddonPolicies": {flag: True for flag in draw(st.lists(st.sampled_from(ADDON_FLAGS), unique=True))}
        }
    for field in ("disableIMDSv1", "disablePodIMDS", "propagateASGTags", "ebsOptimized", "enableDetailedMonitoring"):
        if draw(st.booleans()):
            group[field] = draw(st.booleans())
    if draw(st.booleans()):
        group["volumeEncrypted"] = True
        if draw(st.booleans()):
            group["volumeKmsKeyID"] = "arn:aws:kms:us-west-2:123456789012:key/00000000-0000-0000-0000-000000000000"
    if draw(st.booleans()):
        group["asgMetricsCollection"] = [{"granularity": "1Minute"}]
    if draw(st.booleans()):
        group["asgSuspendProcesses"] = draw(st.lists(st.sampled_from(ASG_PROCESSES), min_size=1, unique=True))
    if existing and draw(st.booleans()):
        group["subnets"] = draw(
            st.lists(
                st.sampled_from(["us-west-2a", "us-west-2b", "subnet-00000000000000004"]),
                min_size=1,
                max_size=2,
                unique=True,
            )
        )
    elif draw(st.booleans()):
        group["availabilityZones"] = draw(ZONE_SUBSET)
    return group


@st.composite
def specs(draw: Any) -> tuple[dict[str, Any], list[str]]:
    existing = draw(st.booleans())
    zones = ZONES[: draw(st.integers(2, 3))]
    body: dict[str, Any] = {"name": draw(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)), "region": REGION}
    body["tags"] = draw(st.dictionaries(st.sampled_from(["team", "cost", "env"]), st.just("x"), max_size=3))
    if existing:
        zones = ZONES[:2]
        ids = iter(f"subnet-0000000000000000{n}" for n in range(1, 9))
        body["vpc"] = {
            "id": "vpc-0a1b2c3d4e5f60718",
            "subnets": {kind: {zone: {"id": next(ids)} for zone in zones} for kind in ("public", "private")},
        }
        if draw(st.booleans()):
            body["vpc"]["sharedNodeSecurityGroup"] = "sg-0fedcba9876543210"
            body["vpc"]["manageSharedNodeSecurityGroupRules"] = draw(st.booleans())
    else:
        body["availabilityZones"] = zones
        body["vpc"] = {
            "cidr": draw(st.sampled_from(["192.168.0.0/16", "10.0.0.0/16", "10.20.30.0/24", "172.16.0.0/20"])),
            "nat": {"gateway": draw(st.sampled_from(["Single", "HighlyAvailable", "Disable"]))},
        }
    if draw(st.booleans()):
        body["kubernetesNetworkConfig"] = {"serviceIPv4CIDR": "172.20.0.0/16"}
    if draw(st.booleans()):  # hybrid nodes: space none of the VPCs, nor either service range, uses
        body["remoteNetworkConfig"] = {
            "remoteNodeNetworks": [
                {"cidrs": draw(st.sampled_from([["100.64.0.0/24"], ["10.200.0.0/24", "10.201.0.0/24"]]))}
            ]
        }
        if draw(st.booleans()):
            body["remoteNetworkConfig"]["remotePodNetworks"] = [{"cidrs": ["100.65.0.0/16"]}]
    managed = [_managed(draw, i) for i in range(draw(st.integers(0, 1)))]
    self_managed = [_self_managed(draw, i, existing) for i in range(draw(st.integers(1, 2)))]
    if not existing and body["vpc"]["nat"]["gateway"] == "Disable":  # private nodes need NAT to join
        for group in [*managed, *self_managed]:
            group.pop("privateNetworking", None)
    if not existing and "remoteNetworkConfig" not in body and draw(st.booleans()):
        # Fully private: no NAT gateway to ask for, endpoints instead, every group in the private subnets.
        services = draw(st.lists(st.sampled_from(["autoscaling", "cloudformation", "logs"]), unique=True))
        body["privateCluster"] = {"enabled": True, "additionalEndpointServices": services}
        del body["vpc"]["nat"]
        for group in [*managed, *self_managed]:
            group["privateNetworking"] = True
    body["managedNodeGroups"], body["nodeGroups"] = managed, self_managed
    return body, zones


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(drawn=specs())
def test_every_template_lints_clean_and_fits_cloudformation(drawn: tuple[dict[str, Any], list[str]]) -> None:
    body, zones = drawn
    spec = ClusterSpec.model_validate(body)
    built = [templates.build_cluster_template(spec, "0" * 32, zones)]
    if spec.private_cluster:  # and as the create's last step rebuilds it, the public endpoint off
        built.append(templates.build_cluster_template(spec, "0" * 32, zones, public_endpoint_closed=True))
    built += [templates.build_nodegroup_template(spec, with_image(g), "0" * 32) for g in spec.nodegroups]
    for template in built:
        assert cfn_lint(template, REGION) == [], template["Description"]
        assert len(template["Resources"]) <= MAX_RESOURCES
        assert len(template["Outputs"]) <= MAX_OUTPUTS
        assert len(template.get("Parameters", {})) <= MAX_PARAMETERS
        # In the request (TemplateBody, 51,200 bytes), or else by TemplateURL (upload.template_source).
        assert len(templates.to_json(template).encode()) <= upload.TEMPLATE_URL_LIMIT
