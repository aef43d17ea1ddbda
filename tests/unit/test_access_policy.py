"""Who may grant cluster-admin, and the kubeconfig we hand out."""

from __future__ import annotations

import pytest

from chalicelib.model import policy
from chalicelib.model.errors import ForbiddenError
from chalicelib.model.settings import Settings
from chalicelib.model.spec import IdentityMapping
from chalicelib.operations import access

ADMIN = IdentityMapping.model_validate({"arn": "arn:aws:iam::123456789012:role/A", "groups": ["system:masters"]})
READER = IdentityMapping.model_validate({"arn": "arn:aws:iam::123456789012:role/R", "groups": ["readers"]})


def settings(*allowed: str) -> Settings:
    return Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0, masters_allowed=allowed)


def test_system_masters_is_refused_by_default() -> None:
    with pytest.raises(ForbiddenError, match="system:masters"):
        policy.check_mappings([READER, ADMIN], "arn:aws:iam::123456789012:user/bob", settings())


def test_system_masters_is_allowed_for_callers_the_policy_names() -> None:
    policy.check_mappings([ADMIN], "arn:aws:iam::123456789012:role/platform-admin", settings("*:role/platform-*"))


def test_other_groups_need_no_permission() -> None:
    policy.check_mappings([READER], "anonymous", settings())


def test_the_kubeconfig_runs_aws_eks_get_token_for_the_cluster() -> None:
    record = {
        "name": "mz",
        "region": "ap-northeast-1",
        "cluster": {
            "endpoint": "https://x.eks",
            "arn": "arn:aws:eks:ap-northeast-1:1:cluster/mz",
            "certificateAuthorityData": "Q0E=",
        },
    }

    config = access.kubeconfig(record)

    (cluster,) = config["clusters"]
    assert cluster["cluster"] == {"server": "https://x.eks", "certificate-authority-data": "Q0E="}
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"] == [
        "--region",
        "ap-northeast-1",
        "eks",
        "get-token",
        "--cluster-name",
        "mz",
        "--output",
        "json",
    ]
    assert config["current-context"] == cluster["name"]
