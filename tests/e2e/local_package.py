"""`make package` for the local stage, built once per test session and shared by the modules that need it.

`chalice package` takes a while; tests/e2e/test_deployment.py and
tests/e2e/test_local_deploy_matches_template.py both deploy its output. The first module (in
any xdist worker) builds it under a lock; the others wait on the lock and reuse it. Each module
gets its own copy, since deploying writes into the build folder (`packaged.yaml`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from typing import TYPE_CHECKING

from infra.package import package
from local.engine import STAGE

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

_DONE = "built"


def _session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of this test session only, the same for every xdist worker of it."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is a folder of the session's; alone, the base is the session's own.
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's `make package STAGE=local` build folder (sam.yaml, deployment.zip, statemachine/)."""
    root = _session_dir(tmp_path_factory) / f"package-{STAGE}"
    root.mkdir(exist_ok=True)
    build = root / "build"
    with (root / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (root / _DONE).exists():
                shutil.rmtree(build, ignore_errors=True)  # what an earlier attempt that failed left
                package(STAGE, build)
                (root / _DONE).touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return build


def build_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's build for one module to deploy from."""
    copy = tmp_path_factory.mktemp("package") / "build"
    shutil.copytree(shared_build(tmp_path_factory), copy)
    return copy
