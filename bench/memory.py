"""Memory sizing: what each function's cold start costs in CPU, and Slack's answer when cold.

Lambda gives a function CPU in proportion to its memory: 1,769 MB buys one full vCPU
("Memory and computing power", AWS Lambda Developer Guide: "At 1,769 MB, a function has the
equivalent of one vCPU"). A cold start that costs C CPU-seconds on a full core therefore
takes about C x 1,769 / M seconds at M MB below that. Measured here, in fresh interpreters:

- every deployed function: the CPU-seconds (user + system, the whole process: interpreter
  start, the handler's module, what its first call imports (a task's use-case), and the first
  DynamoDB client every function builds);
- the Slack route as API Gateway calls it: a fresh interpreter imports `app` and serves one
  signed `/eks status` (answered inline) and one `/eks create` (handed to the worker) against
  the local engine, whose work runs in this process so the child's CPU is the handler's own.

From that, each function's estimated cold time at the memory .chalice/config.json gives it,
and the smallest memory that meets its budget: Slack waits 3 seconds, so the API handler must
answer a cold `/eks` well inside that (budget SLACK_BUDGET_SECONDS, leaving room for the
network and API Gateway); the tasks run inside Step Functions and the worker after Slack was
answered, so their budget is the CPU of a warm-enough start (TASK_BUDGET_SECONDS).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from bench.cold_start import ROOT, clean_env
from bench.report import Section, median, verdict

ROUNDS = 5
FULL_VCPU_MB = 1769
LAMBDA_MAX_MB = 10240
SLACK_DEADLINE_SECONDS = 3.0
SLACK_BUDGET_SECONDS = 1.5
TASK_BUDGET_SECONDS = 4.0
API_FUNCTION = "api_handler"
FIRST_CLIENT = "from chalicelib.aws.clients import default_clients; default_clients().dynamodb()"

# One signed Slack request through the Chalice app, as Lambda's API Gateway proxy event;
# prints the handling's CPU and wall seconds (the import is in the whole-process figure).
SLACK_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from app import app
event = json.loads(sys.argv[1])
c0 = resource.getrusage(resource.RUSAGE_SELF)
h0 = time.perf_counter()
answer = app(event, None)
h1 = time.perf_counter()
c1 = resource.getrusage(resource.RUSAGE_SELF)
assert answer["statusCode"] == 200, answer
body = json.loads(answer["body"])
cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
print(json.dumps({"handle_cpu": cpu, "handle_wall": h1 - h0, "total_wall": h1 - t0, "text": body.get("text", "")}))
"""


@dataclass
class Function:
    name: str
    module: str
    memory_mb: int
    budget: float
    cpu: list[float] = field(default_factory=list)
    # What its cold start runs: the handler's module, what its first call imports, the first client
    # (bench/cold_start.py `Row.cold_start`).
    statement: str = ""

    def cold_start(self) -> str:
        return self.statement or f"import {self.module}; {FIRST_CLIENT}"


def child_cpu(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run a fresh interpreter; its user + system CPU-seconds (the whole process) and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)[:80]}: {done.stderr.strip().splitlines()[-1:]}")
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), done.stdout


def configured_memory(name: str) -> int:
    """The memory Chalice deploys `name` with for stage dev (.chalice/config.json)."""
    from chalice.config import Config

    with (ROOT / ".chalice" / "config.json").open() as f:
        config = Config(chalice_stage="dev", function_name=name, config_from_disk=json.load(f))
    return int(config.lambda_memory_size)


def functions() -> list[Function]:
    from app import app
    from bench.cold_start import function_rows

    # A task imports its use-case on its first call: the cold start is what cold_start's rows time.
    statements = {name: row.cold_start() for row in function_rows() for name in row.functions}
    found = [Function(API_FUNCTION, "app", configured_memory(API_FUNCTION), SLACK_BUDGET_SECONDS)]
    for fn in [*app.pure_lambda_functions, *app.event_sources]:
        module = fn.handler_string.rsplit(".", 1)[0]
        memory = configured_memory(fn.name)
        found.append(Function(fn.name, module, memory, TASK_BUDGET_SECONDS, statement=statements.get(fn.name, "")))
    return found


def seconds_at(cpu: float, memory_mb: int) -> float:
    """Wall seconds of `cpu` CPU-seconds at `memory_mb` (CPU share grows with memory to 1 vCPU)."""
    return cpu * FULL_VCPU_MB / min(memory_mb, FULL_VCPU_MB)


def memory_for(cpu: float, budget: float) -> int:
    """The smallest memory (whole 64 MB steps, at least 128) at which `cpu` fits in `budget`."""
    needed = cpu * FULL_VCPU_MB / budget
    if needed > FULL_VCPU_MB:
        return FULL_VCPU_MB  # beyond one vCPU single-threaded code runs no faster
    return max(128, -(-int(needed) // 64) * 64)


def slack_event(text: str, secret: str) -> dict[str, Any]:
    from local.slack import command_fields, sign

    body = urllib.parse.urlencode(command_fields(text, "http://127.0.0.1:9/unused", "TBENCH", "UBENCH", "CBENCH"))
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(secret, body.encode())}
    return {
        "resource": "/slack/commands",
        "path": "/slack/commands",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {"resourcePath": "/slack/commands", "httpMethod": "POST", "stage": "api", "identity": {}},
    }


def measure_functions(found: list[Function]) -> None:
    env = clean_env()
    for fn in found:  # warm the OS file cache once; not counted
        child_cpu(["-c", f"import {fn.module}"], env)
    for _ in range(ROUNDS):
        for fn in found:
            cpu, _ = child_cpu(["-c", fn.cold_start()], env)
            fn.cpu.append(cpu)


def measure_slack() -> dict[str, dict[str, list[float]]]:
    """Cold `/eks status` and `/eks create` through the app, against the local engine."""
    import os

    from local.engine import LOCAL_SLACK_SIGNING_SECRET, LocalEngine

    figures: dict[str, dict[str, list[float]]] = {}
    engine = LocalEngine().start()  # deployed: table, functions, state machines, the Slack secret
    # More clusters in one region than a new account holds: an account with raised quotas.
    from local import account_quotas

    account_quotas.raise_all(200)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
        for round_ in range(ROUNDS):
            for text in ("status ghost", f"create bench-{round_}"):
                event = json.dumps(slack_event(text, LOCAL_SLACK_SIGNING_SECRET))
                cpu, out = child_cpu(["-c", SLACK_CHILD, event], env)
                got = json.loads(out.strip().splitlines()[-1])
                row = figures.setdefault(text.split()[0], {"cpu": [], "handle_cpu": [], "total_wall": []})
                row["cpu"].append(cpu)
                row["handle_cpu"].append(got["handle_cpu"])
                row["total_wall"].append(got["total_wall"])
    finally:
        engine.stop()
    return figures


def run() -> Section:
    section = Section("1b. Memory sizing from cold-start CPU")
    found = functions()
    measure_functions(found)
    section.text(
        f"CPU-seconds (user + system) of a fresh interpreter running each function's cold start (its handler's "
        f"module, what its first call imports, its first DynamoDB client), median of {ROUNDS}; "
        f"estimated cold time = CPU x {FULL_VCPU_MB} / memory "
        "(Lambda's CPU share is proportional to memory, one vCPU at 1,769 MB)."
    )
    section.text()
    rows: list[list[object]] = []
    for fn in found:
        cpu = median(fn.cpu)
        estimate = seconds_at(cpu, fn.memory_mb)
        rows.append(
            [
                fn.name,
                f"{cpu:.2f}",
                f"{fn.memory_mb} MB",
                f"{estimate:.2f} s",
                f"{fn.budget:.1f} s",
                f"{memory_for(cpu, fn.budget)} MB",
                verdict(estimate <= fn.budget),
            ]
        )
    section.table(["function", "cold CPU-s", "configured", "est. cold", "budget", "smallest that fits", "fits"], rows)
    slow = [fn.name for fn in found if seconds_at(median(fn.cpu), fn.memory_mb) > fn.budget]
    section.target("every function's estimated cold start within its budget", f"{len(slow)} over", not slow)

    figures = measure_slack()
    api_memory = configured_memory(API_FUNCTION)
    section.text(
        f"A cold Slack command through the app on the local engine (median of {ROUNDS}): CPU of the whole fresh "
        "process (import, signature, secret, the command), then the estimate at the API handler's memory "
        f"({api_memory} MB) against Slack's {SLACK_DEADLINE_SECONDS:.0f} s."
    )
    section.text()
    slack_rows: list[list[object]] = []
    for command, got in figures.items():
        cpu = median(got["cpu"])
        estimate = seconds_at(cpu, api_memory)
        slack_rows.append(
            [
                f"/eks {command}",
                f"{cpu:.2f}",
                f"{median(got['handle_cpu']):.3f}",
                f"{median(got['total_wall']):.2f} s",
                f"{estimate:.2f} s",
                f"{seconds_at(cpu, 256):.2f} s",
                verdict(estimate <= SLACK_BUDGET_SECONDS),
            ]
        )
        section.target(
            f"cold `/eks {command}` answer at {api_memory} MB <= {SLACK_BUDGET_SECONDS} s (Slack waits 3 s)",
            f"{estimate:.2f} s",
            estimate <= SLACK_BUDGET_SECONDS,
        )
    section.table(
        [
            "command",
            "process CPU-s",
            "handling CPU-s",
            "wall here",
            f"est. at {api_memory} MB",
            "est. at 256 MB",
            "fits",
        ],
        slack_rows,
    )
    return section
