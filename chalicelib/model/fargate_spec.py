"""Fargate profiles (eksctl's `fargateProfiles[]`): which pods EKS runs on Fargate, and where.

Field names are eksctl's (`FargateProfile`, `FargateProfileSelector` in its ClusterConfig schema);
limits are EKS's (CreateFargateProfile and its service quotas). The profiles and their pod
execution role are built in their own stack (`chalicelib/cfn/fargate.py`). Rules that need the
rest of the cluster (unique names, the profiles' subnets, tag room) are `fargate_problems`,
which ClusterSpec runs with its other cluster-wide rules.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from chalicelib.model.validation import Problem, SpecModel, check_tags

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec

# EKS's quotas: Fargate profiles per cluster, selectors per profile, label pairs per selector.
MAX_FARGATE_PROFILES = 10
MAX_SELECTORS = 5
MAX_SELECTOR_LABELS = 5
# eksctl refuses names with the prefix AWS keeps for its own profiles.
RESERVED_PROFILE_PREFIX = "eks-"
PROFILE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
MAX_PROFILE_NAME = 100
# A Kubernetes namespace (an RFC 1123 label); EKS also takes the wildcards `*` and `?` in selectors.
_NAMESPACE = re.compile(r"^[a-z0-9*?]([a-z0-9*?-]{0,61}[a-z0-9*?])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9*?]([A-Za-z0-9*?_.-]{0,61}[A-Za-z0-9*?])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
# AWS::EKS::FargateProfile's tag limits (its registry schema): keys 1-127, values 1-255 characters.
MAX_PROFILE_TAG_KEY = 127
MAX_PROFILE_TAG_VALUE = 255
# EKS's tags per resource; the profile also gets its stack's tags (the cluster's and ekspress's five).
MAX_RESOURCE_TAGS = 50
STACK_OWN_TAGS = 5


def check_selector_labels(labels: dict[str, str]) -> dict[str, str]:
    """A selector's labels: Kubernetes label syntax (with EKS's wildcards), each value not empty."""
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if not _LABEL_NAME.match(name) or (prefix and not _LABEL_PREFIX.match(prefix)) or len(key) > 127:
            raise PydanticCustomError("label_key", "label key '{key}' is not a valid Kubernetes label", {"key": key})
        if not _LABEL_NAME.match(value):
            message = "label value '{value}' of '{key}' is not a valid Kubernetes label value (and may not be empty)"
            raise PydanticCustomError("label_value", message, {"key": key, "value": value})
    return labels


def check_profile_tags(tags: dict[str, str]) -> dict[str, str]:
    """A profile's own tags: AWS's rules (`check_tags`) within AWS::EKS::FargateProfile's lengths."""
    check_tags(tags)
    for key, value in tags.items():
        if len(key) > MAX_PROFILE_TAG_KEY:
            raise PydanticCustomError(
                "tag_key_length", "a Fargate profile's tag keys must be 1-{most} characters", {"most": 127}
            )
        if not 1 <= len(value) <= MAX_PROFILE_TAG_VALUE:
            raise PydanticCustomError(
                "tag_value_length", "a Fargate profile's tag values must be 1-{most} characters", {"most": 255}
            )
    return tags


class FargateProfileSelectorSpec(SpecModel):
    """Pods of `namespace` (with all of `labels`, if given) run on Fargate."""

    namespace: Annotated[str, Field(min_length=1, max_length=63)]
    labels: (
        Annotated[dict[str, str], Field(max_length=MAX_SELECTOR_LABELS), AfterValidator(check_selector_labels)] | None
    ) = None

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _NAMESPACE.match(value):
            raise PydanticCustomError(
                "namespace_format",
                "'{value}' is not a Kubernetes namespace: lowercase letters, digits and '-' (EKS also takes * and ?)",
                {"value": value},
            )
        return value


class FargateProfileSpec(SpecModel):
    """One Fargate profile: its name, selectors, subnets (unset: the cluster's private subnets) and tags."""

    name: Annotated[str, Field(min_length=1, max_length=MAX_PROFILE_NAME, pattern=PROFILE_NAME_PATTERN)]
    selectors: Annotated[list[FargateProfileSelectorSpec], Field(min_length=1, max_length=MAX_SELECTORS)]
    # Subnets of the cluster's existing VPC, by their key in vpc.subnets.private or their ID.
    subnets: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1, max_length=16)] | None
    ) = None
    tags: Annotated[dict[str, str], AfterValidator(check_profile_tags)] | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.startswith(RESERVED_PROFILE_PREFIX):
            raise PydanticCustomError(
                "reserved_name",
                "Fargate profile names may not start with '{prefix}' (AWS keeps it; eksctl refuses it too)",
                {"prefix": RESERVED_PROFILE_PREFIX},
            )
        return value


# The ClusterSpec field: at most EKS's quota of profiles per cluster.
FargateProfiles = Annotated[list[FargateProfileSpec] | None, Field(max_length=MAX_FARGATE_PROFILES)]


def profile_subnet_ids(spec: ClusterSpec, profile: FargateProfileSpec) -> list[str]:
    """The subnet IDs a profile names (keys of vpc.subnets.private resolved); empty when it names none."""
    private = spec.vpc.subnets.private if spec.vpc.subnets else {}
    ids = []
    for subnet in profile.subnets or []:
        given = private.get(subnet)
        ids.append(given.id if given is not None and given.id else subnet)
    return list(dict.fromkeys(ids))


def fargate_problems(spec: ClusterSpec) -> list[Problem]:
    """What a cluster's profiles cannot be made with: names used twice, subnets that are not the cluster's
    private ones (Fargate runs pods only in private subnets), no private subnet at all, and tags past EKS's 50."""
    profiles = spec.fargate_profiles or []
    if not profiles:
        return []
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, profile in enumerate(profiles):
        if profile.name in seen:
            message = f"Fargate profile name {profile.name!r} is used twice"
            problems.append((("fargateProfiles", index, "name"), "duplicate_name", message, profile.name))
        seen.add(profile.name)
    if spec.vpc.existing and not (spec.vpc.subnets and spec.vpc.subnets.private):
        message = (
            "Fargate runs pods only in private subnets (EKS refuses public ones), and vpc.subnets names no "
            "private subnet: add the VPC's private subnets under vpc.subnets.private"
        )
        problems.append((("fargateProfiles",), "fargate_needs_private_subnets", message, None))
    private = spec.vpc.subnets.private if spec.vpc.subnets else {}
    known = set(private) | {s.id for s in private.values() if s.id}
    public = spec.vpc.subnets.public if spec.vpc.subnets else {}
    public_known = set(public) | {s.id for s in public.values() if s.id}
    for index, profile in enumerate(profiles):
        for s, subnet in enumerate(profile.subnets or []):
            loc: tuple[str | int, ...] = ("fargateProfiles", index, "subnets", s)
            if not spec.vpc.existing:
                message = (
                    "profile subnets name subnets of an existing VPC (vpc.id, vpc.subnets.private); in a VPC "
                    "ekspress builds, leave subnets out: the profile gets the cluster's private subnets"
                )
                problems.append((loc, "subnets_need_vpc_id", message, subnet))
            elif subnet in public_known:
                message = (
                    f"{subnet} is one of vpc.subnets.public: Fargate runs pods only in private subnets "
                    "(EKS refuses public ones); name a subnet of vpc.subnets.private"
                )
                problems.append((loc, "fargate_public_subnet", message, subnet))
            elif subnet not in known:
                message = "name a subnet of vpc.subnets.private (its key or id)"
                problems.append((loc, "unknown_subnet", message, subnet))
        room = MAX_RESOURCE_TAGS - STACK_OWN_TAGS
        count = len(spec.tags.keys() | (profile.tags or {}).keys())
        if count > room:
            message = (
                f"the profile would carry {count} tags of the cluster's and its own, and ekspress's "
                f"{STACK_OWN_TAGS}: EKS allows {MAX_RESOURCE_TAGS} per resource"
            )
            problems.append((("fargateProfiles", index, "tags"), "too_many_tags", message, count))
    return problems
