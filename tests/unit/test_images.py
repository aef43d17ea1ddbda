"""The image rule: AMI family x Kubernetes version x instance facts → the AmiType EKS publishes, or why none."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.model import images
from chalicelib.model.images import InstanceFacts
from chalicelib.model.spec import ClusterSpec

REGION = "us-west-2"
FACTS = {
    f.instance_type: f
    for f in (
        InstanceFacts("m5.large", ("x86_64",)),
        InstanceFacts("t2.micro", ("i386", "x86_64")),
        InstanceFacts("m7g.large", ("arm64",)),
        InstanceFacts("g5.xlarge", ("x86_64",), images.NVIDIA),
        InstanceFacts("p4d.24xlarge", ("x86_64",), images.NVIDIA),
        InstanceFacts("g5g.xlarge", ("arm64",), images.NVIDIA),
        InstanceFacts("inf2.xlarge", ("x86_64",), images.NEURON),
        InstanceFacts("trn1.2xlarge", ("x86_64",), images.NEURON),
        InstanceFacts("mac2.metal", ("arm64_mac",)),
    )
}


def choose(family: str, version: str, *types: str, declared: str | None = None) -> tuple[str | None, dict[str, Any]]:
    located = [(("instanceTypes", i), t) for i, t in enumerate(types)]
    chosen, problems = images.choose_ami_type(family, version, located, FACTS, REGION, declared)
    return chosen, {".".join(map(str, loc)): (rule, message) for loc, rule, message, _ in problems}


@pytest.mark.parametrize(
    ("family", "instance_type", "ami_type"),
    [
        ("AmazonLinux2023", "m5.large", "AL2023_x86_64_STANDARD"),
        ("AmazonLinux2023", "t2.micro", "AL2023_x86_64_STANDARD"),
        ("AmazonLinux2023", "m7g.large", "AL2023_ARM_64_STANDARD"),
        ("AmazonLinux2023", "g5.xlarge", "AL2023_x86_64_NVIDIA"),
        ("AmazonLinux2023", "g5g.xlarge", "AL2023_ARM_64_NVIDIA"),
        ("AmazonLinux2023", "inf2.xlarge", "AL2023_x86_64_NEURON"),
        ("AmazonLinux2023", "trn1.2xlarge", "AL2023_x86_64_NEURON"),
        ("AmazonLinux2", "m5.large", "AL2_x86_64"),
        ("AmazonLinux2", "m7g.large", "AL2_ARM_64"),
        ("AmazonLinux2", "p4d.24xlarge", "AL2_x86_64_GPU"),
        ("AmazonLinux2", "inf2.xlarge", "AL2_x86_64_GPU"),
        ("Bottlerocket", "m5.large", "BOTTLEROCKET_x86_64"),
        ("Bottlerocket", "m7g.large", "BOTTLEROCKET_ARM_64"),
        ("Bottlerocket", "g5.xlarge", "BOTTLEROCKET_x86_64_NVIDIA"),
        ("Bottlerocket", "g5g.xlarge", "BOTTLEROCKET_ARM_64_NVIDIA"),
        ("Bottlerocket", "trn1.2xlarge", "BOTTLEROCKET_x86_64"),
    ],
)
def test_each_family_gets_the_image_eks_publishes_for_the_processor_and_accelerator(
    family: str, instance_type: str, ami_type: str
) -> None:
    assert choose(family, "1.32", instance_type) == (ami_type, {})


@pytest.mark.parametrize("version", ["1.33", "1.34"])
def test_amazon_linux_2_after_1_32_is_refused_on_ami_family_saying_which_versions_it_has(version: str) -> None:
    chosen, problems = choose("AmazonLinux2", version, "m5.large")

    assert chosen is None
    rule, message = problems["amiFamily"]
    assert rule == "ami_family_version"
    assert "1.32 and earlier" in message and version in message and "AmazonLinux2023 or Bottlerocket" in message


@pytest.mark.parametrize("family", ["AmazonLinux2023", "Bottlerocket"])
@pytest.mark.parametrize("version", ["1.30", "1.33", "1.34"])
def test_al2023_and_bottlerocket_serve_every_offered_version(family: str, version: str) -> None:
    assert choose(family, version, "g5.xlarge")[1] == {}


def test_a_group_mixing_arm64_and_x86_64_is_refused_on_the_odd_type() -> None:
    chosen, problems = choose("AmazonLinux2023", "1.33", "m5.large", "m7g.large")

    assert chosen is None
    rule, message = problems["instanceTypes.1"]
    assert rule == "instance_architecture_mismatch"
    assert "m7g.large is arm64" in message and "m5.large is x86_64" in message


def test_accelerated_and_plain_types_share_the_accelerated_image_as_eksctl_chooses() -> None:
    assert choose("AmazonLinux2023", "1.33", "m5.large", "g5.xlarge") == ("AL2023_x86_64_NVIDIA", {})


def test_nvidia_and_neuron_types_cannot_share_one_image() -> None:
    chosen, problems = choose("AmazonLinux2023", "1.33", "g5.xlarge", "inf2.xlarge")

    assert chosen is None
    assert problems["instanceTypes.1"][0] == "instance_accelerator_mismatch"


def test_a_family_without_an_image_for_the_accelerator_is_refused_naming_those_that_have_one() -> None:
    chosen, problems = choose("AmazonLinux2", "1.32", "g5g.xlarge")

    assert chosen is None
    rule, message = problems["amiFamily"]
    assert rule == "ami_family_accelerator"
    assert "arm64 NVIDIA GPU" in message and "AmazonLinux2023 and Bottlerocket" in message


def test_types_ec2_does_not_know_and_mac_hosts_are_refused_each_by_its_field() -> None:
    chosen, problems = choose("AmazonLinux2023", "1.33", "m5.large", "zz9.huge", "mac2.metal")

    assert chosen is None
    assert problems["instanceTypes.1"][0] == "instance_type_unknown"
    assert REGION in problems["instanceTypes.1"][1]
    assert problems["instanceTypes.2"][0] == "instance_architecture_unsupported"


def test_every_problem_is_named_at_once() -> None:
    _, problems = choose("AmazonLinux2", "1.33", "m5.large", "nope.large")

    assert set(problems) == {"amiFamily", "instanceTypes.1"}


def test_a_declared_ami_type_must_be_the_one_chosen() -> None:
    assert choose("AmazonLinux2023", "1.33", "g5.xlarge", declared="AL2023_x86_64_NVIDIA")[0] == "AL2023_x86_64_NVIDIA"
    chosen, problems = choose("AmazonLinux2023", "1.33", "g5.xlarge", declared="AL2023_x86_64_STANDARD")

    assert chosen is None
    assert problems["amiType"][0] == "ami_type_mismatch"


def test_a_group_names_its_type_fields_as_its_request_does() -> None:
    spec = ClusterSpec.model_validate(
        {
            "name": "x",
            "managedNodeGroups": [
                {"name": "one", "instanceType": "zz9.huge"},
                {"name": "many", "instanceTypes": ["m5.large", "zz9.huge"]},
            ],
        }
    )

    one, many = (images.choose_for_group(g, "1.33", FACTS, REGION)[1] for g in spec.nodegroups)

    assert [loc for loc, *_ in one] == [("instanceType",)]
    assert [loc for loc, *_ in many] == [("instanceTypes", 1)]


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"InstanceType": "m5.large", "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]}}, None),
        (
            {
                "InstanceType": "g5.xlarge",
                "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
                "GpuInfo": {"Gpus": [{"Name": "A10G", "Manufacturer": "NVIDIA", "Count": 1}]},
            },
            images.NVIDIA,
        ),
        (
            {
                "InstanceType": "trn1.2xlarge",
                "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
                "NeuronInfo": {"NeuronDevices": [{"Name": "Trainium", "Count": 1}]},
            },
            images.NEURON,
        ),
        (  # Inferentia described only as an inference accelerator still needs the Neuron image.
            {
                "InstanceType": "inf1.xlarge",
                "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
                "InferenceAcceleratorInfo": {"Accelerators": [{"Name": "Inferentia", "Manufacturer": "AWS"}]},
            },
            images.NEURON,
        ),
        (  # AMD GPUs have no EKS image with their drivers: the standard one, as eksctl gives them.
            {
                "InstanceType": "g4ad.xlarge",
                "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
                "GpuInfo": {"Gpus": [{"Name": "Radeon Pro V520", "Manufacturer": "AMD", "Count": 1}]},
            },
            None,
        ),
    ],
)
def test_facts_are_read_from_describe_instance_types(info: dict[str, Any], expected: str | None) -> None:
    facts = images.facts_from_ec2(info)

    assert (facts.instance_type, facts.accelerator) == (info["InstanceType"], expected)
    assert facts.architecture == "x86_64"
