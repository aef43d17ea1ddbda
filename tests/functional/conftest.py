"""Functional tests: domain code against moto, in-process (`mock_aws`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from chalicelib import settings
from chalicelib.aws import Clients, reset_default_clients
from chalicelib.store import TABLE_DEFINITION, Store
from local import eks_models, stack_timing

if TYPE_CHECKING:
    from collections.abc import Iterator

TABLE = "ekspress-test"
REGION = "us-west-2"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # An engine started earlier in this process may have pointed boto3 at a server.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv(settings.ENV_TABLE_NAME, TABLE)
    monkeypatch.setenv(settings.ENV_POLL_SCALE, "1.0")
    settings.get_settings.cache_clear()
    reset_default_clients()
    eks_models.register()
    stack_timing.install()
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
