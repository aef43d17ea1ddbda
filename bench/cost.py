"""Cost per cluster and detection lag, from the ASL simulation (parts 2 and 3).

Measured on the simulation, not on AWS: each of `SAMPLES` clusters with two node groups
gets stack durations drawn with a fixed seed, then is created and deleted through the real
`statemachine/*.asl.json` with the real `chalicelib.cfn.stacks` describe code choosing the waits
(`bench.workflow_sim`). The same draws run with the Wait states replaced by a constant 5 s
and 30 s, the usual alternatives. Step Functions bills per state transition and Lambda
per invocation, so those counts are the cost; detection lag is how long a finished stack
waits for a describe to notice it, which delays ACTIVE/DELETED and the next phase.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.report import Section, fmt, mean, median, percentile, ratio, verdict
from bench.workflow_sim import POLICIES, TASK_LATENCY, Policy, Run, definition, draw, seconds_paths, simulate

SAMPLES = 200
SEED = 20250106
TRANSITION_TARGET = 60
LAG_MEDIAN_TARGET = 10.0
LAG_P95_TARGET = 20.0
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
    """Every policy over the same draws (and the same latency stream per cluster)."""
    draws = [draw(random.Random(seed + i), f"bench-{i:04d}") for i in range(samples)]
    results = []
    for policy in POLICIES:
        creates, deletes = [], []
        for i, sample in enumerate(draws):
            create, delete = simulate(sample, policy, random.Random(seed * 7 + i))
            creates.append(create)
            deletes.append(delete)
        results.append(PolicyRuns(policy, creates, deletes))
    return results


def dollars(runs: list[Run]) -> float:
    """Mean Step Functions + Lambda (requests and modelled duration) cost of one execution."""
    memory = lambda_memory_gb()
    seconds = sum(TASK_LATENCY) / 2
    per_run = [
        r.trace.transitions * SFN_PER_TRANSITION
        + r.trace.invocations * (LAMBDA_PER_REQUEST + seconds * memory * LAMBDA_PER_GB_SECOND)
        for r in runs
    ]
    return mean(per_run)


def _transitions(runs: list[Run]) -> list[float]:
    return [float(r.trace.transitions) for r in runs]


def _workflow_rows(results: list[PolicyRuns], operation: str) -> list[list[object]]:
    base = median(_transitions(_runs(results[0], operation)))
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
                median([float(len(r.describe_calls)) for r in runs]),
                median([(r.end - r.start) / 60 for r in runs]),
                ratio(median(transitions), base),
            ]
        )
    return rows


def _runs(result: PolicyRuns, operation: str) -> list[Run]:
    return result.creates if operation == "create" else result.deletes


def cost_section(results: list[PolicyRuns]) -> Section:
    section = Section("2. Cost per cluster (simulated over the real ASL)")
    section.text(
        f"{SAMPLES} clusters with 2 node groups, seed {SEED}. Stack durations drawn uniformly: control plane "
        "8-15 min, node group 2-5 min (create); cluster stack 4-10 min, node group 2-6 min (delete, assumed). "
        f"Task latency {TASK_LATENCY[0]}-{TASK_LATENCY[1]} s. Transitions counted as Step Functions bills them "
        "(every state entered; a Map's iterations count per inner state). Last column: median transitions "
        "relative to adaptive."
    )
    section.text()
    read = sorted({p for stem in ("create_cluster", "delete_cluster") for p in seconds_paths(definition(stem))})
    section.text(
        "Adaptive = the Wait states as deployed: they read " + ", ".join(f"`{p}`" for p in read) + ", which the "
        "describe tasks set from `stacks.next_wait_seconds` (create) and `stacks.describe_deletion` (delete)."
    )
    section.text()
    headers = [
        "policy",
        "transitions median",
        "p95",
        "max",
        "Lambda invocations",
        "CFN Describe calls",
        "wall (min)",
        "vs adaptive",
    ]
    for operation in ("create", "delete"):
        section.text(f"Per {operation}:")
        section.text()
        section.table(headers, _workflow_rows(results, operation))
    adaptive = results[0]
    transitions = _transitions(adaptive.creates)
    section.text(
        f"Target <= {TRANSITION_TARGET} transitions per create (adaptive): median {fmt(median(transitions))} -> "
        f"{verdict(median(transitions) <= TRANSITION_TARGET)}; p95 {fmt(percentile(transitions, 95))} -> "
        f"{verdict(percentile(transitions, 95) <= TRANSITION_TARGET)}."
    )
    section.text()
    section.target(
        f"transitions per create <= {TRANSITION_TARGET} (adaptive, p95)",
        fmt(percentile(transitions, 95)),
        percentile(transitions, 95) <= TRANSITION_TARGET,
    )
    _breakdown(section, adaptive.creates)
    section.text(
        "Money per cluster (create + delete), at list prices (us-east-1, assumption), Lambda duration modelled:"
    )
    section.text()
    section.table(
        ["policy", "$ per cluster", "$ per 1,000 clusters", "vs adaptive"],
        [
            [
                r.policy.label,
                f"{dollars(r.creates) + dollars(r.deletes):.5f}",
                f"{1000 * (dollars(r.creates) + dollars(r.deletes)):.2f}",
                ratio(dollars(r.creates) + dollars(r.deletes), dollars(adaptive.creates) + dollars(adaptive.deletes)),
            ]
            for r in results
        ],
    )
    return section


def _breakdown(section: Section, creates: list[Run]) -> None:
    """Where an adaptive create's transitions go: the polling loops versus everything else."""
    by_state: Counter[str] = Counter()
    for run in creates:
        by_state.update(run.trace.by_state)
    count = len(creates)
    waits = mean([float(r.trace.by_type["Wait"]) for r in creates])
    total = mean(_transitions(creates))
    section.text(
        f"Adaptive create, mean {fmt(total)} transitions: {fmt(3 * waits)} in polling loops (Wait -> Describe -> "
        f"Choice, {fmt(waits)} waits), {fmt(total - 3 * waits)} in the rest of the workflow. Busiest states:"
    )
    section.text()
    section.table(
        ["state", "entered per create (mean)"],
        [[name, n / count] for name, n in by_state.most_common(6)],
    )


def lag_section(results: list[PolicyRuns]) -> Section:
    section = Section("3. Detection lag (same simulation)")
    section.text(
        "Seconds from a stack reaching its final state to the first describe that sees it. "
        f"Targets: median <= {LAG_MEDIAN_TARGET:g} s, p95 <= {LAG_P95_TARGET:g} s."
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
            met = median(lags) <= LAG_MEDIAN_TARGET and percentile(lags, 95) <= LAG_P95_TARGET
            if result.policy.fixed_wait is None and label == "all stacks":
                for name, value, limit in (
                    ("median", median(lags), LAG_MEDIAN_TARGET),
                    ("p95", percentile(lags, 95), LAG_P95_TARGET),
                ):
                    section.target(f"detection lag {name} <= {limit:g} s (adaptive)", f"{value:.1f} s", value <= limit)
            rows.append(
                [result.policy.label, label, len(lags), median(lags), percentile(lags, 95), max(lags), verdict(met)]
            )
    section.table(["policy", "stacks", "n", "median (s)", "p95 (s)", "max (s)", "targets"], rows)
    return section
