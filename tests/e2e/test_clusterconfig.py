"""eksctl ClusterConfig YAML over HTTP: create from it, export it, and refuse what is unsupported."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import yaml

from chalicelib.aws.clients import Clients
from chalicelib.operations.access import connect
from tests.e2e.conftest import wait_until

# Copies of eksctl example files, each headed by its source and licence, and what each is refused for.
from tests.unit.test_clusterconfig import EXAMPLES, EXPECTED_UNSUPPORTED

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "eu-west-1"
CONFIG = f"""
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata:
  name: from-yaml
  region: {REGION}
  tags: {{team: platform}}
vpc:
  cidr: 10.30.0.0/16
  nat: {{gateway: HighlyAvailable}}
managedNodeGroups:
  - name: spot
    instanceTypes: [m5.large, m5a.large]
    spot: true
    desiredCapacity: 3
    maxSize: 5
    taints: [{{key: dedicated, value: batch, effect: NoSchedule}}]
"""


def send(api: Api, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, Any, str]:
    request = urllib.request.Request(api.base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            raw, status, kind = resp.read(), resp.status, resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        raw, status, kind = err.read(), err.code, err.headers.get("Content-Type", "")
    return status, json.loads(raw) if "json" in kind else raw.decode(), kind


def test_a_clusterconfig_creates_what_it_describes(api: Api, engine: LocalEngine) -> None:
    status, body, _ = send(api, "POST", "/clusters", CONFIG.encode(), **{"Content-Type": "application/x-yaml"})
    assert status == 202, body
    record = api.wait_for("from-yaml", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")

    cfn = engine.client("cloudformation", REGION)
    cluster = json.loads(json.dumps(cfn.get_template(StackName="eksctl-from-yaml-cluster")["TemplateBody"]))
    kinds = [r["Type"] for r in cluster["Resources"].values()]
    assert kinds.count("AWS::EC2::NatGateway") == len(record["zones"])
    nodegroup = cfn.get_template(StackName="eksctl-from-yaml-nodegroup-spot")["TemplateBody"]
    properties = nodegroup["Resources"]["ManagedNodeGroup"]["Properties"]
    assert (properties["CapacityType"], properties["InstanceTypes"]) == ("SPOT", ["m5.large", "m5a.large"])
    described = engine.client("eks", REGION).describe_nodegroup(clusterName="from-yaml", nodegroupName="spot")
    assert described["nodegroup"]["scalingConfig"]["desiredSize"] == 3


def test_the_exported_config_creates_the_same_cluster_elsewhere(api: Api) -> None:
    if api.call("GET", "/clusters/from-yaml").status == 404:  # run on its own
        send(api, "POST", "/clusters", CONFIG.encode(), **{"Content-Type": "application/yaml"})
    api.wait_for("from-yaml", {"ACTIVE"})
    status, exported, kind = send(api, "GET", "/clusters/from-yaml/config")
    assert status == 200 and kind == "application/yaml"
    document = yaml.safe_load(exported)
    document["metadata"]["name"] = "copy-of-yaml"

    status, body, _ = send(
        api, "POST", "/clusters", yaml.safe_dump(document).encode(), **{"Content-Type": "application/yaml"}
    )

    assert status == 202, body
    original = api.call("GET", "/clusters/from-yaml").body["spec"]
    copy = api.call("GET", "/clusters/copy-of-yaml").body["spec"]
    assert {**copy, "name": "from-yaml"} == original


def test_the_example_files_get_a_422_naming_their_unsupported_fields_or_are_built(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    """eksctl's own examples: those using refused fields get a 422 naming them; the others run to ACTIVE."""
    # The account has the EC2 key pair example 20 names (it would get a 422 otherwise, as test_ssh_keys shows).
    key = (EXAMPLES.parent / "ssh" / "id_ed25519.pub").read_bytes()
    engine.client("ec2", "us-west-2").import_key_pair(KeyName="my-example-keypair", PublicKeyMaterial=key)
    # Example 35 maps a role to system:masters, which the service policy grants only where it says; example 30
    # gives vpc-cni an inline policy, whose actions the service policy must allow.
    policy(ENV_MASTERS_ALLOWED="*", ENV_ALLOWED_INLINE_ACTIONS="ec2:AssignIpv6Addresses,ec2:Describe*,ec2:CreateTags")
    paths = sorted(EXAMPLES.glob("eksctl-*.yaml"))  # copies of eksctl examples
    assert paths, f"no example files in {EXAMPLES}"
    built: dict[str, str] = {}  # cluster name -> file: every accepted file's workflows run side by side
    for path in paths:
        raw = path.read_bytes()
        status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/x-yaml"})
        if EXPECTED_UNSUPPORTED[path.name]:
            assert status == 422, path.name
            assert body["fields"] and all(f["rule"] == "unsupported_field" for f in body["fields"]), path.name
            continue
        if path.name in REFUSED_WHEN_REQUESTED:
            assert status == 422, (path.name, body)
            assert [(f["field"], f["rule"]) for f in body["fields"]] == REFUSED_WHEN_REQUESTED[path.name]
            continue
        assert status == 202, (path.name, body)
        built[yaml.safe_load(raw)["metadata"]["name"]] = path.name
    # Deleting is tested feature by feature (test_fargate, test_ipv6, test_service_accounts, test_addons, ...).
    for name, file in built.items():
        assert api.wait_for(name, {"ACTIVE", "FAILED"}, timeout=180)["status"] == "ACTIVE", file


# Accepted files whose request is still refused, as on AWS: example 32's custom Windows image is one of eksctl's
# account's in us-west-2, which this account's region does not have.
REFUSED_WHEN_REQUESTED = {"eksctl-32-windows-nodes-with-containerd.yaml": [("nodeGroups[1].ami", "ami_not_found")]}
WINDOWS_EXAMPLE = "eksctl-14-windows-nodes.yaml"


def test_the_windows_example_runs_windows_nodes_mapped_for_kube_proxy_and_is_deleted(
    api: Api, engine: LocalEngine
) -> None:
    """eksctl's example 14: a self-managed Windows group next to a managed Linux one, from POST to DELETED."""
    raw = (EXAMPLES / WINDOWS_EXAMPLE).read_bytes()
    document = yaml.safe_load(raw)
    name, region = document["metadata"]["name"], document["metadata"]["region"]
    if api.call("GET", f"/clusters/{name}").status != 200:  # the example files' test may have made it
        status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/x-yaml"})
        assert status == 202, body
    record = api.wait_for(name, {"ACTIVE", "FAILED"}, timeout=240)
    assert record["status"] == "ACTIVE", record.get("failure")

    # The image EKS publishes for Windows Server 2019 Full and the cluster's version, from its SSM parameter.
    version = record["spec"]["version"]
    published = engine.client("ssm", region).get_parameter(
        Name=f"/aws/service/ami-windows-latest/Windows_Server-2019-English-Full-EKS_Optimized-{version}/image_id"
    )["Parameter"]["Value"]
    (windows,) = record["spec"]["nodeGroups"]
    assert (windows["amiFamily"], windows["imageId"]) == ("WindowsServer2019FullContainer", published)

    cfn = engine.client("cloudformation", region)

    def role_of(group: str) -> str:
        stack = cfn.describe_stacks(StackName=f"eksctl-{name}-nodegroup-{group}")["Stacks"][0]
        return next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "NodeInstanceRoleARN")

    roles = {e["rolearn"]: e["groups"] for e in api.call("GET", f"/clusters/{name}/access").body["mapRoles"]}
    assert roles[role_of("windows-ng")] == ["eks:kube-proxy-windows", "system:bootstrappers", "system:nodes"]
    assert roles[role_of("linux-ng")] == ["system:bootstrappers", "system:nodes"]

    kube = connect(Clients(region), region, name)
    vpc_cni = kube.get_configmap("kube-system", "amazon-vpc-cni") or {}
    assert vpc_cni.get("data", {}).get("enable-windows-ipam") == "true"

    def windows_nodes() -> list[dict[str, Any]] | None:
        nodes = [
            n
            for n in kube.list_nodes()
            if n["metadata"].get("labels", {}).get("alpha.eksctl.io/nodegroup-name") == "windows-ng"
        ]
        return nodes if len(nodes) == windows["desiredCapacity"] else None

    joined = wait_until(windows_nodes, "the Windows nodes to join")
    assert {n["metadata"]["labels"]["kubernetes.io/os"] for n in joined} == {"windows"}

    status, exported, _ = send(api, "GET", f"/clusters/{name}/config")
    assert status == 200
    given = {g["name"]: g for g in yaml.safe_load(exported)["nodeGroups"]}
    assert given["windows-ng"]["amiFamily"] == "WindowsServer2019FullContainer"

    assert api.call("DELETE", f"/clusters/{name}").status == 202
    assert api.wait_for(name, {"DELETED", "DELETE_FAILED"}, timeout=240)["status"] == "DELETED"
    live = [s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackName"].startswith(f"eksctl-{name}-")]
    assert live == []


def test_unsafe_yaml_is_a_400(api: Api) -> None:
    status, body, _ = send(
        api, "POST", "/clusters", b"metadata: !!python/object:os.system {}", **{"Content-Type": "application/x-yaml"}
    )
    assert status == 400
    assert "tags are not accepted" in body["message"]


MODERN = f"""
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {{name: modern, region: {REGION}}}
availabilityZones: [{REGION}a, {REGION}b, {REGION}c]
iam: {{withOIDC: true}}
addons: [{{name: vpc-cni}}, {{name: kube-proxy}}, {{name: coredns}}]
accessConfig:
  authenticationMode: API_AND_CONFIG_MAP
  accessEntries:
    - principalARN: arn:aws:iam::123456789012:role/viewers
      accessPolicies:
        - policyARN: arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy
          accessScope: {{type: cluster}}
managedNodeGroups:
  - name: zonal
    availabilityZones: [{REGION}b]
    volumeType: gp3
    maxPodsPerNode: 110
"""


def test_oidc_addons_access_entries_and_a_zonal_node_group_become_active(api: Api, engine: LocalEngine) -> None:
    status, body, _ = send(api, "POST", "/clusters", MODERN.encode(), **{"Content-Type": "application/x-yaml"})
    assert status == 202, body
    record = api.wait_for("modern", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    assert record["zones"] == [f"{REGION}a", f"{REGION}b", f"{REGION}c"]

    described = engine.client("eks", REGION).describe_nodegroup(clusterName="modern", nodegroupName="zonal")
    ec2 = engine.client("ec2", REGION)
    zones = {
        s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=described["nodegroup"]["subnets"])["Subnets"]
    }
    assert zones == {f"{REGION}b"}
    cluster = engine.client("cloudformation", REGION).get_template(StackName="eksctl-modern-cluster")["TemplateBody"]
    kinds = sorted({r["Type"] for r in cluster["Resources"].values()})
    assert {"AWS::IAM::OIDCProvider", "AWS::EKS::Addon", "AWS::EKS::AccessEntry"} <= set(kinds)
    providers = engine.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]
    outputs = engine.client("cloudformation", REGION).describe_stacks(StackName="eksctl-modern-cluster")["Stacks"][0]
    arn = {o["OutputKey"]: o["OutputValue"] for o in outputs["Outputs"]}["OIDCProviderARN"]
    assert arn in [p["Arn"] for p in providers]
