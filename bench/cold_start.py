"""Cold start and deployment package size (part 1).

Measured, per function: what its cold start pays before the handler runs — importing its
handler's module (the API's `app`, or the module a Lambda handler or schedule lives in) and
creating the first AWS client its code makes (DynamoDB: every function starts by reading or
writing the cluster table, through `default_clients()`) — median of `ROUNDS` fresh
subprocesses, against a fresh `import boto3; boto3.client("dynamodb")` run in the same rounds
(interleaved, so drift hits both alike). That ratio, per function, is the target (<= 1.3);
the import alone is shown as context (the app builds its clients lazily, so the import
alone leaves boto3 out). Functions whose handlers live in one module load the same code, so
they share a row. For each row over the target, `python -X importtime` (run after boto3 and
the client are loaded, so only what the function adds is counted) names the imports that
make it heavy: the chain from the handler's module, and the line that imports it.

Two settings: the working tree with its bytecode cache (what `python -c "import app"`
shows), and the built deployment package run as Lambda runs it — only the package on the
path and no bytecode cache (Lambda's /var/task is read-only, so nothing is cached between
cold starts unless the package ships .pyc files, which Chalice's does not).

The package is what Lambda would get: requirements.txt installed for manylinux x86_64 and
the running CPython (the runtime the package declares) by pip (or, offline, copied from the
virtualenv), the two files of Chalice's runtime its packager adds (`chalice/app.py`,
`chalice/__init__.py`), plus app.py, chalicelib/ and statemachine/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.report import Section, fmt, median, mib, ratio, verdict

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 15
PACKAGE_ROUNDS = 7
RATIO_TARGET = 1.3
BASELINE = 'import boto3; boto3.client("dynamodb", region_name="us-east-1")'
FIRST_CLIENT = "from chalicelib.aws.clients import default_clients; default_clients().dynamodb()"
# An import that takes at least this share of a function's added import time is named (attribution).
HEAVY_SHARE = 0.15
IMPORTTIME_ROUNDS = 3
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


def clean_env(**python: str) -> dict[str, str]:
    """This process's environment without anything pointing boto3 or Python elsewhere, plus `python` settings.

    Bytecode goes to a scratch prefix (PYTHONPYCACHEPREFIX) or nowhere, never next to the sources.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EKSPRESS_", "PYTHON", "MOTO_"))}
    env.update(PYTHONHASHSEED="0", **python)
    if "PYTHONPYCACHEPREFIX" not in env:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["AWS_DEFAULT_REGION"] = "us-east-1"  # what Lambda sets; clients need a region, never credentials
    return env


def functions_by_module() -> dict[str, list[str]]:
    """`app` (the API handler) and every module a deployed Lambda handler or schedule lives in, with
    the functions whose handler is there."""
    code = (
        "import json; from app import app; "
        "fns = [f.handler_string for f in app.pure_lambda_functions] + "
        "[e.handler_string for e in app.event_sources]; "
        "print(json.dumps(sorted(fns)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean_env(), capture_output=True, text=True, check=True
    )
    handlers: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    found: dict[str, list[str]] = {"app": ["api"]}
    for handler in handlers:
        module, function = handler.rsplit(".", 1)
        found.setdefault(module, []).append(function)
    return found


def entry_points() -> list[str]:
    """`app` (the API handler) and every module a deployed Lambda handler or schedule lives in."""
    return list(functions_by_module())


def first_request(module: str) -> str:
    """What a cold start of a function whose handler is in `module` runs before the handler: import + first client."""
    return f"import {module}; {FIRST_CLIENT}"


@dataclass
class Heavy:
    """One import a function pays for: the chain from its handler's module, its cost, where it is imported."""

    module: str
    chain: list[str]
    milliseconds: float
    share: float
    site: str


def import_tree(module: str, cwd: Path, env: dict[str, str]) -> list[tuple[int, str, float]]:
    """(depth, module, cumulative ms) of every import `module` adds after boto3 and a client are loaded, in
    `-X importtime` order (children before their parent), median over `IMPORTTIME_ROUNDS` runs."""
    code = f"{BASELINE}; import sys; sys.stderr.write('--mark--\\n'); import {module}"
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


def heavy_imports(module: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> list[Heavy]:
    """The deepest imports taking at least `HEAVY_SHARE` of what `module` adds, each with its chain and site."""
    tree = import_tree(module, cwd, env or clean_env())
    total = next((ms for depth, name, ms in tree if depth == 0 and name == module), 0.0)
    if total <= 0:
        return []
    heavy: list[tuple[list[str], float]] = []
    stack: list[tuple[int, str]] = []
    # -X importtime prints a module after its children: backwards, every parent comes before its children.
    for depth, name, ms in reversed(tree):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        stack.append((depth, name))
        if ms >= HEAVY_SHARE * total and stack[0][1] == module:
            heavy.append(([n for _, n in stack], ms))
    deepest = [
        (chain, ms)
        for chain, ms in heavy
        if not any(len(other) > len(chain) and other[: len(chain)] == chain for other, _ in heavy)
    ]
    return [
        Heavy(module, chain, ms, ms / total, import_site(chain[-2], chain[-1]) if len(chain) > 1 else "-")
        for chain, ms in sorted(deepest, key=lambda h: -h[1])
    ]


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


def measure(timings: list[Timing], rounds: int, cwd: Path, flags: list[str], env: dict[str, str]) -> None:
    """Round-robin over the statements so every statement sees the same machine state."""
    for timing in timings:  # warm the OS file cache (and the bytecode cache, if any) once; not counted
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
    by_module = functions_by_module()
    baseline = Timing("baseline: boto3 + dynamodb client", BASELINE)
    targets = [Timing(f"{m} + first client", first_request(m)) for m in by_module]
    imports = [Timing(f"import {m} (context)", f"import {m}") for m in by_module]
    timings = [baseline, *targets, *imports]
    with tempfile.TemporaryDirectory(prefix="ekspress-pycache-") as pycache:
        measure(timings, ROUNDS, ROOT, [], clean_env(PYTHONPYCACHEPREFIX=pycache))
    section.text(
        f"Fresh interpreters, median of {ROUNDS} each (interleaved). Working tree with bytecode cache. "
        "'import' = time inside the interpreter; 'process' = whole `python -c` run. Target, per function: "
        f"import of its handler's module + its first AWS client <= {RATIO_TARGET} x the baseline (a bare "
        "`boto3` import + the same client). The `import ... (context)` rows leave boto3 out (clients are built "
        "on first use) and carry no verdict."
    )
    section.text()
    _timing_table(section, timings, targets, by_module, "working tree")
    over = [t for t in targets if median(t.inner) / median(baseline.inner) > RATIO_TARGET]
    if over:
        _attribution(section, [t.statement.split(";", 1)[0].removeprefix("import ") for t in over])
    with tempfile.TemporaryDirectory(prefix="ekspress-bench-") as tmp:
        package = build_package(Path(tmp) / "package")
        measure_size(package, Path(tmp))
        wanted = {first_request(m) for m in ("app", "chalicelib.handlers.tasks", "chalicelib.handlers.stack_events")}
        packaged = [Timing(baseline.label, baseline.statement)]
        packaged += [Timing(t.label, t.statement) for t in targets if t.statement in wanted]
        measure(packaged, PACKAGE_ROUNDS, package.directory, ["-S", "-B"], clean_env())
    section.text(
        f"As Lambda loads it: the built package alone on the path (`python -S -B`), no bytecode cache, "
        f"median of {PACKAGE_ROUNDS}."
    )
    section.text()
    _timing_table(section, packaged, packaged[1:], by_module, "package, no .pyc")
    _package_table(section, package)
    return section


def _timing_table(
    section: Section, timings: list[Timing], targets: list[Timing], by_module: dict[str, list[str]], where: str
) -> None:
    base = timings[0]
    rows: list[list[object]] = []
    for timing in timings:
        inner_ratio = median(timing.inner) / median(base.inner)
        module = timing.statement.split(";", 1)[0].removeprefix("import ").strip()
        functions = by_module.get(module, []) if timing is not base else []
        rows.append(
            [
                timing.label,
                len(functions) or "-",
                f"{1000 * median(timing.inner):.0f} ms",
                ratio(median(timing.inner), median(base.inner)),
                f"{1000 * median(timing.wall):.0f} ms",
                ratio(median(timing.wall), median(base.wall)),
                verdict(inner_ratio <= RATIO_TARGET) if timing in targets else "-",
            ]
        )
    section.table(
        ["statement", "functions", "import", "ratio", "process", "ratio", f"import ratio <= {RATIO_TARGET}"], rows
    )
    for timing in targets:
        value = median(timing.inner) / median(base.inner)
        name = f"cold start: {timing.label} / baseline <= {RATIO_TARGET} ({where})"
        section.target(name, f"{value:.2f}", value <= RATIO_TARGET)


def _attribution(section: Section, modules: list[str]) -> None:
    section.text(
        f"Why the rows over {RATIO_TARGET} are heavy: the deepest imports that each take at least "
        f"{HEAVY_SHARE:.0%} of what the module adds to boto3 + a client (`python -X importtime`, after "
        f"`{BASELINE}`, median of {IMPORTTIME_ROUNDS}; importtime's own overhead inflates the milliseconds, "
        "the shares hold). 'imported at' is the line that pulls it in first."
    )
    section.text()
    rows: list[list[object]] = []
    for module in modules:
        for heavy in heavy_imports(module):
            rows.append(
                [module, " -> ".join(heavy.chain[1:]), f"{heavy.milliseconds:.0f} ms", f"{heavy.share:.0%}", heavy.site]
            )
    section.table(["function module", "import chain", "importtime", "share", "imported at"], rows)


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
