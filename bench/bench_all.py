"""Tandem side by side with Hocuspocus and pycrdt-websocket, and Tandem on many nodes.

    bench/run [--quick] [--only fanout|docs|join|saturation|idle|nodes|writers ...] [--out FILE]

(``bench/run`` raises ``ulimit -n``, runs ``bench/setup-peers`` and then this file with
.venv/bin/python.) Every server is a separate process on a loopback port with a fresh
data directory; simulated clients run in separate load-generator processes. Everything
is bounded in time. See bench/README-collab.md ("Side by side").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import secrets
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench_env

bench_env.ensure()

import report
import workloads
import writers
import ypeers
from tandem_driver import TandemServer

RAISED_LIMITS = {"TANDEM_MESSAGES_PER_SECOND": "1000000", "TANDEM_MESSAGE_BURST": "1000000"}
P99_LIMIT_MS = 100.0
SYSTEMS = ["Tandem", "Hocuspocus", "pycrdt-websocket"]
TANDEM_SRC = os.environ.get("BENCH_TANDEM_SRC", "")  # --tandem-src: a baseline's src/
RAW_RELAY = "raw relay"  # the yardstick: verbatim broadcast, no work per message
FANOUT_SYSTEMS = [*SYSTEMS, RAW_RELAY]
f = report.fmt


# --- servers -----------------------------------------------------------------------------------
@contextlib.contextmanager
def serve(system: str, env: dict | None = None, database_url: str | None = None, nodes: int = 1):
    """Yield a started server (or a list of ``nodes`` Tandem servers on one PostgreSQL)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{system.lower()}-"))
    servers = []
    try:
        if system == "Tandem":
            for i in range(nodes):
                server = TandemServer(tmp / f"node{i}", env=dict(env or {}))
                if TANDEM_SRC:  # a baseline checkout's server (the clients stay this one's)
                    server.env["PYTHONPATH"] = TANDEM_SRC
                if database_url:
                    server.env["TANDEM_DATABASE_URL"] = database_url
                    server.database_url = database_url
                    if i == 0:
                        asyncio.run(provision_postgres(server, database_url))
                    else:
                        server.api_key, server.signer = servers[0].api_key, servers[0].signer
                        server.data_dir.mkdir(parents=True, exist_ok=True)
                else:
                    asyncio.run(server.provision())
                servers.append(server)
                server.start()
        elif system == "Hocuspocus":
            servers.append(ypeers.HocuspocusServer(tmp / "data"))
            servers[0].start()
        elif system == RAW_RELAY:
            servers.append(ypeers.RawRelayServer(tmp / "data"))
            servers[0].start()
        else:
            servers.append(ypeers.PycrdtServer(tmp / "data"))
            servers[0].start()
        yield servers if nodes > 1 or database_url else servers[0]
    except BaseException:
        for s in servers:
            if s.process is not None:
                print(f"--- {s.name} log ---\n{s.log_tail()}", file=sys.stderr)
        raise
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def provision_postgres(server: TandemServer, url: str) -> None:
    from tandem_driver import Signer

    from tandem.storage.postgres import PostgresStore

    server.data_dir.mkdir(parents=True, exist_ok=True)
    store = PostgresStore(url)
    await store.open()
    try:
        record = await store.create_api_key("bench")
        server.signer = Signer(kid=f"bench-{record.key[:6]}")
        await store.add_public_keys(record.key, [server.signer.public_jwk])
    finally:
        await store.close()
    server.api_key = record.key


@contextlib.contextmanager
def fresh_database(base_url: str):
    import asyncpg

    name = f"tandem_bench_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(base_url + "/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        yield f"{base_url}/{name}"
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def med(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> str:
    if a != a or b != b or b == 0:
        return "–"
    return f"{a / b:.2f}"


def gen_cpu(r) -> str:
    return " + ".join(f"{c * 100:.0f}%" for c in r.generator_cpu)


class Summary:
    """Median over runs of a list of FanoutResults."""

    def __init__(self, runs: list) -> None:
        self.runs = runs
        self.n = len(runs)
        self.p50 = med([r.latency_ms["p50"] for r in runs])
        self.p99 = med([r.latency_ms["p99"] for r in runs])
        self.max = med([r.latency_ms["max"] for r in runs])
        self.ack50 = med([r.ack_ms["p50"] for r in runs])
        self.ack99 = med([r.ack_ms["p99"] for r in runs])
        self.drops = max(r.drops for r in runs)
        self.received = runs[0].received
        self.expected = runs[0].expected
        self.cpu = med([r.server_cpu for r in runs])
        self.rss = med([r.rss_mib for r in runs])
        self.gen = gen_cpu(runs[len(runs) // 2])
        self.lag99 = med([r.send_lag_ms["p99"] for r in runs])
        self.errors = sorted({e for r in runs for e in r.errors})
        self.acked_rate = med([r.acked_rate for r in runs])
        self.sends = runs[0].sends
        self.foreign = med([r.foreign_cpu for r in runs])
        # CPU seconds per 1,000 delivered messages (receipts expected at the receivers)
        self.cpu_per_k = med([r.server_cpu_per_k for r in runs])
        self.gen_per_k = med(
            [sum(r.generator_cpu) * r.duration / max(r.expected, 1) * 1000 for r in runs]
        )


# --- 1. fan-out --------------------------------------------------------------------------------
# At N = 200 the log grows by 1,000 updates/s; on a saturated machine the generator's
# answer to snapshot_request can come later than the default cap of 5,000 updates since
# the latest snapshot allows (writers are then closed with storage_quota_exceeded, a
# safety limit the peers do not have): the cap is raised for the fan-out only.
FANOUT_TANDEM_ENV = {"TANDEM_MAX_LOG_UPDATES": "50000"}
QUIET_CPU = 0.05  # a server is idle below this share of a core over QUIET_WINDOW_S
QUIET_WINDOW_S = 0.5
QUIET_MAX_S = 60.0


def wait_until_quiet(servers: dict) -> float:
    """Wait (at most QUIET_MAX_S) until no server is still working off an earlier run's
    backlog; returns the seconds waited. At N = 200 the peers that fall behind keep
    their server busy for seconds after their generators stopped: without this, the
    next system's run shared the machine with that leftover work."""
    started = time.monotonic()
    while time.monotonic() - started < QUIET_MAX_S:
        before = {name: server.cpu_seconds() for name, server in servers.items()}
        time.sleep(QUIET_WINDOW_S)
        busy = [
            server.cpu_seconds() - before[name] > QUIET_CPU * QUIET_WINDOW_S
            for name, server in servers.items()
        ]
        if not any(busy):
            break
    return time.monotonic() - started


def section_fanout(args) -> str:
    duration = args.duration or (2.0 if args.quick else 6.0)
    sizes = [2, 10] if args.quick else [2, 10, 50, 200]
    runs_of = {2: 1, 10: 1} if args.quick else {2: 3, 10: 3, 50: 3, 200: 3}
    table: dict = {}
    systems = FANOUT_SYSTEMS
    # All servers run at once and the runs are interleaved (for each N and run: every
    # system in turn), so a slow spell of this shared machine hits every system alike.
    with contextlib.ExitStack() as stack:
        servers = {
            system: stack.enter_context(
                serve(system, env=FANOUT_TANDEM_ENV if system == "Tandem" else None)
            )
            for system in systems
        }
        for n in sizes:
            runs: dict = {system: [] for system in systems}
            for k in range(runs_of[n]):
                # Each run starts with another system, so none always follows the same one.
                for system in systems[k % len(systems) :] + systems[: k % len(systems)]:
                    waited = wait_until_quiet(servers)
                    print(
                        f"fan-out {system}: {n} clients, run {k + 1}/{runs_of[n]} "
                        f"(waited {waited:.1f} s for idle servers) ...",
                        flush=True,
                    )
                    doc = f"fanout-{n:03d}-{k}-{secrets.token_hex(2)}"
                    r = workloads.run_standard_fanout(
                        servers[system], doc, clients=n, duration=duration
                    )
                    print(
                        f"  p50 {r.latency_ms['p50']:.1f} p99 {r.latency_ms['p99']:.1f} ms "
                        f"drops {r.drops} server CPU {r.server_cpu * 100:.0f}% "
                        f"gen {gen_cpu(r)} other {r.foreign_cpu * 100:.0f}%",
                        flush=True,
                    )
                    runs[system].append(r)
            for system in systems:
                table[(system, n)] = Summary(runs[system])
    lat_rows, res_rows, raw_rows = [], [], []
    for n in sizes:
        t, h, p, x = (table[(s, n)] for s in systems)
        lat_rows.append(
            [
                n,
                f"{t.n}",
                f"{f(t.p50)} / {f(t.p99)} / {f(t.max)}",
                f"{f(h.p50)} / {f(h.p99)} / {f(h.max)}",
                f"{f(p.p50)} / {f(p.p99)} / {f(p.max)}",
                f"{f(x.p50)} / {f(x.p99)} / {f(x.max)}",
                f"{ratio(t.p50, h.p50)} / {ratio(t.p99, h.p99)}",
                ratio(t.p99, p.p99),
                f"{t.drops} / {h.drops} / {p.drops} / {x.drops}",
                f"{f(t.ack50)} / {f(t.ack99)}",
                f"{f(h.ack50)} / {f(h.ack99)}",
            ]
        )
        res_rows.append(
            [
                n,
                " / ".join(f"{y.cpu * 100:.0f}%" for y in (t, h, p, x)),
                " / ".join(f"{y.cpu_per_k * 1e3:.0f}" for y in (t, h, p, x)),
                ratio(t.cpu_per_k, h.cpu_per_k),
                f"{t.rss:.0f} / {h.rss:.0f} / {p.rss:.0f} / {x.rss:.0f}",
                " / ".join(y.gen for y in (t, h, p, x)),
                " / ".join(f"{y.gen_per_k * 1e3:.0f}" for y in (t, h, p, x)),
                " / ".join(f(y.lag99) for y in (t, h, p, x)),
                " / ".join(f"{y.foreign * 100:.0f}%" for y in (t, h, p, x)),
                "; ".join(
                    f"{s}: {', '.join(table[(s, n)].errors[:2])}"
                    for s in systems
                    if table[(s, n)].errors
                )
                or "–",
            ]
        )
        raw_rows.append(
            [
                n,
                f"{f(x.p50)} / {f(x.p99)}",
                f"{f(t.p50)} / {f(t.p99)}",
                f"{ratio(x.p50, t.p50)} / {ratio(x.p99, t.p99)}",
                f"{x.cpu_per_k * 1e3:.0f} / {t.cpu_per_k * 1e3:.0f}",
                ratio(x.cpu_per_k, t.cpu_per_k),
            ]
        )
    verdict, raw_verdict = [], []
    for n in sizes:
        t, h, x = table[("Tandem", n)], table[("Hocuspocus", n)], table[(RAW_RELAY, n)]
        ok = t.p99 <= h.p99 and t.p50 <= h.p50 and t.drops == 0
        verdict.append(
            f"N={n}: {'met' if ok else '**not met**'} (p50 {f(t.p50)} vs "
            f"{f(h.p50)}, p99 {f(t.p99)} vs {f(h.p99)} ms, drops {t.drops})"
        )
        score = min(x.p99 / t.p99 if t.p99 else 0, x.cpu_per_k / t.cpu_per_k if t.cpu_per_k else 0)
        raw_verdict.append(f"N={n}: {score:.2f} ({'met' if score >= 0.7 else '**not met**'})")
    return "\n".join(
        [
            "## 1. Fan-out: one document, N clients typing 5 single-character updates/s each",
            "",
            f"{duration:g} s of typing per run; cells are the **median over runs** "
            "(column *runs*); "
            "all four servers run side by side and the runs are interleaved (each N, each run: "
            "every system in turn, each run starting with the next system), so load from other "
            "users of the machine hits all alike; before each run the bench waits until every "
            f"server is idle (under {QUIET_CPU:.0%} of a core over {QUIET_WINDOW_S:g} s, at most "
            f"{QUIET_MAX_S:g} s), so no run shares the machine with another system's backlog. "
            "Tandem runs with `TANDEM_MAX_LOG_UPDATES=50000` (default 5,000 updates since the "
            "latest snapshot: at N = 200, 1,000 updates/s, a saturated generator can answer "
            "`snapshot_request` later than that allows). "
            "Latency is send → receipt at every other client on one clock (CLOCK_MONOTONIC), in "
            "ms, p50 / p99 / max. Tandem clients decrypt and apply every update (pycrdt); the "
            "peers' clients apply every update (pycrdt). Drops = expected receipts missing 10 s "
            "after typing stopped (max over runs). Tandem ack = durable (SQLite WAL, "
            "synchronous=FULL); Hocuspocus ack = its `SyncStatus` reply (applied in memory, "
            "**not** durable: its SQLite write is debounced 2–10 s); pycrdt-websocket has no ack. "
            "N = 200: all 200 clients type, but only 20 *observer* clients parse what they "
            "receive (latency and drops are theirs); the other 180 drain their socket without "
            "parsing (a Python generator cannot parse 200 × 1,000 frames/s on this machine).",
            "",
            report.table(
                [
                    "N",
                    "runs",
                    "Tandem p50/p99/max",
                    "Hocuspocus p50/p99/max",
                    "pycrdt-ws p50/p99/max",
                    "raw relay p50/p99/max",
                    "Tandem/Hocuspocus p50 / p99",
                    "p99 Tandem/pycrdt",
                    "drops T/H/P/R",
                    "Tandem ack p50/p99",
                    "Hocuspocus SyncStatus p50/p99",
                ],
                lat_rows,
            ),
            "",
            "Resources (median over runs), columns T / H / P / R = Tandem / Hocuspocus / "
            "pycrdt-websocket / raw relay: server CPU (100 % = one core) while typing; server "
            "**CPU ms per 1,000 delivered messages** (server CPU time over the window ÷ the "
            "receipts expected at all receivers × 1,000); server RSS at the end (MiB); "
            "load-generator CPU per process and per 1,000 delivered messages (ms; all generator "
            "processes together); send lag p99 (ms; how late the generator sent against its "
            "schedule); and the CPU used on the machine by processes that are neither the server "
            "nor the generators (other users' jobs: noise).",
            "",
            report.table(
                [
                    "N",
                    "server CPU T/H/P/R",
                    "server CPU ms per 1,000 delivered T/H/P/R",
                    "CPU per delivered Tandem/Hocuspocus",
                    "RSS MiB T/H/P/R",
                    "generator CPU T / H / P / R",
                    "generator CPU ms per 1,000 delivered T/H/P/R",
                    "send lag p99 T/H/P/R",
                    "other processes' CPU T/H/P/R",
                    "errors",
                ],
                res_rows,
            ),
            "",
            "Raw relay: `bench/peers/raw_relay/server.py`, a `websockets` server that writes "
            "every frame verbatim to the room's other connections (no parsing, storage, "
            "authentication or encryption), driven by the same generator (y-websocket client). "
            "It is the limit of a Python WebSocket broadcast on this machine. *raw / Tandem*: "
            "higher is better, 1.0 = as fast as the raw relay.",
            "",
            report.table(
                [
                    "N",
                    "raw relay p50/p99 ms",
                    "Tandem p50/p99 ms",
                    "latency raw/Tandem p50 / p99",
                    "CPU ms per 1,000 delivered raw / Tandem",
                    "CPU raw/Tandem",
                ],
                raw_rows,
            ),
            "",
            "Goal *Tandem p50 and p99 ≤ Hocuspocus's, drops 0, at every N*: "
            + "; ".join(verdict)
            + ".",
            "",
            "Goal *Tandem ≥ 0.7× the raw relay* (the lower of p99 raw/Tandem and CPU per "
            "delivered message raw/Tandem): " + "; ".join(raw_verdict) + ".",
        ]
    )


# --- 2. many documents -------------------------------------------------------------------------
def section_docs(args) -> str:
    docs = 200 if args.quick else 1000
    typing_docs = 10
    rate = 2.0
    duration = args.duration or (5.0 if args.quick else 8.0)
    rows = []
    for system in SYSTEMS:
        with serve(system) as server:
            ids = [f"many-{i:04d}" for i in range(docs)]
            t0 = time.monotonic()
            asyncio.run(workloads.prepare_documents(server, ids))
            prep = time.monotonic() - t0
            time.sleep(0.5)
            base = server.memory_kib()["VmRSS"]
            specs = []
            for i, d in enumerate(ids):
                for j in range(3):
                    cid = f"m{i:04d}-{j}-{secrets.token_hex(3)}"
                    specs.append(
                        {
                            "id": cid,
                            "token": server.token(f"u{i}-{j}"),
                            "doc": d,
                            "typing": i < typing_docs,
                            "observer": True,
                            "url": server.ws_url,
                        }
                    )
            print(
                f"many documents {system}: {docs} × 3 clients, {typing_docs} documents typing ...",
                flush=True,
            )
            t0 = time.monotonic()
            r = workloads.run_clients(
                [server],
                specs,
                workers=3,
                rate_per_client=rate,
                duration=duration,
                group_by_doc=True,
                ready_timeout=600,
            )
            conns = len(specs)
            per_conn = (r.rss_mib * 1024 - base) / conns
            print(
                f"  p99 {r.latency_ms['p99']:.1f} ms, RSS {r.rss_mib:.0f} MiB "
                f"({per_conn:.1f} KiB/conn), CPU {r.server_cpu * 100:.0f}%",
                flush=True,
            )
            rows.append((system, r, base / 1024, per_conn, prep))
    t = rows[0]
    out_rows = [
        [
            s,
            len(r.sends) if isinstance(r.sends, dict) else r.sends,
            f"{r.received}/{r.expected}",
            f(r.latency_ms["p50"]),
            f(r.latency_ms["p99"]),
            f(r.latency_ms["max"]),
            f"{r.server_cpu * 100:.0f}%",
            f"{base:.0f}",
            f"{r.rss_mib:.0f}",
            f"{pc:.1f}",
            ratio(t[3], pc) if s != "Tandem" else "–",
            ratio(t[1].server_cpu, r.server_cpu) if s != "Tandem" else "–",
            gen_cpu(r),
            f"{prep:.0f}",
            "; ".join(r.errors[:2]) or "–",
        ]
        for s, r, base, pc, prep in rows
    ]
    return "\n".join(
        [
            f"## 2. Many documents: {docs:,} documents × 3 clients, {typing_docs} documents typing",
            "",
            f"{docs * 3:,} connections; on {typing_docs} documents all 3 clients type "
            f"{rate:g} updates/s each ({typing_docs * 3 * rate:g} updates/s in all), the rest "
            f"are connected and idle; {duration:g} s window, one run. RSS per connection = "
            "(server RSS at the end − RSS before the clients connected, documents already "
            "created) ÷ connections. Latency at the other clients of the typing documents.",
            "",
            report.table(
                [
                    "server",
                    "updates",
                    "receipts/expected",
                    "p50 ms",
                    "p99 ms",
                    "max ms",
                    "server CPU",
                    "RSS before MiB",
                    "RSS after MiB",
                    "KiB/connection",
                    "KiB/conn Tandem/peer",
                    "CPU Tandem/peer",
                    "generator CPU",
                    "set-up s (create docs)",
                    "errors",
                ],
                out_rows,
            ),
        ]
    )


# --- 3. join -----------------------------------------------------------------------------------
def section_join(args) -> str:
    sizes = [1000] if args.quick else [1000, 10000, 100000]
    reps = 3 if args.quick else 5
    res = {}
    for system in SYSTEMS:
        env = RAISED_LIMITS if system == "Tandem" else None
        with serve(system, env) as server:
            print(f"join {system}: history {sizes}, {reps} joins each ...", flush=True)
            if system == "Tandem":
                res[system] = asyncio.run(workloads.run_join(server, sizes, reps))
            else:
                res[system] = asyncio.run(workloads.run_join_y(server, sizes, reps))
            for r in res[system]:
                print(f"  {r.history}: total p50 {r.total_ms['p50']:.1f} ms", flush=True)
    rows = []
    for i, size in enumerate(sizes):
        t, h, p = (res[s][i] for s in SYSTEMS)
        rows.append(
            [
                size,
                f"{f(t.total_ms['p50'])} / {f(t.total_ms['max'])}",
                f"{f(h.total_ms['p50'])} / {f(h.total_ms['max'])}",
                f"{f(p.total_ms['p50'])} / {f(p.total_ms['max'])}",
                ratio(t.total_ms["p50"], h.total_ms["p50"]),
                ratio(t.total_ms["p50"], p.total_ms["p50"]),
                f"{t.bytes_in / 1024:.0f} / {h.bytes_in / 1024:.0f} / {p.bytes_in / 1024:.0f}",
                f"{f(t.synced_ms['p50'])} + {f(t.apply_ms['p50'])}",
                f"{t.snapshot_seq} + {t.tail_updates}",
                f"{t.write_rate:.0f} / {h.write_rate:.0f} / {p.write_rate:.0f}",
                " / ".join("yes" if x.converged else "**NO**" for x in (t, h, p)),
            ]
        )
    big = res["Tandem"][-1]
    goal = (
        f"Goal *join of a {big.history:,}-update history < 200 ms*: "
        f"{'met' if big.total_ms['max'] < 200 else '**not met**'} "
        f"(p50 {f(big.total_ms['p50'])} ms, max {f(big.total_ms['max'])} ms)."
    )
    return "\n".join(
        [
            "## 3. Join: a new client fully synced on a document with a long history",
            "",
            f"One writer types the history, one update per keystroke (2 % new paragraphs); then "
            f"{reps} fresh clients join one after the other (p50 / max over the {reps}). Time "
            "from the first frame sent on the open WebSocket to the document applied. Tandem: "
            "hello → `synced` (JWT check, PBKDF2 10 000 unwrap, snapshot + tail from SQLite) + "
            "decrypt and apply (the writer answers `snapshot_request`, default threshold 500); "
            "peers: sync step 1 → step 2 received + applied (the document is in the server's "
            "memory: the writer is still connected). Tandem's writer waits for durable acks; "
            "the peers' writer sends batches of 500 and waits until a watcher client has "
            "received each batch back from the server, then until a fresh client sees all of it.",
            "",
            report.table(
                [
                    "history (updates)",
                    "Tandem ms p50/max",
                    "Hocuspocus ms p50/max",
                    "pycrdt-ws ms p50/max",
                    "Tandem/Hocuspocus",
                    "Tandem/pycrdt",
                    "KiB received T/H/P",
                    "Tandem synced + apply p50 ms",
                    "Tandem snapshot seq + tail",
                    "history write rate/s T/H/P",
                    "content matches T/H/P",
                ],
                rows,
            ),
            "",
            goal,
        ]
    )


# --- 4. saturation -----------------------------------------------------------------------------
def section_saturation(args) -> str:
    duration = args.duration or (2.0 if args.quick else 6.0)
    steps = [400, 1600] if args.quick else [200, 400, 800, 1600, 2400, 3200, 4800, 6400, 9600]
    rows, sustained = [], {}
    for system in SYSTEMS:
        env = RAISED_LIMITS if system == "Tandem" else None
        with serve(system, env) as server:
            for rate in steps:
                print(f"saturation {system}: 4 clients, {rate} updates/s ...", flush=True)
                r = workloads.run_fanout(
                    server,
                    f"sat-{rate:05d}-{secrets.token_hex(2)}",
                    clients=4,
                    rate_per_client=rate / 4,
                    duration=duration,
                    workers=2,
                )
                acked_ok = (
                    system == "pycrdt-websocket" or r.acked >= 0.99 * r.offered_rate * duration
                )
                ok = (
                    r.latency_ms["p99"] <= P99_LIMIT_MS
                    and r.drops == 0
                    and not r.errors
                    and acked_ok
                )
                print(
                    f"  p99 {r.latency_ms['p99']:.1f} ms drops {r.drops} CPU "
                    f"{r.server_cpu * 100:.0f}% -> {'ok' if ok else 'saturated'}",
                    flush=True,
                )
                rows.append(
                    [
                        system,
                        rate,
                        f"{r.acked_rate:.0f}" if system != "pycrdt-websocket" else "–",
                        f"{r.received}/{r.expected}",
                        f(r.latency_ms["p50"]),
                        f(r.latency_ms["p99"]),
                        f(r.latency_ms["max"]),
                        f"{r.server_cpu * 100:.0f}%",
                        gen_cpu(r),
                        f(r.send_lag_ms["p99"]),
                        f"{r.foreign_cpu * 100:.0f}%",
                        "ok" if ok else "**saturated**",
                        "; ".join(r.errors[:2]) or "–",
                    ]
                )
                if not ok:
                    break
                sustained[system] = rate
    t, h = sustained.get("Tandem", 0), sustained.get("Hocuspocus", 0)
    summary = report.table(
        ["server", "sustained updates/s (one document)", "Tandem/peer"],
        [
            [s, sustained.get(s, 0), ratio(t, sustained.get(s, 0)) if s != "Tandem" else "–"]
            for s in SYSTEMS
        ],
    )
    return "\n".join(
        [
            "## 4. Saturation: one document, 4 clients, rising total update rate",
            "",
            f"Open loop, {duration:g} s per step, one run per step. A step passes with fan-out "
            f"p99 ≤ {P99_LIMIT_MS:g} ms, no drops, no errors and (Tandem: durable acks, "
            "Hocuspocus: SyncStatus) ≥ 99 % of the offered updates acknowledged. Tandem runs "
            + ", ".join(f"`{k}={v}`" for k, v in RAISED_LIMITS.items())
            + " (its default 100 msg/s per connection would reject the higher steps); the peers "
            "have no rate limit. Watch generator CPU: load generator and server share 2 cores.",
            "",
            summary,
            "",
            report.table(
                [
                    "server",
                    "offered updates/s",
                    "acked/s",
                    "receipts/expected",
                    "p50 ms",
                    "p99 ms",
                    "max ms",
                    "server CPU",
                    "generator CPU",
                    "send lag p99 ms",
                    "other processes' CPU",
                    "verdict",
                    "errors",
                ],
                rows,
            ),
            "",
            f"Goal *sustained updates/s per document ≥ Hocuspocus's*: "
            f"{'met' if t >= h else '**not met**'} ({t} vs {h}).",
        ]
    )


# --- 5. idle connections -----------------------------------------------------------------------
def run_idle(server, driver: str, total: int, workers: int, per_doc: int = 100) -> dict:
    ctx = mp.get_context("spawn")
    docs = [f"idle-{i:04d}" for i in range(max(1, (total + per_doc - 1) // per_doc))]
    t0 = time.monotonic()
    asyncio.run(workloads.prepare_documents(server, docs))
    prep_s = time.monotonic() - t0
    time.sleep(0.5)
    base = server.memory_kib()["VmRSS"]
    specs = [
        {
            "id": f"idle-{i:06d}-{secrets.token_hex(3)}",
            "doc": docs[i // per_doc],
            "token": server.token(f"idle-{i}"),
        }
        for i in range(total)
    ]
    cfg0 = server.client_config(docs[0])
    procs, pipes = [], []
    t0 = time.monotonic()
    cpu0 = server.cpu_seconds()
    for w in range(workers):
        parent, child = ctx.Pipe()
        cfg = dict(cfg0, driver=driver, specs=specs[w::workers])
        proc = ctx.Process(target=workloads.idle_worker, args=(child, cfg), daemon=True)
        proc.start()
        procs.append(proc)
        pipes.append(parent)
    infos = []
    try:
        for pipe in pipes:
            if not pipe.poll(900):
                raise RuntimeError("idle generator not ready in 900 s")
            kind, info = pipe.recv()
            if kind != "ready":
                raise RuntimeError(f"idle generator failed: {info}")
            infos.append(info)
        setup_s = time.monotonic() - t0
        setup_cpu = server.cpu_seconds() - cpu0
        time.sleep(5.0)  # idle: what does holding them cost?
        c1 = server.cpu_seconds()
        time.sleep(5.0)
        idle_cpu = (server.cpu_seconds() - c1) / 5.0
        mem = server.memory_kib()
        for pipe in pipes:
            pipe.send("stop")
        for pipe in pipes:
            pipe.poll(60) and pipe.recv()
    finally:
        for proc in procs:
            proc.join(20)
            if proc.is_alive():
                proc.kill()
    opened = sum(i["open"] for i in infos)
    return {
        "requested": total,
        "open": opened,
        "failed": sum(i["failed"] for i in infos),
        "failures": [x for i in infos for x in i["failures"]][:3],
        "setup_s": setup_s,
        "rate": opened / setup_s if setup_s else 0,
        "setup_cpu": setup_cpu,
        "idle_cpu": idle_cpu,
        "base_mib": base / 1024,
        "rss_mib": mem["VmRSS"] / 1024,
        "per_conn_kib": (mem["VmRSS"] - base) / max(opened, 1),
        "prep_s": prep_s,
    }


def section_idle(args) -> str:
    total = 2000 if args.quick else 10000
    peers_total = 1000 if args.quick else 5000
    rows = []
    res = {}
    for system in SYSTEMS:
        n = total if system == "Tandem" else peers_total
        with serve(system) as server:
            driver = "tandem" if system == "Tandem" else server.driver
            print(f"idle connections {system}: {n} ...", flush=True)
            r = run_idle(server, driver, n, workers=4)
            res[system] = r
            print(
                f"  open {r['open']}/{n} in {r['setup_s']:.0f} s, {r['per_conn_kib']:.1f} KiB/conn",
                flush=True,
            )
            rows.append(
                [
                    system,
                    f"{r['open']:,}/{n:,}",
                    r["failed"],
                    f"{r['setup_s']:.1f}",
                    f"{r['rate']:.0f}",
                    f"{r['setup_cpu'] / max(r['open'], 1) * 1e3:.2f}",
                    f"{r['base_mib']:.0f}",
                    f"{r['rss_mib']:.0f}",
                    f"{r['per_conn_kib']:.1f}",
                    f"{r['per_conn_kib'] * 10000 / 1024:.0f}",
                    f"{r['idle_cpu'] * 100:.1f}%",
                    "; ".join(r["failures"]) or "–",
                ]
            )
    t = res["Tandem"]
    goal = (
        f"Goal *≥ 10,000 concurrent connections on one server process*: "
        f"{'met' if t['open'] >= 10000 else '**not met**'} ({t['open']:,} open, "
        f"{t['per_conn_kib']:.1f} KiB of server RSS each)."
    )
    return "\n".join(
        [
            "## 5. Concurrent idle connections on one server process",
            "",
            f"{total:,} Tandem connections (the peers: {peers_total:,}, to bound the run), 100 "
            "per document (Tandem's default cap is 250), opened by 4 generator processes "
            "(50 concurrent handshakes each) and held idle 10 s. Each is a complete client: "
            "Tandem: hello with a fresh ES256 JWT → welcome → `synced`; peers: sync step 1 → "
            "step 2. `ulimit -n` is raised by `bench/run`. Per connection = (RSS after − RSS "
            "before) ÷ open connections; the 10k column extrapolates it linearly.",
            "",
            report.table(
                [
                    "server",
                    "open/requested",
                    "failed",
                    "set-up s",
                    "connections/s",
                    "server CPU ms per connection set-up",
                    "RSS before MiB",
                    "RSS after MiB",
                    "KiB/connection",
                    "MiB for 10k (extrapolated)",
                    "server CPU while idle",
                    "failures",
                ],
                rows,
            ),
            "",
            goal,
        ]
    )


# --- 6. many nodes -----------------------------------------------------------------------------
def section_nodes(args) -> str:
    base_url = args.postgres
    duration = args.duration or (2.0 if args.quick else 8.0)
    n_clients = 30
    rows = []
    for nodes in (1, 2) if args.quick else (1, 2, 3):
        with (
            fresh_database(base_url) as url,
            serve("Tandem", database_url=url, nodes=nodes) as servers,
        ):
            print(f"nodes: {nodes} node(s), {n_clients} clients, 5 updates/s each ...", flush=True)
            r = workloads.run_fanout(
                servers[0],
                f"nodes-{nodes}",
                clients=n_clients,
                rate_per_client=5.0,
                duration=duration,
                workers=2,
                nodes=servers,
            )
            print(
                f"  same p99 {r.same_node_ms['p99']:.1f} other p99 "
                f"{r.other_node_ms['p99']:.1f} drops {r.drops}",
                flush=True,
            )
            rows.append(
                [
                    nodes,
                    n_clients,
                    f"{r.acked_rate:.0f}",
                    f"{r.received}/{r.expected}",
                    f"{f(r.same_node_ms['p50'])} / {f(r.same_node_ms['p99'])}",
                    f"{f(r.other_node_ms['p50'])} / {f(r.other_node_ms['p99'])}",
                    f"{f(r.ack_ms['p50'])} / {f(r.ack_ms['p99'])}",
                    " + ".join(f"{c * 100:.0f}%" for c in r.per_server_cpu),
                    gen_cpu(r),
                    f"{r.foreign_cpu * 100:.0f}%",
                    "; ".join(r.errors[:2]) or "–",
                ]
            )
    # SQLite vs PostgreSQL, one node, the same load: cost per update
    cost_rows = []
    n, rate = 4, 100.0
    for engine in ("SQLite", "PostgreSQL"):
        ctx = fresh_database(base_url) if engine == "PostgreSQL" else contextlib.nullcontext()
        with ctx as url, serve("Tandem", RAISED_LIMITS, database_url=url) as srv:
            server = srv[0] if isinstance(srv, list) else srv
            print(f"nodes: cost per update on {engine}: {n} clients × {rate:g}/s ...", flush=True)
            r = workloads.run_fanout(
                server,
                f"cost-{engine}",
                clients=n,
                rate_per_client=rate,
                duration=duration,
                workers=2,
            )
            cpu_per_k = r.server_cpu * duration / max(r.acked, 1) * 1000
            cost_rows.append(
                [
                    engine,
                    f"{r.acked_rate:.0f}",
                    f(r.ack_ms["p50"], 2),
                    f(r.ack_ms["p99"], 2),
                    f(r.latency_ms["p50"]),
                    f(r.latency_ms["p99"]),
                    f(r.storage_ms, 2),
                    f"{r.server_cpu * 100:.0f}%",
                    f"{cpu_per_k:.2f}",
                    "; ".join(r.errors[:2]) or "–",
                ]
            )
    return "\n".join(
        [
            "## 6. Many nodes: Tandem on PostgreSQL, 1–3 nodes",
            "",
            f"{n_clients} clients on one document, 5 updates/s each, spread round-robin over the "
            f"nodes (`tandem serve --database-url postgresql://…`, one fresh database per run, "
            f"dropped after); {duration:g} s, one run each. *Same node*: receivers connected "
            "to the sender's node; *other node*: relayed through PostgreSQL LISTEN/NOTIFY. "
            "Server CPU per node. All on this one 2-core machine (nodes, PostgreSQL and "
            "generators share it), so this shows the cost of the cluster path, not scale-out.",
            "",
            report.table(
                [
                    "nodes",
                    "clients",
                    "acked updates/s",
                    "receipts/expected",
                    "same node p50/p99 ms",
                    "other node p50/p99 ms",
                    "ack p50/p99 ms",
                    "server CPU per node",
                    "generator CPU",
                    "other processes' CPU (incl. PostgreSQL)",
                    "errors",
                ],
                rows,
            ),
            "",
            f"Cost of PostgreSQL vs SQLite per update: one node, {n} clients × {rate:g} "
            f"updates/s ({n * rate:g}/s), "
            + ", ".join(f"`{k}={v}`" for k, v in RAISED_LIMITS.items())
            + ".",
            "",
            report.table(
                [
                    "engine",
                    "acked/s",
                    "ack p50 ms",
                    "ack p99 ms",
                    "fan-out p50 ms",
                    "fan-out p99 ms",
                    "storage mean ms (/metrics)",
                    "server CPU",
                    "server CPU s per 1,000 updates",
                    "errors",
                ],
                cost_rows,
            ),
        ]
    )


# --- 7. closed-loop writers, both engines -------------------------------------------------------
def section_writers(args) -> str:
    base_url = args.postgres
    duration = args.duration or (3.0 if args.quick else 8.0)
    runs = 1 if args.quick else 5
    n_writers = 8
    setups = [("SQLite", 1), ("PostgreSQL", 1), ("PostgreSQL", 3)]
    if args.quick:
        setups = setups[:2]
    res: dict = {setup: [] for setup in setups}
    # Interleaved (each run: every setup in turn), so the drift of a shared machine
    # hits every setup alike; run in blocks, the ratio swung 0.71-0.88 in one hour.
    for k in range(runs):
        for engine, nodes in setups:
            ctx = fresh_database(base_url) if engine == "PostgreSQL" else contextlib.nullcontext()
            with ctx as url, serve("Tandem", RAISED_LIMITS, database_url=url, nodes=nodes) as srv:
                servers = srv if isinstance(srv, list) else [srv]
                print(
                    f"writers: {n_writers} closed-loop SDK writers, {engine}, {nodes} "
                    f"node(s), run {k + 1}/{runs} ...",
                    flush=True,
                )
                doc = f"writers-{secrets.token_hex(3)}"
                r = writers.run_writers(servers, doc, writers=n_writers, duration=duration)
                r.contiguous = asyncio.run(
                    writers.check_contiguous(url, servers[0].data_dir, servers[0].api_key, doc)
                )
                print(
                    f"  {r.rate:.0f} acked/s, flush p50 {r.flush_ms['p50']:.1f} p99 "
                    f"{r.flush_ms['p99']:.1f} ms, contiguous {r.contiguous}",
                    flush=True,
                )
                res[(engine, nodes)].append(r)
    rows = []
    sqlite_rate = med([r.rate for r in res[("SQLite", 1)]])
    for (engine, nodes), results in res.items():
        mid = sorted(results, key=lambda r: r.rate)[len(results) // 2]
        rate = med([r.rate for r in results])
        rows.append(
            [
                engine,
                nodes,
                len(results),
                f"{rate:.0f}",
                ratio(rate, sqlite_rate) if engine != "SQLite" else "–",
                f"{f(med([r.flush_ms['p50'] for r in results]))} / "
                f"{f(med([r.flush_ms['p99'] for r in results]))}",
                " + ".join(f"{c * 100:.0f}%" for c in mid.server_cpu),
                " + ".join(f"{c * 100:.0f}%" for c in mid.generator_cpu),
                f"{mid.foreign_cpu * 100:.0f}%",
                "yes" if all(r.contiguous for r in results) else "**NO**",
                "; ".join(sorted({e for r in results for e in r.errors})[:2]) or "–",
            ]
        )
    pg1 = med([r.rate for r in res[("PostgreSQL", 1)]])
    goal = [
        f"PostgreSQL (1 node) / SQLite = {ratio(pg1, sqlite_rate)} "
        f"({'met' if pg1 >= 0.8 * sqlite_rate else '**not met**'}, goal ≥ 0.8)"
    ]
    if runs > 1:
        paired = [
            p.rate / s.rate if s.rate else 0.0
            for s, p in zip(res[("SQLite", 1)], res[("PostgreSQL", 1)], strict=True)
        ]
        goal.append(
            "PostgreSQL / SQLite run by run (one run's setups back to back): "
            + ", ".join(f"{x:.2f}" for x in paired)
        )
    if ("PostgreSQL", 3) in res:
        pg3 = med([r.rate for r in res[("PostgreSQL", 3)]])
        goal.append(
            f"3 nodes / 1 node = {ratio(pg3, pg1)} "
            f"({'met' if pg3 >= pg1 else '**not met**'}, goal ≥ 1.0)"
        )
    return "\n".join(
        [
            f"## 7. Closed-loop writers: {n_writers} SDK clients on one document, both engines",
            "",
            f"{n_writers} `tandem.client.DocumentClient` writers (2 generator processes), each in "
            "a loop *insert a paragraph at the top, `await flush()`* (the next edit waits for "
            f"the durable ack of the previous one); {duration:g} s per run, {runs} run(s) "
            "interleaved (each run: every setup in turn), median. With several nodes the "
            "writers go round-robin over them (one PostgreSQL database). "
            "*Contiguous*: after the run, the stored log holds every seq from the snapshot to "
            "the head exactly once. Tandem runs "
            + ", ".join(f"`{k}={v}`" for k, v in RAISED_LIMITS.items())
            + ".",
            "",
            report.table(
                [
                    "engine",
                    "nodes",
                    "runs",
                    "acked updates/s",
                    "vs SQLite",
                    "flush p50 / p99 ms",
                    "server CPU per node",
                    "generator CPU",
                    "other processes' CPU (incl. PostgreSQL)",
                    "contiguous",
                    "errors",
                ],
                rows,
            ),
            "",
            "Goals: " + "; ".join(goal) + ".",
        ]
    )


SECTIONS = {
    "fanout": section_fanout,
    "docs": section_docs,
    "join": section_join,
    "saturation": section_saturation,
    "idle": section_idle,
    "nodes": section_nodes,
    "writers": section_writers,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke mode (< 2 min)")
    parser.add_argument("--only", choices=list(SECTIONS), action="append")
    parser.add_argument("--out", default=str(Path(__file__).parent / "RESULTS.md"))
    parser.add_argument("--duration", type=float, help="override the per-run duration (s)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server (without database) for the nodes section",
    )
    parser.add_argument(
        "--tandem-src",
        help="run the Tandem servers from this src/ "
        "directory (a baseline checkout, e.g. `git archive main`); the "
        "clients and the report stay this checkout's",
    )
    args = parser.parse_args(argv)
    if args.tandem_src:
        global TANDEM_SRC
        TANDEM_SRC = str(Path(args.tandem_src).resolve())
    command = "bench/run " + shlex.join(sys.argv[1:] if argv is None else argv)
    sections = args.only or (
        ["fanout", "saturation", "join", "nodes", "writers"] if args.quick else list(SECTIONS)
    )
    started = time.monotonic()
    texts = []
    for name in sections:
        t0 = time.monotonic()
        try:
            texts.append(SECTIONS[name](args))
        except Exception as exc:  # keep the other sections' results
            import traceback

            traceback.print_exc()
            texts.append(f"## {name}\n\n**failed**: `{exc!r}`")
        print(f"[{name}: {time.monotonic() - t0:.0f} s]", flush=True)
    elapsed = time.monotonic() - started
    info = report.machine()
    peer_versions = ypeers.versions()
    doc = (
        "\n\n".join(
            [
                "# Tandem side by side: Hocuspocus, pycrdt-websocket, and many nodes",
                report.machine_section(info, command.strip()),
                "- Peers: "
                + ", ".join(f"{k} {v}" for k, v in peer_versions.items())
                + " (installed by `bench/setup-peers`); Hocuspocus persists with "
                "@hocuspocus/extension-sqlite (full document state, debounced 2–10 s), "
                "pycrdt-websocket with `SQLiteYStore` (every update, written after the broadcast)",
                f"- Mode: {'quick' if args.quick else 'full'}; sections: {', '.join(sections)}; "
                f"wall time {elapsed:.0f} s; `ulimit -n` {os.environ.get('BENCH_NOFILE', '?')}"
                + (f"; **Tandem server from `{TANDEM_SRC}`** (baseline)" if TANDEM_SRC else ""),
                *texts,
            ]
        )
        + "\n"
    )
    Path(args.out).write_text(doc)
    print(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
