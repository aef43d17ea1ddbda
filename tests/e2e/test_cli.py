"""The `ekspress` console script, as installed in the environment, against the local engine's API.

One cluster carries the whole flow: create with waiting, list, identity mappings, kubeconfig,
scale, delete with waiting. The script runs in a subprocess, as a person runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.e2e.conftest import as_from_a_terminal

if TYPE_CHECKING:
    from collections.abc import Iterator

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

NAME = "cli-flow"
REGION = "eu-west-1"
DEV = "arn:aws:iam::123456789012:role/CliDeveloper"
SCRIPT = Path(sys.executable).parent / "ekspress"


class Cli:
    def __init__(self, base: str, home: Path) -> None:
        self.home = home
        self.kubeconfig = home / "kube" / "config"
        self.env = {
            **os.environ,
            "EKSPRESS_URL": base,
            "XDG_CONFIG_HOME": str(home / "config"),
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }

    def __call__(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args], capture_output=True, text=True, env=self.env, timeout=timeout, check=False
        )


@pytest.fixture(scope="module")
def cli(api: Api, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    if not SCRIPT.exists():
        pytest.fail(f"the console script is not installed: pip install -e . ({SCRIPT})")
    return Cli(api.base, tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def created(cli: Cli) -> Iterator[subprocess.CompletedProcess[str]]:
    """`create cluster` with waiting (the default), once for the module."""
    out = cli("create", "cluster", "--name", NAME, "--region", REGION, "--nodes", "2", "--ttl", "4h")
    yield out


def test_create_waits_until_active_showing_each_event(created: subprocess.CompletedProcess[str], api: Api) -> None:
    assert created.returncode == 0, created.stdout + created.stderr
    lines = created.stdout.splitlines()
    assert lines[0] == f'creating EKS cluster "{NAME}" in "{REGION}" region (CREATING)'
    events = [line for line in lines if line.startswith("[")]
    assert any("REQUESTED" in line for line in events)
    assert any("STACK_CREATE_COMPLETE" in line for line in events)
    assert events[0].startswith("[    0s]")
    assert f'EKS cluster "{NAME}" in "{REGION}" region is ready' in lines
    assert f"write its kubeconfig with: ekspress utils write-kubeconfig --cluster {NAME}" in lines
    assert api.call("GET", f"/clusters/{NAME}").body["status"] == "ACTIVE"


def test_get_clusters_as_json_table_and_yaml(created: subprocess.CompletedProcess[str], cli: Cli) -> None:
    as_json = cli("get", "clusters", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    listed = {c["name"]: c for c in json.loads(as_json.stdout)}
    assert listed[NAME]["status"] == "ACTIVE"

    table = cli("get", "cluster", NAME)
    assert table.stdout.split("\n")[0].split() == ["NAME", "REGION", "VERSION", "STATUS", "PHASE", "OWNER", "CREATED"]
    assert table.stdout.split("\n")[1].split()[:4] == [NAME, REGION, "1.33", "ACTIVE"]

    one = yaml.safe_load(cli("get", "cluster", NAME, "-o", "yaml").stdout)
    assert one["name"] == NAME and one["events"]

    described = cli("describe", "cluster", NAME)
    assert "Timeline:" in described.stdout and f"eksctl-{NAME}-cluster" in described.stdout

    config = yaml.safe_load(cli("get", "config", "--cluster", NAME).stdout)
    assert config["kind"] == "ClusterConfig" and config["metadata"]["name"] == NAME


def test_identity_mapping_add_list_remove(created: subprocess.CompletedProcess[str], cli: Cli) -> None:
    added = cli(
        "create", "iamidentitymapping", "--cluster", NAME, "--arn", DEV, "--username", "dev", "--group", "dev-team"
    )
    assert added.returncode == 0, added.stderr
    listed = json.loads(cli("get", "iamidentitymapping", "--cluster", NAME, "-o", "json").stdout)
    assert {"arn": DEV, "username": "dev", "groups": ["dev-team"]} in listed

    table = cli("get", "iamidentitymapping", "--cluster", NAME)
    assert table.stdout.split()[:4] == ["ARN", "USERNAME", "GROUPS", "ACCOUNT"]
    assert DEV in table.stdout

    removed = cli("delete", "iamidentitymapping", "--cluster", NAME, "--arn", DEV)
    assert removed.returncode == 0, removed.stderr
    listed = json.loads(cli("get", "iamidentitymapping", "--cluster", NAME, "-o", "json").stdout)
    assert DEV not in {m.get("arn") for m in listed}


def test_write_kubeconfig_keeps_other_entries_and_kubectl_reads_aws_auth(
    created: subprocess.CompletedProcess[str], cli: Cli
) -> None:
    other = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "other", "cluster": {"server": "https://other.example"}}],
        "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}],
        "users": [{"name": "other", "user": {"token": "x"}}],
        "current-context": "other",
    }
    cli.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    cli.kubeconfig.write_text(yaml.safe_dump(other))

    out = cli("utils", "write-kubeconfig", "--cluster", NAME)

    assert out.returncode == 0, out.stderr
    written = yaml.safe_load(cli.kubeconfig.read_text())
    context = f"local-developer@{NAME}.{REGION}.eksctl.io"
    assert written["current-context"] == context
    assert {c["name"] for c in written["clusters"]} == {"other", f"{NAME}.{REGION}.eksctl.io"}
    assert {c["name"] for c in written["users"]} == {"other", context}
    assert other["users"][0] in written["users"]
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (Debian package kubernetes-client)")
    if not (Path(sys.executable).parent / "aws").exists():
        pytest.skip("the aws CLI is not installed in this environment")
    read = subprocess.run(
        [kubectl, "get", "configmap", "aws-auth", "-n", "kube-system", "-o", "json"],
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=60,
        check=False,
    )
    assert read.returncode == 0, read.stderr
    assert "system:nodes" in json.loads(read.stdout)["data"]["mapRoles"]


def test_scale_nodegroup_waits_for_the_change(created: subprocess.CompletedProcess[str], cli: Cli, api: Api) -> None:
    group = json.loads(cli("get", "nodegroup", "--cluster", NAME, "-o", "json").stdout)[0]["name"]

    out = cli("scale", "nodegroup", "--cluster", NAME, "--name", group, "--nodes", "3", "--nodes-max", "4")

    assert out.returncode == 0, out.stdout + out.stderr
    assert f'node group "{group}" is scaled' in out.stdout
    spec = api.call("GET", f"/clusters/{NAME}").body["spec"]
    assert spec["managedNodeGroups"][0]["desiredCapacity"] == 3
    assert spec["managedNodeGroups"][0]["maxSize"] == 4


def test_a_bad_flag_exits_2(cli: Cli) -> None:
    out = cli("create", "cluster", "--name", "x", "--nodes", "many")

    assert out.returncode == 2
    assert "--nodes" in out.stderr


def test_a_refused_request_exits_1_naming_each_field(created: subprocess.CompletedProcess[str], cli: Cli) -> None:
    out = cli("create", "cluster", "--name", "cli-bad", "--nodes", "1", "--nodes-min", "3")

    assert out.returncode == 1
    assert "(422 ValidationError)" in out.stderr
    assert any(
        line.strip().startswith("managedNodeGroups[0].desiredCapacity:") and "[size_order]" in line
        for line in out.stderr.splitlines()
    ), out.stderr


def test_a_conflict_says_the_name_is_taken(created: subprocess.CompletedProcess[str], cli: Cli) -> None:
    out = cli("create", "cluster", "--name", NAME, "--wait=false")

    assert out.returncode == 1
    assert "409" in out.stderr and "already exists" in out.stderr


def test_dry_run_prints_the_clusterconfig_and_stacks_and_creates_nothing(cli: Cli, api: Api) -> None:
    out = cli("create", "cluster", "--name", "cli-dry", "--region", REGION, "--nodes", "3", "--dry-run")

    assert out.returncode == 0, out.stderr
    config = yaml.safe_load(out.stdout)
    assert config["kind"] == "ClusterConfig"
    assert (config["metadata"]["name"], config["metadata"]["region"]) == ("cli-dry", REGION)
    group = config["managedNodeGroups"][0]
    assert (group["desiredCapacity"], group["instanceType"], group["volumeSize"]) == (3, "m5.large", 80)
    stacks = [line for line in out.stdout.splitlines() if line.startswith("#   ")]
    assert stacks[0].startswith("#   eksctl-cli-dry-cluster (cluster): ") and "resources" in stacks[0]
    assert any(line.startswith(f"#   eksctl-cli-dry-nodegroup-{group['name']} (nodegroup): ") for line in stacks)
    assert api.call("GET", "/clusters/cli-dry").status == 404


def test_dry_run_refuses_what_a_create_refuses(cli: Cli, api: Api) -> None:
    out = cli("create", "cluster", "--name", "cli-dry-bad", "--nodes", "1", "--nodes-min", "3", "--dry-run")

    assert out.returncode == 1 and "[size_order]" in out.stderr
    assert api.call("POST", "/clusters?dryRun=maybe", {"name": "cli-dry-bad"}).status == 400


def test_a_keyed_dry_run_records_nothing_and_leaves_the_key_free(api: Api, engine: LocalEngine) -> None:
    """A dry run is not the request its key stands for: nothing is recorded, and the real create may use the key."""
    from chalicelib.aws import idempotency

    name, caller, key = "dry-keyed", "arn:aws:iam::123456789012:role/dry-runner", "dry-then-real-1"
    replayed = "Idempotent-Replayed"
    request = {"name": name, "region": REGION}

    dry = [api.call("POST", "/clusters?dryRun=true", request, caller=caller, idempotency_key=key) for _ in range(2)]

    assert [reply.status for reply in dry] == [200, 200], dry[0].body
    assert dry[0].body["dryRun"] is True and replayed not in dry[1].headers
    rows = engine.client("dynamodb").query(
        TableName=engine.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": idempotency.caller_partition(caller)}},
    )["Items"]
    assert rows == [], "a dry run keeps no idempotency record"
    sfn = engine.client("stepfunctions")
    started = sfn.list_executions(stateMachineArn=engine.outputs["create_cluster"], maxResults=1000)["executions"]
    assert not [e for e in started if f"-{name}-" in e["name"]]
    assert api.call("GET", f"/clusters/{name}").status == 404

    real = api.call("POST", "/clusters", request, caller=caller, idempotency_key=key)
    again = api.call("POST", "/clusters", request, caller=caller, idempotency_key=key)

    assert real.status == 202, real.body
    assert replayed not in real.headers
    assert (again.status, again.body, again.headers.get(replayed)) == (202, real.body, "true")


def test_ctrl_c_stops_watching_not_the_workflow(cli: Cli, api: Api) -> None:
    started = cli("create", "cluster", "--name", "cli-watch", "--region", REGION, "--wait=false")
    assert started.returncode == 0, started.stderr
    assert "follow it with: ekspress get cluster cli-watch --watch" in started.stdout
    watch = subprocess.Popen(
        [str(SCRIPT), "get", "cluster", "cli-watch", "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
        preexec_fn=as_from_a_terminal,
    )
    assert watch.stdout is not None
    first = watch.stdout.readline()
    assert "REQUESTED" in first

    watch.send_signal(signal.SIGINT)
    _, err = watch.communicate(timeout=30)

    assert watch.returncode == 130
    assert "Resume with: ekspress get cluster cli-watch --watch" in err
    assert "Traceback" not in err
    assert api.call("GET", "/clusters/cli-watch").body["status"] in {"CREATING", "ACTIVE"}
    assert api.wait_for("cli-watch", {"ACTIVE", "FAILED"})["status"] == "ACTIVE"


def test_add_then_delete_a_nodegroup_waiting_for_each(
    created: subprocess.CompletedProcess[str], cli: Cli, api: Api
) -> None:
    added = cli("create", "nodegroup", "--cluster", NAME, "--name", "extra", "--nodes", "1", "--node-type", "t3.large")

    assert added.returncode == 0, added.stdout + added.stderr
    assert 'node group "extra" is ready' in added.stdout
    groups = {g["name"]: g for g in json.loads(cli("get", "nodegroup", "--cluster", NAME, "-o", "json").stdout)}
    assert groups["extra"]["instanceType"] == "t3.large" and groups["extra"]["status"] == "CREATE_COMPLETE"

    deleted = cli("delete", "nodegroup", "--cluster", NAME, "--name", "extra")

    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    names = {g["name"] for g in api.call("GET", f"/clusters/{NAME}").body["spec"]["managedNodeGroups"]}
    assert "extra" not in names


def test_extend_the_lease(created: subprocess.CompletedProcess[str], cli: Cli, api: Api) -> None:
    out = cli("extend", "--cluster", NAME, "--hours", "6")

    assert out.returncode == 0, out.stderr
    expires = api.call("GET", f"/clusters/{NAME}").body["expiresAt"]
    assert out.stdout.strip() == f'the lease of cluster "{NAME}" ends at {expires}'


def test_a_clusterconfig_file_is_sent_as_it_is(cli: Cli, api: Api, tmp_path: Path) -> None:
    config = tmp_path / "cluster.yaml"
    config.write_text(
        "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata:\n  name: cli-file\n  region: eu-west-1\n"
        "managedNodeGroups:\n  - name: workers\n    desiredCapacity: 1\n"
    )

    out = cli("create", "cluster", "-f", str(config), "--dry-run")

    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout)["managedNodeGroups"][0]["name"] == "workers"
    assert "#   eksctl-cli-file-nodegroup-workers (nodegroup): " in out.stdout
    mixed = cli("create", "cluster", "-f", str(config), "--name", "other")
    assert mixed.returncode == 2 and "drop the other cluster flags" in mixed.stderr
    assert api.call("GET", "/clusters/cli-file").status == 404


# Last: the module's cluster goes (tests run in file order).
def test_zz_delete_waits_until_deleted(created: subprocess.CompletedProcess[str], cli: Cli, api: Api) -> None:
    out = cli("delete", "cluster", NAME)

    assert out.returncode == 0, out.stdout + out.stderr
    assert f'EKS cluster "{NAME}" in "{REGION}" region is deleted' in out.stdout
    assert any("DELETED" in line for line in out.stdout.splitlines() if line.startswith("["))
    assert api.call("GET", f"/clusters/{NAME}").body["status"] == "DELETED"
