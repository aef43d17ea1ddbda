"""The warm-pool benchmark's model: a claim runs the real node group and access workflows, and a pool's
hours follow its schedule as the fill reads it."""

from __future__ import annotations

import random

from bench import pools, workflow_sim
from chalicelib.model import naming
from chalicelib.model.pool_spec import POOL_NODEGROUP


def test_a_claim_scales_the_pool_node_group_through_its_event_and_polls_nothing() -> None:
    rng = random.Random(7)
    sample = workflow_sim.draw(rng, "pool-0001", (POOL_NODEGROUP,))
    sample.updates[naming.nodegroup_stack_name("pool-0001", POOL_NODEGROUP)] = 120.0

    scale, access = workflow_sim.simulate_claim(sample, POOL_NODEGROUP, workflow_sim.EVENTS, rng, start=0.0)

    assert (scale.status, access.status) == ("SUCCEEDED", "SUCCEEDED")
    assert "Update Nodegroup Stack" in scale.trace.by_state
    assert not [s for s in scale.trace.by_state if s.startswith(("Describe ", "Wait "))], scale.trace.by_state
    # The update ends at 120 s; the event arrives after its delivery latency.
    assert 120.0 < scale.end < 130.0
    ((detection),) = scale.detections
    assert (detection.operation, detection.via) == ("update", "event")


def test_a_claim_with_its_event_lost_waits_out_the_stack_wait_then_looks() -> None:
    rng = random.Random(7)
    sample = workflow_sim.draw(rng, "pool-0002", (POOL_NODEGROUP,))
    sample.updates[naming.nodegroup_stack_name("pool-0002", POOL_NODEGROUP)] = 120.0

    scale, _ = workflow_sim.simulate_claim(sample, POOL_NODEGROUP, workflow_sim.EVENTS_LOST, rng, start=0.0)

    assert scale.status == "SUCCEEDED"
    assert scale.end >= workflow_sim.event_waits()["stack"]
    assert "Nodegroup Update Event Missed" in scale.trace.by_state


def test_a_claim_is_faster_than_a_fresh_create_of_the_same_draws() -> None:
    claim = [pools.claim_seconds(workflow_sim.EVENTS, random.Random(i), i)[0] for i in range(5)]
    fresh = [pools.create_seconds(random.Random(i), i)[0] for i in range(5)]

    assert max(claim) < min(fresh)


def test_a_pools_hours_follow_its_schedule() -> None:
    always, office, mornings = (definition for _, definition in pools.POOLS)

    assert pools.pool_hours_per_day(always) == 72.0
    # 3 clusters, 12 hours, 5 days of 7.
    assert abs(pools.pool_hours_per_day(office) - 3 * 12 * 5 / 7) < 1e-9
    assert abs(pools.pool_hours_per_day(mornings) - (24 + 4 * 3 * 5 / 7)) < 1e-9
