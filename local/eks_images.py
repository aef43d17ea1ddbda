"""The EKS-optimized images and the public SSM parameters EKS and Bottlerocket publish for them, in moto.

On AWS, eksctl (and the service) resolve a node group's image from public parameters such as
`/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id`; the
image they name exists in every region (DescribeImages). moto ships neither, so here every moto EC2
back end gets one image per (family, Kubernetes version, architecture, variant), and every moto SSM
back end the parameters naming them, in whatever region and account they are made (moto builds back
ends lazily, and a reset drops them, so both are added as moto builds a back end, not once).

The parameter paths are written from AWS's documentation ("Retrieve recommended Amazon Linux AMI IDs",
"Retrieve recommended Bottlerocket AMI IDs", "Retrieve recommended Microsoft Windows AMI IDs"), not from
the service's code, so a wrong path there fails.
Image IDs are derived from the region and parameter, so each region has its own, stable across resets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

VERSIONS = ("1.30", "1.31", "1.32", "1.33", "1.34")
# EKS published no Amazon Linux 2 image after Kubernetes 1.32.
AL2_LAST = "1.32"
EKS_OWNER = "602401143452"
BOTTLEROCKET_OWNER = "092701018921"
AMI_RELEASE = "20251120"
BOTTLEROCKET_RELEASE = "1.50.0"
EKS_PREFIX = "/aws/service/eks/optimized-ami/"
BOTTLEROCKET_PREFIX = "/aws/service/bottlerocket/"
# Windows Server images EKS publishes, with their IDs under the Windows parameters ("Retrieve recommended
# Microsoft Windows AMI IDs"): `.../Windows_Server-2022-English-Full-EKS_Optimized-1.33/image_id`.
WINDOWS_PREFIX = "/aws/service/ami-windows-latest/"
WINDOWS_OWNER = "801119661308"
WINDOWS_RELEASE = "2025.11.12"
_installed = False


@dataclass(frozen=True)
class EksImage:
    """One published image: the SSM parameter (its `.../image_id`) and what DescribeImages says of it."""

    parameter: str
    name: str
    architecture: str
    owner: str
    description: str
    release: str  # `release_version` (EKS) or `image_version` (Bottlerocket)
    platform: str | None = None  # "windows" for Windows Server images (DescribeImages' Platform)

    def image_id(self, region: str) -> str:
        digest = hashlib.sha256(f"{region}|{self.parameter}".encode()).hexdigest()
        return f"ami-0{digest[:16]}"


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def catalogue() -> list[EksImage]:
    """Every image and parameter, as AWS's documentation spells the paths."""
    images: list[EksImage] = []
    for v in VERSIONS:
        base = f"{EKS_PREFIX}{v}"
        release = f"{v}.0-{AMI_RELEASE}"
        for arch, variants in (("x86_64", ("standard", "nvidia", "neuron")), ("arm64", ("standard", "nvidia"))):
            for variant in variants:
                images.append(
                    EksImage(
                        f"{base}/amazon-linux-2023/{arch}/{variant}/recommended/image_id",
                        f"amazon-eks-node-al2023-{arch}-{variant}-{v}-v{AMI_RELEASE}",
                        arch,
                        EKS_OWNER,
                        f"EKS-optimized Kubernetes node based on Amazon Linux 2023, ({variant}, k8s: {v})",
                        release,
                    )
                )
        if _key(v) <= _key(AL2_LAST):
            for suffix, arch, name in (
                ("amazon-linux-2", "x86_64", f"amazon-eks-node-{v}-v{AMI_RELEASE}"),
                ("amazon-linux-2-arm64", "arm64", f"amazon-eks-arm64-node-{v}-v{AMI_RELEASE}"),
                ("amazon-linux-2-gpu", "x86_64", f"amazon-eks-gpu-node-{v}-v{AMI_RELEASE}"),
            ):
                images.append(
                    EksImage(
                        f"{base}/{suffix}/recommended/image_id",
                        name,
                        arch,
                        EKS_OWNER,
                        f"EKS Kubernetes Worker AMI with AmazonLinux2 image, (k8s: {v})",
                        release,
                    )
                )
        for flavour in (f"aws-k8s-{v}", f"aws-k8s-{v}-nvidia"):
            for arch in ("x86_64", "arm64"):
                images.append(
                    EksImage(
                        f"{BOTTLEROCKET_PREFIX}{flavour}/{arch}/latest/image_id",
                        f"bottlerocket-{flavour}-{arch}-v{BOTTLEROCKET_RELEASE}-8ba1d0f4",
                        arch,
                        BOTTLEROCKET_OWNER,
                        f"bottlerocket-{flavour}-{arch}-v{BOTTLEROCKET_RELEASE}-8ba1d0f4",
                        BOTTLEROCKET_RELEASE,
                    )
                )
        for year in ("2019", "2022"):
            for edition in ("Full", "Core"):
                name = f"Windows_Server-{year}-English-{edition}-EKS_Optimized-{v}"
                images.append(
                    EksImage(
                        f"{WINDOWS_PREFIX}{name}/image_id",
                        f"{name}-{WINDOWS_RELEASE}",
                        "x86_64",
                        WINDOWS_OWNER,
                        f"Microsoft Windows Server {year} {edition} optimized for EKS and k8s version {v}",
                        WINDOWS_RELEASE,
                        "windows",
                    )
                )
    return images


def image_ids(region: str) -> dict[str, str]:
    """Parameter name → image ID in `region` (for tests and tools)."""
    return {image.parameter: image.image_id(region) for image in catalogue()}


# -- EC2 --------------------------------------------------------------------------------------


def _add_images(backend: Any) -> None:
    from moto.ec2.models.amis import Ami

    region = backend.region_name
    for image in catalogue():
        ami_id = image.image_id(region)
        if ami_id in backend.amis:
            continue
        backend.amis[ami_id] = Ami(
            backend,
            ami_id=ami_id,
            name=image.name,
            description=image.description,
            owner_id=image.owner,
            owner_alias="amazon",
            public=True,
            virtualization_type="hvm",
            architecture=image.architecture,
            hypervisor="xen",
            root_device_type="ebs",
            root_device_name="/dev/sda1" if image.platform == "windows" else "/dev/xvda",
            region_name=f"{region}a",
            boot_mode="uefi-preferred" if image.architecture == "x86_64" else "uefi",
            platform=image.platform,
        )


# -- SSM --------------------------------------------------------------------------------------


def _wanted(key: str) -> bool:
    """Whether a parameter name or path could reach our parameters (so they must be loaded first)."""
    key = str(key or "")
    prefixes = (EKS_PREFIX, BOTTLEROCKET_PREFIX, WINDOWS_PREFIX)
    return any(key.startswith(p) or p.startswith(key.rstrip("/") + "/") for p in prefixes)


def _add_parameters(params: Any) -> None:
    from moto.core.utils import utcnow
    from moto.ssm.models import Parameter

    def put(name: str, value: str) -> None:
        if dict.__contains__(params, name):  # a put by a test or tool wins
            return
        params.setdefault(name, []).append(
            Parameter(
                account_id=params.account_id,
                name=name,
                value=value,
                parameter_type="String",
                description=None,
                allowed_pattern=None,
                keyid=None,
                last_modified_date=utcnow(),
                version=1,
                data_type="text",
            )
        )

    for image in catalogue():
        image_id = image.image_id(params.region_name)
        put(image.parameter, image_id)
        folder = image.parameter.rsplit("/", 1)[0]
        if image.parameter.startswith(EKS_PREFIX):
            put(f"{folder}/image_name", image.name)
            put(f"{folder}/release_version", image.release)
        elif image.parameter.startswith(BOTTLEROCKET_PREFIX):
            put(f"{folder}/image_version", image.release)


def install() -> None:
    """Add the images to every moto EC2 back end and the parameters to every SSM one (once per process).

    moto's own catalogue of public images (copies of several thousand Amazon, ECS and distribution
    images) is not loaded: nothing here launches them, and every new EC2 back end (each region, after
    each reset) made an object of each, which was a third of a functional test's time. EC2 holds EKS's
    images and what a caller registers, so an image ID from elsewhere is `ami_not_found`, as in an
    account that cannot launch it.
    """
    global _installed
    if _installed:
        return
    from moto import settings as moto_settings
    from moto.ec2.models.amis import AmiBackend
    from moto.ssm.models import ParameterDict

    # moto asks this each time a back end loads its images (MOTO_EC2_LOAD_DEFAULT_AMIS, without the environment).
    moto_settings.ec2_load_default_amis = lambda: False
    load_amis = AmiBackend._load_amis

    def _load_amis(self: Any) -> None:
        load_amis(self)
        _add_images(self)

    check_loading = ParameterDict._check_loading_status

    def _check_loading_status(self: Any, key: str) -> None:
        check_loading(self, key)
        if _wanted(key) and not getattr(self, "eks_images_loaded", False):
            self.eks_images_loaded = True
            _add_parameters(self)

    AmiBackend._load_amis = _load_amis  # type: ignore[method-assign]
    ParameterDict._check_loading_status = _check_loading_status  # type: ignore[method-assign]
    _installed = True
