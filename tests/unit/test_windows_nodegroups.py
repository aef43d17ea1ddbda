"""Windows node groups (eksctl's examples 14 and 32): the families, eksctl's rules, templates, user data, aws-auth."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from chalicelib.cfn import node_userdata, templates
from chalicelib.kube import awsauth, windows_ipam
from chalicelib.kube.client import KubeConflictError
from chalicelib.model import clusterconfig, images
from chalicelib.model.spec import ClusterSpec
from chalicelib.model.validation import describe_errors
from chalicelib.operations.access import windows_node_roles
from local import bootstrap_userdata, eks_images
from tests.unit.test_templates import TEST_IMAGE_ID, cfn_lint

REGION = "us-west-2"
ENDPOINT = "https://ABCDEF.gr7.us-west-2.eks.amazonaws.com"
CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"
LINUX = {"name": "linux"}
WINDOWS = "WindowsServer2019FullContainer"


def spec_of(groups: list[dict[str, Any]], managed: list[dict[str, Any]] | None = None, **extra: Any) -> ClusterSpec:
    body = {
        "name": "win",
        "region": REGION,
        "managedNodeGroups": [LINUX] if managed is None else managed,
        # As the operations layer resolves `ami` before a stack is built.
        "nodeGroups": [{"imageId": g.get("ami", TEST_IMAGE_ID), **g} for g in groups],
        **extra,
    }
    return ClusterSpec.model_validate(body)


def refused(groups: list[dict[str, Any]], managed: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as err:
        spec_of(groups, managed, **extra)
    return {f["field"]: f["rule"] for f in describe_errors(err.value)}


def build(group: dict[str, Any], **extra: Any) -> dict[str, Any]:
    spec = spec_of([{"name": "ng", **group}], **extra)
    return templates.build_nodegroup_template(spec, spec.node_groups[0] if spec.node_groups else None, "cid")  # type: ignore[arg-type]


def launch_data(template: dict[str, Any], logical_id: str = "NodeGroupLaunchTemplate") -> dict[str, Any]:
    return dict(template["Resources"][logical_id]["Properties"]["LaunchTemplateData"])


def user_data(template: dict[str, Any]) -> str:
    """The user data as a node reads it: `Fn::Sub` done with a known endpoint and CA."""
    text, variables = launch_data(template)["UserData"]["Fn::Base64"]["Fn::Sub"]
    assert variables == {
        "Endpoint": {"Fn::ImportValue": "eksctl-win-cluster::Endpoint"},
        "CA": {"Fn::ImportValue": "eksctl-win-cluster::CertificateAuthorityData"},
    }
    return str(text.replace("${Endpoint}", ENDPOINT).replace("${CA}", CA).replace("${!", "${"))


# -- families and images ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "ami_type", "parameter"),
    [
        ("WindowsServer2019FullContainer", "WINDOWS_FULL_2019_x86_64", "Windows_Server-2019-English-Full"),
        ("WindowsServer2019CoreContainer", "WINDOWS_CORE_2019_x86_64", "Windows_Server-2019-English-Core"),
        ("WindowsServer2022FullContainer", "WINDOWS_FULL_2022_x86_64", "Windows_Server-2022-English-Full"),
        ("WindowsServer2022CoreContainer", "WINDOWS_CORE_2022_x86_64", "Windows_Server-2022-English-Core"),
    ],
)
def test_each_windows_family_has_its_x86_image_and_the_parameter_eks_publishes(
    family: str, ami_type: str, parameter: str
) -> None:
    facts = {"m5.large": images.InstanceFacts("m5.large", ("x86_64",))}
    chosen, problems = images.choose_ami_type(family, "1.33", [(("instanceType",), "m5.large")], facts, REGION)

    assert (chosen, problems) == (ami_type, [])
    assert images.image_parameter(ami_type, "1.33") == (
        f"/aws/service/ami-windows-latest/{parameter}-EKS_Optimized-1.33/image_id"
    )
    # The local engine publishes the same parameter, naming a Windows image of its own.
    assert images.image_parameter(ami_type, "1.33") in eks_images.image_ids(REGION)


def test_windows_has_no_arm_image() -> None:
    facts = {"m6g.large": images.InstanceFacts("m6g.large", ("arm64",))}
    chosen, problems = images.choose_ami_type(WINDOWS, "1.33", [(("instanceType",), "m6g.large")], facts, REGION)

    assert chosen is None
    ((field, rule, message, _),) = problems
    assert (field, rule) == (("amiFamily",), "ami_family_accelerator")
    assert "arm64" in message and "no amiFamily" in message


# -- eksctl's rules -----------------------------------------------------------------------------------------


def test_a_windows_group_needs_a_linux_group_beside_it() -> None:
    assert refused([{"name": "w", "amiFamily": WINDOWS}], managed=[]) == {
        "nodeGroups[0].amiFamily": "windows_needs_linux"
    }
    managed_only = refused([], managed=[{"name": "w", "amiFamily": "WindowsServer2022CoreContainer"}])
    assert managed_only == {"managedNodeGroups[0].amiFamily": "windows_needs_linux"}
    # A Linux group of either kind will do.
    assert spec_of([{"name": "w", "amiFamily": WINDOWS}, {"name": "l"}], managed=[]).node_groups


def test_windows_groups_are_refused_on_an_ipv6_cluster() -> None:
    found = refused(
        [],
        managed=[LINUX, {"name": "w", "amiFamily": WINDOWS}],
        kubernetesNetworkConfig={"ipFamily": "IPv6"},
        iam={"withOIDC": True},
        addons=[{"name": "vpc-cni"}, {"name": "coredns"}, {"name": "kube-proxy"}],
    )
    assert found == {"managedNodeGroups[1].amiFamily": "windows_ipv6"}


def test_self_managed_windows_groups_take_no_kubelet_extra_config_and_only_containerd() -> None:
    assert refused([{"name": "w", "amiFamily": WINDOWS, "kubeletExtraConfig": {"maxPods": 20}}]) == {
        "nodeGroups[0].kubeletExtraConfig": "kubelet_config_family"
    }
    assert refused([{"name": "w", "amiFamily": WINDOWS, "containerRuntime": "dockerd"}]) == {
        "nodeGroups[0].containerRuntime": "container_runtime"
    }
    both = {"name": "w", "amiFamily": WINDOWS, "containerRuntime": "containerd", "overrideBootstrapCommand": "x"}
    assert refused([both]) == {"nodeGroups[0].containerRuntime": "container_runtime_override"}
    # eksctl: no overrideBootstrapCommand needed with a custom Windows image.
    custom = spec_of([{"name": "w", "amiFamily": WINDOWS, "ami": "ami-01579b74557facaf7"}])
    assert custom.node_groups and custom.node_groups[0].custom_ami


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"overrideBootstrapCommand": "x"}, "overrideBootstrapCommand", "bootstrap_family"),
        ({"ami": "ami-01579b74557facaf7"}, "ami", "custom_ami_family"),
        ({"maxPodsPerNode": 20}, "managedNodeGroups[1]", "max_pods_ami"),
    ],
)
def test_managed_windows_groups_refuse_what_eksctl_refuses(fields: dict[str, Any], field: str, rule: str) -> None:
    found = refused([], managed=[LINUX, {"name": "w", "amiFamily": WINDOWS, **fields}])
    path = field if field.startswith("managed") else f"managedNodeGroups[1].{field}"
    assert found == {path: rule}


def test_examples_14_and_32_are_read_with_their_windows_groups_and_given_back() -> None:
    for name in ("eksctl-14-windows-nodes.yaml", "eksctl-32-windows-nodes-with-containerd.yaml"):
        raw = (clusterconfig_path() / name).read_bytes()
        spec = clusterconfig.parse(raw)
        exported = clusterconfig.from_spec(spec)
        asked = {g["name"]: g for g in yaml.safe_load(raw)["nodeGroups"]}
        given = {g["name"]: g for g in exported["nodeGroups"]}
        for group, fields in asked.items():
            assert {k: given[group][k] for k in fields} == fields, (name, group)
        assert clusterconfig.parse(yaml.safe_dump(exported).encode()) == spec


def clusterconfig_path() -> Any:
    from tests.unit.test_clusterconfig import EXAMPLES

    return EXAMPLES


# -- templates ----------------------------------------------------------------------------------------------


def test_a_self_managed_windows_group_runs_the_eks_bootstrap_script_as_eksctl_calls_it() -> None:
    template = build(
        {
            "amiFamily": WINDOWS,
            "labels": {"os": "windows"},
            "taints": [{"key": "os", "value": "windows", "effect": "NoSchedule"}],
            "maxPodsPerNode": 30,
            "preBootstrapCommands": ["Write-Output hello"],
        }
    )
    text = user_data(template)
    lines = text.splitlines()

    assert lines[0] == "<powershell>" and lines[-1] == "</powershell>"
    assert lines[1] == '[string]$EKSBootstrapScriptFile = "$env:ProgramFiles\\Amazon\\EKS\\Start-EKSBootstrap.ps1"'
    assert lines[2] == "Write-Output hello"
    labels = "alpha.eksctl.io/cluster-name=win,alpha.eksctl.io/nodegroup-name=ng,os=windows"
    assert lines[3] == (
        f'& $EKSBootstrapScriptFile -EKSClusterName "win" -APIServerEndpoint "{ENDPOINT}" -Base64ClusterCA "{CA}" '
        '-ServiceCIDR "10.100.0.0/16" -DNSClusterIP "10.100.0.10" -ContainerRuntime "containerd" '
        f'-KubeletExtraArgs "--node-labels={labels} --register-with-taints=os=windows:NoSchedule --max-pods=30" '
        "3>&1 4>&1 5>&1 6>&1"
    )
    # What the local engine reads of it is what the node would join with.
    boot = bootstrap_userdata.parse_text(text)
    assert boot is not None
    assert (boot.format, boot.cluster, boot.endpoint, boot.certificate_authority) == ("powershell", "win", ENDPOINT, CA)
    assert boot.labels["os"] == "windows" and boot.max_pods == 30
    assert boot.taints == [{"key": "os", "value": "windows", "effect": "NoSchedule"}]

    data = launch_data(template)
    assert data["BlockDeviceMappings"][0]["DeviceName"] == "/dev/sda1"
    assert data["ImageId"] == TEST_IMAGE_ID
    assert template["Outputs"]["WindowsNodes"]["Value"] == "true"
    assert cfn_lint(template, REGION) == []


def test_an_override_gets_eksctl_s_variables_and_runs_as_given() -> None:
    command = '& $EKSBootstrapScriptFile -EKSClusterName "$EKSClusterName" -KubeletExtraArgs "$KubeletExtraArgs"'
    template = build({"amiFamily": WINDOWS, "ami": "ami-01579b74557facaf7", "overrideBootstrapCommand": command})
    lines = user_data(template).splitlines()

    assert "[string]$EKSClusterName = 'win'" in lines
    assert f"[string]$APIServerEndpoint = '{ENDPOINT}'" in lines
    assert f"[string]$Base64ClusterCA = '{CA}'" in lines
    labels = "alpha.eksctl.io/cluster-name=win,alpha.eksctl.io/nodegroup-name=ng"
    assert f"[string]$KubeletExtraArgs = '--node-labels={labels} --register-with-taints='" in lines
    assert f"$KubeletExtraArgsMap = @{{ 'node-labels' = '{labels}'; 'register-with-taints' = ''}}" in lines
    assert lines[-2:] == [command, "</powershell>"]
    boot = bootstrap_userdata.parse_text("\n".join(lines))
    assert boot is not None and (boot.cluster, boot.endpoint) == ("win", None)
    assert cfn_lint(template, REGION) == []


def test_user_text_cannot_break_out_of_the_powershell_strings() -> None:
    assert node_userdata._double_quoted('a"$(Remove-Item C:\\)`') == 'a`"`$(Remove-Item C:\\)``'
    assert node_userdata._quoted("it's") == "it''s"


def test_a_managed_windows_group_gets_its_ami_type_and_a_launch_template_for_its_commands() -> None:
    spec = spec_of(
        [],
        managed=[
            LINUX,
            {
                "name": "w",
                "amiFamily": "WindowsServer2022CoreContainer",
                "preBootstrapCommands": ["Write-Output hello"],
            },
        ],
    )
    group = spec.nodegroups[1]
    template = templates.build_nodegroup_template(spec, group, "cid")
    properties = template["Resources"]["ManagedNodeGroup"]["Properties"]

    assert properties["AmiType"] == "WINDOWS_CORE_2022_x86_64"
    data = launch_data(template, "LaunchTemplate")
    assert data["BlockDeviceMappings"][0]["DeviceName"] == "/dev/sda1"
    assert data["UserData"] == {"Fn::Base64": "<powershell>\nWrite-Output hello\n</powershell>"}
    assert template["Outputs"]["WindowsNodes"]["Value"] == "true"
    assert "WindowsNodes" not in templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")["Outputs"]
    assert cfn_lint(template, REGION) == []


# -- aws-auth and Windows IPAM ------------------------------------------------------------------------------


def test_a_windows_node_role_is_mapped_with_kube_proxy_windows_as_eksctl_maps_it() -> None:
    auth = awsauth.ensure_node_roles(awsauth.AuthMap(), ["arn:r/linux", "arn:r/win"], ["arn:r/win"])

    assert auth.roles == [
        {
            "rolearn": "arn:r/linux",
            "username": awsauth.NODE_USERNAME,
            "groups": ["system:bootstrappers", "system:nodes"],
        },
        {
            "rolearn": "arn:r/win",
            "username": awsauth.NODE_USERNAME,
            "groups": ["eks:kube-proxy-windows", "system:bootstrappers", "system:nodes"],
        },
    ]
    assert awsauth.is_node_mapping(auth.roles[1])
    stacks = [
        {"outputs": {"NodeInstanceRoleARN": "arn:r/linux"}},
        {"outputs": {"NodeInstanceRoleARN": "arn:r/win", "WindowsNodes": "true"}},
    ]
    assert windows_node_roles(stacks) == ["arn:r/win"]


class FakeKube:
    """The ConfigMap calls of KubeClient, over one stored ConfigMap, losing the first `conflicts` writes."""

    def __init__(self, current: dict[str, Any] | None, conflicts: int = 0) -> None:
        self.current, self.conflicts, self.writes = current, conflicts, []

    def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        assert (namespace, name) == ("kube-system", "amazon-vpc-cni")
        return self.current

    def _write(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.conflicts:
            self.conflicts -= 1
            self.current = {**(self.current or {}), "data": {**((self.current or {}).get("data") or {}), "x": "y"}}
            raise KubeConflictError("conflict")
        self.writes.append(body)
        self.current = body
        return body

    def create_configmap(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._write(body)

    def replace_configmap(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._write(body)


def test_windows_ipam_is_turned_on_in_the_vpc_cni_configmap_keeping_its_other_keys() -> None:
    missing = FakeKube(None)
    assert windows_ipam.enable(missing, sleep=lambda _: None)  # type: ignore[arg-type]
    assert missing.writes == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "amazon-vpc-cni", "namespace": "kube-system"},
            "data": {"enable-windows-ipam": "true"},
        }
    ]
    present = {"metadata": {"name": "amazon-vpc-cni", "resourceVersion": "7"}, "data": {"enable-windows-ipam": "false"}}
    racing = FakeKube(present, conflicts=1)
    assert windows_ipam.enable(racing, sleep=lambda _: None)  # type: ignore[arg-type]
    (written,) = racing.writes
    assert written["data"] == {"enable-windows-ipam": "true", "x": "y"}  # the racing writer's key kept
    assert written["metadata"]["resourceVersion"] == "7"
    done = FakeKube({"data": {"enable-windows-ipam": "true"}})
    assert not windows_ipam.enable(done, sleep=lambda _: None)  # type: ignore[arg-type]
    assert done.writes == []


# -- the local engine ---------------------------------------------------------------------------------------


def test_the_local_engine_reads_only_a_call_of_the_eks_bootstrap_script() -> None:
    other = '<powershell>\n& C:\\other.ps1 -EKSClusterName "win"\n</powershell>'
    assert bootstrap_userdata.parse_text(other) is None
    inline = (
        "<powershell>\n& 'C:\\Program Files\\Amazon\\EKS\\Start-EKSBootstrap.ps1' -EKSClusterName 'win'\n</powershell>"
    )
    boot = bootstrap_userdata.parse_text(inline)
    assert boot is not None and (boot.format, boot.cluster) == ("powershell", "win")
    encoded = base64.b64encode(inline.encode()).decode()
    assert bootstrap_userdata.parse(encoded) == boot
