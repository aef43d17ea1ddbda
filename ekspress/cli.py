"""`ekspress`: the API from a shell, shaped like eksctl.

    ekspress create cluster --name mz-k8s --region ap-northeast-1 --nodes 3
    ekspress get clusters -o json
    ekspress utils write-kubeconfig --cluster mz-k8s

Exit codes: 0 done; 1 the API refused or the cluster failed; 2 a bad flag; 130 stopped watching (Ctrl-C).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import yaml

from ekspress import config as configuration
from ekspress import errors, ssh_keys
from ekspress import kubeconfig as kubeconfigs
from ekspress.client import Client
from ekspress.models import (
    ACTIVE,
    CLAIM_INCOMPLETE,
    CLAIMED,
    DELETED,
    FAILED_STATUSES,
    NODEGROUP_CHANGE_REQUESTED,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from ekspress.models import ClusterRecord, DryRun, TimelineEvent

OUTPUTS = click.Choice(["table", "json", "yaml"])
TERMINAL = {ACTIVE, DELETED, *FAILED_STATUSES}
# Flags given eksctl's way, `--wait=false`: click's flags take no value, so these are spelled as its pairs.
_BOOL_FLAGS = ("wait", "managed", "protected", "node-private-networking", "set-kubeconfig-context")


class State:
    """What every command shares: how to reach the API."""

    def __init__(self, endpoint: str | None, profile: str | None, region: str | None, sign: bool | None) -> None:
        self._args = (endpoint, profile, region, sign)
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            try:
                settings = configuration.resolve(*self._args)
            except configuration.ConfigError as exc:
                raise click.UsageError(str(exc)) from None
            try:
                self._client = Client(
                    settings.endpoint,
                    region=settings.region,
                    sign=settings.sign,
                    aws_profile=settings.aws_profile,
                    timeout=settings.timeout,
                )
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None
        return self._client


pass_state = click.make_pass_decorator(State)


def output_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-o", "--output", type=OUTPUTS, default="table", show_default=True, help="output format")(func)


def wait_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--wait/--no-wait", default=True, show_default=True, help="wait until it is done (--wait=false: return at once)"
    )(func)


def timeout_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--timeout", type=click.FloatRange(min=1), default=3600, show_default=True, help="seconds to wait at most"
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--endpoint", envvar="EKSPRESS_URL", help="the API's URL [env EKSPRESS_URL; default the local engine]")
@click.option("--profile", "profile", help="a profile of the config file [env EKSPRESS_PROFILE]")
@click.option(
    "--signing-region",
    "region",
    help="the region requests are signed for (default: the endpoint's, else your AWS config's)",
)
@click.option("--sign/--no-sign", default=None, help="SigV4-sign requests (default: unless the API is on this machine)")
@click.version_option(package_name="ekspress", prog_name="ekspress")
@click.pass_context
def cli(ctx: click.Context, endpoint: str | None, profile: str | None, region: str | None, sign: bool | None) -> None:
    """Amazon EKS clusters on request, through the ekspress API."""
    ctx.obj = State(endpoint, profile, region, sign)


@cli.group()
def create() -> None:
    """Create a cluster, a node group or an IAM identity mapping."""


@cli.group()
def get() -> None:
    """Show clusters, identity mappings, node groups, a cluster's config."""


@cli.group()
def describe() -> None:
    """Show one cluster in full: spec, stacks, endpoint, lease, timeline."""


@cli.group()
def delete() -> None:
    """Delete a cluster, a node group or an IAM identity mapping."""


@cli.group()
def scale() -> None:
    """Scale a node group."""


@cli.group()
def utils() -> None:
    """Kubeconfig and other helpers."""


# -- clusters ---------------------------------------------------------------------------


def _hours(value: str | None) -> int | None:
    """`--ttl`: hours, as `8`, `8h` or `2d`."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)([hd]?)", value.strip())
    if not match:
        raise click.BadParameter("give hours as 8, 8h or 2d", param_hint="--ttl")
    return int(match[1]) * (24 if match[2] == "d" else 1)


def default_nodegroup_name(cluster: str) -> str:
    """eksctl's `ng-<hash>`, the same name the service gives a cluster's default group."""
    return "ng-" + hashlib.sha256(cluster.encode()).hexdigest()[:8]


def _group(
    name: str,
    node_type: str | None,
    nodes: int | None,
    nodes_min: int | None,
    nodes_max: int | None,
    volume: int | None,
    private: bool | None,
) -> dict[str, Any]:
    fields = {
        "name": name,
        "instanceType": node_type,
        "desiredCapacity": nodes,
        "minSize": nodes_min,
        "maxSize": nodes_max,
        "volumeSize": volume,
        "privateNetworking": private,
    }
    return {k: v for k, v in fields.items() if v is not None}


def node_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--node-type", help="the nodes' EC2 instance type (default m5.large)"),
            click.option("-N", "--nodes", type=click.IntRange(min=0), help="desired number of nodes (default 2)"),
            click.option("-m", "--nodes-min", type=click.IntRange(min=0), help="minimum nodes"),
            click.option("-M", "--nodes-max", type=click.IntRange(min=0), help="maximum nodes"),
            click.option("--node-volume-size", type=click.IntRange(min=1), help="node volume size in GiB (default 80)"),
            click.option(
                "--node-private-networking/--no-node-private-networking",
                default=None,
                help="nodes in private subnets only",
            ),
        ]
    ):
        func = option(func)
    return func


@create.command("cluster")
@click.option("-n", "--name", help="the cluster's name")
@click.option("-r", "--region", help="AWS region (default us-west-2)")
@click.option("--version", "version", help="Kubernetes version (default 1.33)")
@click.option("--nodegroup-name", help="the node group's name (default ng-<hash of the name>)")
@node_options
@click.option("--ttl", help="hours until the lease ends: 8, 8h, 2d (default: the service's)")
@click.option("--protected/--no-protected", default=None, help="never torn down by the schedule")
@click.option("--pool", help="claim a READY cluster of this warm pool (its node group is scaled to --nodes)")
@click.option(
    "--when-pool-empty",
    type=click.Choice(["create", "fail", "wait"]),
    help="with --pool, when it has no READY cluster of this shape: create a fresh one (default), fail, or wait "
    "for the next one (a request of another shape fails)",
)
@click.option(
    "-f",
    "--config-file",
    type=click.File("rb"),
    help="an eksctl ClusterConfig file, sent as it is (SSH keys it names on this machine are read into it)",
)
@click.option(
    "--dry-run", is_flag=True, help="check it and print the ClusterConfig and stacks it would make; create nothing"
)
@wait_option
@timeout_option
@pass_state
def create_cluster(
    state: State,
    name: str | None,
    region: str | None,
    version: str | None,
    nodegroup_name: str | None,
    node_type: str | None,
    nodes: int | None,
    nodes_min: int | None,
    nodes_max: int | None,
    node_volume_size: int | None,
    node_private_networking: bool | None,
    ttl: str | None,
    protected: bool | None,
    pool: str | None,
    when_pool_empty: str | None,
    config_file: Any,
    dry_run: bool,
    wait: bool,
    timeout: float,
) -> None:
    """Create a cluster from flags, or from an eksctl ClusterConfig file (-f); or claim one from a warm pool."""
    if when_pool_empty and not pool:
        raise click.UsageError("--when-pool-empty goes with --pool")
    if pool and (config_file is not None or dry_run):
        raise click.UsageError("--pool takes the cluster flags (not -f) and does not dry-run")
    if config_file is not None:
        given = [flag for flag, value in (("--name", name), ("--region", region), ("--version", version)) if value]
        node_flags = (nodegroup_name, node_type, nodes, nodes_min, nodes_max, node_volume_size, node_private_networking)
        if given or any(v is not None for v in node_flags) or ttl or protected is not None:
            raise click.UsageError("with -f/--config-file, the file says everything: drop the other cluster flags")
        text, notes = ssh_keys.with_local_keys(config_file.read())
        for note in notes:
            click.echo(note, err=True)
        if dry_run:
            _print_dry_run(state.client.dry_run_create(text))
            return
        record = state.client.create_cluster_from_config(text)
    else:
        if not name:
            raise click.UsageError("--name is required (or -f cluster.yaml)")
        spec: dict[str, Any] = {"name": name}
        for key, value in (("region", region), ("version", version), ("ttlHours", _hours(ttl))):
            if value is not None:
                spec[key] = value
        if protected is not None:
            spec["protected"] = protected
        if pool:
            spec["pool"] = pool
            if when_pool_empty:
                spec["whenPoolEmpty"] = when_pool_empty
        sizes = (node_type, nodes, nodes_min, nodes_max, node_volume_size, node_private_networking)
        if nodegroup_name or any(v is not None for v in sizes):
            group_name = nodegroup_name or default_nodegroup_name(name)
            spec["managedNodeGroups"] = [
                _group(group_name, node_type, nodes, nodes_min, nodes_max, node_volume_size, node_private_networking)
            ]
        if dry_run:
            _print_dry_run(state.client.dry_run_create(spec))
            return
        record = state.client.create_cluster(spec)
    if record.eksName and record.operation is not None:  # claimed from the pool: its nodes are being scaled
        click.echo(f'claimed EKS cluster "{record.eksName}" from pool "{pool}" as "{record.name}"')
        done = f'EKS cluster "{record.name}" in "{record.region}" region is ready'
        _follow_operation(state.client, record.name, record.operation.id, wait, timeout, done)
        return
    if record.status == "WAITING":  # whenPoolEmpty: wait, and the pool has no READY cluster yet
        until = (record.waitingFor or {}).get("until", "?")
        click.echo(f'waiting for a READY cluster of pool "{pool}" as "{record.name}" (until {until})')
    else:
        click.echo(f'creating EKS cluster "{record.name}" in "{record.region}" region ({record.status})')
    if not wait:
        click.echo(f"follow it with: ekspress get cluster {record.name} --watch")
        return
    _watch(state.client, record.name, ACTIVE, timeout, claim=record.status == "WAITING")


def _print_dry_run(plan: DryRun) -> None:
    """The ClusterConfig with every default (YAML, as eksctl's --dry-run), the stacks as comments after it."""
    click.echo(yaml.safe_dump(plan.clusterConfig, sort_keys=False), nl=False)
    click.echo(f"# dry run: nothing was created. In {plan.region} ({', '.join(plan.zones)}) it would build:")
    for stack in plan.stacks:
        size = (
            f"{stack.resources} resources, {stack.templateBytes} bytes" if stack.resources is not None else stack.note
        )
        click.echo(f"#   {stack.name} ({stack.kind}): {size}")


@get.command("clusters")
@click.argument("name", required=False)
@click.option("-n", "--name", "name_option", help="one cluster")
@click.option("--watch", is_flag=True, help="follow the cluster's timeline until it settles")
@click.option("--limit", type=click.IntRange(1, 100), help="at most this many clusters")
@output_option
@timeout_option
@pass_state
def get_clusters(
    state: State,
    name: str | None,
    name_option: str | None,
    watch: bool,
    limit: int | None,
    output: str,
    timeout: float,
) -> None:
    """List clusters, or show one (NAME); --watch follows it."""
    name = name or name_option
    if watch:
        if not name:
            raise click.UsageError("--watch needs a cluster name")
        record = state.client.get_cluster(name)
        target = DELETED if record.status in {"DELETING", DELETED} else ACTIVE
        _watch(state.client, name, target, timeout)
        return
    if name:
        record = state.client.get_cluster(name)
        rows: list[dict[str, Any]] = [record.model_dump(mode="json", exclude_none=True)]
        _emit(rows, output, CLUSTER_COLUMNS, single=True)
        return
    summaries = state.client.list_clusters(limit=limit).clusters if limit else list(state.client.iter_clusters())
    if not summaries and output == "table":
        click.echo("No clusters found", err=True)
        return
    _emit([s.model_dump(mode="json", exclude_none=True) for s in summaries], output, CLUSTER_COLUMNS)


get.add_command(get_clusters, "cluster")

CLUSTER_COLUMNS = [
    ("NAME", "name"),
    ("REGION", "region"),
    ("VERSION", "version"),
    ("STATUS", "status"),
    ("PHASE", "phase"),
    ("OWNER", "owner"),
    ("CREATED", "createdAt"),
]


@describe.command("cluster")
@click.argument("name", required=False)
@click.option("-n", "--name", "name_option", help="the cluster")
@click.option("-o", "--output", type=OUTPUTS, default="table", show_default=True, help="output format")
@pass_state
def describe_cluster(state: State, name: str | None, name_option: str | None, output: str) -> None:
    """The cluster in full: spec, stacks, endpoint, lease, the timeline."""
    name = _required_name(name or name_option)
    record = state.client.get_cluster(name)
    if output != "table":
        _emit([record.model_dump(mode="json", exclude_none=True)], output, [], single=True)
        return
    echo = click.echo
    echo(f"Name:       {record.name}")
    echo(f"Status:     {record.status}" + (f" ({record.phase})" if record.phase else ""))
    echo(f"Region:     {record.region}")
    echo(f"Version:    {record.version}")
    echo(f"Owner:      {record.owner}")
    echo(f"Created:    {record.createdAt}")
    if record.cluster and record.cluster.endpoint:
        echo(f"Endpoint:   {record.cluster.endpoint}")
        echo(f"ARN:        {record.cluster.arn}")
    echo(f"Lease ends: {record.expiresAt or '-'}" + (" (protected)" if record.protected else ""))
    if record.operation:
        op = record.operation
        echo(f"Operation:  {op.type} {op.action or ''} by {op.by} since {op.startedAt}".replace("  ", " "))
    for failure, label in ((record.failure, "Failure"), (record.lastFailure, "Last failure")):
        if failure:
            echo(f"{label}:    {_failure_text(failure)}")
    if record.stacks:
        echo("Stacks:")
        for stack, entry in record.stacks.items():
            echo(f"  {stack}  {entry.status or '-'}" + (f"  {entry.reason}" if entry.reason else ""))
    if record.spec:
        echo("Spec:")
        for line in yaml.safe_dump(record.spec, sort_keys=False).splitlines():
            echo(f"  {line}")
    if record.events:
        echo("Timeline:")
        for event in record.events:
            echo(f"  {event.at}  {event.type:<28} {event.message}")


@delete.command("cluster")
@click.argument("name", required=False)
@click.option("-n", "--name", "name_option", help="the cluster")
@wait_option
@timeout_option
@pass_state
def delete_cluster(state: State, name: str | None, name_option: str | None, wait: bool, timeout: float) -> None:
    """Delete a cluster (a create still running is stopped first)."""
    name = _required_name(name or name_option)
    before = state.client.get_cluster(name) if wait else None
    record = state.client.delete_cluster(name)
    click.echo(f'deleting EKS cluster "{name}" in "{record.region}" region ({record.status})')
    if not wait:
        click.echo(f"follow it with: ekspress get cluster {name} --watch")
        return
    _watch(state.client, name, DELETED, timeout, skip=before.events if before else None)


@cli.command("extend")
@click.option("-c", "--cluster", required=True, help="the cluster")
@click.option("--hours", type=click.IntRange(min=1), required=True, help="the lease ends this many hours from now")
@pass_state
def extend(state: State, cluster: str, hours: int) -> None:
    """Extend a cluster's lease."""
    lease = state.client.extend_lease(cluster, hours)
    click.echo(f'the lease of cluster "{lease.name}" ends at {lease.expiresAt}')


@get.command("config")
@click.option("-c", "--cluster", required=True, help="the cluster")
@click.option("-o", "--output", type=OUTPUTS, default="yaml", show_default=True, help="output format (table is YAML)")
@pass_state
def get_config(state: State, cluster: str, output: str) -> None:
    """The cluster as an eksctl ClusterConfig (`-f` takes it back)."""
    if output == "json":
        click.echo(json.dumps(state.client.get_config_dict(cluster), indent=2))
    else:
        click.echo(state.client.get_config(cluster), nl=False)


# -- node groups --------------------------------------------------------------------------


@create.command("nodegroup")
@click.option("-c", "--cluster", required=True, help="the cluster")
@click.option("-n", "--name", help="the node group's name")
@node_options
@click.option("--managed/--no-managed", default=True, show_default=True, help="a managed node group (--managed=false)")
@wait_option
@timeout_option
@pass_state
def create_nodegroup(
    state: State,
    cluster: str,
    name: str | None,
    node_type: str | None,
    nodes: int | None,
    nodes_min: int | None,
    nodes_max: int | None,
    node_volume_size: int | None,
    node_private_networking: bool | None,
    managed: bool,
    wait: bool,
    timeout: float,
) -> None:
    """Add a node group to a cluster."""
    if not name:
        raise click.UsageError("--name is required")
    group = _group(name, node_type, nodes, nodes_min, nodes_max, node_volume_size, node_private_networking)
    started = state.client.add_nodegroup(cluster, group, managed=managed)
    click.echo(f'creating node group "{name}" in cluster "{cluster}"')
    _follow_operation(state.client, cluster, started.operation.id, wait, timeout, f'node group "{name}" is ready')


@scale.command("nodegroup")
@click.option("-c", "--cluster", required=True, help="the cluster")
@click.option("-n", "--name", required=True, help="the node group")
@click.option("-N", "--nodes", type=click.IntRange(min=0), help="desired number of nodes")
@click.option("-m", "--nodes-min", type=click.IntRange(min=0), help="minimum nodes")
@click.option("-M", "--nodes-max", type=click.IntRange(min=0), help="maximum nodes")
@wait_option
@timeout_option
@pass_state
def scale_nodegroup(
    state: State,
    cluster: str,
    name: str,
    nodes: int | None,
    nodes_min: int | None,
    nodes_max: int | None,
    wait: bool,
    timeout: float,
) -> None:
    """Change a node group's size."""
    if nodes is None and nodes_min is None and nodes_max is None:
        raise click.UsageError("give at least one of --nodes, --nodes-min, --nodes-max")
    started = state.client.scale_nodegroup(cluster, name, desired=nodes, min_size=nodes_min, max_size=nodes_max)
    click.echo(f'scaling node group "{name}" in cluster "{cluster}"')
    _follow_operation(state.client, cluster, started.operation.id, wait, timeout, f'node group "{name}" is scaled')


@delete.command("nodegroup")
@click.option("-c", "--cluster", required=True, help="the cluster")
@click.option("-n", "--name", required=True, help="the node group")
@wait_option
@timeout_option
@pass_state
def delete_nodegroup(state: State, cluster: str, name: str, wait: bool, timeout: float) -> None:
    """Delete a node group: its role leaves aws-auth, then its stack goes."""
    started = state.client.delete_nodegroup(cluster, name)
    click.echo(f'deleting node group "{name}" of cluster "{cluster}"')
    _follow_operation(state.client, cluster, started.operation.id, wait, timeout, f'node group "{name}" is deleted')


@get.command("nodegroup")
@click.option("-c", "--cluster", required=True, help="the cluster")
@click.option("-n", "--name", help="one node group")
@output_option
@pass_state
def get_nodegroups(state: State, cluster: str, name: str | None, output: str) -> None:
    """The cluster's node groups, from its record."""
    record = state.client.get_cluster(cluster)
    spec = record.spec or {}
    rows = []
    for managed, key in ((True, "managedNodeGroups"), (False, "nodeGroups")):
        for group in spec.get(key) or []:
            stack = next((s for s in (record.stacks or {}).values() if s.nodegroup == group.get("name")), None)
            rows.append(
                {
                    "cluster": cluster,
                    "managed": managed,
                    "status": stack.status if stack else None,
                    **group,
                }
            )
    if name:
        rows = [r for r in rows if r.get("name") == name]
        if not rows:
            _fail(f'cluster "{cluster}" has no node group "{name}"')
    columns = [
        ("CLUSTER", "cluster"),
        ("NODEGROUP", "name"),
        ("STATUS", "status"),
        ("MIN", "minSize"),
        ("MAX", "maxSize"),
        ("DESIRED", "desiredCapacity"),
        ("INSTANCE TYPE", "instanceType"),
        ("MANAGED", "managed"),
    ]
    _emit(rows, output, columns)


get.add_command(get_nodegroups, "nodegroups")


# -- IAM identity mappings (aws-auth) -----------------------------------------------------


@create.command("iamidentitymapping")
@click.option("-c", "--cluster", required=True, help="the cluster")
@click.option("--arn", help="an IAM role or user ARN")
@click.option("--username", help="the Kubernetes user name")
@click.option("--group", "groups", multiple=True, help="a Kubernetes group (repeatable)")
@click.option("--account", help="an AWS account id: every user and role of it")
@click.option("--no-duplicate-arns", is_flag=True, default=None, help="refuse if the ARN is mapped already")
@wait_option
@timeout_option
@pass_state
def create_mapping(
    state: State,
    cluster: str,
    arn: str | None,
    username: str | None,
    groups: Sequence[str],
    account: str | None,
    no_duplicate_arns: bool | None,
    wait: bool,
    timeout: float,
) -> None:
    """Map an IAM role, user or account into the cluster's aws-auth."""
    who = arn or account
    if not who:
        raise click.UsageError("give --arn or --account")
    state.client.add_access(
        cluster, arn=arn, username=username, groups=groups, account=account, no_duplicate_arns=no_duplicate_arns
    )
    click.echo(f'adding identity mapping for "{who}" to cluster "{cluster}"')
    if wait:
        _wait_for_access(state.client, cluster, who, present=True, timeout=timeout)
        click.echo(f'added identity mapping for "{who}"')


@get.command("iamidentitymapping")
@click.option("-c", "--cluster", required=True, help="the cluster")
@click.option("--arn", help="only this ARN's mappings")
@output_option
@pass_state
def get_mappings(state: State, cluster: str, arn: str | None, output: str) -> None:
    """The cluster's aws-auth mappings, read live."""
    rows = _mapping_rows(state.client.get_access(cluster).model_dump(mode="json"))
    if arn:
        rows = [r for r in rows if arn in (r.get("arn"), r.get("account"))]
    columns = [("ARN", "arn"), ("USERNAME", "username"), ("GROUPS", "groups"), ("ACCOUNT", "account")]
    _emit(rows, output, columns)


get.add_command(get_mappings, "iamidentitymappings")


@delete.command("iamidentitymapping")
@click.option("-c", "--cluster", required=True, help="the cluster")
@click.option("--arn", required=True, help="the IAM role or user ARN (or an account id): every mapping of it goes")
@wait_option
@timeout_option
@pass_state
def delete_mapping(state: State, cluster: str, arn: str, wait: bool, timeout: float) -> None:
    """Remove every aws-auth mapping of an ARN or account."""
    state.client.remove_access(cluster, arn)
    click.echo(f'removing identity mapping for "{arn}" from cluster "{cluster}"')
    if wait:
        _wait_for_access(state.client, cluster, arn, present=False, timeout=timeout)
        click.echo(f'removed identity mapping for "{arn}"')


def _mapping_rows(access: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for entry in access.get("mapRoles") or []:
        rows.append({"arn": entry.get("rolearn"), "username": entry.get("username"), "groups": entry.get("groups")})
    for entry in access.get("mapUsers") or []:
        rows.append({"arn": entry.get("userarn"), "username": entry.get("username"), "groups": entry.get("groups")})
    for account in access.get("mapAccounts") or []:
        rows.append({"account": account})
    return rows


def _wait_for_access(client: Client, cluster: str, who: str, *, present: bool, timeout: float) -> None:
    """Until aws-auth has (or no longer has) `who`; the change runs in its own workflow."""
    deadline = time.monotonic() + timeout
    while True:
        rows = _mapping_rows(client.get_access(cluster).model_dump(mode="json"))
        if any(who in (r.get("arn"), r.get("account")) for r in rows) == present:
            return
        record = client.get_cluster(cluster)
        failed = [e for e in record.events or [] if e.type == "ACCESS_CHANGE_FAILED" and who in e.message]
        if failed:
            _fail(f"the access change failed: {failed[-1].message}")
        if time.monotonic() > deadline:
            _fail(f"aws-auth still {'lacks' if present else 'has'} {who} after {timeout:g} s")
        time.sleep(1)


# -- kubeconfig ---------------------------------------------------------------------------


@utils.command("write-kubeconfig")
@click.option("-c", "--cluster", required=True, help="the cluster")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the file (default $KUBECONFIG or ~/.kube/config)",
)
@click.option(
    "--set-kubeconfig-context/--no-set-kubeconfig-context", default=True, show_default=True, help="make it current"
)
@pass_state
def write_kubeconfig(state: State, cluster: str, kubeconfig: Path | None, set_kubeconfig_context: bool) -> None:
    """Write the cluster into a kubeconfig, leaving every other entry as it is."""
    record = state.client.get_cluster(cluster)
    config = state.client.get_kubeconfig(cluster)
    path = kubeconfig or kubeconfigs.default_path()
    new = kubeconfigs.entries(config, cluster, record.region or "", kubeconfigs.principal_name(record.owner))
    try:
        kubeconfigs.write(path, new, set_kubeconfig_context)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        _fail(f"could not write {path}: {exc}")
    click.echo(f'saved kubeconfig as "{path}" (context "{new["current-context"]}")')


# -- waiting and showing ------------------------------------------------------------------


class Progress:
    """Timeline events as they happen: a live display on a terminal, plain lines otherwise."""

    def __init__(self, interactive: bool | None = None) -> None:
        self.interactive = sys.stdout.isatty() if interactive is None else interactive
        self._start: datetime | None = None
        self._status: Any = None
        self._console: Any = None
        self._started_at = time.monotonic()

    def __enter__(self) -> Progress:
        if self.interactive:
            from rich.console import Console

            self._console = Console()
            self._status = self._console.status("waiting for the first event…")
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(*exc)

    def event(self, event: TimelineEvent, record: ClusterRecord) -> None:
        at = _parse_time(event.at)
        if self._start is None:
            self._start = at
        elapsed = (at - self._start).total_seconds() if at and self._start else 0.0
        phase = record.phase or record.status
        line = f"[{_duration(elapsed):>6}] {phase:<22} {event.type:<28} {event.message}"
        if self._console is not None:
            from rich.markup import escape

            self._console.print(escape(line), highlight=False, soft_wrap=True)
        else:
            click.echo(line)

    def poll(self, record: ClusterRecord) -> None:
        if self._status is not None:
            waited = _duration(time.monotonic() - self._started_at)
            stacks = ", ".join(f"{n}: {e.status}" for n, e in (record.stacks or {}).items() if e.status)
            self._status.update(
                f"{record.status} · {record.phase or '-'} · {waited}" + (f" · {stacks}" if stacks else "")
            )


def _claim_scale(client: Client, name: str, deadline: float) -> str:
    """The id of the node group scale a served claim's take starts, once it is requested (the take and the
    request are two writes: a poll between them sees ACTIVE and no operation yet)."""
    while True:
        events = client.get_cluster(name).events or []
        claimed = max((i for i, e in enumerate(events) if e.type == CLAIMED), default=None)
        for event in events[claimed:] if claimed is not None else ():
            if event.type == CLAIM_INCOMPLETE:
                _fail(f'cluster "{name}": {event.message}')
            operation = (event.details or {}).get("operation")
            if event.type == NODEGROUP_CHANGE_REQUESTED and operation:
                return str(operation)
        if time.monotonic() >= deadline:
            _fail(f'cluster "{name}" is ACTIVE, but its node group scale was not requested in time')
        time.sleep(1.0)


def _watch(
    client: Client,
    name: str,
    target: str,
    timeout: float,
    skip: Iterable[TimelineEvent] | None = None,
    *,
    claim: bool = False,
) -> None:
    skipped = {(e.at, e.type, e.message) for e in skip or []}
    try:
        with Progress() as progress:

            def on_event(event: TimelineEvent, record: ClusterRecord) -> None:
                if (event.at, event.type, event.message) not in skipped:
                    skipped.add((event.at, event.type, event.message))
                    progress.event(event, record)

            deadline = time.monotonic() + timeout
            record = client.wait_until(name, target, timeout, poll=1.0, on_event=on_event, on_poll=progress.poll)
            # A claim served from its pool's queue is ACTIVE from its take, and then its nodes are scaled:
            # ready means that change is done too.
            running = _claim_scale(client, name, deadline) if claim else None
            if running:
                left = max(1.0, deadline - time.monotonic())
                record = client.wait_for_operation(name, running, left, poll=1.0, on_event=on_event)
    except KeyboardInterrupt:
        click.echo(
            f"\nstopped watching; the workflow goes on. Resume with: ekspress get cluster {name} --watch", err=True
        )
        sys.exit(130)
    except errors.ClusterFailed as exc:
        _fail(f'cluster "{name}" is {exc.record.status}: {_failure_text(exc.record.failure)}')
    except errors.WaitTimeout as exc:
        _fail(f"{exc}; follow it with: ekspress get cluster {name} --watch")
    failure = record.lastFailure
    if running and failure is not None and failure.operationId == running:
        _fail(f'cluster "{name}" is ACTIVE, but scaling its nodes failed: {_failure_text(failure)}')
    if target == ACTIVE:
        click.echo(f'EKS cluster "{name}" in "{record.region}" region is ready')
        click.echo(f"write its kubeconfig with: ekspress utils write-kubeconfig --cluster {name}")
    else:
        click.echo(f'EKS cluster "{name}" in "{record.region}" region is deleted')


def _follow_operation(client: Client, name: str, operation_id: str, wait: bool, timeout: float, done: str) -> None:
    if not wait:
        click.echo(f"follow it with: ekspress describe cluster {name}")
        return
    before = {(e.at, e.type, e.message) for e in client.get_cluster(name).events or []}
    try:
        with Progress() as progress:

            def on_event(event: TimelineEvent, record: ClusterRecord) -> None:
                if (event.at, event.type, event.message) not in before:
                    progress.event(event, record)

            record = client.wait_for_operation(name, operation_id, timeout, poll=1.0, on_event=on_event)
    except KeyboardInterrupt:
        click.echo(f"\nstopped watching; the change goes on. See it with: ekspress describe cluster {name}", err=True)
        sys.exit(130)
    except errors.WaitTimeout as exc:
        _fail(str(exc))
    failure = record.lastFailure
    if failure is not None and failure.operationId == operation_id:
        _fail(f"the change failed: {_failure_text(failure)}")
    click.echo(done)


def _failure_text(failure: Any) -> str:
    if failure is None:
        return "no reason recorded"
    parts = []
    if failure.stack:
        parts.append(f"stack {failure.stack}")
    if failure.resource:
        parts.append(f"resource {failure.resource}")
    where = ", ".join(parts)
    return f"{where}: {failure.reason}" if where else str(failure.reason)


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s"


def _emit(rows: list[dict[str, Any]], output: str, columns: list[tuple[str, str]], *, single: bool = False) -> None:
    if output == "json":
        click.echo(json.dumps(rows[0] if single else rows, indent=2))
    elif output == "yaml":
        click.echo(yaml.safe_dump(rows[0] if single else rows, sort_keys=False), nl=False)
    else:
        click.echo(table(rows, columns), nl=False)


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """Plain aligned columns, as eksctl prints them."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, list):
            return ",".join(str(v) for v in value) or "-"
        if isinstance(value, bool):
            return str(value).lower()
        return str(value)

    grid = [[title for title, _ in columns], *[[cell(row.get(key)) for _, key in columns] for row in rows]]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n" for line in grid)


def _required_name(name: str | None) -> str:
    if not name:
        raise click.UsageError("name the cluster: NAME or --name")
    return name


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


# -- errors a person can act on -----------------------------------------------------------


def explain(error: errors.ApiError) -> list[str]:
    """The API's refusal as lines to print: one per field with its rule; who holds a 409; which policy a 403."""
    lines = [f"Error: {error.message} ({error.status} {error.code})"]
    if isinstance(error, errors.Conflict) and error.operation:
        op = error.operation
        what = " ".join(str(p) for p in (op.get("type"), op.get("action"), op.get("nodegroup")) if p)
        lines.append(
            f"  held by a {what} operation of {error.holder or 'an unknown caller'} since {error.since or '?'}"
        )
    elif isinstance(error, errors.Conflict) and error.cluster_status:
        lines.append(f"  the cluster is {error.cluster_status}")
    if isinstance(error, errors.Forbidden) and (error.rule or error.setting):
        policy = f"the service policy's {error.setting}" if error.setting else "the service policy"
        lines.append(f"  refused by {policy}" + (f" (rule {error.rule})" if error.rule else ""))
    for field in error.fields:
        rule = f" [{field.get('rule')}]" if field.get("rule") else ""
        lines.append(f"  {field.get('field', '?')}: {field.get('message', '')}{rule}")
    return lines


def _eksctl_booleans(argv: Sequence[str]) -> list[str]:
    """`--wait=false` / `--wait=true` (eksctl's spelling) as click's `--no-wait` / `--wait`."""
    out: list[str] = []
    for arg in argv:
        if arg == "--":
            out.extend(argv[len(out) :])
            break
        for flag in _BOOL_FLAGS:
            match = re.fullmatch(rf"--{flag}=(.*)", arg)
            if match:
                value = match[1].lower()
                if value in {"true", "1", "yes"}:
                    arg = f"--{flag}"
                elif value in {"false", "0", "no"}:
                    arg = f"--no-{flag}"
                break
        out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: click's exit codes (2 for usage), 1 with readable lines for the API's refusals."""
    args = _eksctl_booleans(list(sys.argv[1:] if argv is None else argv))
    try:
        cli.main(args=args, prog_name="ekspress", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except errors.ApiError as exc:
        for line in explain(exc):
            click.echo(line, err=True)
        return 1
    except (TimeoutError, ConnectionError) as exc:
        click.echo(f"Error: cannot reach the API: {exc}", err=True)
        click.echo("  is it running (make run)? Point at another with --endpoint or EKSPRESS_URL", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
