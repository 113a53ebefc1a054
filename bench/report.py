"""Statistics, machine description and Markdown tables for the collaboration benchmark."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.4999)))
    return sorted_values[rank - 1]


def summary(values: list[float]) -> dict:
    s = sorted(values)
    if not s:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {
        "n": len(s),
        "p50": percentile(s, 50),
        "p99": percentile(s, 99),
        "max": s[-1],
        "mean": sum(s) / len(s),
    }


def fmt(value: float, digits: int = 1) -> str:
    if value != value:  # nan
        return "–"
    return f"{value:.{digits}f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 0
    from importlib.metadata import version

    import pycrdt  # noqa: F401
    import uvicorn
    import websockets

    dirty = _git("status", "--porcelain", "--", "src")
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "commit": _git("rev-parse", "--short", "HEAD")
        + (" (+ uncommitted changes in src/)" if dirty else ""),
        "versions": f"pycrdt {version('pycrdt')}, websockets {websockets.__version__}, "
        f"uvicorn {uvicorn.__version__}",
    }


def machine_section(info: dict, command: str) -> str:
    return "\n".join(
        [
            f"- Machine: {info['cores']} cores ({info['cpu']}), {info['memory']} RAM, {info['os']}",
            f"- Python {info['python']}; {info['versions']}",
            f"- Tandem commit: {info['commit']}",
            f"- Command: `{command}`",
        ]
    )
