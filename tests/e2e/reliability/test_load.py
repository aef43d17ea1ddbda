"""Load through the HTTP API: racing creates of the same names, and a crowd editing one cluster's aws-auth.

Chalice's local server is threaded (a thread per connection, the request thread-local), so these
requests really run at once; DynamoDB's conditions and aws-auth's resourceVersion keep them apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reliability import scenarios

if TYPE_CHECKING:
    from local.engine import LocalEngine

# Smaller crowds than `make reliability` sends (scenarios.LOAD_*): enough to race, quick enough for every run.
NAMES = 20
ACCESS_EDITS = 40


def test_racing_creates_start_one_workflow_per_name_and_refuse_the_rest_with_409(
    api: scenarios.CountingApi, engine: LocalEngine
) -> None:
    outcome = scenarios.concurrent_creates(api, engine, names=NAMES)

    per_name = scenarios.LOAD_REQUESTS_PER_NAME
    assert outcome.failures == [], outcome.facts
    assert outcome.tried == NAMES * per_name
    assert outcome.facts["statuses"] == {202: NAMES, 409: NAMES * (per_name - 1)}
    assert outcome.facts["workflows"] == NAMES


def test_concurrent_access_edits_on_one_cluster_all_end_up_in_aws_auth(
    api: scenarios.CountingApi, engine: LocalEngine
) -> None:
    outcome = scenarios.concurrent_access_edits(api, engine, edits=ACCESS_EDITS)

    assert outcome.failures == [], outcome.facts
    assert outcome.tried == ACCESS_EDITS
    assert outcome.lost == []
