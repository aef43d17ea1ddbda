"""Which EKS-optimized image (AmiType) a managed node group runs, by AMI family, Kubernetes version and instance.

EKS picks no image for us: `AWS::EKS::Nodegroup.AmiType` must name one EKS publishes for the
cluster's version, and every instance type of the group must fit it (EKS answers "[t4g.small] is
not a valid instance type for requested amiType AL2_x86_64" otherwise, and an image without the
drivers boots GPU and Neuron nodes that cannot use their accelerators). So a request is checked
when it is made, from EC2's facts about each instance type (DescribeInstanceTypes: processor
architectures, GPUs, Neuron devices; read in `operations/images.py`), and the AmiType chosen here
is stored in the node group's spec for the templates.

Sources of the table and the version rule:
- AmiType values: EKS API reference, `Nodegroup.amiType`
  (https://docs.aws.amazon.com/eks/latest/APIReference/API_Nodegroup.html; botocore's `AMITypes`).
- Variant per processor and accelerator: "Use EKS-optimized accelerated AMIs for GPU instances"
  (https://docs.aws.amazon.com/eks/latest/userguide/ml-eks-optimized-ami.html): AL2023 NVIDIA on x86_64
  and arm64 (g5g, p6e-gb200), AL2023 Neuron on x86_64 (inf1, inf2, trn1, trn2), Bottlerocket's
  aws-k8s-nvidia on both, and its standard aws-k8s variant for Inferentia and Trainium; eksctl
  chooses the same way (`GetAMIType`, pkg/apis/eksctl.io/v1alpha5/amitype.go), AL2's one
  accelerated image (AL2_x86_64_GPU) serving both NVIDIA and Neuron.
- Versions: "AWS is not releasing an EKS-optimized Amazon Linux 2 AMI for Kubernetes 1.33" and later
  (https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions-standard.html, Kubernetes 1.33;
  AL2 AMIs reached end of support on 26 November 2025); eksctl refuses AmazonLinux2 from 1.33 on
  (`AmazonLinux2EOLVersion`, pkg/apis/eksctl.io/v1alpha5/types.go). AL2023 and Bottlerocket images,
  standard and accelerated, exist for every version the service offers (1.30 to 1.34).
- Windows: EKS publishes Windows Server 2019 and 2022 images (Full and Core), x86_64 only, for every
  version offered ("Amazon EKS optimized Windows AMIs",
  https://docs.aws.amazon.com/eks/latest/userguide/eks-optimized-windows-ami.html); their IDs are in the
  public parameters `/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-EKS_Optimized-1.33/image_id`.
  eksctl gives NVIDIA instances the same image (`GetAMIType`); Windows Server 2025 needs Kubernetes 1.35.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from chalicelib.model.nodegroup_spec import NodeGroupBase
    from chalicelib.model.validation import Problem

AmiFamily = Literal[
    "AmazonLinux2023",
    "AmazonLinux2",
    "Bottlerocket",
    "WindowsServer2019FullContainer",
    "WindowsServer2019CoreContainer",
    "WindowsServer2022FullContainer",
    "WindowsServer2022CoreContainer",
]
AMI_FAMILY_NAMES: tuple[str, ...] = get_args(AmiFamily)
LINUX_FAMILIES = ("AmazonLinux2023", "AmazonLinux2", "Bottlerocket")
WINDOWS_FAMILIES = tuple(f for f in AMI_FAMILY_NAMES if f.startswith("Windows"))
# Windows family → its AmiType (x86_64 only).
WINDOWS_AMI_TYPES = {
    "WindowsServer2019FullContainer": "WINDOWS_FULL_2019_x86_64",
    "WindowsServer2019CoreContainer": "WINDOWS_CORE_2019_x86_64",
    "WindowsServer2022FullContainer": "WINDOWS_FULL_2022_x86_64",
    "WindowsServer2022CoreContainer": "WINDOWS_CORE_2022_x86_64",
}


def is_windows(family: str) -> bool:
    """Whether an amiFamily is one of the Windows Server families (eksctl's `IsWindowsImage`)."""
    return family in WINDOWS_FAMILIES


# The AmiTypes this service chooses (EKS has more: FIPS, CUSTOM).
AmiType = Literal[
    "AL2023_x86_64_STANDARD",
    "AL2023_x86_64_NVIDIA",
    "AL2023_x86_64_NEURON",
    "AL2023_ARM_64_STANDARD",
    "AL2023_ARM_64_NVIDIA",
    "AL2_x86_64",
    "AL2_x86_64_GPU",
    "AL2_ARM_64",
    "BOTTLEROCKET_x86_64",
    "BOTTLEROCKET_x86_64_NVIDIA",
    "BOTTLEROCKET_ARM_64",
    "BOTTLEROCKET_ARM_64_NVIDIA",
    "WINDOWS_FULL_2019_x86_64",
    "WINDOWS_CORE_2019_x86_64",
    "WINDOWS_FULL_2022_x86_64",
    "WINDOWS_CORE_2022_x86_64",
]

X86, ARM = "x86_64", "arm64"
NVIDIA, NEURON = "nvidia", "neuron"
_ACCELERATOR_NAMES = {NVIDIA: "NVIDIA GPU", NEURON: "AWS Neuron (Inferentia, Trainium)", None: "standard"}

# (family, architecture, accelerator) → AmiType. A missing key: the family has no image for such instances.
AMI_TYPES: dict[tuple[str, str, str | None], str] = {
    ("AmazonLinux2023", X86, None): "AL2023_x86_64_STANDARD",
    ("AmazonLinux2023", X86, NVIDIA): "AL2023_x86_64_NVIDIA",
    ("AmazonLinux2023", X86, NEURON): "AL2023_x86_64_NEURON",
    ("AmazonLinux2023", ARM, None): "AL2023_ARM_64_STANDARD",
    ("AmazonLinux2023", ARM, NVIDIA): "AL2023_ARM_64_NVIDIA",
    ("AmazonLinux2", X86, None): "AL2_x86_64",
    ("AmazonLinux2", X86, NVIDIA): "AL2_x86_64_GPU",
    ("AmazonLinux2", X86, NEURON): "AL2_x86_64_GPU",
    ("AmazonLinux2", ARM, None): "AL2_ARM_64",
    ("Bottlerocket", X86, None): "BOTTLEROCKET_x86_64",
    ("Bottlerocket", X86, NVIDIA): "BOTTLEROCKET_x86_64_NVIDIA",
    ("Bottlerocket", X86, NEURON): "BOTTLEROCKET_x86_64",
    ("Bottlerocket", ARM, None): "BOTTLEROCKET_ARM_64",
    ("Bottlerocket", ARM, NVIDIA): "BOTTLEROCKET_ARM_64_NVIDIA",
    # Windows: x86_64 only; NVIDIA instances get the same image, as eksctl chooses it.
    **{(family, X86, None): kind for family, kind in WINDOWS_AMI_TYPES.items()},
    **{(family, X86, NVIDIA): kind for family, kind in WINDOWS_AMI_TYPES.items()},
}
# The standard image of each family, per processor (x86_64, arm64; Windows has no arm64 image).
AMI_FAMILIES: dict[str, tuple[str, str]] = {
    family: (AMI_TYPES[(family, X86, None)], AMI_TYPES.get((family, ARM, None), AMI_TYPES[(family, X86, None)]))
    for family in AMI_FAMILY_NAMES
}
# The last Kubernetes version a family has EKS-optimized images for (absent: every version offered).
LAST_VERSION = {"AmazonLinux2": "1.32"}


@dataclass(frozen=True)
class InstanceFacts:
    """What EC2 says about an instance type that decides its image: processor architectures and accelerator."""

    instance_type: str
    architectures: tuple[str, ...]
    accelerator: str | None = None  # NVIDIA, NEURON, or None (no accelerator an EKS image has drivers for)

    @property
    def architecture(self) -> str | None:
        """x86_64 or arm64 (an i386-capable type is x86_64); None for Mac hosts, which cannot be EKS nodes."""
        for arch in (X86, ARM):
            if arch in self.architectures:
                return arch
        return None


def facts_from_ec2(info: Mapping[str, Any]) -> InstanceFacts:
    """The facts in one `InstanceTypes[]` entry of EC2's DescribeInstanceTypes answer."""
    gpus = (info.get("GpuInfo") or {}).get("Gpus") or []
    inference = (info.get("InferenceAcceleratorInfo") or {}).get("Accelerators") or []
    accelerator = None
    if any(g.get("Manufacturer") == "NVIDIA" for g in gpus):
        accelerator = NVIDIA
    # Inferentia (AWS-made inference accelerators) is a Neuron device even where NeuronInfo is missing.
    elif info.get("NeuronInfo") or any(a.get("Manufacturer") == "AWS" for a in inference):
        accelerator = NEURON
    # Other accelerators (AMD and Habana GPUs, Qualcomm, FPGAs) get the standard image, as eksctl gives them.
    architectures = tuple((info.get("ProcessorInfo") or {}).get("SupportedArchitectures") or ())
    return InstanceFacts(str(info["InstanceType"]), architectures, accelerator)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def choose_ami_type(
    family: str,
    version: str,
    types: Sequence[tuple[tuple[str | int, ...], str]],
    facts: Mapping[str, InstanceFacts],
    region: str,
    declared: str | None = None,
) -> tuple[str | None, list[Problem]]:
    """The AmiType of a node group, or the problems that leave it none (every one, each naming its field).

    `types` pairs each instance type with its field (relative to the group: `("instanceTypes", 1)`),
    the first deciding the processor; `facts` holds what EC2 knows (a type it does not know is refused);
    `declared` is an AmiType the caller sent (a stored spec carries it), which must be the one chosen.
    """
    problems: list[Problem] = []
    last = LAST_VERSION.get(family)
    if last and _version_key(version) > _version_key(last):
        problems.append(
            (
                ("amiFamily",),
                "ami_family_version",
                f"EKS publishes {family} images for Kubernetes {last} and earlier only (none after {last}); "
                f"this cluster runs {version}: choose amiFamily {_others(family)}, or version {last} or earlier",
                family,
            )
        )
    known: list[tuple[tuple[str | int, ...], InstanceFacts]] = []
    for loc, name in types:
        fact = facts.get(name)
        if fact is None:
            problems.append(
                (loc, "instance_type_unknown", f"{name} is not an EC2 instance type offered in {region}", name)
            )
        elif fact.architecture is None:
            problems.append(
                (
                    loc,
                    "instance_architecture_unsupported",
                    f"{name} is a Mac host ({', '.join(fact.architectures)}); EKS nodes run on x86_64 or arm64",
                    name,
                )
            )
        else:
            known.append((loc, fact))
    architecture, accelerator, problems_found = _one_processor_and_accelerator(known)
    problems += problems_found
    if architecture is None or problems:
        return None, problems
    chosen = AMI_TYPES.get((family, architecture, accelerator))
    if chosen is None:
        example = next(f.instance_type for _, f in known if f.accelerator == accelerator)
        kin = WINDOWS_FAMILIES if is_windows(family) else LINUX_FAMILIES
        having = [f for f in kin if (f, architecture, accelerator) in AMI_TYPES]
        problems.append(
            (
                ("amiFamily",),
                "ami_family_accelerator",
                f"{family} has no EKS-optimized image for {architecture} {_ACCELERATOR_NAMES[accelerator]} "
                f"instances such as {example}; {' and '.join(having) or 'no amiFamily'} "
                f"{'do' if len(having) > 1 else 'does'}",
                family,
            )
        )
        return None, problems
    if declared is not None and declared != chosen:
        problems.append(
            (
                ("amiType",),
                "ami_type_mismatch",
                f"amiType follows from amiFamily, the Kubernetes version and the instance types: {chosen} here, "
                f"not {declared}; leave amiType out",
                declared,
            )
        )
        return None, problems
    return chosen, problems


def _one_processor_and_accelerator(
    known: list[tuple[tuple[str | int, ...], InstanceFacts]],
) -> tuple[str | None, str | None, list[Problem]]:
    """One node group runs one image: one architecture (the first type's) and at most one kind of accelerator."""
    if not known:
        return None, None, []
    problems: list[Problem] = []
    first = known[0][1]
    for loc, fact in known[1:]:
        if fact.architecture != first.architecture:
            problems.append(
                (
                    loc,
                    "instance_architecture_mismatch",
                    f"{fact.instance_type} is {fact.architecture} but {first.instance_type} is {first.architecture}: "
                    "a node group runs one AMI, so all its instance types need the same architecture",
                    fact.instance_type,
                )
            )
    # Accelerated and plain types may share a group (the accelerated image runs both, as eksctl chooses it);
    # NVIDIA and Neuron types may not: no image has both drivers.
    accelerated = next((fact for _, fact in known if fact.accelerator), None)
    for loc, fact in known:
        if accelerated and fact.accelerator and fact.accelerator != accelerated.accelerator:
            problems.append(
                (
                    loc,
                    "instance_accelerator_mismatch",
                    f"{fact.instance_type} needs the {_ACCELERATOR_NAMES[fact.accelerator]} image but "
                    f"{accelerated.instance_type} needs the {_ACCELERATOR_NAMES[accelerated.accelerator]} one: "
                    "a node group runs one AMI",
                    fact.instance_type,
                )
            )
    return first.architecture, accelerated.accelerator if accelerated else None, problems


def _others(family: str) -> str:
    return " or ".join(f for f in LINUX_FAMILIES if f != family and f not in LAST_VERSION)


def choose_for_group(
    group: NodeGroupBase, version: str, facts: Mapping[str, InstanceFacts], region: str
) -> tuple[str | None, list[Problem]]:
    """`choose_ami_type` for one node group, its problems named by the group's own fields."""
    return choose_ami_type(group.ami_family, version, group.type_fields(), facts, region, group.ami_type)


# The public SSM parameters EKS publishes with the ID of each EKS-optimized image, by AmiType
# (eksctl's `auto` image resolver reads the same): {version} is the Kubernetes version.
_WINDOWS_PARAMETER = "/aws/service/ami-windows-latest/Windows_Server-{year}-English-{edition}-EKS_Optimized-{{version}}"
_SSM_IMAGE_PARAMETERS = {
    "AL2023_x86_64_STANDARD": "/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/standard",
    "AL2023_x86_64_NVIDIA": "/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/nvidia",
    "AL2023_x86_64_NEURON": "/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/neuron",
    "AL2023_ARM_64_STANDARD": "/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/arm64/standard",
    "AL2023_ARM_64_NVIDIA": "/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/arm64/nvidia",
    "AL2_x86_64": "/aws/service/eks/optimized-ami/{version}/amazon-linux-2",
    "AL2_x86_64_GPU": "/aws/service/eks/optimized-ami/{version}/amazon-linux-2-gpu",
    "AL2_ARM_64": "/aws/service/eks/optimized-ami/{version}/amazon-linux-2-arm64",
    "BOTTLEROCKET_x86_64": "/aws/service/bottlerocket/aws-k8s-{version}/x86_64",
    "BOTTLEROCKET_x86_64_NVIDIA": "/aws/service/bottlerocket/aws-k8s-{version}-nvidia/x86_64",
    "BOTTLEROCKET_ARM_64": "/aws/service/bottlerocket/aws-k8s-{version}/arm64",
    "BOTTLEROCKET_ARM_64_NVIDIA": "/aws/service/bottlerocket/aws-k8s-{version}-nvidia/arm64",
    "WINDOWS_FULL_2019_x86_64": _WINDOWS_PARAMETER.format(year="2019", edition="Full"),
    "WINDOWS_CORE_2019_x86_64": _WINDOWS_PARAMETER.format(year="2019", edition="Core"),
    "WINDOWS_FULL_2022_x86_64": _WINDOWS_PARAMETER.format(year="2022", edition="Full"),
    "WINDOWS_CORE_2022_x86_64": _WINDOWS_PARAMETER.format(year="2022", edition="Core"),
}


def image_parameter(ami_type: str, version: str) -> str:
    """The SSM parameter holding the current image ID of an AmiType for a Kubernetes version."""
    leaf = {"BOTTLEROCKET": "latest/image_id", "WINDOWS": "image_id"}.get(
        ami_type.split("_", 1)[0], "recommended/image_id"
    )
    return f"{_SSM_IMAGE_PARAMETERS[ami_type].format(version=version)}/{leaf}"


def image_architecture(ami_type: str) -> str:
    """x86_64 or arm64: the processor an AmiType's images run on."""
    return ARM if "ARM_64" in ami_type else X86
