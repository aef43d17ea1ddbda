"""Functional tests: domain code against moto, in-process (`mock_aws`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws
from moto.core.config import default_user_config

from chalicelib.aws.clients import Clients, reset_default_clients
from chalicelib.aws.store import TABLE_DEFINITION, Store
from chalicelib.model import settings
from local import (
    account_quotas,
    asg_models,
    botocore_data,
    cfn_quotas,
    ddb_atomic,
    ec2_models,
    eks_images,
    eks_models,
    stack_timing,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

TABLE = "ekspress-test"
REGION = "us-west-2"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # An engine started earlier in this process may have pointed boto3 at a server.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # ...and told moto to run state machines; here executions only exist, as tests start and stop them.
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": False})
    monkeypatch.setenv(settings.ENV_TABLE_NAME, TABLE)
    monkeypatch.setenv(settings.ENV_POLL_SCALE, "1.0")
    settings.get_settings.cache_clear()
    reset_default_clients()
    eks_models.register()
    ddb_atomic.install()
    ec2_models.install()
    eks_images.install()
    botocore_data.install()
    asg_models.install()
    stack_timing.install()
    cfn_quotas.install()
    account_quotas.install()
    with mock_aws():
        yield
    stack_timing.behaviour.clear()
    settings.get_settings.cache_clear()
    reset_default_clients()


@pytest.fixture
def clients() -> Clients:
    return Clients(REGION)


@pytest.fixture
def db() -> Store:
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(TableName=TABLE, **TABLE_DEFINITION)
    return Store(client, TABLE)


@pytest.fixture
def kube() -> Iterator[dict[tuple[str, str], Any]]:
    """Give every EKS cluster created in this test a live Kubernetes API emulator."""
    from local.kube import KubeEmulator

    emulators: dict[tuple[str, str], Any] = {}

    def attach(cluster: Any, region: str) -> None:
        emulator = KubeEmulator(
            cluster.name,
            region,
            sts_hosts={f"sts.{region}.amazonaws.com"},
            # mock_aws swaps in its own fake credentials; the emulator must know their secret.
            secrets={"FOOBARKEY": "FOOBARSECRET"},
            identities={"FOOBARKEY": "arn:aws:sts::123456789012:user/moto"},
            creator_arn="arn:aws:sts::123456789012:user/moto",
        )
        emulator.start()
        cluster.kube_aws_auth = lambda: emulator.objects.configmap_data("kube-system", "aws-auth")
        cluster.endpoint = emulator.endpoint
        cluster.certificate_authority = {"data": emulator.ca_data}
        emulators[(region, cluster.name)] = emulator

    eks_models.cluster_created_hooks.append(attach)
    yield emulators
    eks_models.cluster_created_hooks.remove(attach)
    for emulator in emulators.values():
        emulator.stop()
