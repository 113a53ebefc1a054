"""Run a bench script with the project's environment, whatever Python started it.

Every bench script calls ``ensure()`` before it imports anything outside the standard
library: on a fresh clone, ``python3 bench/<script>.py`` (or ``bench/run``) first runs
``scripts/bootstrap`` (creates ``.venv`` and installs Tandem; idempotent and quick when
done) and then re-executes the script with ``.venv/bin/python``. Inside the venv (and
in the load-generator processes it spawns) it does nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"


def ensure() -> None:
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if os.environ.get("TANDEM_BENCH_REEXEC") == "1":  # bootstrap ran, still not the venv
        raise SystemExit(f"bench: cannot run inside {VENV}; run scripts/bootstrap")
    subprocess.run([str(REPO / "scripts" / "bootstrap")], check=True)
    python = VENV / "bin" / "python"
    os.environ["TANDEM_BENCH_REEXEC"] = "1"
    os.execv(str(python), [str(python), *sys.argv])
