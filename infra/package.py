"""`make package`: the deployable template, offline (no AWS account or credentials).

1. `chalice package --merge-template infra/template.yaml` writes the SAM template
   (functions, per-function roles from .chalice/policies/, the AWS_IAM REST API)
   merged with infra/template.yaml, and `deployment.zip`, into the build folder;
2. the state machine definitions are copied beside it, where the template's
   `DefinitionUri`s point, so `aws cloudformation package` uploads them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = ROOT / "infra" / "template.yaml"
TEMPLATE_FILE = "sam.yaml"


def package(stage: str, out: Path) -> Path:
    """Build the stage's template into `out`; returns the template's path."""
    out = out.resolve()
    if out.exists():
        # Only ever remove an earlier build (never the repository or a folder of other things).
        if out == ROOT or out in ROOT.parents or (any(out.iterdir()) and not (out / TEMPLATE_FILE).exists()):
            raise SystemExit(f"{out} is not an earlier build (no {TEMPLATE_FILE}); choose an empty or new folder")
        shutil.rmtree(out)
    env = dict(os.environ)
    # Chalice wants a region to package even though nothing is deployed; ARNs in the
    # template use ${AWS::Region}, so this value is never written anywhere.
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run(
        [
            str(chalice),
            "package",
            "--stage",
            stage,
            "--merge-template",
            str(MERGE_TEMPLATE),
            "--template-format",
            "yaml",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    # Only the definitions deploy; the convention checker beside them is a development tool.
    shutil.copytree(ROOT / "statemachine", out / "statemachine", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return out / TEMPLATE_FILE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    args = parser.parse_args(argv)
    template = package(args.stage, args.out)
    print(f"packaged stage {args.stage}: {template.relative_to(ROOT) if template.is_relative_to(ROOT) else template}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
