"""The README's quick start runs verbatim: its shell blocks, in a fresh empty directory,
with ``tandem`` on PATH, against the real server its first line starts. The one change
is the port: 8000 becomes a free port, so that test runs never collide."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.quickstart.markdown import blocks, section
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
QUICK_START = "## Quick start (your own integration)"


def quick_start() -> str:
    return section((ROOT / "README.md").read_text(), QUICK_START)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a newcomer has: ``tandem`` (this checkout's) on PATH, no TANDEM_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("VIRTUAL_ENV", None)
    env.update(extra)
    return env


def test_the_quick_start_has_the_expected_shape():
    found = blocks(quick_start())
    shell = [b for b in found if b.lang == "sh"]
    assert len(shell) == 4
    assert shell[0].code.startswith("tandem serve &")
    assert "JWT=$(tandem token sign --key acme.private.pem" in shell[1].code
    assert [b.save_as for b in found if b.save_as] == ["bot.py"]
    assert "127.0.0.1:8000" in shell[2].code
    assert ".venv/bin/tandem" not in quick_start()
    # The two set-up commands the README promises stay as they are.
    readme = (ROOT / "README.md").read_text()
    assert "| `scripts/demo` |" in readme and "| `scripts/test` |" in readme


def test_the_quick_start_runs_verbatim(tmp_path):
    port = free_port()
    work = tmp_path / "newcomer"  # fresh and empty
    work.mkdir()
    found = blocks(quick_start().replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
    for block in found:
        if block.save_as:
            (work / block.save_as).write_text(block.code)
    script = "\n".join(b.code for b in found if b.lang == "sh")
    # Output goes to files: the server the script starts in the background keeps its own
    # copies of the script's stdout and stderr open until it stops.
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("w") as out_file, err_path.open("w") as err_file:
        proc = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=work,
            env=clean_env(TANDEM_PORT=str(port)),
            stdin=subprocess.DEVNULL,
            stdout=out_file,
            stderr=err_file,
            start_new_session=True,
        )
    try:
        returncode = proc.wait(timeout=180)
        stopped = returncode == 0 and _wait_group_gone(proc.pid, 15)  # `kill %1` worked
    finally:
        _kill_group(proc.pid)
    out, err = out_path.read_text(), err_path.read_text()
    assert returncode == 0, f"the quick start failed:\n{out}\n{err[-3000:]}"
    lines = out.splitlines()
    assert '  "user_id": "alice"' in lines  # tandem token check
    assert '  "document_id": "my-document",' in lines
    assert any(line.startswith("appended at version ") for line in lines)
    cat = lines.index("<p>Hello from the command line</p>")  # tandem doc cat
    assert lines[cat + 1 : cat + 3] == [  # bot.py: both paragraphs
        "<p>Hello from the command line</p>",
        "<p>Written by a bot</p>",
    ]
    assert (work / "tandem-data" / "tandem.sqlite3").is_file()
    assert stopped, "the server kept running after the quick start's `kill %1`"


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _kill_group(pgid: int) -> None:
    """Whatever the script started (its own process group) is stopped."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
