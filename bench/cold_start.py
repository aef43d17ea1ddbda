"""Cold start and deployment package size (part 1).

Measured, per Lambda function: what its cold start pays before its code does its work — importing
its handler's module (the API's `app`, or the module a Lambda handler or schedule lives in), then
what its first call imports (a task's use-case, named by reference in `handlers/tasks.py`, and its
input model's validator: `StepTask.load()`; and the modules imported inside the functions that
call reaches), then creating the first AWS client its code makes (DynamoDB: every function starts
by reading or writing the cluster table, through `default_clients()`) — median of `ROUNDS` fresh
subprocesses, against a fresh `import boto3; boto3.client("dynamodb")` run in the same rounds
(interleaved, so drift hits both alike). That ratio, per function, is the target (<= 1.3).
Functions whose first call imports the same modules share a row (measured with the first of
them). For each row over the target, `python -X importtime` (run after boto3 and the client are
loaded, so only what the function adds is counted) names the imports that make it heavy: the
chain from what the function imports, and the line that imports it.

What a first call imports is found without calling AWS: the use-case a task names, and, from the
source of every chalicelib function its handler (or use-case) refers to, transitively, the imports
made inside function bodies (an over-estimate: every branch counts). The API's row imports `app`
alone (which route a cold request takes varies).

Two settings: the working tree with its bytecode cache (what `python -c "import app"`
shows), and the built deployment package run as Lambda runs it — only the package on the
path, and only the bytecode it ships (Lambda's /var/task is read-only, so nothing is cached
between cold starts: `make package` adds every module's .pyc, infra/bytecode.py, and so does
the package built here).

The package is what Lambda would get: requirements.txt installed for manylinux x86_64 and
the running CPython (the runtime the package declares) by pip (or, offline, copied from the
virtualenv), the two files of Chalice's runtime its packager adds (`chalice/app.py`,
`chalice/__init__.py`), plus app.py, chalicelib/ and statemachine/.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import types
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import Section, fmt, median, mib, ratio, verdict
from infra import bytecode

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 7
PACKAGE_ROUNDS = 3
RATIO_TARGET = 1.3
DEPLOYED_STAGE = "dev"
BASELINE = 'import boto3; boto3.client("dynamodb", region_name="us-east-1")'
# Context, no verdict: the least a function whose use-case validates with a pydantic model can load
# (pydantic, and one model's validator built, which loads pydantic's plugin machinery too).
PYDANTIC_FLOOR = f'{BASELINE}; from pydantic import create_model; create_model("Step", name=(str, ...))'
FIRST_CLIENT = "from chalicelib.aws.clients import default_clients; default_clients().dynamodb()"
TASKS_MODULE = "chalicelib.handlers.tasks"
API = "api"
# An import that takes at least this share of a function's added import time is named (attribution).
HEAVY_SHARE = 0.15
IMPORTTIME_ROUNDS = 1
PROJECT_PARTS = ("app.py", "chalicelib", "statemachine")
LAMBDA_ZIP_LIMIT = 50 * 2**20  # direct upload
LAMBDA_UNZIPPED_LIMIT = 250 * 2**20  # function and layers, unzipped
# The wheels Lambda's runtime loads: the Python the package declares, which is the one running this.
LAMBDA_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
PIP_TARGET = ["--platform", "manylinux2014_x86_64", "--python-version", LAMBDA_PYTHON, "--implementation", "cp"]


@dataclass
class Timing:
    """One statement's import times over fresh interpreters: wall (process) and in-process."""

    label: str
    statement: str
    wall: list[float] = field(default_factory=list)
    inner: list[float] = field(default_factory=list)


@dataclass
class Package:
    directory: Path
    method: str
    unzipped: int = 0
    zipped: int = 0
    files: int = 0
    largest: list[tuple[str, int]] = field(default_factory=list)


def deployed_environment(stage: str = DEPLOYED_STAGE) -> dict[str, str]:
    """The environment variables a deployed function gets from .chalice/config.json (every function's, and
    the stage's)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def clean_env(**python: str) -> dict[str, str]:
    """This process's environment without anything pointing boto3 or Python elsewhere, plus what a deployed
    function's configuration sets and the `python` settings.

    Bytecode goes to a scratch prefix (PYTHONPYCACHEPREFIX) or nowhere, never next to the sources.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EKSPRESS_", "PYTHON", "MOTO_"))}
    env.update(deployed_environment())
    env.update(PYTHONHASHSEED="0", **python)
    if "PYTHONPYCACHEPREFIX" not in env:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["AWS_DEFAULT_REGION"] = "us-east-1"  # what Lambda sets; clients need a region, never credentials
    return env


@dataclass
class Row:
    """Functions whose cold start imports the same modules: the handler's module, then what the first call loads."""

    functions: list[str]
    module: str
    first_call: str  # statement: what the first call loads beyond the module (may be empty)
    loads: list[str]  # the modules that is: the use-case's module, then those imported inside functions

    @property
    def label(self) -> str:
        shown = ", ".join(self.functions[:3]) + (f" (+{len(self.functions) - 3})" if len(self.functions) > 3 else "")
        return shown

    def statement(self) -> str:
        """The function's cold start without the client (what `-X importtime` attributes)."""
        return "; ".join(part for part in (f"import {self.module}", self.first_call) if part)

    def cold_start(self) -> str:
        return f"{self.statement()}; {FIRST_CLIENT}"


def _unwrap(handler: Any) -> Any:
    """The function a Chalice registration wraps (EventSourceHandler -> PureLambdaWrapper -> the function)."""
    for _ in range(5):
        inner = getattr(handler, "func", None) or getattr(handler, "_original_func", None)
        if inner is None:
            break
        handler = inner
    return handler


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _model_class(value: Any) -> str | None:
    """`module:Class` if `value` is one of chalicelib's pydantic models."""
    from pydantic import BaseModel

    if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__.startswith("chalicelib"):
        # A model that is not deferred built its validator at import, which the row counts already.
        return f"{value.__module__}:{value.__qualname__}" if value.model_config.get("defer_build") else None
    return None


def imported_in_functions(root: Any) -> list[str]:
    """The modules imported inside the bodies of `root` and of every chalicelib function it refers to,
    transitively (by name, or as `module.function`), outside `if TYPE_CHECKING:` blocks."""
    return reached_from(root)[0]


def reached_from(root: Any) -> tuple[list[str], list[str]]:
    """What the functions `imported_in_functions` walks import, and the chalicelib models they validate
    or construct (`module:Class`): model validators are built on first use (`defer_build`), so a first
    call pays for those it uses."""
    found: set[str] = set()
    models: set[str] = set()
    seen: set[Any] = set()
    todo = [root]
    while todo:
        function = inspect.unwrap(todo.pop())
        code = getattr(function, "__code__", None)
        module_name = getattr(function, "__module__", "") or ""
        if code is None or code in seen or not module_name.startswith("chalicelib"):
            continue
        seen.add(code)
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        except (OSError, TypeError, SyntaxError):
            continue
        names = dict(function.__globals__)
        pending: list[ast.AST] = [tree]
        while pending:  # names imported inside the function (not for type checking), wherever they are used
            node = pending.pop()
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                pending.extend(node.orelse)
                continue
            pending.extend(ast.iter_child_nodes(node))
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                parent = importlib.import_module(node.module)
                names.update({a.asname or a.name: getattr(parent, a.name, None) for a in node.names})
        nodes: list[ast.AST] = [tree]
        while nodes:
            node = nodes.pop()
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                nodes.extend(node.orelse)
                continue
            nodes.extend(ast.iter_child_nodes(node))
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                parent = importlib.import_module(node.module)
                for alias in node.names:
                    target = getattr(parent, alias.name, None)
                    if isinstance(target, types.ModuleType):
                        found.add(target.__name__)
                    else:
                        found.add(node.module)
                        if inspect.isfunction(target):
                            todo.append(target)
            elif isinstance(node, ast.Name) and inspect.isfunction(names.get(node.id)):
                todo.append(names[node.id])
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                owner = names.get(node.value.id)
                if isinstance(owner, types.ModuleType) and inspect.isfunction(getattr(owner, node.attr, None)):
                    todo.append(getattr(owner, node.attr))
                elif node.attr.startswith("model_validate") and (model := _model_class(owner)):
                    models.add(model)
            if isinstance(node, ast.Call):
                # Model(...), and a helper given the model to validate with: validate(Model, body, ...).
                named = [node.func, *node.args[:1]]
                for name in (n.id for n in named if isinstance(n, ast.Name)):
                    if model := _model_class(names.get(name)):
                        models.add(model)
    return sorted(found), sorted(models)


def discover() -> None:
    """Printed as JSON (run in a fresh interpreter): each deployed function, its handler's module and what
    its first call loads."""
    from app import app
    from chalicelib.handlers.task import REGISTERED

    functions: list[dict[str, Any]] = [{"name": API, "module": "app", "first_call": "", "loads": []}]
    registered = [(f.name, f.handler_string) for f in app.pure_lambda_functions]
    registered += [(e.name, e.handler_string) for e in app.event_sources]
    for name, handler in sorted(registered):
        module, attribute = handler.rsplit(".", 1)
        task = REGISTERED.get(name) if module == TASKS_MODULE else None
        if task is not None:
            root = task.use_case()
            first_call = f"from chalicelib.handlers.task import REGISTERED; REGISTERED[{name!r}].load()"
            loads = [root.__module__]
        else:
            root = _unwrap(getattr(importlib.import_module(module), attribute))
            first_call, loads = "", []
        imported, models = reached_from(root)
        lazy = [m for m in imported if m not in (module, *loads)]
        builds = [f"importlib.import_module({m!r}).{c}.model_rebuild()" for m, c in (x.split(":") for x in models)]
        parts = (first_call, *(f"import {m}" for m in lazy), *(["import importlib", *builds] if builds else []))
        first_call = "; ".join(part for part in parts if part)
        loads = loads + lazy + [f"{c} (validator)" for c in (x.split(":")[1] for x in models)]
        functions.append({"name": name, "module": module, "first_call": first_call, "loads": loads})
    print(json.dumps(functions))


def function_rows() -> list[Row]:
    """Every deployed function (the API's `app` first), grouped by the modules its cold start imports."""
    out = subprocess.run(
        [sys.executable, "-c", "from bench.cold_start import discover; discover()"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows: dict[tuple[str, tuple[str, ...]], Row] = {}
    for function in json.loads(out.stdout.strip().splitlines()[-1]):
        key = (function["module"], tuple(function["loads"]))
        if key in rows:
            rows[key].functions.append(function["name"])
        else:
            rows[key] = Row([function["name"]], function["module"], function["first_call"], function["loads"])
    return list(rows.values())


@dataclass
class Heavy:
    """One import a function pays for: the chain from what its cold start imports, its cost, where it is imported."""

    chain: list[str]
    milliseconds: float
    share: float
    site: str


def import_tree(statement: str, cwd: Path, env: dict[str, str]) -> list[tuple[int, str, float]]:
    """(depth, module, cumulative ms) of every import `statement` adds after boto3 and a client are loaded, in
    `-X importtime` order (children before their parent), median over `IMPORTTIME_ROUNDS` runs."""
    code = f"{BASELINE}; import sys; sys.stderr.write('--mark--\\n'); {statement}"
    runs: list[list[tuple[int, str, float]]] = []
    for _ in range(IMPORTTIME_ROUNDS):
        err = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code], cwd=cwd, env=env, capture_output=True, text=True
        ).stderr
        rows = []
        for line in err.split("--mark--\n", 1)[-1].splitlines():
            parts = line.split("|")
            if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
                continue
            name = parts[2].rstrip()
            depth = (len(name) - len(name.lstrip()) - 1) // 2
            rows.append((depth, name.strip(), int(parts[1]) / 1000))
        runs.append(rows)
    first = runs[0]
    return [
        (depth, name, median([r[i][2] for r in runs if i < len(r) and r[i][1] == name]))
        for i, (depth, name, _) in enumerate(first)
    ]


def heavy_imports(row: Row, cwd: Path = ROOT, env: dict[str, str] | None = None) -> list[Heavy]:
    """The deepest imports taking at least `HEAVY_SHARE` of what `row`'s cold start adds, with chain and site.

    A chain starts at what the statement imports itself: the handler's module, or, on the first call, the
    use-case's module, a module imported inside a function, or what building the input model loads."""
    tree = import_tree(row.statement(), cwd, env or clean_env())
    total = sum(ms for depth, _, ms in tree if depth == 0)
    if total <= 0:
        return []
    heavy: list[tuple[list[str], float]] = []
    stack: list[tuple[int, str]] = []
    # -X importtime prints a module after its children: backwards, every parent comes before its children.
    for depth, name, ms in reversed(tree):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        stack.append((depth, name))
        if ms >= HEAVY_SHARE * total:
            heavy.append(([n for _, n in stack], ms))
    deepest = [
        (chain, ms)
        for chain, ms in heavy
        if not any(len(other) > len(chain) and other[: len(chain)] == chain for other, _ in heavy)
    ]
    return [
        Heavy(chain, ms, ms / total, import_site(chain[-2], chain[-1]) if len(chain) > 1 else _root_site(row, chain[0]))
        for chain, ms in sorted(deepest, key=lambda h: -h[1])
    ]


def _root_site(row: Row, module: str) -> str:
    if module == row.module:
        return "the handler's module"
    if row.loads and module == row.loads[0] and row.module == TASKS_MODULE:
        return "first call: the task's use-case"
    if module in row.loads:
        return "first call: imported inside a function"
    return "first call"


def import_site(parent: str, child: str) -> str:
    """`file:line` where `parent` imports `child` (or the package `child` is in), when both are ours."""
    if not parent.startswith(("chalicelib", "app")):
        return "-"
    path = ROOT / (parent.replace(".", "/") + ".py")
    if not path.is_file():
        path = ROOT / parent.replace(".", "/") / "__init__.py"
    if not path.is_file():
        return "-"
    head, _, tail = child.rpartition(".")
    wanted = (f"import {child}", f"from {child} import", f"from {head} import {tail}") if head else (f"import {child}",)
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if any(w in line for w in wanted) or (line.strip().startswith("from") and f" {child} " in line + " "):
            return f"{path.relative_to(ROOT)}:{number}"
    top = child.split(".")[0]
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip().startswith(("import ", "from ")) and top in line:
            return f"{path.relative_to(ROOT)}:{number}"
    return str(path.relative_to(ROOT))


def time_once(timing: Timing, cwd: Path, flags: list[str], env: dict[str, str]) -> None:
    """One fresh interpreter running `timing.statement`; records wall and in-process seconds."""
    code = f"import time; t = time.perf_counter(); {timing.statement}; print(time.perf_counter() - t)"
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, *flags, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    timing.wall.append(time.perf_counter() - start)
    timing.inner.append(float(out.stdout.strip().splitlines()[-1]))


def measure(
    timings: list[Timing], rounds: int, cwd: Path, flags: list[str], env: dict[str, str], warm: bool = True
) -> None:
    """Round-robin over the statements so every statement sees the same machine state."""
    for timing in timings if warm else ():  # warm the OS file cache (and the bytecode cache, if any); not counted
        time_once(Timing(timing.label, timing.statement), cwd, flags, env)
    for _ in range(rounds):
        for timing in timings:
            time_once(timing, cwd, flags, env)


def requirement_names() -> list[str]:
    from packaging.requirements import Requirement

    names = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(Requirement(line).name)
    return names


def build_package(target: Path) -> Package:
    """Install requirements.txt as Lambda would get it (pip), else copy it from the virtualenv."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "-r",
        str(ROOT / "requirements.txt"),
        "--target",
        str(target),
        "--only-binary=:all:",
        *PIP_TARGET,
    ]
    try:
        subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
        method = f"pip install --target (manylinux2014_x86_64, CPython {LAMBDA_PYTHON}, wheels only, --no-compile)"
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        copied = copy_from_virtualenv(target)
        method = f"copied from the virtualenv's site-packages ({len(copied)} distributions; pip failed: {_why(exc)})"
    add_chalice_runtime(target)
    for part in PROJECT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target / part)
    return Package(target, method)


def add_chalice_runtime(target: Path) -> None:
    """What Chalice's packager adds itself: the `chalice` runtime is `app.py` and `__init__.py` only."""
    import chalice
    import chalice.app

    (target / "chalice").mkdir(exist_ok=True)
    shutil.copy2(chalice.app.__file__, target / "chalice" / "app.py")
    shutil.copy2(chalice.__file__, target / "chalice" / "__init__.py")


def _why(exc: BaseException) -> str:
    stderr = getattr(exc, "stderr", None)
    text = (stderr or str(exc)).strip().splitlines()
    return text[-1][:120] if text else type(exc).__name__


def copy_from_virtualenv(target: Path) -> list[str]:
    """The distributions requirements.txt names and their (unconditional) dependencies, as installed."""
    from importlib import metadata

    from packaging.requirements import Requirement

    wanted, done = list(requirement_names()), set()
    while wanted:
        name = wanted.pop().lower().replace("_", "-")
        if name in done:
            continue
        done.add(name)
        dist = metadata.distribution(name)
        for requirement in map(Requirement, dist.requires or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                wanted.append(requirement.name)
        for file in dist.files or []:
            source = Path(str(dist.locate_file(file)))
            if ".." in file.parts or "__pycache__" in file.parts or file.suffix == ".pyc" or not source.is_file():
                continue
            destination = target / file
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    return sorted(done)


def measure_size(package: Package, scratch: Path) -> None:
    """Unzipped bytes, zipped (deflate) bytes, file count, and the largest top-level entries."""
    sizes: dict[str, int] = {}
    archive = scratch / "package.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(package.directory.rglob("*")):
            if not path.is_file():
                continue
            relative = path.relative_to(package.directory)
            zf.write(path, relative)
            size = path.stat().st_size
            package.unzipped += size
            package.files += 1
            top = relative.parts[0]
            sizes[top] = sizes.get(top, 0) + size
    package.zipped = archive.stat().st_size
    package.largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:8]


def run() -> Section:
    section = Section("1. Cold start and deployment package")
    rows = function_rows()
    baseline = Timing("baseline: boto3 + dynamodb client", BASELINE)
    measured = [(Timing(row.label, row.cold_start()), row) for row in rows]
    targets = {id(timing): row for timing, row in measured}
    floor = Timing("context: baseline + pydantic + one model built", PYDANTIC_FLOOR)
    timings = [baseline, floor, *(timing for timing, _ in measured)]
    with tempfile.TemporaryDirectory(prefix="ekspress-pycache-") as pycache:
        measure(timings, ROUNDS, ROOT, [], clean_env(PYTHONPYCACHEPREFIX=pycache))
    section.text(
        f"Fresh interpreters, median of {ROUNDS} each (interleaved). Working tree with bytecode cache. "
        "'import' = time inside the interpreter; 'process' = whole `python -c` run. Target, per function: "
        "its cold start — import of its handler's module, what its first call imports (a task's use-case "
        "and input model; the modules imported inside the functions it reaches), and its first AWS client — "
        f"<= {RATIO_TARGET} x the baseline (a bare `boto3` import + the same client). Functions whose first "
        "call imports the same modules share a row. 'first call loads' names the modules imported after the "
        "handler's module (chalicelib. left out). The context row (no verdict) is the floor of every function "
        "whose use-case validates with a pydantic model (the cluster spec, a record, an identity mapping): the "
        "baseline, pydantic's import and one model's validator built. Step inputs are checked without pydantic "
        "(model/steps.py), so a task whose use-case needs no model imports none. Models build their validators "
        "on first use (`defer_build`), so a row counts "
        "the validators its first call builds ('X (validator)'); the API's row imports `app` alone, and its "
        "first request's validators show in section 1b's cold Slack answers."
    )
    section.text()
    _timing_table(section, timings, targets, "working tree")
    over = [
        row for t in timings if (row := targets.get(id(t))) and median(t.inner) / median(baseline.inner) > RATIO_TARGET
    ]
    if over:
        _attribution(section, over)
    with tempfile.TemporaryDirectory(prefix="ekspress-bench-") as tmp:
        package = build_package(Path(tmp) / "package")
        bytecode.compile_tree(package.directory)
        measure_size(package, Path(tmp))
        packaged = [Timing(baseline.label, baseline.statement), Timing(floor.label, floor.statement)]
        packaged_targets: dict[int, Row] = {}
        for timing, row in measured:
            copy = Timing(timing.label, timing.statement)
            packaged.append(copy)
            packaged_targets[id(copy)] = row
        # No warm-up: the package was just written (its files are in the OS cache); -B: nothing more is kept.
        measure(packaged, PACKAGE_ROUNDS, package.directory, ["-S", "-B"], clean_env(), warm=False)
    section.text(
        f"As Lambda loads it: the built package alone on the path (`python -S -B`) with the bytecode it ships "
        f"(infra/bytecode.py), median of {PACKAGE_ROUNDS}."
    )
    section.text()
    _timing_table(section, packaged, packaged_targets, "package with its .pyc")
    _package_table(section, package)
    return section


def _short(module: str) -> str:
    return module.removeprefix("chalicelib.")


def _timing_table(section: Section, timings: list[Timing], targets: dict[int, Row], where: str) -> None:
    base = timings[0]
    rows: list[list[object]] = []
    for timing in timings:
        inner_ratio = median(timing.inner) / median(base.inner)
        row = targets.get(id(timing))
        rows.append(
            [
                timing.label,
                len(row.functions) if row else "-",
                (_short(row.module) if row else "-"),
                (", ".join(_short(m) for m in row.loads) or "-") if row else "-",
                f"{1000 * median(timing.inner):.0f} ms",
                ratio(median(timing.inner), median(base.inner)),
                f"{1000 * median(timing.wall):.0f} ms",
                ratio(median(timing.wall), median(base.wall)),
                verdict(inner_ratio <= RATIO_TARGET) if row else "-",
            ]
        )
    section.table(
        [
            "function(s)",
            "n",
            "handler module",
            "first call loads",
            "import",
            "ratio",
            "process",
            "ratio",
            f"import ratio <= {RATIO_TARGET}",
        ],
        rows,
    )
    for timing in (t for t in timings if id(t) in targets):
        value = median(timing.inner) / median(base.inner)
        name = f"cold start: {timing.label} / baseline <= {RATIO_TARGET} ({where})"
        section.target(name, f"{value:.2f}", value <= RATIO_TARGET)


def _importtime_runs() -> str:
    return "one run" if IMPORTTIME_ROUNDS == 1 else f"median of {IMPORTTIME_ROUNDS}"


def _attribution(section: Section, rows: list[Row]) -> None:
    section.text(
        f"Why the rows over {RATIO_TARGET} are heavy: the deepest imports that each take at least "
        f"{HEAVY_SHARE:.0%} of what the function's cold start adds to boto3 + a client (`python -X importtime`, "
        f"after `{BASELINE}`, {_importtime_runs()}; importtime's own overhead inflates the milliseconds, "
        "the shares hold). A chain starts at what the cold start imports itself; 'imported at' is the line "
        "that pulls its last module in first."
    )
    section.text()
    table: list[list[object]] = []
    for row in rows:
        for heavy in heavy_imports(row):
            chain = " -> ".join(_short(m) for m in heavy.chain)
            table.append([row.label, chain, f"{heavy.milliseconds:.0f} ms", f"{heavy.share:.0%}", heavy.site])
    section.table(["function(s)", "import chain", "importtime", "share", "imported at"], table)


def _package_table(section: Section, package: Package) -> None:
    section.text(f"Deployment package, built by: {package.method}.")
    section.text()
    section.table(
        ["", "size", "Lambda limit", "share of limit"],
        [
            [
                "zipped (deflate)",
                mib(package.zipped),
                mib(LAMBDA_ZIP_LIMIT),
                f"{package.zipped / LAMBDA_ZIP_LIMIT:.0%}",
            ],
            [
                "unzipped",
                mib(package.unzipped),
                mib(LAMBDA_UNZIPPED_LIMIT),
                f"{package.unzipped / LAMBDA_UNZIPPED_LIMIT:.0%}",
            ],
        ],
    )
    section.text(f"{fmt(float(package.files))} files. Largest top-level entries (unzipped):")
    section.text()
    section.table(
        ["entry", "size", "share"],
        [[name, mib(size), f"{size / package.unzipped:.0%}"] for name, size in package.largest],
    )
