"""`instanceSelector` of a node group (eksctl's InstanceSelector): criteria that pick its instance types.

eksctl turns the criteria into instance types when a group is requested (with ec2-instance-selector);
ekspress does the same from EC2's DescribeInstanceTypes (`operations/instance_selection.py`) and keeps
the types found in the group's spec: `instanceTypes` of a managed group, `instancesDistribution.instanceTypes`
of a self-managed one. `match` is the pure rule: EC2's facts about one type against the criteria.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.model.validation import SpecModel

if TYPE_CHECKING:
    from collections.abc import Mapping

# eksctl's default processor when cpuArchitecture is left out; `amd64` is another name for it.
DEFAULT_ARCHITECTURE = "x86_64"
# eksctl refuses criteria matching more than 40 types, an Auto Scaling group's overrides; a managed
# group's spec holds at most 20 instanceTypes, its limit here.
MAX_SELECTED_TYPES, MAX_MANAGED_SELECTED_TYPES = 40, 20
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
# Units of `memory` (case-insensitive, as eksctl's byte quantities); a bare number is GiB.
_MIB_PER_UNIT = {"": 1024, "m": 1, "mb": 1, "mi": 1, "mib": 1, "g": 1024, "gb": 1024, "gi": 1024, "gib": 1024}
_MIB_PER_UNIT |= {"t": 1024 * 1024, "tb": 1024 * 1024, "ti": 1024 * 1024, "tib": 1024 * 1024}


def memory_mib(value: str) -> int | None:
    """`memory` in MiB (a bare number is GiB, as eksctl reads it); None if it is not a size."""
    found = _MEMORY.match(value)
    if found is None or found.group(2).lower() not in _MIB_PER_UNIT:
        return None
    mib = float(found.group(1)) * _MIB_PER_UNIT[found.group(2).lower()]
    return int(mib) if mib == int(mib) and mib > 0 else None


class InstanceSelectorSpec(SpecModel):
    """The criteria: each one given must hold exactly (eksctl asks for a range from the value to itself)."""

    vcpus: Annotated[int, Field(ge=1, le=896)] | None = Field(default=None, alias="vCPUs")
    memory: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    gpus: Annotated[int, Field(ge=0, le=64)] | None = None
    neuron_devices: Annotated[int, Field(ge=0, le=64)] | None = Field(default=None, alias="neuron_devices")
    cpu_architecture: Literal["x86_64", "amd64", "arm64"] | None = None
    # Regular expressions over instance type names: the types to keep, and those to leave out.
    allow: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    deny: Annotated[str, Field(min_length=1, max_length=256)] | None = None

    @field_validator("memory", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("memory")
    @classmethod
    def _a_size(cls, value: str | None) -> str | None:
        if value is not None and memory_mib(value) is None:
            raise PydanticCustomError("memory_size", "memory must be a size such as 4, 4GiB or 512MiB (bare: GiB)")
        return value

    @field_validator("allow", "deny")
    @classmethod
    def _a_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise PydanticCustomError("regex", "not a regular expression: {error}", {"error": str(exc)}) from None
        return value

    @model_validator(mode="after")
    def _some_criterion(self) -> InstanceSelectorSpec:
        # eksctl ignores an empty selector; here it would be a field that does nothing.
        if not self.model_fields_set:
            raise PydanticCustomError(
                "selector_empty", "give at least one criterion (vCPUs, memory, gpus, cpuArchitecture, ...)"
            )
        return self

    @property
    def architecture(self) -> str:
        return "x86_64" if self.cpu_architecture in (None, "amd64") else str(self.cpu_architecture)

    def match(self, info: Mapping[str, Any]) -> bool:
        """Whether one `InstanceTypes[]` entry of EC2's DescribeInstanceTypes meets every criterion."""
        name = str(info.get("InstanceType", ""))
        if self.architecture not in ((info.get("ProcessorInfo") or {}).get("SupportedArchitectures") or ()):
            return False
        if self.vcpus is not None and (info.get("VCpuInfo") or {}).get("DefaultVCpus") != self.vcpus:
            return False
        if self.memory is not None and (info.get("MemoryInfo") or {}).get("SizeInMiB") != memory_mib(self.memory):
            return False
        gpus = (info.get("GpuInfo") or {}).get("Gpus") or []
        if self.gpus is not None and sum(int(g.get("Count", 0)) for g in gpus) != self.gpus:
            return False
        if self.neuron_devices is not None and _neuron_devices(info) != self.neuron_devices:
            return False
        if self.allow is not None and re.search(self.allow, name) is None:
            return False
        return self.deny is None or re.search(self.deny, name) is None


def _neuron_devices(info: Mapping[str, Any]) -> int:
    neuron = (info.get("NeuronInfo") or {}).get("NeuronDevices") or []
    if neuron:
        return sum(int(d.get("Count", 0)) for d in neuron)
    accelerators = (info.get("InferenceAcceleratorInfo") or {}).get("Accelerators") or []
    return sum(int(a.get("Count", 0)) for a in accelerators)
