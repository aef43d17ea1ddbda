"""A ClusterConfig using the further managed node group fields: built, described by EKS, given back, deleted."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "managed-nodegroup-fields.yaml"
NAME = "ng-fields"
REGION = "eu-west-1"


def test_the_node_group_fields_reach_eks_come_back_and_go(api: Api, engine: LocalEngine) -> None:
    raw = CONFIG.read_bytes()
    # The group's EC2 key pair must exist, as EC2 and EKS would refuse it minutes later.
    status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/x-yaml"})
    assert status == 422, body
    assert [(f["field"], f["rule"]) for f in body["fields"]] == [
        ("managedNodeGroups[2].ssh.publicKeyName", "key_pair_not_found")
    ]
    key = (CONFIG.parents[1] / "ssh" / "id_ed25519.pub").read_bytes()
    engine.client("ec2", REGION).import_key_pair(KeyName="ops-key", PublicKeyMaterial=key)
    status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/x-yaml"})
    assert status == 202, body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")

    eks, ec2 = engine.client("eks", REGION), engine.client("ec2", REGION)

    def described(group: str) -> dict[str, Any]:
        return eks.describe_nodegroup(clusterName=NAME, nodegroupName=group)["nodegroup"]

    fast = described("fast-disk")
    assert fast["releaseVersion"] == "1.33.0-20250704"
    assert fast["nodeRepairConfig"] == {"enabled": True}
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=fast["launchTemplate"]["id"])
    data = versions["LaunchTemplateVersions"][-1]["LaunchTemplateData"]
    ebs = data["BlockDeviceMappings"][0]["Ebs"]
    assert (ebs["VolumeType"], ebs["Iops"], ebs["Throughput"], ebs["VolumeSize"]) == ("gp3", 6000, 250, 100)
    assert data["Monitoring"] == {"Enabled": True}
    assert "remoteAccess" not in fast

    io_disk = described("io-disk")
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=io_disk["launchTemplate"]["id"])
    ebs = versions["LaunchTemplateVersions"][-1]["LaunchTemplateData"]["BlockDeviceMappings"][0]["Ebs"]
    assert (ebs["VolumeType"], ebs["Iops"]) == ("io2", 8000)

    ssh = described("with-ssh")
    assert ssh["remoteAccess"] == {"ec2SshKey": "ops-key", "sourceSecurityGroups": ["sg-0123456789abcdef0"]}
    assert ssh["nodeRepairConfig"] == {"enabled": False}
    assert "launchTemplate" not in ssh

    status, exported, _ = send(api, "GET", f"/clusters/{NAME}/config")
    assert status == 200
    asked = {g["name"]: g for g in yaml.safe_load(raw)["managedNodeGroups"]}
    given = {g["name"]: g for g in yaml.safe_load(exported)["managedNodeGroups"]}
    assert set(given) == set(asked)
    for name, group in asked.items():
        assert {k: given[name][k] for k in group} == group, name

    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    assert api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=120)["status"] == "DELETED"
    assert NAME not in eks.list_clusters()["clusters"]
