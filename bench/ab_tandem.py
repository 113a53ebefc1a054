"""Tandem against itself: the bench's fan-out workload on two server configurations,
run interleaved (A, B, A, B, …) so load from other users of the machine hits both alike.

    python3 bench/ab_tandem.py --a TANDEM_LOOP=asyncio --b TANDEM_LOOP=uvloop \\
        [--clients 2 --clients 50] [--runs 3] [--duration 6]

Each side is one ``tandem serve`` (SQLite, loopback) started with its ``NAME=VALUE``
environment settings and kept for every N and run, as ``bench/run`` keeps its servers
(``--fresh-server``: a new one per run). Prints, per N, each side's median over runs
of the receivers' latency p50 / p99 (ms), the sender's ack p50 / p99 and the server's
CPU ms per 1,000 delivered messages, then B/A ratios (below 1: B is faster).
"""

from __future__ import annotations

import bench_env

bench_env.ensure()

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

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


def _start(env: dict[str, str], root: Path, tag: str) -> TandemServer:
    server = TandemServer(data_dir=Path(tempfile.mkdtemp(dir=root, prefix=f"{tag}-")), env=env)
    asyncio.run(server.provision())
    server.start()
    return server


def _one(server: TandemServer, clients: int, duration: float, doc: str) -> dict[str, float]:
    result = workloads.run_standard_fanout(server, doc, clients=clients, duration=duration)
    return {
        "p50": result.latency_ms.get("p50", float("nan")),
        "p99": result.latency_ms.get("p99", float("nan")),
        "ack50": result.ack_ms.get("p50", float("nan")),
        "ack99": result.ack_ms.get("p99", float("nan")),
        "cpu": result.server_cpu_per_k * 1e3,  # ms
        "drops": result.expected - result.received,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", nargs="*", default=[], metavar="NAME=VALUE")
    parser.add_argument("--b", nargs="*", default=[], metavar="NAME=VALUE")
    parser.add_argument("--clients", type=int, action="append")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument(
        "--fresh-server",
        action="store_true",
        help="a new server for every run (default: one per side for the whole session)",
    )
    args = parser.parse_args()
    sides = {"A": _env(args.a), "B": _env(args.b)}
    root = Path(tempfile.mkdtemp(prefix="tandem-ab-"))
    print(
        f"A: {sides['A'] or 'defaults'}  B: {sides['B'] or 'defaults'}  runs: {args.runs}  "
        f"servers: {'fresh per run' if args.fresh_server else 'one per side, kept (as bench/run)'}"
    )
    kept: dict[str, TandemServer] = {}
    try:
        if not args.fresh_server:
            kept = {side: _start(env, root, side) for side, env in sides.items()}
        for clients in args.clients or [2, 10, 50, 200]:
            rows: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
            for run in range(args.runs):
                for side, env in sides.items():
                    doc = f"ab-{side}-{clients}-{run}"
                    if args.fresh_server:
                        server = _start(env, root, f"{side}{run}")
                        try:
                            rows[side].append(_one(server, clients, args.duration, doc))
                        finally:
                            server.stop()
                    else:
                        rows[side].append(_one(kept[side], clients, args.duration, doc))
            _report(clients, rows)
    finally:
        for server in kept.values():
            server.stop()


def _report(clients: int, rows: dict[str, list[dict[str, float]]]) -> None:
    med = {
        side: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for side, runs in rows.items()
    }
    for side, m in med.items():
        print(
            f"N={clients:<4} {side}: p50/p99 {m['p50']:.2f} / {m['p99']:.2f} ms  "
            f"ack p50/p99 {m['ack50']:.2f} / {m['ack99']:.2f} ms  "
            f"CPU {m['cpu']:.0f} ms per 1,000 delivered  "
            f"drops {max(r['drops'] for r in rows[side]):.0f}"
        )
    a, b = med["A"], med["B"]
    print(
        f"N={clients:<4} B/A: p50 {b['p50'] / a['p50']:.2f}  p99 {b['p99'] / a['p99']:.2f}  "
        f"CPU {b['cpu'] / a['cpu']:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
