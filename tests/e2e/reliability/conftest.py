"""The fault and load tests' engine (with fault injection installed) and counting API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from local import account_quotas
from local import faults as engine_faults
from local.engine import LocalEngine
from reliability import scenarios
from tests.e2e.conftest import ENGINE_REGION

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    eng = LocalEngine(region=ENGINE_REGION, poll_scale=0.001).start()
    # More clusters per region than a new account holds: a test account with raised quotas
    # (tests/e2e/test_quotas.py puts AWS's defaults back to test them).
    account_quotas.raise_all(200)
    engine_faults.install()
    yield eng
    eng.stop()


@pytest.fixture
def api(engine: LocalEngine, api_base: str) -> Iterator[scenarios.CountingApi]:
    yield scenarios.CountingApi(api_base)
    scenarios.reset()
