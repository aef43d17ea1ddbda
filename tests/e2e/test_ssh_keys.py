"""SSH keys from a ClusterConfig through the CLI: a key file read on the caller's machine and imported by the
group's stack, an EC2 key pair by name with port 22 closed; from `create cluster -f` to DELETED."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.e2e.test_cli import Cli
from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parents[1] / "data"
CONFIG = DATA / "clusterconfigs" / "ssh-keys.yaml"
NAME, REGION = "ssh-keys", "eu-north-1"
TEAM_KEY = (DATA / "ssh" / "id_rsa.pub").read_text().strip()
OPS_KEY = (DATA / "ssh" / "id_ed25519.pub").read_bytes()
IMPORTED = "eksctl-ssh-keys-nodegroup-managed-s7LXn6yrq6Kh54jfKpZyUlB0DrUL0etVOfy0+VF+Xhc"  # its ssh-keygen -l


def test_the_keys_reach_the_nodes_and_the_imported_one_goes_with_its_group(
    api: Api, engine: LocalEngine, tmp_path: Path
) -> None:
    cli = Cli(api.base, tmp_path)
    cli.env["HOME"] = str(tmp_path)
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "team.pub").write_text(TEAM_KEY + "\n")
    ec2 = engine.client("ec2", REGION)

    refused = cli("create", "cluster", "-f", str(CONFIG), "--dry-run")  # ops-key is not in the region yet
    assert refused.returncode == 1 and "nodeGroups[0].ssh.publicKeyName" in refused.stderr, refused.stderr
    assert "key_pair_not_found" in refused.stderr
    ec2.import_key_pair(KeyName="ops-key", PublicKeyMaterial=OPS_KEY)

    out = cli("create", "cluster", "-f", str(CONFIG))

    assert out.returncode == 0, out.stdout + out.stderr
    assert "managedNodeGroups[0].ssh.publicKeyPath: importing the public key in ~/.ssh/team.pub" in out.stderr
    assert api.call("GET", f"/clusters/{NAME}").body["status"] == "ACTIVE"
    keys = {k["KeyName"]: k for k in ec2.describe_key_pairs()["KeyPairs"]}
    assert set(keys) == {"ops-key", IMPORTED}
    assert keys[IMPORTED]["KeyType"] == "rsa"
    managed = engine.client("eks", REGION).describe_nodegroup(clusterName=NAME, nodegroupName="managed")
    assert managed["nodegroup"]["remoteAccess"]["ec2SshKey"] == IMPORTED
    launched = ec2.describe_instances(Filters=[{"Name": "tag:eks:nodegroup-name", "Values": ["managed"]}])
    assert {i["KeyName"] for r in launched["Reservations"] for i in r["Instances"]} <= {IMPORTED}
    cfn = engine.client("cloudformation", REGION)
    template = cfn.get_template(StackName=f"eksctl-{NAME}-nodegroup-self")["TemplateBody"]
    data = template["Resources"]["NodeGroupLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["KeyName"] == "ops-key"
    ingress = template["Resources"]["SG"]["Properties"]["SecurityGroupIngress"]
    assert not [rule for rule in ingress if rule["FromPort"] == 22]  # allow: false
    _, exported, _ = send(api, "GET", f"/clusters/{NAME}/config")
    groups = yaml.safe_load(exported)
    assert groups["managedNodeGroups"][0]["ssh"] == {"allow": True, "publicKey": TEAM_KEY}
    assert groups["nodeGroups"][0]["ssh"] == {"allow": False, "publicKeyName": "ops-key", "enableSsm": True}

    gone = cli("delete", "cluster", NAME)

    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert api.call("GET", f"/clusters/{NAME}").body["status"] == "DELETED"
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["ops-key"]  # not ours: left alone
