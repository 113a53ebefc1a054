"""Profile the Tandem server under the fan-out load with py-spy; print the top entries.

    python3 bench/profile_server.py [--clients 50] [--duration 10] [--out bench/out/x.txt]

Starts ``tandem serve`` (fresh SQLite data dir), drives the fan-out workload (N clients
typing 5 updates/s on one document, ``workloads.run_fanout``) and samples the server
process with ``py-spy record --format raw`` (py-spy 0.4: ``pip install py-spy`` into
.venv; it is not needed for anything else). Prints the functions with the most samples
on the CPU: *self* (the sampled frame itself) and *total* (anywhere on the stack).
py-spy leaves idle samples out by default (no ``--idle``), so the percentages are of
the server's busy samples (all threads: the event loop and the SQLite writer).
"""

from __future__ import annotations

import bench_env

bench_env.ensure()

import argparse
import collections
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import workloads
from tandem_driver import TandemServer

VENV_BIN = Path(sys.executable).parent


def summarize(raw: str, top: int = 15) -> tuple[list, list, int]:
    self_counts: collections.Counter[str] = collections.Counter()
    total_counts: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        self_counts[frames[-1]] += n
        for frame in set(frames):
            total_counts[frame] += n
    return self_counts.most_common(top), total_counts.most_common(top), samples


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--out", help="also write the summary here")
    parser.add_argument("--tandem-src", help="profile a baseline checkout's server (its src/)")
    args = parser.parse_args()
    py_spy = VENV_BIN / "py-spy"
    if not py_spy.exists():
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    server = TandemServer(tmp / "node")
    if args.tandem_src:
        server.env["PYTHONPATH"] = str(Path(args.tandem_src).resolve())
    import asyncio

    asyncio.run(server.provision())
    server.start()
    raw_file = tmp / "profile.txt"
    try:

        def record() -> None:
            time.sleep(4.0)  # clients connected and typing
            subprocess.run(
                [
                    str(py_spy),
                    "record",
                    "--pid",
                    str(server.pid),
                    "--duration",
                    str(int(args.duration - 2)),
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--output",
                    str(raw_file),
                    "--nonblocking",
                ],
                check=False,
                capture_output=True,
            )

        thread = threading.Thread(target=record)
        thread.start()
        r = workloads.run_standard_fanout(
            server, f"profile-{secrets.token_hex(2)}", clients=args.clients, duration=args.duration
        )
        thread.join()
    finally:
        server.stop()
    self_top, total_top, samples = summarize(raw_file.read_text() if raw_file.exists() else "")
    lines = [
        f"py-spy, Tandem server{' (' + args.tandem_src + ')' if args.tandem_src else ''}, "
        f"{args.clients} clients × 5 updates/s, "
        f"{args.duration:g} s (p50 {r.latency_ms['p50']:.1f} ms, p99 "
        f"{r.latency_ms['p99']:.1f} ms, server CPU {r.server_cpu * 100:.0f}%); "
        f"{samples} busy samples",
        "",
        "self:",
    ]
    lines += [f"  {n * 100 / max(samples, 1):5.1f}%  {name}" for name, n in self_top]
    lines += ["", "total (on the stack):"]
    lines += [f"  {n * 100 / max(samples, 1):5.1f}%  {name}" for name, n in total_top]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
