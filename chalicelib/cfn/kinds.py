"""The kinds of CloudFormation stack ekspress creates, each defined once.

A kind's `name` is stored in DynamoDB records, passed in workflow payloads and
written to every stack's `ekspress.io/stack-kind` tag, so it never changes. Stack
names stay in `naming` (the one source of AWS-side names); a kind only says which
of those functions names its stacks.

Template builders stay in `templates`: each kind's builder takes different inputs
(zones and service roles for the cluster, a node group spec for a node group), so a
shared field would be an untyped `Callable[..., Any]` nobody dispatches through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from chalicelib.model import naming

if TYPE_CHECKING:
    from collections.abc import Callable


class Schedule(NamedTuple):
    """How to poll a stack operation, in seconds: sleep until `earliest`, then look every `interval`."""

    earliest: int
    interval: int


@dataclass(frozen=True)
class StackKind:
    """One kind of stack: its stored name, how its stacks are named, polled and ordered on delete."""

    name: str
    # naming's function for this kind's stacks, as (cluster, member) -> stack name.
    namer: Callable[[str, str], str]
    # Whether a cluster has one stack of this kind per member (node group, service account, ...).
    per_member: bool
    create_schedule: Schedule
    delete_schedule: Schedule
    # Lower deletes first: every other stack imports the cluster stack's exports, so it goes last.
    delete_order: int

    def stack_name(self, cluster: str, member: str = "") -> str:
        """The stack's name for this cluster (and member, for a kind with one stack per member)."""
        if self.per_member and not member:
            raise ValueError(f"a {self.name} stack needs a member name")
        return self.namer(cluster, member)

    def names_stack_of(self, cluster: str, stack_name: str) -> bool:
        """Whether `stack_name` is how this kind names a stack of `cluster` (the name alone, not ownership)."""
        if not self.per_member:
            return stack_name == self.namer(cluster, "")
        prefix = self.namer(cluster, "")
        return stack_name.startswith(prefix) and len(stack_name) > len(prefix)


# EKS reports control planes at 8-15 minutes to create and some minutes to delete.
CLUSTER = StackKind(
    name="cluster",
    namer=lambda cluster, _member: naming.cluster_stack_name(cluster),
    per_member=False,
    create_schedule=Schedule(earliest=480, interval=20),
    delete_schedule=Schedule(earliest=180, interval=20),
    delete_order=100,
)
# Managed node groups take 2-5 minutes to create and a few to delete.
NODEGROUP = StackKind(
    name="nodegroup",
    namer=naming.nodegroup_stack_name,
    per_member=True,
    create_schedule=Schedule(earliest=120, interval=10),
    delete_schedule=Schedule(earliest=120, interval=10),
    delete_order=10,
)
# Add-ons that need nodes, and their IAM roles: EKS takes a minute or two to roll an add-on out.
# Deleted first, the reverse of creation: their pods go while the nodes that run them are still
# there, and CloudFormation removes each add-on before the role its service account uses.
ADDONS = StackKind(
    name="addons",
    namer=lambda cluster, _member: naming.addons_stack_name(cluster),
    per_member=False,
    create_schedule=Schedule(earliest=30, interval=10),
    delete_schedule=Schedule(earliest=20, interval=10),
    delete_order=5,
)

# Fargate profiles and their pod execution role: EKS makes one profile at a time, a minute or two each.
FARGATE = StackKind(
    name="fargate",
    namer=lambda cluster, _member: naming.fargate_stack_name(cluster),
    per_member=False,
    create_schedule=Schedule(earliest=60, interval=10),
    delete_schedule=Schedule(earliest=60, interval=10),
    delete_order=5,
)
# One IAM role for one Kubernetes service account (IRSA); member is `naming.service_account_member`.
IAMSERVICEACCOUNT = StackKind(
    name="iamserviceaccount",
    namer=naming.iamserviceaccount_stack_name,
    per_member=True,
    create_schedule=Schedule(earliest=10, interval=5),
    delete_schedule=Schedule(earliest=10, interval=5),
    delete_order=5,
)
# One EKS Pod Identity association and the role it hands out; member as for IAMSERVICEACCOUNT.
PODIDENTITY = StackKind(
    name="podidentityrole",
    namer=naming.podidentityrole_stack_name,
    per_member=True,
    create_schedule=Schedule(earliest=10, interval=5),
    delete_schedule=Schedule(earliest=10, interval=5),
    delete_order=5,
)

# Order matters to `by_stack_name`: the first kind whose names fit wins. A later kind
# sharing a name pattern (eksctl names self-managed node groups like managed ones)
# is told apart by its kind tag only.
KINDS: dict[str, StackKind] = {k.name: k for k in (CLUSTER, NODEGROUP, ADDONS, FARGATE, IAMSERVICEACCOUNT, PODIDENTITY)}
# The kinds of stack made after the node groups (and deleted before them).
WORKLOAD_KINDS = tuple(k.name for k in (FARGATE, IAMSERVICEACCOUNT, PODIDENTITY, ADDONS))


class UnknownStackKindError(ValueError):
    """A kind name this version of ekspress does not define."""


def kind(name: str) -> StackKind:
    """The kind called `name`; an unknown name is an error, never a guess."""
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownStackKindError(f"unknown stack kind {name!r}; known kinds: {', '.join(sorted(KINDS))}") from None


def by_stack_name(cluster: str, stack_name: str) -> StackKind | None:
    """The kind whose naming scheme `stack_name` follows for `cluster`, or None when it follows none."""
    return next((k for k in KINDS.values() if k.names_stack_of(cluster, stack_name)), None)
