"""Cold start and deployment package size (part 1).

Measured: the time to import each deployed entry point in a fresh interpreter (the API
handler `app`, and the modules the Lambda handlers and the schedule live in), median of
`ROUNDS` fresh subprocesses, against a fresh `import boto3; boto3.client("dynamodb")` run
in the same rounds (interleaved, so drift hits both alike). Init time on Lambda is mostly
this import; a handler that is no slower to load than a bare boto3 client is cheap.

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
# The app creates clients lazily, so its import leaves boto3 to the first request; this row
# shows what a cold start that serves a request pays (import + the first DynamoDB client).
FIRST_REQUEST = "import app; from chalicelib.aws.clients import default_clients; default_clients().dynamodb()"
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


def entry_points() -> list[str]:
    """`app` (the API handler) and every module a deployed Lambda handler or schedule lives in."""
    code = (
        "import json; from app import app; "
        "fns = [f.handler_string for f in app.pure_lambda_functions] + "
        "[e.handler_string for e in app.event_sources]; "
        "print(json.dumps(sorted({h.rsplit('.', 1)[0] for h in fns})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean_env(), capture_output=True, text=True, check=True
    )
    modules: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return ["app", *[m for m in modules if m != "app"]]


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
    entries = entry_points()
    timings = [Timing("baseline: boto3 + dynamodb client", BASELINE)]
    timings += [Timing(f"import {m}", f"import {m}") for m in entries]
    timings.append(Timing("import app + first DynamoDB client", FIRST_REQUEST))
    with tempfile.TemporaryDirectory(prefix="ekspress-pycache-") as pycache:
        measure(timings, ROUNDS, ROOT, [], clean_env(PYTHONPYCACHEPREFIX=pycache))
    section.text(
        f"Fresh interpreters, median of {ROUNDS} each (interleaved). Working tree with bytecode cache. "
        f"'import' = time inside the interpreter; 'process' = whole `python -c` run. Target: ratio <= {RATIO_TARGET}."
    )
    section.text()
    _timing_table(section, timings, "working tree")
    section.text(
        "The app creates AWS clients on first use, so `import app` leaves boto3 to the first request; the last "
        "row (context, not the target) is what a cold start that serves a request pays before the handler runs."
    )
    section.text()
    with tempfile.TemporaryDirectory(prefix="ekspress-bench-") as tmp:
        package = build_package(Path(tmp) / "package")
        measure_size(package, Path(tmp))
        wanted = ("import app", "import chalicelib.handlers.tasks", FIRST_REQUEST)
        lambda_like = [timings[0], *(t for t in timings[1:] if t.statement in wanted)]
        packaged = [Timing(t.label, t.statement) for t in lambda_like]
        measure(packaged, PACKAGE_ROUNDS, package.directory, ["-S", "-B"], clean_env())
    section.text(
        f"As Lambda loads it: the built package alone on the path (`python -S -B`), no bytecode cache, "
        f"median of {PACKAGE_ROUNDS}."
    )
    section.text()
    _timing_table(section, packaged, "package, no .pyc")
    _package_table(section, package)
    return section


def _timing_table(section: Section, timings: list[Timing], where: str) -> None:
    base = timings[0]
    rows: list[list[object]] = []
    for timing in timings:
        inner_ratio = median(timing.inner) / median(base.inner)
        rows.append(
            [
                timing.label,
                f"{1000 * median(timing.inner):.0f} ms",
                ratio(median(timing.inner), median(base.inner)),
                f"{1000 * median(timing.wall):.0f} ms",
                ratio(median(timing.wall), median(base.wall)),
                "-" if timing is base or timing.statement == FIRST_REQUEST else verdict(inner_ratio <= RATIO_TARGET),
            ]
        )
    section.table(["statement", "import", "ratio", "process", "ratio", f"import ratio <= {RATIO_TARGET}"], rows)
    for timing in (t for t in timings[1:] if t.statement != FIRST_REQUEST):
        value = median(timing.inner) / median(base.inner)
        name = f"cold start: {timing.label} / baseline <= {RATIO_TARGET} ({where})"
        section.target(name, f"{value:.2f}", value <= RATIO_TARGET)


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
