"""Check the EC2 key pairs node groups name (`ssh.publicKeyName`), before anything is built.

EC2 refuses a launch template's instances, and EKS a node group's RemoteAccess, for a key pair
the region does not have, minutes into the node group's stack. One DescribeKeyPairs in the
cluster's region finds them all here instead, as eksctl checks a key before it builds anything:
a 422 on each group's `ssh.publicKeyName` (`key_pair_not_found`), or `windows_key_type` for an
ED25519 key on a Windows group (EC2 launches no Windows instance with one). A key the group's stack
imports (`ssh.publicKey`) is the stack's own, checked with the spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.model.images import is_windows
from chalicelib.model.validation import Problem, refuse_problems

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.operations.context import Context


def check_key_pairs(ctx: Context, spec: ClusterSpec, only: str | None = None) -> None:
    """A 422 naming each group's `ssh.publicKeyName` that EC2 does not have in the spec's region (only the
    group named `only` when one is added, its fields then named as its own body names them)."""
    named: list[tuple[tuple[str | int, ...], str, bool]] = []
    for index, group in enumerate(spec.nodegroups):
        if group.ssh is not None and group.ssh.public_key_name and only in (None, group.name):
            loc = () if only is not None else spec.group_loc(index)
            named.append(((*loc, "ssh", "publicKeyName"), group.ssh.public_key_name, is_windows(group.ami_family)))
    if not named:
        return
    ec2 = ctx.clients.ec2(spec.region)
    # A filter, not KeyNames=: EC2 refuses the whole call for one unknown name, and every one must be named.
    answer = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": sorted({name for _, name, _ in named})}])
    known = {pair["KeyName"]: pair.get("KeyType", "rsa") for pair in answer.get("KeyPairs", [])}
    problems: list[Problem] = []
    for where, name, windows in named:
        if name not in known:
            problems.append((where, "key_pair_not_found", f"{name} is not an EC2 key pair in {spec.region}", name))
        elif windows and known[name] == "ed25519":
            message = f"{name} is an ED25519 key pair, which EC2 takes for no Windows instance: name an RSA key pair"
            problems.append((where, "windows_key_type", message, name))
    refuse_problems("the request names SSH keys EC2 does not have", problems)
