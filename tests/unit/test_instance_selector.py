"""`instanceSelector` of a node group: its criteria, eksctl's rules with instance types, and the pure match
against one DescribeInstanceTypes entry."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from chalicelib.model import clusterconfig
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.instance_selector_spec import InstanceSelectorSpec, memory_mib
from chalicelib.model.spec import ClusterSpec
from tests.unit.test_selfmanaged_templates import REGION, build
from tests.unit.test_templates import cfn_lint


def info(name: str, vcpus: int, mib: int, arch: str = "x86_64", gpus: int = 0, neuron: int = 0) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "InstanceType": name,
        "VCpuInfo": {"DefaultVCpus": vcpus},
        "MemoryInfo": {"SizeInMiB": mib},
        "ProcessorInfo": {"SupportedArchitectures": [arch]},
    }
    if gpus:
        entry["GpuInfo"] = {"Gpus": [{"Count": gpus, "Manufacturer": "NVIDIA"}]}
    if neuron:
        entry["NeuronInfo"] = {"NeuronDevices": [{"Count": neuron}]}
    return entry


def selector(**criteria: Any) -> InstanceSelectorSpec:
    return InstanceSelectorSpec.model_validate(criteria)


def refusal(document: dict[str, Any]) -> dict[str, dict[str, str]]:
    raw = {"apiVersion": "eksctl.io/v1alpha5", "kind": "ClusterConfig", "metadata": {"name": "c"}, **document}
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(yaml.safe_dump(raw).encode())
    return {f["field"]: f for f in refused.value.details["fields"]}


@pytest.mark.parametrize(
    ("given", "mib"),
    [("4", 4096), ("4GiB", 4096), ("4 gb", 4096), ("512MiB", 512), ("1.5GiB", 1536), ("1TiB", 1024 * 1024)],
)
def test_memory_reads_as_eksctl_reads_it(given: str, mib: int) -> None:
    assert memory_mib(given) == mib


@pytest.mark.parametrize("given", ["four", "4PB", "0", "-1GiB", ""])
def test_memory_that_is_not_a_size_is_none(given: str) -> None:
    assert memory_mib(given) is None


def test_each_criterion_must_hold_exactly() -> None:
    chosen = selector(vCPUs=2, memory="4", gpus=0)

    assert chosen.match(info("t3.medium", 2, 4096))
    assert not chosen.match(info("t3.large", 2, 8192))
    assert not chosen.match(info("c5.xlarge", 4, 4096))
    assert not chosen.match(info("g4.small", 2, 4096, gpus=1))
    assert not chosen.match(info("t4g.medium", 2, 4096, arch="arm64"))  # x86_64 unless asked


def test_architecture_neuron_devices_and_name_patterns() -> None:
    assert selector(cpuArchitecture="arm64").match(info("t4g.medium", 2, 4096, arch="arm64"))
    assert selector(cpuArchitecture="amd64").match(info("t3.medium", 2, 4096))
    assert selector(neuron_devices=1).match(info("inf2.xlarge", 4, 16384, neuron=1))
    assert not selector(neuron_devices=0).match(info("inf2.xlarge", 4, 16384, neuron=1))
    assert selector(allow=r"^t3a?\.").match(info("t3a.medium", 2, 4096))
    assert not selector(allow=r"^t3a?\.", deny="a\\.").match(info("t3a.medium", 2, 4096))


@pytest.mark.parametrize(
    ("criteria", "rule"),
    [
        ({}, "selector_empty"),
        ({"memory": "lots"}, "memory_size"),
        ({"allow": "t3("}, "regex"),
        ({"cpuArchitecture": "riscv"}, "literal_error"),
        ({"vCPUs": 0}, "greater_than_equal"),
    ],
)
def test_criteria_that_select_nothing_sensible_are_refused(criteria: dict[str, Any], rule: str) -> None:
    found = refusal({"managedNodeGroups": [{"name": "a", "instanceSelector": criteria}]})

    where = "managedNodeGroups[0].instanceSelector"
    assert any(field.startswith(where) and f["rule"] == rule for field, f in found.items()), found


@pytest.mark.parametrize("kind", ["managedNodeGroups", "nodeGroups"])
def test_an_instance_type_next_to_a_selector_is_refused_as_eksctl_refuses_it(kind: str) -> None:
    found = refusal({kind: [{"name": "a", "instanceType": "m5.large", "instanceSelector": {"vCPUs": 2}}]})

    assert found[f"{kind}[0].instanceType"]["rule"] == "one_of"


def test_a_self_managed_group_may_say_mixed_with_a_selector() -> None:
    spec = clusterconfig.parse(
        yaml.safe_dump(
            {
                "apiVersion": "eksctl.io/v1alpha5",
                "kind": "ClusterConfig",
                "metadata": {"name": "c"},
                "nodeGroups": [{"name": "a", "instanceType": "mixed", "instanceSelector": {"vCPUs": 2}}],
            }
        ).encode()
    )

    assert spec.nodegroups[0].instance_selector == selector(vCPUs=2)


def test_a_stored_spec_with_the_selected_types_reads_back_and_is_given_back() -> None:
    types = [f"t3.{size}" for size in ("medium", "small")]
    body = {
        "name": "c",
        "region": REGION,
        "managedNodeGroups": [{"name": "m", "instanceSelector": {"vCPUs": 2}, "instanceTypes": types}],
        "nodeGroups": [
            {"name": "s", "instanceSelector": {"vCPUs": 2}, "instancesDistribution": {"instanceTypes": types}}
        ],
    }
    stored = ClusterSpec.model_validate(body).model_dump(mode="json", exclude_none=True)
    spec = ClusterSpec.model_validate(stored)

    config = clusterconfig.from_spec(spec)
    assert config["managedNodeGroups"][0]["instanceSelector"] == {"vCPUs": 2}
    assert config["managedNodeGroups"][0]["instanceTypes"] == types
    assert config["nodeGroups"][0]["instancesDistribution"]["instanceTypes"] == types
    assert clusterconfig.from_spec(clusterconfig.parse(yaml.safe_dump(config).encode())) == config


def test_a_self_managed_group_takes_forty_selected_types_and_twenty_named_ones() -> None:
    forty = [f"m{n}.large" for n in range(40)]
    template = build({"instanceSelector": {"vCPUs": 2}, "instancesDistribution": {"instanceTypes": forty}})

    overrides = template["Resources"]["NodeGroup"]["Properties"]["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]
    assert len(overrides) == 40
    assert cfn_lint(template, REGION) == []
    found = refusal({"nodeGroups": [{"name": "a", "instancesDistribution": {"instanceTypes": forty[:21]}}]})
    assert found["nodeGroups[0].instancesDistribution.instanceTypes"]["rule"] == "too_long"


def test_the_allow_list_checks_selected_types_not_the_default_a_selector_replaces() -> None:
    from dataclasses import replace

    from chalicelib.model import policy
    from tests.unit.test_policy import CALLER, OPEN, Owned

    limited = replace(OPEN, allowed_instance_types=("t3.*",))
    chosen = [{"name": "a", "instanceSelector": {"vCPUs": 2}}]  # m5.large, the default, is not what it runs
    policy.check_request(
        ClusterSpec.model_validate({"name": "c", "managedNodeGroups": chosen}), CALLER, limited, Owned(0)
    )

    listed = [{"name": "a", "instanceSelector": {"vCPUs": 2}, "instanceTypes": ["t3.medium", "m5.large"]}]
    with pytest.raises(SpecValidationError) as refused:
        policy.check_request(
            ClusterSpec.model_validate({"name": "c", "managedNodeGroups": listed}), CALLER, limited, Owned(0)
        )
    assert [f["field"] for f in refused.value.details["fields"]] == ["managedNodeGroups[0].instanceTypes[1]"]
