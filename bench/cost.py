"""Stack completion, cost per cluster and detection lag, from the ASL simulation (parts 2 to 4).

Measured on the simulation, not on AWS: each of `SAMPLES` clusters with two node groups
gets stack durations drawn with a fixed seed, then is created and deleted through the real
`statemachine/*.asl.json` with the real `chalicelib.cfn.stacks` code (`bench.workflow_sim`).
The same draws run under every policy of `workflow_sim.POLICIES`: this design (the stack
steps wait for CloudFormation's events, delivery latency modelled), the describe loop it
replaces (adaptive waits), polling every 5 s (AWS CDK's provider framework default) and
eksctl's 30 s then 60 s; and once more with every event lost, which is what the fallback
costs. Step Functions bills per state transition and Lambda per invocation, so those counts
are the cost; detection lag is how long a finished stack waits before its workflow learns it,
which delays ACTIVE/DELETED and the next phase.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.report import Section, fmt, mean, median, percentile, ratio, verdict
from bench.workflow_sim import (
    ADAPTIVE,
    EVENT_DELIVERY_MEDIAN,
    EVENT_DELIVERY_P95,
    EVENTS,
    EVENTS_LOST,
    POLICIES,
    TASK_LATENCY,
    Policy,
    Run,
    definition,
    draw,
    event_waits,
    seconds_paths,
    simulate,
)

if TYPE_CHECKING:
    from bench.api_budget import Burst

SAMPLES = 200
SEED = 20250106
TRANSITIONS_MEDIAN_TARGET = 20
TRANSITIONS_P95_TARGET = 25
LAG_MEDIAN_TARGET = 2.0
LAG_P95_TARGET = 5.0
DESCRIBE_TARGET = 5
# List prices, us-east-1 (assumption: they change and vary by region; free tiers ignored).
SFN_PER_TRANSITION = 0.025 / 1000
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_PER_GB_SECOND = 0.0000166667
CHALICE_CONFIG = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"


@dataclass
class PolicyRuns:
    policy: Policy
    creates: list[Run]
    deletes: list[Run]


def lambda_memory_gb() -> float:
    """The functions' memory as the Chalice config deploys it (256 MB if it does not say)."""
    try:
        config = json.loads(CHALICE_CONFIG.read_text())
        return float(config["stages"]["dev"]["lambda_memory_size"]) / 1024
    except (OSError, KeyError, ValueError):
        return 0.25


def run_all(samples: int = SAMPLES, seed: int = SEED) -> list[PolicyRuns]:
    """Every policy, then the lost-event fallback, over the same draws (and latency stream per cluster)."""
    draws = [draw(random.Random(seed + i), f"bench-{i:04d}") for i in range(samples)]
    results = []
    for policy in (*POLICIES, EVENTS_LOST):
        creates, deletes = [], []
        for i, sample in enumerate(draws):
            create, delete = simulate(sample, policy, random.Random(seed * 7 + i))
            creates.append(create)
            deletes.append(delete)
        results.append(PolicyRuns(policy, creates, deletes))
    return results


def of(results: list[PolicyRuns], policy: Policy) -> PolicyRuns:
    return next(r for r in results if r.policy == policy)


def dollars(runs: list[Run]) -> float:
    """Mean Step Functions + Lambda (requests and modelled duration) cost of one execution, events function included."""
    memory = lambda_memory_gb()
    seconds = sum(TASK_LATENCY) / 2
    per_run = [
        r.trace.transitions * SFN_PER_TRANSITION
        + (r.trace.invocations + r.event_invocations) * (LAMBDA_PER_REQUEST + seconds * memory * LAMBDA_PER_GB_SECOND)
        for r in runs
    ]
    return mean(per_run)


def _transitions(runs: list[Run]) -> list[float]:
    return [float(r.trace.transitions) for r in runs]


def _describes(runs: list[Run]) -> list[float]:
    return [float(len(r.describe_calls)) for r in runs]


def _lags(runs: list[Run]) -> list[float]:
    return [d.lag for r in runs for d in r.detections]


def _workflow_rows(results: list[PolicyRuns], operation: str) -> list[list[object]]:
    base = median(_transitions(_runs(of(results, ADAPTIVE), operation)))
    rows: list[list[object]] = []
    for result in results:
        runs = _runs(result, operation)
        transitions = _transitions(runs)
        rows.append(
            [
                result.policy.label,
                median(transitions),
                percentile(transitions, 95),
                max(transitions),
                median([float(r.trace.invocations) for r in runs]),
                median([float(r.event_invocations) for r in runs]),
                median(_describes(runs)),
                median([(r.end - r.start) / 60 for r in runs]),
                ratio(median(transitions), base),
            ]
        )
    return rows


def _runs(result: PolicyRuns, operation: str) -> list[Run]:
    return result.creates if operation == "create" else result.deletes


def comparison_section(results: list[PolicyRuns], bursts: list[Burst]) -> Section:
    """The issue's figures side by side for a create of a two-node-group cluster, with a verdict per target."""
    from bench.api_budget import ASSUMED_DESCRIBE_RPS, AT_ONCE, CLUSTERS, peak

    section = Section("2. Stack completion: events versus polling (create, 2 node groups)")
    waits = ", ".join(f"{kind} {seconds} s" for kind, seconds in event_waits().items())
    section.text(
        f"{SAMPLES} creates per policy, same stack durations and task latencies (seed {SEED}). Events: the stack "
        f"steps wait for CloudFormation's Stack Status Change events, delivered (status change -> SendTaskSuccess) "
        f"with a lognormal latency of median {EVENT_DELIVERY_MEDIAN:g} s, p95 {EVENT_DELIVERY_P95:g} s — an "
        "assumption: AWS documents EventBridge delivery as typically within about half a second, and Lambda's "
        "SQS event source mapping long-polls (bench/workflow_sim.py says more). Detection lag: stack's final "
        "status to the workflow knowing it. Describe calls: CloudFormation DescribeStacks/DescribeStackEvents "
        "per create (the events function describes each stack once when its event comes). "
        f"Last columns: {CLUSTERS} creates {AT_ONCE}, Describe* calls in the busiest minute and second against an "
        f"assumed DescribeStacks rate of {ASSUMED_DESCRIBE_RPS:g}/s = {60 * ASSUMED_DESCRIBE_RPS:g}/min per account "
        "and region (bench/api_budget.py; the polling rows' first looks all land in one second because the "
        "creates start together, so the minute is the fairer figure)."
    )
    section.text()
    rows: list[list[object]] = []
    for result in results:
        creates = result.creates
        transitions, lags, describes = _transitions(creates), _lags(creates), _describes(creates)
        minute, second = peak(bursts, result.policy, AT_ONCE, 60.0), peak(bursts, result.policy, AT_ONCE, 1.0)
        rows.append(
            [
                result.policy.label,
                median(transitions),
                percentile(transitions, 95),
                f"{median(lags):.1f}",
                f"{percentile(lags, 95):.1f}",
                median(describes),
                percentile(describes, 95),
                "n/a" if minute is None else minute,
                "n/a" if minute is None else f"{minute / (60 * ASSUMED_DESCRIBE_RPS):.1f}x",
                "n/a" if second is None else f"{second} ({second / ASSUMED_DESCRIBE_RPS:.1f}x)",
            ]
        )
    section.table(
        [
            "policy",
            "transitions median",
            "p95",
            "lag median (s)",
            "lag p95 (s)",
            "Describe calls median",
            "p95",
            f"{CLUSTERS} at once: peak/min",
            "vs rate",
            "peak/s (vs rate)",
        ],
        rows,
    )
    lost = of(results, EVENTS_LOST).creates
    section.text(
        f"Every event lost: each waiting step times out after its wait ({waits}, `settings.EVENT_WAIT_SECONDS`), "
        "then the describe loop looks once and finishes or polls. Lag when an event is lost: median "
        f"{median(_lags(lost)) / 60:.1f} min, p95 {percentile(_lags(lost), 95) / 60:.1f} min "
        f"(cluster stack: median {median([d.lag for r in lost for d in r.detections if d.kind == 'cluster']) / 60:.1f}"
        " min); minutes, never the cluster."
    )
    section.text()
    events = of(results, EVENTS).creates
    transitions, lags, describes = _transitions(events), _lags(events), _describes(events)
    per_minute = peak(bursts, EVENTS, AT_ONCE, 60.0) or 0
    limit = 60 * ASSUMED_DESCRIBE_RPS
    checks = [
        (
            f"transitions per create median <= {TRANSITIONS_MEDIAN_TARGET} (events)",
            median(transitions),
            TRANSITIONS_MEDIAN_TARGET,
            fmt(median(transitions)),
        ),
        (
            f"transitions per create p95 <= {TRANSITIONS_P95_TARGET} (events)",
            percentile(transitions, 95),
            TRANSITIONS_P95_TARGET,
            fmt(percentile(transitions, 95)),
        ),
        (
            f"detection lag median <= {LAG_MEDIAN_TARGET:g} s (events)",
            median(lags),
            LAG_MEDIAN_TARGET,
            f"{median(lags):.1f} s",
        ),
        (
            f"detection lag p95 <= {LAG_P95_TARGET:g} s (events)",
            percentile(lags, 95),
            LAG_P95_TARGET,
            f"{percentile(lags, 95):.1f} s",
        ),
        (
            f"Describe calls per create <= {DESCRIBE_TARGET} (events, p95)",
            percentile(describes, 95),
            DESCRIBE_TARGET,
            fmt(percentile(describes, 95)),
        ),
        (
            f"{CLUSTERS} creates at once: Describe* peak/min <= assumed DescribeStacks rate {limit:g}/min (events)",
            float(per_minute),
            limit,
            f"{per_minute}/min ({per_minute / limit:.1f}x)",
        ),
    ]
    for name, value, limit, shown in checks:
        met = value <= limit
        section.text(f"- {name}: {shown} -> {verdict(met)}")
        section.target(name, shown, met)
    section.text()
    return section


def cost_section(results: list[PolicyRuns]) -> Section:
    section = Section("3. Cost per cluster (simulated over the real ASL)")
    section.text(
        f"{SAMPLES} clusters with 2 node groups, seed {SEED}. Stack durations drawn uniformly: control plane "
        "8-15 min, node group 2-5 min (create); cluster stack 4-10 min, node group 2-6 min (delete, assumed). "
        f"Task latency {TASK_LATENCY[0]}-{TASK_LATENCY[1]} s. Transitions counted as Step Functions bills them "
        "(every state entered; a Map's iterations count per inner state; a waiting task is one). Task invocations "
        "are the workflow's; events-function invocations are two per stack operation (in progress, terminal; no "
        "batching assumed). Last column: median transitions relative to the describe loop."
    )
    section.text()
    read = sorted(
        {p for stem in ("create_cluster", "delete_cluster") for p in seconds_paths(definition(stem, ADAPTIVE.asl))}
    )
    section.text(
        "Adaptive polling = the describe-polling workflows (bench/fixtures/, as deployed before the stack steps "
        "waited for events) with their Wait states as they were: they read "
        + ", ".join(f"`{p}`" for p in read)
        + ", which the describe tasks set from `stacks.next_wait_seconds` (create) and `stacks.describe_deletion` "
        "(delete). The fixed policies replace every Wait of those workflows."
    )
    section.text()
    headers = [
        "policy",
        "transitions median",
        "p95",
        "max",
        "task invocations",
        "events fn invocations",
        "CFN Describe calls",
        "wall (min)",
        "vs adaptive polling",
    ]
    for operation in ("create", "delete"):
        section.text(f"Per {operation}:")
        section.text()
        section.table(headers, _workflow_rows(results, operation))
    _breakdown(section, of(results, EVENTS).creates, "Events")
    _breakdown(section, of(results, ADAPTIVE).creates, "Adaptive polling")
    base = dollars(of(results, ADAPTIVE).creates) + dollars(of(results, ADAPTIVE).deletes)
    section.text(
        "Money per cluster (create + delete), at list prices (us-east-1, assumption), Lambda duration modelled:"
    )
    section.text()
    section.table(
        ["policy", "$ per cluster", "$ per 1,000 clusters", "vs adaptive polling"],
        [
            [
                r.policy.label,
                f"{dollars(r.creates) + dollars(r.deletes):.5f}",
                f"{1000 * (dollars(r.creates) + dollars(r.deletes)):.2f}",
                ratio(dollars(r.creates) + dollars(r.deletes), base),
            ]
            for r in results
        ],
    )
    return section


def _breakdown(section: Section, creates: list[Run], label: str) -> None:
    """Where a create's transitions go: the polling loops versus everything else."""
    by_state: Counter[str] = Counter()
    for run in creates:
        by_state.update(run.trace.by_state)
    count = len(creates)
    waits = mean([float(r.trace.by_type["Wait"]) for r in creates])
    total = mean(_transitions(creates))
    section.text(
        f"{label} create, mean {fmt(total)} transitions: {fmt(3 * waits)} in polling loops (Wait -> Describe -> "
        f"Choice, {fmt(waits)} waits), {fmt(total - 3 * waits)} in the rest of the workflow. Busiest states:"
    )
    section.text()
    section.table(
        ["state", "entered per create (mean)"],
        [[name, n / count] for name, n in by_state.most_common(6)],
    )


def lag_section(results: list[PolicyRuns]) -> Section:
    section = Section("4. Detection lag by stack (same simulation)")
    section.text(
        "Seconds from a stack reaching its final state to its workflow learning it (an event's answer, or the "
        f"first describe that sees it). Targets (events): median <= {LAG_MEDIAN_TARGET:g} s, p95 <= "
        f"{LAG_P95_TARGET:g} s. A delete whose workflow still polls shows the describe loop's lag under every policy."
    )
    section.text()
    rows: list[list[object]] = []
    for result in results:
        detections = [d for r in result.creates + result.deletes for d in r.detections]
        groups = [
            ("all stacks", detections),
            ("create, cluster", [d for d in detections if d.operation == "create" and d.kind == "cluster"]),
            ("create, node group", [d for d in detections if d.operation == "create" and d.kind == "nodegroup"]),
            ("delete, cluster", [d for d in detections if d.operation == "delete" and d.kind == "cluster"]),
            ("delete, node group", [d for d in detections if d.operation == "delete" and d.kind == "nodegroup"]),
        ]
        for label, group in groups:
            lags = [d.lag for d in group]
            via = Counter(d.via for d in group)
            met = median(lags) <= LAG_MEDIAN_TARGET and percentile(lags, 95) <= LAG_P95_TARGET
            rows.append(
                [
                    result.policy.label,
                    label,
                    len(lags),
                    ", ".join(f"{k} {v}" for k, v in sorted(via.items())),
                    median(lags),
                    percentile(lags, 95),
                    max(lags),
                    verdict(met),
                ]
            )
    section.table(["policy", "stacks", "n", "learnt by", "median (s)", "p95 (s)", "max (s)", "targets"], rows)
    return section
