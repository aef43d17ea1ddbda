"""On the local engine the local developer may make anyone a cluster admin of their own clusters; nobody else may."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest

from chalicelib.model import settings
from tests.e2e.conftest import ENGINE_REGION
from tests.eks_tokens import eks_token

if TYPE_CHECKING:
    from collections.abc import Iterator

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

ACCOUNT = "123456789012"
DEV = f"arn:aws:iam::{ACCOUNT}:role/dev"
ADMIN_ROLE = "walkthrough-admin"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ADMIN_ROLE}"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def token_for(engine: LocalEngine, credentials: dict[str, str], cluster: str) -> str:
    """What `aws eks get-token` hands kubectl for these credentials."""
    return eks_token(
        cluster,
        key=credentials["AccessKeyId"],
        secret=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
        region=engine.region,
    )


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    """The engine as `make run` starts it: the local developer may grant system:masters."""
    from local.engine import LocalEngine

    eng = LocalEngine(region=ENGINE_REGION, poll_scale=0.001, local_developer_admin=True).start()
    yield eng
    eng.stop()
    assert settings.ENV_MASTERS_ALLOWED not in os.environ  # the allowance goes with the engine


def test_the_engine_lets_the_local_developer_and_only_them_grant_system_masters(api: Api, engine: LocalEngine) -> None:
    body = {"name": "masters-local", "iamIdentityMappings": [{"arn": ADMIN_ARN, "groups": ["system:masters"]}]}

    refused = api.call("POST", "/clusters", body, caller=DEV)

    assert refused.status == 403, refused.body
    assert (refused.body["field"], refused.body["rule"]) == (
        "iamIdentityMappings[0].groups",
        "cluster_admin_not_allowed",
    )
    assert api.call("GET", "/clusters/masters-local").status == 404

    accepted = api.call("POST", "/clusters", body)  # unsigned: the local developer

    assert accepted.status == 202, accepted.body
    assert api.wait_for("masters-local", {"ACTIVE", "FAILED"})["status"] == "ACTIVE"

    # Whoever assumes the mapped role in the engine is a cluster admin of it.
    engine.client("iam").create_role(RoleName=ADMIN_ROLE, AssumeRolePolicyDocument=TRUST)
    credentials = engine.client("sts").assume_role(RoleArn=ADMIN_ARN, RoleSessionName="alice")["Credentials"]
    emulator = engine.emulator("masters-local", engine.region)
    username, groups = emulator._authenticate(f"Bearer {token_for(engine, credentials, 'masters-local')}")
    assert "system:masters" in groups and "system:authenticated" in groups
    assert username

    assert api.call("DELETE", "/clusters/masters-local").status == 202
    assert api.wait_for("masters-local", {"DELETED", "DELETE_FAILED"})["status"] == "DELETED"
