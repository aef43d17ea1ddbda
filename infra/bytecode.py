"""Bytecode in the deployment package, so a cold start does not compile every module it imports.

Lambda unpacks the package into /var/task, which is read-only: Python cannot write the `.pyc`
files it compiles, so without them every cold start compiles each module it imports from source
(`make bench`, section 1, shows what that costs). The package therefore carries them, compiled
by the Python the package declares (the Makefile checks it is the one running) with
`unchecked-hash` invalidation: the interpreter uses them without comparing them to the source's
modification time, which unpacking does not keep reliably. They are built from the very sources
beside them, in the same build, so they cannot be stale.
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import tempfile
import zipfile
from pathlib import Path

INVALIDATION = py_compile.PycInvalidationMode.UNCHECKED_HASH


def compile_tree(directory: Path) -> int:
    """Compile every `.py` under `directory` into its `__pycache__`; how many `.pyc` files it holds after."""
    # A module that does not compile stays as source (it would fail at import either way); quiet about it.
    # In this process: a pool of workers would start by importing the caller's __main__ again.
    # Names inside the bytecode are relative to the package, so the same sources give the same zip (and
    # a deploy of an unchanged build updates no function); Python puts the real path back when it loads.
    compileall.compile_dir(
        str(directory),
        quiet=2,
        force=True,
        invalidation_mode=INVALIDATION,
        stripdir=str(directory),
        prependdir="",
    )
    return sum(1 for _ in directory.rglob("*.pyc"))


def add_to_zip(archive: Path) -> int:
    """Rewrite the zip at `archive` with the `.pyc` of each of its `.py` files added; how many it holds."""
    with tempfile.TemporaryDirectory(prefix="ekspress-bytecode-") as scratch:
        tree = Path(scratch) / "tree"
        with zipfile.ZipFile(archive) as zf:
            # Chalice writes the zip itself: its entries are relative paths of files.
            infos = {info.filename: info for info in zf.infolist()}
            zf.extractall(tree)
        count = compile_tree(tree)
        rebuilt = Path(scratch) / "rebuilt.zip"
        with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(p for p in tree.rglob("*") if p.is_file()):
                name = path.relative_to(tree).as_posix()
                info = infos.get(name)
                if info is None:  # a new .pyc: readable by all, as Chalice's own entries are
                    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                    info.external_attr = 0o644 << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
        shutil.move(rebuilt, archive)
    return count
