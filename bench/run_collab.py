"""Collaboration benchmark: fan-out latency, saturation and late join for Tandem.

    .venv/bin/python bench/run_collab.py [--quick] [--out bench/RESULTS-collab.md]

Each section runs its own ``tandem serve`` process (SQLite, fresh temporary data
directory, loopback); simulated clients run in separate load-generator processes.
Everything is bounded in time and stops by itself. See bench/README-collab.md.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import bench_env

bench_env.ensure()

import report
import workloads
from tandem_driver import TandemServer

RAISED_LIMITS = {"TANDEM_MESSAGES_PER_SECOND": "1000000", "TANDEM_MESSAGE_BURST": "1000000"}
P99_LIMIT_MS = 100.0


class Section:
    def __init__(self, name: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"tandem-bench-{name}-"))
        self.server = TandemServer(self.dir / "data", env=env or {})

    def __enter__(self) -> TandemServer:
        asyncio.run(self.server.provision())
        self.server.start()
        return self.server

    def __exit__(self, *exc: object) -> None:
        tail = self.server.log_tail()
        self.server.stop()
        if exc[0] is not None and tail:
            print(f"--- server log ({self.name}) ---\n{tail}", file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)


def fanout_rows(results: list[workloads.FanoutResult]) -> list[list[str]]:
    f = report.fmt
    rows = []
    for r in results:
        gen = " + ".join(f"{c * 100:.0f}%" for c in r.generator_cpu)
        rows.append(
            [
                r.clients,
                f"{r.offered_rate:g}",
                r.sends,
                f"{r.received}/{r.expected}",
                r.drops,
                f(r.latency_ms["p50"]),
                f(r.latency_ms["p99"]),
                f(r.latency_ms["max"]),
                f(r.ack_ms["p50"]),
                f(r.ack_ms["p99"]),
                f(r.storage_ms, 2),
                f"{r.server_cpu * 100:.0f}%",
                gen,
                f"{r.rss_mib:.0f} ({r.hwm_mib:.0f})",
                f(r.send_lag_ms["p99"]),
                r.snapshots,
                "; ".join(r.errors[:3]) or "–",
            ]
        )
    return rows


FANOUT_HEADERS = [
    "clients",
    "updates/s offered",
    "sent",
    "receipts/expected",
    "drops",
    "fan-out p50 ms",
    "p99 ms",
    "max ms",
    "ack p50 ms",
    "ack p99 ms",
    "storage mean ms",
    "server CPU",
    "generator CPU",
    "server RSS MiB (peak)",
    "send lag p99 ms",
    "snapshots",
    "errors",
]


def run_fanout(args) -> tuple[str, list]:
    duration = args.duration or (5.0 if args.quick else 15.0)
    results = []
    with Section("fanout") as server:
        for n in (2, 10, 50):
            workers = 1 if n <= 10 else 2
            print(
                f"fan-out: {n} clients, {workers} generator process(es), {duration:g} s ...",
                flush=True,
            )
            r = workloads.run_fanout(
                server,
                f"fanout-{n:03d}",
                clients=n,
                rate_per_client=5.0,
                duration=duration,
                workers=workers,
            )
            print(
                f"  p50 {r.latency_ms['p50']:.1f} ms p99 {r.latency_ms['p99']:.1f} ms "
                f"drops {r.drops} server CPU {r.server_cpu * 100:.0f}%",
                flush=True,
            )
            results.append(r)
    sizes = results[-1]
    text = "\n".join(
        [
            "## 1. Fan-out: one document, clients typing at 5 updates/s each",
            "",
            f"Each client types one character per update (caret anywhere in its own paragraph, "
            f"one keystroke in ten bold) for {duration:g} s: plaintext updates of "
            f"{sizes.plain_bytes:.1f} bytes on average, ciphertext {sizes.cipher_bytes:.1f} bytes. "
            "Latency is send → receipt at every other client (one clock, `CLOCK_MONOTONIC`); "
            "ack is send → `ack` (durable: SQLite WAL, synchronous=FULL, group commit). "
            "Every client decrypts and applies every remote update with pycrdt and answers "
            "`snapshot_request` like the SDK. Default server settings.",
            "",
            report.table(FANOUT_HEADERS, fanout_rows(results)),
        ]
    )
    return text, results


def run_saturation(args) -> tuple[str, list]:
    duration = args.duration or (4.0 if args.quick else 8.0)
    results = []
    sustained = None
    with Section("saturation", RAISED_LIMITS) as server:
        for rate in (100, 200, 400, 800, 1600, 2400, 3200, 4000, 4800, 6400):
            print(f"saturation: 4 clients, {rate} updates/s total, {duration:g} s ...", flush=True)
            r = workloads.run_fanout(
                server,
                f"sat-{rate:05d}",
                clients=4,
                rate_per_client=rate / 4,
                duration=duration,
                workers=2,
            )
            results.append(r)
            ok = (
                r.latency_ms["p99"] <= P99_LIMIT_MS
                and r.drops == 0
                and not r.errors
                and r.acked >= 0.99 * r.offered_rate * duration
            )
            print(
                f"  p50 {r.latency_ms['p50']:.1f} ms p99 {r.latency_ms['p99']:.1f} ms "
                f"drops {r.drops} acked/s {r.acked_rate:.0f} server CPU "
                f"{r.server_cpu * 100:.0f}% -> {'ok' if ok else 'saturated'}",
                flush=True,
            )
            if not ok:
                break
            sustained = r
    rows = fanout_rows(results)
    for row, r in zip(rows, results, strict=True):
        row.insert(2, f"{r.acked_rate:.0f}")
    headers = list(FANOUT_HEADERS)
    headers.insert(2, "acked/s")
    verdict = (
        f"**Sustained: {sustained.offered_rate:g} updates/s** on one document "
        f"(4 clients → {sustained.offered_rate * 3:g} deliveries/s), the highest step "
        f"with p99 ≤ {P99_LIMIT_MS:g} ms, no drops, no errors and every update acked."
        if sustained
        else "**No step passed.**"
    )
    text = "\n".join(
        [
            "## 2. Saturation: one document, 4 clients, rising total update rate",
            "",
            f"Open-loop: each client sends on a fixed schedule (send lag = actual − scheduled "
            f"send time, a check that the generator kept up); {duration:g} s per step; a step "
            f"fails when fan-out p99 > {P99_LIMIT_MS:g} ms, a receipt is missing "
            f"{workloads.GRACE_S:g} s after typing stopped, an error occurs or fewer than 99 % of "
            "the offered updates are acked. Server started with "
            + ", ".join(f"`{k}={v}`" for k, v in RAISED_LIMITS.items())
            + " (the default 100 msg/s per connection would reject the higher steps).",
            "",
            report.table(headers, rows),
            "",
            verdict,
        ]
    )
    return text, results


def run_join(args) -> tuple[str, list]:
    sizes = [1000, 10000] if args.quick else [1000, 10000, 100000]
    reps = 3 if args.quick else 5
    with Section("join", RAISED_LIMITS) as server:
        print(f"join: history {sizes}, {reps} joins each ...", flush=True)
        results = asyncio.run(workloads.run_join(server, sizes, reps))
    f = report.fmt
    rows = [
        [
            r.history,
            r.snapshot_seq,
            r.tail_updates,
            f"{r.bytes_in / 1024:.0f}",
            r.doc_chars,
            f(r.welcome_ms["p50"]),
            f(r.synced_ms["p50"]),
            f(r.synced_ms["max"]),
            f(r.apply_ms["p50"]),
            f(r.total_ms["p50"]),
            f(r.total_ms["max"]),
            f(r.sdk_ms),
            f"{r.write_rate:.0f}",
            "yes" if r.converged else "**NO**",
        ]
        for r in results
    ]
    headers = [
        "history (updates)",
        "snapshot seq",
        "tail updates",
        "KiB received",
        "doc chars",
        "welcome p50 ms",
        "synced p50 ms",
        "synced max ms",
        "decrypt+apply p50 ms",
        "total p50 ms",
        "total max ms",
        "SDK join ms",
        "history write rate (updates/s)",
        "content matches",
    ]
    text = "\n".join(
        [
            "## 3. Join: time for a new client to be fully synced",
            "",
            f"A writer (the real SDK, `DocumentClient`) types the history one character per "
            f"update (with new paragraphs), answering `snapshot_request` with snapshots "
            f"(default `snapshot_threshold` 500). Then {reps} fresh raw clients join one after "
            "the other: *welcome* = hello → welcome (JWT check); *synced* = hello → `synced` "
            "frame received (PBKDF2 10 000 unwrap included, history frames only buffered); "
            "*decrypt+apply* = opening and applying the buffered snapshot and tail with "
            "pycrdt; *total* = synced + decrypt+apply. *SDK join* is one "
            "`async with DocumentClient(...)` (until `wait_synced()`), for comparison. "
            "Content is compared with the writer's document.",
            "",
            report.table(headers, rows),
        ]
    )
    return text, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="5 s fan-out, 4 s saturation steps, no 100k join"
    )
    parser.add_argument("--out", default="bench/RESULTS-collab.md", help="Markdown report")
    parser.add_argument(
        "--only",
        choices=["fanout", "saturation", "join"],
        action="append",
        help="run only these sections (repeatable)",
    )
    parser.add_argument("--duration", type=float, help="override the per-run duration (s)")
    args = parser.parse_args(argv)
    command = "python bench/run_collab.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    sections = args.only or ["fanout", "saturation", "join"]
    texts = []
    for name in sections:
        text, _ = {"fanout": run_fanout, "saturation": run_saturation, "join": run_join}[name](args)
        texts.append(text)
    elapsed = time.monotonic() - started
    doc = (
        "\n\n".join(
            [
                "# Tandem collaboration benchmark",
                report.machine_section(report.machine(), command.strip()),
                f"- Mode: {'quick' if args.quick else 'full'}; wall time {elapsed:.0f} s; server: "
                "`tandem --data-dir DIR serve` (SQLite, loopback), one process per section",
                *texts,
            ]
        )
        + "\n"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(doc)
    print(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
