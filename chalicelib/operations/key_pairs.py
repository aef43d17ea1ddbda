"""Check the EC2 key pairs node groups name (`ssh.publicKeyName`), before anything is built.

EC2 refuses a launch template's instances, and EKS a node group's RemoteAccess, for a key pair
the region does not have, minutes into the node group's stack. One DescribeKeyPairs in the
cluster's region finds them all here instead, as eksctl checks a key before it builds anything:
a 422 on each group's `ssh.publicKeyName` (`key_pair_not_found`). A key the group's stack
imports (`ssh.publicKey`) is the stack's own and needs no check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.model.validation import Problem, refuse_problems

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.operations.context import Context


def check_key_pairs(ctx: Context, spec: ClusterSpec, only: str | None = None) -> None:
    """A 422 naming each group's `ssh.publicKeyName` that EC2 does not have in the spec's region (only the
    group named `only` when one is added, its fields then named as its own body names them)."""
    named: list[tuple[tuple[str | int, ...], str]] = []
    for index, group in enumerate(spec.nodegroups):
        if group.ssh is not None and group.ssh.public_key_name and only in (None, group.name):
            loc = () if only is not None else spec.group_loc(index)
            named.append(((*loc, "ssh", "publicKeyName"), group.ssh.public_key_name))
    if not named:
        return
    ec2 = ctx.clients.ec2(spec.region)
    # A filter, not KeyNames=: EC2 refuses the whole call for one unknown name, and every one must be named.
    answer = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": sorted({name for _, name in named})}])
    known = {pair["KeyName"] for pair in answer.get("KeyPairs", [])}
    problems: list[Problem] = [
        (loc, "key_pair_not_found", f"{name} is not an EC2 key pair in {spec.region}", name)
        for loc, name in named
        if name not in known
    ]
    refuse_problems("the request names SSH keys EC2 does not have", problems)
