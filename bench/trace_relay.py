"""Where one update's time goes inside the server: socket in → socket out, step by step.

    python3 bench/trace_relay.py [--clients 2] [--duration 10] [--tandem-src DIR]

Starts ``tandem serve`` (fresh SQLite data dir) with ``bench/trace_hooks`` on its
``PYTHONPATH``: that ``sitecustomize`` wraps a few methods at their boundaries and
records a monotonic time stamp at each (nothing in ``src/`` changes). Drives the
fan-out workload (N clients typing 5 updates/s on one document, ``workloads.run_standard_fanout``)
and prints, per step of an update's path, the median, p90 and p99 in µs:

    in        bytes arrive (uvicorn's WebSocket protocol ``data_received``)
    in_done   the websockets frame is parsed and queued for the application
    received  the connection task has it and decodes it (``receive_frame``)
    parsed    decoded and checked
    on_update the update handler runs (quotas)
    append    the append is queued for the store (``start_append_updates``, in the
              update handler's turn; before 2026-12-01 in a store task one turn later)
    w_begin   the SQLite writer thread starts the batch
    settled   the event loop settles the batch's waiters (after the statements, the
              COMMIT with its fsync, and the writer thread waking the loop)
    appended  the connection relays the result (``_stored``, in the settling turn;
              before 2026-12-01 its store task resumed a turn later)
    out       the released run is written to the receivers' sockets

Then the SQLite writer's batches (one transaction and one COMMIT with its fsync each):
their duration, and how many updates were stored by a batch that took longer than
``--slow-ms``: a disk whose fsync sometimes takes tens of ms shows up there, and such
stalls set the fan-out's p99 (every update queued behind one waits it out).

Each update is matched by time: for every ``on_update`` the latest ``in`` before it,
then the next stamp of each later step. With many clients the matching is approximate
(steps of different updates interleave); read the medians, not single updates.
"""

from __future__ import annotations

import bench_env

bench_env.ensure()

import argparse
import asyncio
import bisect
import os
import secrets
import shutil
import signal
import tempfile
import time
from pathlib import Path

import workloads
from report import percentile
from tandem_driver import TandemServer

HOOKS = Path(__file__).resolve().parent / "trace_hooks"
STEPS = [
    ("in", "in_done", "websockets frame parsed"),
    ("in_done", "received", "connection task has the frame (ASGI receive queue)"),
    ("received", "parsed", "frame decoded and checked"),
    ("parsed", "on_update", "update handler called"),
    ("on_update", "append", "quotas checked, the append queued"),
    ("append", "w_begin", "SQLite writer thread starts the batch"),
    ("w_begin", "settled", "statements, COMMIT (fsync), loop woken"),
    ("settled", "appended", "the connection relays the result"),
    ("appended", "out", "released run written to the sockets"),
]


def read_stamps(path: Path) -> dict[str, list[int]]:
    stamps: dict[str, list[int]] = {}
    for line in path.read_text().splitlines():
        name, *values = line.split()
        stamps[name] = sorted(int(v) for v in values)
    return stamps


def match(stamps: dict[str, list[int]], skip: int = 10) -> list[dict[str, int]]:
    """One row of stamps per update (see the module docstring)."""

    def before(name: str, t: int) -> int | None:
        values = stamps.get(name, [])
        i = bisect.bisect_right(values, t) - 1
        return values[i] if i >= 0 else None

    def after(name: str, t: int) -> int | None:
        values = stamps.get(name, [])
        i = bisect.bisect_left(values, t)
        return values[i] if i < len(values) else None

    rows = []
    for t in stamps.get("on_update", [])[skip:]:  # the first ones are the warm-up
        row: dict[str, int | None] = {
            "in": before("in", t),
            "in_done": before("in_done", t),
            "received": before("received", t),
            "parsed": before("parsed", t),
            "on_update": t,
        }
        current = t
        for name in ("append", "w_begin", "settled", "appended", "out"):
            found = after(name, current)
            if found is None:
                break
            row[name] = current = found
        if all(row.get(n) is not None for _a, n, _d in STEPS):
            rows.append(row)  # type: ignore[arg-type]
    return rows


def write_runs(outs: list[int], gap_ns: int = 50_000) -> list[list[int]]:
    """The socket writes grouped by released run: one run's writes to its receivers
    follow each other in one loop callback, a few µs apart; a longer gap starts a new
    run (approximate under load, like the matching)."""
    runs: list[list[int]] = []
    for t in outs:
        if runs and t - runs[-1][-1] <= gap_ns:
            runs[-1].append(t)
        else:
            runs.append([t])
    return runs


def outside_server(
    rows: list[dict[str, int]], send_times: dict, receipt_times: list
) -> dict[str, list[float]]:
    """Each traced update's time before and after the server, in µs, on the one clock:
    the client's send to the server's ``in`` (the sender's path, the kernel, the server's
    loop getting to the socket), and the server's first write to each receipt (the rest
    of the run's writes, the kernel, the receiving generator's loop and parsing)."""
    by_in = {row["in"]: row for row in rows}
    ins = sorted(by_in)
    receipts: dict = {}
    for receiver, key, t in receipt_times:
        if receiver != key[0]:
            receipts.setdefault(key, []).append(t)
    before: list[float] = []
    after: list[float] = []
    for key, sent in send_times.items():
        i = bisect.bisect_left(ins, sent)
        if i == len(ins) or key not in receipts:
            continue
        row = by_in[ins[i]]
        if ins[i] - sent > 50_000_000:
            continue  # no update of this one's arrived within 50 ms: not matched
        before.append((ins[i] - sent) / 1e3)
        after.extend((t - row["out"]) / 1e3 for t in receipts[key] if t >= row["out"])
    return {"before": sorted(before), "after": sorted(after)}


def _quantiles(values: list[float]) -> str:
    return " ".join(f"{percentile(values, q):9.1f}" for q in (50, 90, 99))


def writer_batches(stamps: dict[str, list[int]], rows: list[dict[str, int]], slow_ms: float) -> str:
    """The writer thread runs one batch at a time, so its begin and end stamps pair in
    order. Counts the batches longer than ``slow_ms`` and the traced updates that waited
    through one (queued or stored while it ran: its span meets append -> settled)."""
    begins, ends = stamps.get("w_begin", []), stamps.get("w_end", [])
    if not begins or len(begins) != len(ends):
        return "writer batches: no stamps (a server from before 2026-12-02 has no w_end)"
    ms = sorted((e - b) / 1e6 for b, e in zip(begins, ends, strict=True))
    slow = [(b, e) for b, e in zip(begins, ends, strict=True) if (e - b) / 1e6 > slow_ms]
    starts = [b for b, _e in slow]
    waited = 0
    for row in rows:
        i = bisect.bisect_left(starts, row["settled"]) - 1  # the last stall begun before
        waited += i >= 0 and slow[i][1] > row["append"]
    return (
        f"\nSQLite writer: {len(ms)} batches, duration p50 {percentile(ms, 50):.2f} ms, "
        f"p99 {percentile(ms, 99):.2f} ms, max {ms[-1]:.1f} ms; {len(slow)} took over "
        f"{slow_ms:g} ms ({sum((e - b) / 1e6 for b, e in slow):.0f} ms in all), and "
        f"{waited} of {len(rows)} traced updates ({100 * waited / max(len(rows), 1):.1f} %) "
        "waited through one"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--slow-ms", type=float, default=10.0, help="a writer batch this long counts as a stall"
    )
    parser.add_argument("--tandem-src", help="trace a baseline checkout's server (its src/)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-trace-"))
    out = tmp / "stamps"
    server = TandemServer(tmp / "node")
    paths = [str(HOOKS)] + ([str(Path(args.tandem_src).resolve())] if args.tandem_src else [])
    server.env["PYTHONPATH"] = os.pathsep.join(paths)
    server.env["TANDEM_RELAY_TRACE"] = str(out)
    asyncio.run(server.provision())
    server.start()
    try:
        r = workloads.run_standard_fanout(
            server, f"trace-{secrets.token_hex(2)}", clients=args.clients, duration=args.duration
        )
        os.kill(server.pid, signal.SIGUSR1)
        stamp_file = Path(f"{out}.{server.pid}")
        deadline = time.monotonic() + 10
        while not stamp_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the handler finishes writing
    finally:
        server.stop()
    stamps = read_stamps(stamp_file)
    rows = match(stamps)
    print(
        f"Tandem server{' (' + args.tandem_src + ')' if args.tandem_src else ''}, "
        f"{args.clients} clients × 5 updates/s, {args.duration:g} s: end to end p50 "
        f"{r.latency_ms['p50']:.2f} ms, p99 {r.latency_ms['p99']:.2f} ms; "
        f"{len(rows)} updates traced\n"
    )
    print(f"{'step':66s} {'p50 µs':>9s} {'p90 µs':>9s} {'p99 µs':>9s}")
    for start, end, what in STEPS:
        d = sorted((row[end] - row[start]) / 1e3 for row in rows)
        print(f"{start + ' -> ' + end + ': ' + what:66s} {_quantiles(d)}")
    total = sorted((row["out"] - row["in"]) / 1e3 for row in rows)
    print(f"{'socket in -> socket out':66s} {_quantiles(total)}")
    around = outside_server(rows, r.send_times, r.receipt_times)
    if around["before"] and around["after"]:
        for name, what in (
            ("before", "client send -> socket in (sender, kernel, server loop)"),
            ("after", "socket out -> receipt (writes, kernel, receiving clients)"),
        ):
            print(f"{what:66s} {_quantiles(around[name])}")
    runs = [r for r in write_runs(stamps.get("out", [])) if len(r) > 1]
    if runs:
        spans = sorted((r[-1] - r[0]) / 1e3 for r in runs)
        sizes = sorted(len(r) for r in runs)
        print(
            f"{'one run written to all its receivers (first -> last write)':66s} "
            f"{percentile(spans, 50):9.1f} {percentile(spans, 90):9.1f}"
            f"   ({percentile(sizes, 50):.0f} writes per run, p50)"
        )
    print(writer_batches(stamps, rows, args.slow_ms))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
