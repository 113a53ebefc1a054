"""Closed-loop appenders straight on a storage engine (no server, no WebSocket, no SDK).

    python3 bench/bench_store.py [--writers 8] [--duration 5] [--runs 3] [--busy N]
                                 [--postgres URL]

W coroutines in one process each append to one document in a loop (``append_update``,
wait for it, next), on SQLite (a fresh file, WAL, synchronous=FULL) and on PostgreSQL (a
fresh database, dropped after). Prints acknowledged appends/s and append latency p50/p99
per engine, medians over runs. With ``PYTHONPATH=<baseline>/src`` it measures another
checkout's engines (the before/after of a change to the append path).

``--busy N`` runs N CPU-bound loops (separate processes, normal priority, each stops by
itself after the run) beside every run: the engines on a machine whose cores are all
taken, as they are when load generators or other services share the server's cores.
"""

from __future__ import annotations

import bench_env

bench_env.ensure()

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import tandem
from tandem.storage import SessionRecord
from tandem.storage.postgres import PostgresStore
from tandem.storage.sqlite import SQLiteStore

SEALED = b"c" * 60


async def one_run(store, writers: int, duration: float) -> tuple[float, list[float]]:
    await store.open()
    try:
        key = (await store.create_api_key("bench")).key
        sid = "session-" + secrets.token_hex(8)
        await store.create_session(
            key,
            "doc",
            SessionRecord(sid, "h", b"s" * 32, 10_000, b"w" * 60, "bench", time.time()),
            b"snapshot",
        )
        latencies: list[float] = []
        count = 0
        deadline = time.perf_counter() + duration

        async def writer(w: int) -> None:
            nonlocal count
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                t0 = time.perf_counter()
                await store.append_update(key, "doc", sid, f"writer-{w:04d}", n, "bench", SEALED)
                latencies.append((time.perf_counter() - t0) * 1e3)
                count += 1

        started = time.perf_counter()
        await asyncio.gather(*(writer(w) for w in range(writers)))
        return count / (time.perf_counter() - started), latencies
    finally:
        await store.close()


def _spin(until: float) -> None:
    while time.monotonic() < until:  # CLOCK_MONOTONIC: one clock for every process
        pass


@contextlib.contextmanager
def busy_cpus(count: int, seconds: float):
    """``count`` processes spinning on a CPU for at most ``seconds`` (stopped on exit)."""
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_spin, args=(time.monotonic() + seconds,), daemon=True)
        for _ in range(count)
    ]
    for proc in procs:
        proc.start()
    try:
        time.sleep(0.3 if procs else 0)  # let them reach their loop
        yield
    finally:
        for proc in procs:
            proc.terminate()
            proc.join(5)


async def run_engine(engine: str, args) -> dict:
    import asyncpg

    rates, p50s, p99s = [], [], []
    for _ in range(args.runs):
        admin = name = None
        if engine == "sqlite":
            store = SQLiteStore(Path(tempfile.mkdtemp(prefix="bench-store-")) / "t.sqlite3")
        else:
            name = f"tandem_bench_{secrets.token_hex(4)}"
            admin = await asyncpg.connect(args.postgres + "/postgres")
            await admin.execute(f"CREATE DATABASE {name}")
            store = PostgresStore(f"{args.postgres}/{name}")
        try:
            with busy_cpus(args.busy, args.duration + 30):
                rate, lat = await one_run(store, args.writers, args.duration)
        finally:
            if admin is not None:
                await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                await admin.close()
        lat.sort()
        rates.append(rate)
        p50s.append(lat[len(lat) // 2])
        p99s.append(lat[min(len(lat) - 1, int(len(lat) * 0.99))])
    return {
        "rate": statistics.median(rates),
        "p50": statistics.median(p50s),
        "p99": statistics.median(p99s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--busy", type=int, default=0, metavar="N", help="CPU-bound loops beside every run"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"),
    )
    args = parser.parse_args()
    print(
        f"tandem from {Path(tandem.__file__).parent}; {args.writers} closed-loop "
        f"appenders on one document, {args.duration:g} s × {args.runs} runs (median)"
        + (f"; {args.busy} busy CPU loop(s) beside every run" if args.busy else "")
    )
    results = {e: asyncio.run(run_engine(e, args)) for e in ("sqlite", "postgres")}
    for engine, r in results.items():
        print(
            f"{engine:9s} {r['rate']:8.0f} appends/s   p50 {r['p50']:7.2f} ms   "
            f"p99 {r['p99']:7.2f} ms"
        )
    print(f"postgres / sqlite = {results['postgres']['rate'] / results['sqlite']['rate']:.2f}")


if __name__ == "__main__":
    main()
