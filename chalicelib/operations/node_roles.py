"""Check that a node group's role can hold its inline policies, before anything is built.

IAM caps the inline policies of one role at 10,240 characters together (whitespace not counted).
A node group's role holds eksctl's documents for its `withAddonPolicies` flags and the caller's
`iam.attachPolicy`; each passes alone, but together they can pass the cap, and IAM would refuse the
role minutes into the node group's stack. Here the documents are measured as the stack would put
them: a 422 on the group's `iam.attachPolicy` (`role_inline_policy_size`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.cfn.node_policies import inline_policies
from chalicelib.model.inline_policy import MAX_SIZE, policy_size
from chalicelib.model.nodegroup_spec import NodegroupSpec
from chalicelib.model.selfmanaged_spec import SelfManagedNodegroupSpec
from chalicelib.model.validation import Problem, refuse_problems

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec


def check_node_role_policies(spec: ClusterSpec, only: str | None = None) -> None:
    """A 422 for each node group (or only the one named `only`, named as its own body names it) whose role's
    inline policies would pass IAM's cap."""
    problems: list[Problem] = []
    for index, group in enumerate(spec.nodegroups):
        if not isinstance(group, NodegroupSpec | SelfManagedNodegroupSpec) or only not in (None, group.name):
            continue
        if not (group.iam and group.iam.attach_policy):
            continue
        # As the template puts them: an `Fn::Sub` ARN is longer than the one IAM keeps, so this errs safe.
        size = sum(policy_size(p["PolicyDocument"]) for p in inline_policies(group, spec.name))
        if size > MAX_SIZE:
            loc = () if only is not None else spec.group_loc(index)
            message = (
                f"the node role's inline policies (withAddonPolicies' and this one) come to {size} characters; "
                f"IAM takes {MAX_SIZE} per role"
            )
            problems.append(((*loc, "iam", "attachPolicy"), "role_inline_policy_size", message, size))
    refuse_problems("the request names node roles IAM would refuse", problems)
