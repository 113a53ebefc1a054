"""Tandem against itself: the bench's fan-out workload on two server configurations,
run interleaved (A, B, A, B, …) so load from other users of the machine hits both alike.

    .venv/bin/python bench/ab_tandem.py --a TANDEM_LOOP=asyncio --b TANDEM_LOOP=uvloop \\
        [--clients 2 --clients 50] [--runs 3] [--duration 6]

Each side is a fresh ``tandem serve`` (SQLite, loopback) started with its ``NAME=VALUE``
environment settings. Prints, per N, each side's median over runs of the receivers'
latency p50 / p99 (ms), the sender's ack p50 / p99 and the server's CPU ms per 1,000
delivered messages, then B/A ratios (below 1: B is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads
from tandem_driver import TandemServer


def _env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"expected NAME=VALUE, got {pair!r}")
        env[name] = value
    return env


def _one(env: dict[str, str], clients: int, duration: float, root: Path, tag: str):
    server = TandemServer(data_dir=Path(tempfile.mkdtemp(dir=root, prefix=f"{tag}-")), env=env)
    asyncio.run(server.provision())
    server.start()
    try:
        result = workloads.run_standard_fanout(
            server, f"ab-{tag}-{clients}", clients=clients, duration=duration
        )
    finally:
        server.stop()
    delivered = max(1, result.expected)
    return {
        "p50": result.latency_ms.get("p50", float("nan")),
        "p99": result.latency_ms.get("p99", float("nan")),
        "ack50": result.ack_ms.get("p50", float("nan")),
        "ack99": result.ack_ms.get("p99", float("nan")),
        "cpu": result.server_cpu * result.duration / delivered * 1e6,
        "drops": result.expected - result.received,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", nargs="*", default=[], metavar="NAME=VALUE")
    parser.add_argument("--b", nargs="*", default=[], metavar="NAME=VALUE")
    parser.add_argument("--clients", type=int, action="append")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6.0)
    args = parser.parse_args()
    sides = {"A": _env(args.a), "B": _env(args.b)}
    root = Path(tempfile.mkdtemp(prefix="tandem-ab-"))
    print(f"A: {sides['A'] or 'defaults'}  B: {sides['B'] or 'defaults'}  runs: {args.runs}")
    for clients in args.clients or [2, 10, 50, 200]:
        rows: dict[str, list[dict]] = {"A": [], "B": []}
        for run in range(args.runs):
            for side, env in sides.items():
                rows[side].append(_one(env, clients, args.duration, root, f"{side}{run}"))
        med = {
            side: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            for side, runs in rows.items()
        }
        for side in sides:
            m = med[side]
            print(
                f"N={clients:<4} {side}: p50/p99 {m['p50']:.2f} / {m['p99']:.2f} ms  "
                f"ack p50/p99 {m['ack50']:.2f} / {m['ack99']:.2f} ms  "
                f"CPU {m['cpu']:.0f} ms per 1,000 delivered  "
                f"drops {max(r['drops'] for r in rows[side])}"
            )
        a, b = med["A"], med["B"]
        print(
            f"N={clients:<4} B/A: p50 {b['p50'] / a['p50']:.2f}  p99 {b['p99'] / a['p99']:.2f}  "
            f"CPU {b['cpu'] / a['cpu']:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
