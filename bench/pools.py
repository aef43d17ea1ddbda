"""Warm pools: a claim against a fresh create, and what a pool costs to keep (part 5b).

Simulated, not measured on AWS, with the same machinery as parts 2 to 4 (`bench.workflow_sim`:
the real `statemachine/*.asl.json` and the real `chalicelib.cfn.stacks` code on a virtual
clock, stack events delivered with the modelled latency). `SAMPLES` draws of the pool's
cluster shape (one node group, `POOL_NODEGROUP`), each run two ways:

- **fresh create**: the create workflow, from the request to ACTIVE (control plane 8-15 min
  and a managed node group 2-5 min, as in part 2);
- **claim**: the API's conditional take (one task latency), then the node group scale and the
  identity mapping, side by side, each through its own workflow (`change_nodegroup`,
  `update_access`), until both have ended. Scaling a managed node group from zero takes
  `NODE_LAUNCH` — an ASSUMPTION: EC2 launches the instances, they boot and the kubelet joins
  until the nodes are Ready; typically one and a half to four minutes, which is the node part
  of EKS's 2-5 minutes for a new managed node group.

The cost of keeping a pool: a waiting cluster's node group is at zero nodes, so it costs its
control plane and its NAT gateway (eksctl's default VPC has one, `Single`), at list prices
that are ASSUMPTIONS (us-east-1, standard support): `CONTROL_PLANE_PER_HOUR` and
`NAT_GATEWAY_PER_HOUR`, data processing left out. The hours come from `PoolSpec.size_at`, the
code the fill schedule runs, hour by hour over one week; clusters being built or retired are
not counted.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bench.report import Section, median, percentile, ratio
from bench.workflow_sim import EPOCH, EVENTS, EVENTS_LOST, TASK_LATENCY, Policy, draw, simulate, simulate_claim
from chalicelib.model import naming
from chalicelib.model.pool_spec import POOL_NODEGROUP, PoolSpec

if TYPE_CHECKING:
    from bench.workflow_sim import Run

SAMPLES = 200
SEED = 20251201
NODE_LAUNCH = (90.0, 240.0)  # seconds, uniform (assumption; see the module docstring)
CLAIM_P95_TARGET = 300.0  # a ready cluster in minutes: p95 at most 5 min
CONTROL_PLANE_PER_HOUR = 0.10  # USD, EKS standard support (assumption)
NAT_GATEWAY_PER_HOUR = 0.045  # USD, one NAT gateway (assumption)
HOURS_PER_WEEK = 7 * 24

# Pools to price: a definition as an admin would POST it, and what it stands for.
POOLS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("3 ready, always", {"name": "always", "region": "us-west-2", "size": 3}),
    (
        "3 ready on weekdays 07-19 UTC, none otherwise",
        {
            "name": "office",
            "region": "us-west-2",
            "size": 0,
            "schedule": [{"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "fromHour": 7, "toHour": 19, "size": 3}],
        },
    ),
    (
        "1 ready, 5 on weekday mornings 08-11 UTC",
        {
            "name": "mornings",
            "region": "us-west-2",
            "size": 1,
            "schedule": [{"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "fromHour": 8, "toHour": 11, "size": 5}],
        },
    ),
)


def _span(runs: list[Run]) -> float:
    return max(r.end for r in runs) - min(r.start for r in runs)


def claim_seconds(policy: Policy, rng: random.Random, index: int) -> tuple[float, int, bool]:
    """One claim: seconds from the request to both workflows ended, transitions, and whether both succeeded."""
    sample = draw(rng, f"pool-{index:04d}", (POOL_NODEGROUP,))
    sample.updates[naming.nodegroup_stack_name(sample.name, POOL_NODEGROUP)] = rng.uniform(*NODE_LAUNCH)
    take = rng.uniform(*TASK_LATENCY)
    runs = simulate_claim(sample, POOL_NODEGROUP, policy, rng, start=take)
    ok = all(r.status == "SUCCEEDED" for r in runs)
    return take + _span(runs), sum(r.trace.transitions for r in runs), ok


def create_seconds(rng: random.Random, index: int) -> tuple[float, int, bool]:
    """One fresh create of the same shape: seconds from the request to ACTIVE, transitions, success."""
    sample = draw(rng, f"fresh-{index:04d}", (POOL_NODEGROUP,))
    (create,) = simulate(sample, EVENTS, rng, with_delete=False)
    return create.end - create.start, create.trace.transitions, create.status == "SUCCEEDED"


def pool_hours_per_day(definition: dict[str, Any]) -> float:
    """Cluster-hours a pool keeps READY per day, averaged over one week of its schedule."""
    pool = PoolSpec.model_validate(definition)
    monday = EPOCH - timedelta(days=EPOCH.weekday())
    return sum(pool.size_at(monday + timedelta(hours=h)) for h in range(HOURS_PER_WEEK)) / 7


def run(samples: int = SAMPLES, seed: int = SEED) -> Section:
    section = Section("5b. Warm pools: claim -> ACTIVE against a fresh create -> ACTIVE")
    rows: list[list[object]] = []
    figures: dict[str, list[float]] = {}
    scenarios = (
        ("fresh create (events)", lambda rng, i: create_seconds(rng, i)),
        ("claim from a pool (events)", lambda rng, i: claim_seconds(EVENTS, rng, i)),
        ("claim, every event lost (fallback)", lambda rng, i: claim_seconds(EVENTS_LOST, rng, i)),
    )
    for label, one in scenarios:
        rng = random.Random(seed)  # the same draws for every scenario
        results = [one(rng, i) for i in range(samples)]
        failed = sum(1 for _, _, ok in results if not ok)
        seconds = [s for s, _, _ in results]
        figures[label] = seconds
        transitions = [float(t) for _, t, _ in results]
        rows.append(
            [
                label,
                f"{median(seconds) / 60:.1f}",
                f"{percentile(seconds, 95) / 60:.1f}",
                ratio(median(seconds), median(figures["fresh create (events)"])),
                median(transitions),
                failed,
            ]
        )
    section.text(
        f"{samples} draws (seed {seed}) of a pool cluster's shape, one node group. Node launch when a claim scales "
        f"the node group from zero: uniform {NODE_LAUNCH[0] / 60:g}-{NODE_LAUNCH[1] / 60:g} min (an assumption: "
        "instance launch, boot and the kubelet joining; bench/pools.py says more). A claim ends when its node "
        "group scale and its identity mapping have both ended."
    )
    section.text()
    section.table(
        ["path to ACTIVE", "median (min)", "p95 (min)", "median vs fresh", "transitions median", "failed"], rows
    )
    claim = figures["claim from a pool (events)"]
    section.target(
        f"claim -> ACTIVE p95 <= {CLAIM_P95_TARGET / 60:g} min (fresh create median "
        f"{median(figures['fresh create (events)']) / 60:.1f} min)",
        f"{percentile(claim, 95) / 60:.1f} min",
        percentile(claim, 95) <= CLAIM_P95_TARGET,
    )
    per_hour = CONTROL_PLANE_PER_HOUR + NAT_GATEWAY_PER_HOUR
    section.text(
        f"What a pool costs to keep: a waiting cluster has no nodes, so it costs its control plane "
        f"(${CONTROL_PLANE_PER_HOUR:.2f}/h) and its NAT gateway (${NAT_GATEWAY_PER_HOUR:.3f}/h), list prices "
        "assumed (us-east-1, standard support; NAT data processing left out). Hours from the pool's size and "
        "schedule as the fill applies them (`PoolSpec.size_at`), averaged over a week."
    )
    section.text()
    section.table(
        ["pool", "cluster-hours per day", "USD per day", "USD per 30 days"],
        [
            [label, f"{hours:.1f}", f"{hours * per_hour:.2f}", f"{30 * hours * per_hour:.0f}"]
            for label, definition in POOLS
            for hours in [pool_hours_per_day(definition)]
        ],
    )
    return section
