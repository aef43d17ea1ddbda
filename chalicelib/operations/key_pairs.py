"""Check the EC2 key pairs node groups name (`ssh.publicKeyName`), before anything is built.

EC2 refuses a launch template's instances, and EKS a node group's RemoteAccess, for a key pair
the region does not have, minutes into the node group's stack. One DescribeKeyPairs in the
cluster's region finds them all here instead, as eksctl checks a key before it builds anything:
a 422 on each group's `ssh.publicKeyName` (`key_pair_not_found`), or `windows_key_type` for an
ED25519 key on a Windows group (EC2 takes none for Windows instances). The key pair a group's stack
would import from `ssh.publicKey` must not exist yet (`key_pair_exists`): the import would fail, and a
rolled back import may delete the key pair of that name.
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
    imported: list[tuple[tuple[str | int, ...], str]] = []
    for index, group in enumerate(spec.nodegroups):
        if group.ssh is None or only not in (None, group.name):
            continue
        loc = () if only is not None else spec.group_loc(index)
        if group.ssh.public_key_name:
            named.append(((*loc, "ssh", "publicKeyName"), group.ssh.public_key_name, is_windows(group.ami_family)))
        elif group.ssh.public_key is not None:
            imported.append(((*loc, "ssh", "publicKey"), str(group.ssh.key_pair_name(spec.name, group.name))))
    if not named and not imported:
        return
    ec2 = ctx.clients.ec2(spec.region)
    # A filter, not KeyNames=: EC2 refuses the whole call for one unknown name, and every one must be named.
    names = sorted({name for _, name, _ in named} | {name for _, name in imported})
    answer = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": names}])
    known = {pair["KeyName"]: pair.get("KeyType", "rsa") for pair in answer.get("KeyPairs", [])}
    problems: list[Problem] = []
    for where, name in imported:
        if name in known:
            # The stack's import would fail, and CloudFormation's rollback may delete the key of that name.
            message = (
                f"EC2 already has a key pair {name} (left by an earlier cluster of this name, or by eksctl): "
                "delete it, or name it with ssh.publicKeyName"
            )
            problems.append((where, "key_pair_exists", message, None))
    for where, name, windows in named:
        if name not in known:
            problems.append((where, "key_pair_not_found", f"{name} is not an EC2 key pair in {spec.region}", name))
        elif windows and known[name] == "ed25519":
            message = f"{name} is an ED25519 key pair, which EC2 takes for no Windows instance: name an RSA key pair"
            problems.append((where, "windows_key_type", message, name))
    refuse_problems("the request names SSH keys EC2 does not have", problems)
