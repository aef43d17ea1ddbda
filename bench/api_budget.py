"""AWS API budget: CloudFormation Describe* calls while 500 clusters are created (part 5).

From the ASL simulation (`bench.workflow_sim`): every describe task makes one
DescribeStacks call, at the virtual time it runs, and so does the events function for each
stack whose terminal event it answers. 500 creates start at once, or spread
uniformly over ten minutes; the calls are binned per second and per minute (one account,
one region — CloudFormation throttles per account and region) and set against the
DescribeStacks rate below. Modelled, not measured: durations, task latency, and that no
call is throttled (throttled calls would be retried, adding to the figures).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from functools import cache

from bench.report import Section, fmt, mean
from bench.workflow_sim import EVENTS, EVENTS_LOST, POLICIES, Policy, Run, draw, simulate

CLUSTERS = 500
STAGGER_SECONDS = 600.0
AT_ONCE = "at once"
SEED = 500
# Assumption: CloudFormation publishes no per-action default rate for DescribeStacks in
# the documentation consulted (its quotas page covers stacks, resources, outputs; throttling
# is "Rate exceeded" with back-off advice). 10 requests/s per account and region is used
# as a conservative planning figure; check Service Quotas for the account's real limit.
ASSUMED_DESCRIBE_RPS = 10.0


@dataclass
class Burst:
    scenario: str
    policy: Policy
    runs: list[Run]

    def calls(self) -> list[float]:
        return [t for r in self.runs for t in r.describe_calls]


def simulate_burst(policy: Policy, stagger: float) -> list[Run]:
    """`CLUSTERS` creates starting within `stagger` seconds of each other (0: at once)."""
    rng = random.Random(SEED)
    runs = []
    for i in range(CLUSTERS):
        sample = draw(random.Random(SEED * 31 + i), f"fleet-{i:04d}")
        start = rng.uniform(0, stagger) if stagger else 0.0
        runs.extend(simulate(sample, policy, random.Random(SEED * 17 + i), start=start, with_delete=False))
    return runs


def per_bin(calls: list[float], width: float) -> Counter[int]:
    return Counter(int(t // width) for t in calls)


@cache
def _run_all() -> tuple[Burst, ...]:
    return tuple(
        Burst(scenario, policy, simulate_burst(policy, stagger))
        for scenario, stagger in ((AT_ONCE, 0.0), ("over 10 min", STAGGER_SECONDS))
        for policy in (*POLICIES, EVENTS_LOST)
    )


def run_all() -> list[Burst]:
    """Every policy (and the lost-event fallback), at once and staggered; computed once per process."""
    return list(_run_all())


def peak(bursts: list[Burst], policy: Policy, scenario: str, width: float) -> int | None:
    """The most Describe* calls in one `width`-second bin of `policy`'s `scenario` burst; None if it was not run."""
    burst = next((b for b in bursts if b.policy == policy and b.scenario == scenario), None)
    if burst is None:
        return None
    calls = per_bin(burst.calls(), width)
    return max(calls.values()) if calls else 0


def budget_section(bursts: list[Burst]) -> Section:
    section = Section("5. AWS API budget: CloudFormation Describe* while 500 clusters are created")
    section.text(
        f"{CLUSTERS} creates (2 node groups each) in one account and region, from the simulation. "
        f"Rate used for comparison: DescribeStacks {ASSUMED_DESCRIBE_RPS:g}/s = "
        f"{ASSUMED_DESCRIBE_RPS * 60:g}/min per account and region — an assumption, not a documented default "
        "(see bench/api_budget.py). Mean per minute is over the minutes from first to last call."
    )
    section.text()
    limit_minute = ASSUMED_DESCRIBE_RPS * 60
    rows: list[list[object]] = []
    for burst in bursts:
        calls = burst.calls()
        minutes = per_bin(calls, 60.0)
        seconds = per_bin(calls, 1.0)
        peak_minute, peak_second = max(minutes.values()), max(seconds.values())
        rows.append(
            [
                burst.scenario,
                burst.policy.label,
                len(calls),
                mean([float(minutes.get(m, 0)) for m in range(min(minutes), max(minutes) + 1)]),
                peak_minute,
                peak_second,
                f"{peak_minute / limit_minute:.1f}x",
                f"{peak_second / ASSUMED_DESCRIBE_RPS:.1f}x",
                max(r.end for r in burst.runs) / 60,
            ]
        )
    section.table(
        [
            "start",
            "policy",
            "Describe calls",
            "mean/min",
            "peak/min",
            "peak/s",
            "peak/min vs rate",
            "peak/s vs rate",
            "last ACTIVE (min)",
        ],
        rows,
    )
    for burst in bursts:
        if burst.policy == EVENTS or (burst.policy.fixed_wait is None and not burst.policy.events):
            minutes = per_bin(burst.calls(), 60.0)
            profile = ", ".join(str(minutes.get(m, 0)) for m in range(0, max(minutes) + 1))
            section.text(f"{burst.policy.label}, {burst.scenario}, calls per minute from minute 0: {profile}")
            section.text()
    section.text(
        "Ratios above 1.0x mean the burst exceeds the assumed rate: botocore's standard retries (5 attempts) "
        "and the ASL's Retry on throttling absorb short bursts at the price of extra calls and later detection. "
        f"Per cluster, events average {fmt(_per_cluster(bursts))} Describe calls per create."
    )
    return section


def _per_cluster(bursts: list[Burst]) -> float:
    events = next(b for b in bursts if b.policy == EVENTS)
    return len(events.calls()) / CLUSTERS
