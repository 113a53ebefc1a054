"""Collaboration workloads: typing fan-out (and saturation), and late join.

Load generation runs in separate processes (``multiprocessing`` spawn) so the
server, the generators and the coordinator are different processes; every time
stamp is ``time.monotonic_ns()`` (CLOCK_MONOTONIC: one clock for the machine).
Send times live in a side table keyed by the update key (client id, counter),
never inside the ciphertext.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import random
import time
from dataclasses import dataclass, field

import pycrdt
import report
from pycrdt import XmlElement, XmlText
from tandem_driver import (
    BENCH_ITERATIONS,
    BENCH_KEY,
    TandemClient,
    TandemServer,
    create_document,
    now_ns,
)

GRACE_S = 10.0  # after typing stops: how long receipts may still arrive before they are drops


# --- the typing model -------------------------------------------------------------------
class Typist:
    """A human typing in their own paragraph: one character per transaction at a caret
    that is anywhere in the paragraph, one keystroke in ten bold. Plaintext updates are
    24-67 bytes (mean ~35), as pycrdt/Yjs encodes them."""

    ALPHABET = "etaoin shrdlu cmfwyp vbgkqjxz"

    def __init__(self, fragment: pycrdt.XmlFragment, seed: int) -> None:
        self.fragment = fragment
        self.rng = random.Random(seed)
        self.text: XmlText | None = None

    def new_paragraph(self, initial: str = "") -> None:
        para = self.fragment.children.append(XmlElement("p", {}, [XmlText(initial)]))
        self.text = para.children[0]

    def keystroke(self) -> None:
        assert self.text is not None
        length = len(self.text)
        pos = self.rng.randint(0, length) if length else 0
        char = self.rng.choice(self.ALPHABET)
        if self.rng.random() < 0.1:
            self.text.insert(pos, char, {"bold": True})
        else:
            self.text.insert(pos, char)


# --- fan-out: the load-generator process ----------------------------------------------------
def fanout_worker(conn, cfg: dict) -> None:
    """Entry point of one load-generator process (multiprocessing spawn)."""
    try:
        asyncio.run(_fanout_worker(conn, cfg))
    except BaseException as exc:  # report, never hang the coordinator
        conn.send(("error", repr(exc)))
        raise


async def _fanout_worker(conn, cfg: dict) -> None:
    sends: dict = {}
    acks: dict = {}
    receipts: list = []
    recording = False

    def receipt_cb(receiver: str):
        def on_update(key, t):
            if recording:
                receipts.append((receiver, key, t))
        return on_update

    def on_ack(key, t):
        if recording:
            acks[key] = t

    clients: list[TandemClient] = []
    for client_id, token in cfg["clients"]:
        client = TandemClient(cfg["url"], cfg["api_key"], cfg["document_id"], token,
                              client_id=client_id, on_ack=on_ack)
        client.on_update = receipt_cb(client_id)
        clients.append(client)
    sem = asyncio.Semaphore(10)

    async def connect(client: TandemClient) -> None:
        async with sem:
            await client.connect()

    await asyncio.gather(*(connect(c) for c in clients))
    # Warm-up: each client creates its own paragraph (not measured).
    typists = []
    for i, client in enumerate(clients):
        typist = Typist(client.fragment, seed=1000 + i)
        typist.new_paragraph("hello from " + client.client_id[:6] + " ")
        typists.append(typist)
        for update in client.take_local_updates():
            await client.send_update(update)
    conn.send(("ready", len(clients)))
    command, start_ns, duration_s = await asyncio.to_thread(conn.recv)
    assert command == "start"
    recording = True
    end_ns = start_ns + int(duration_s * 1e9)
    period_ns = int(1e9 / cfg["rate_per_client"])
    lags: list[int] = []
    plain_sizes: list[int] = []
    cipher_sizes: list[int] = []
    rng = random.Random(os.getpid())

    async def type_loop(client: TandemClient, typist: Typist) -> None:
        phase = rng.randrange(period_ns)
        k = 0
        while True:
            due = start_ns + phase + k * period_ns
            if due >= end_ns:
                return
            delay = due - now_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            if client.closed.is_set():
                return
            typist.keystroke()
            for update in client.take_local_updates():
                key, t = await client.send_update(update)
                sends[key] = t
                lags.append(t - due)
                plain_sizes.append(len(update))
                cipher_sizes.append(len(update) + 28)
            k += 1

    while now_ns() < start_ns:
        await asyncio.sleep(max(0.0, (start_ns - now_ns()) / 1e9))
    cpu0 = os.times()
    await asyncio.gather(*(type_loop(c, t) for c, t in zip(clients, typists, strict=True)))
    cpu1 = os.times()
    typing_wall = (now_ns() - start_ns) / 1e9
    # Grace: wait for our acks and for receipts to stop arriving (bounded).
    deadline = now_ns() + int(GRACE_S * 1e9)
    quiet_since, last_count = now_ns(), -1
    while now_ns() < deadline:
        count = len(receipts) + len(acks)
        if count != last_count:
            last_count, quiet_since = count, now_ns()
        if len(acks) >= len(sends) and now_ns() - quiet_since > 1.0e9:
            break
        await asyncio.sleep(0.1)
    result = {
        "sends": sends, "acks": acks, "receipts": receipts, "lags": lags,
        "plain_sizes": plain_sizes, "cipher_sizes": cipher_sizes,
        "cpu_typing": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
        "typing_wall": typing_wall,
        "errors": [c.error for c in clients if c.error],
        "snapshots_sent": sum(c.snapshots_sent for c in clients),
        "pid": os.getpid(),
    }
    for client in clients:
        await client.close()
    conn.send(("result", result))


# --- fan-out: the coordinator side ---------------------------------------------------------
@dataclass
class FanoutResult:
    clients: int
    workers: int
    rate_per_client: float
    duration: float
    sends: int = 0
    acked: int = 0
    expected: int = 0
    received: int = 0
    latency_ms: dict = field(default_factory=dict)
    ack_ms: dict = field(default_factory=dict)
    send_lag_ms: dict = field(default_factory=dict)
    plain_bytes: float = 0.0
    cipher_bytes: float = 0.0
    server_cpu: float = 0.0  # fraction of one core while typing
    generator_cpu: list = field(default_factory=list)  # fraction of one core, per process
    rss_mib: float = 0.0
    hwm_mib: float = 0.0
    storage_ms: float = 0.0
    errors: list = field(default_factory=list)
    snapshots: int = 0

    @property
    def drops(self) -> int:
        return self.expected - self.received

    @property
    def offered_rate(self) -> float:
        return self.clients * self.rate_per_client

    @property
    def acked_rate(self) -> float:
        return self.acked / self.duration


def run_fanout(server: TandemServer, document_id: str, *, clients: int, rate_per_client: float,
               duration: float, workers: int) -> FanoutResult:
    """N clients on one document, each typing at ``rate_per_client`` updates/s."""
    asyncio.run(create_document(server, document_id))
    ctx = mp.get_context("spawn")
    ids = [f"bench-{document_id[-6:]}-{i:03d}" for i in range(clients)]
    groups = [ids[w::workers] for w in range(workers)]
    procs, pipes = [], []
    base = server.client_config(document_id)
    for group in groups:
        parent, child = ctx.Pipe()
        cfg = dict(base, rate_per_client=rate_per_client,
                   clients=[(cid, server.token(f"user-{cid[-3:]}")) for cid in group])
        proc = ctx.Process(target=fanout_worker, args=(child, cfg), daemon=True)
        proc.start()
        procs.append(proc)
        pipes.append(parent)
    for pipe in pipes:
        if not pipe.poll(120):
            raise RuntimeError("a load generator did not get ready in 120 s")
        kind, info = pipe.recv()
        if kind != "ready":
            raise RuntimeError(f"load generator failed: {info}")
    time.sleep(1.0)  # let warm-up paragraphs settle
    metrics0 = server.metrics()
    start_ns = now_ns() + int(0.5e9)
    for pipe in pipes:
        pipe.send(("start", start_ns, duration))
    time.sleep(max(0.0, (start_ns - now_ns()) / 1e9))
    cpu0 = server.cpu_seconds()
    time.sleep(duration)
    cpu1 = server.cpu_seconds()
    memory = server.memory_kib()
    results = []
    for pipe in pipes:
        if not pipe.poll(duration + GRACE_S + 60):
            raise RuntimeError("a load generator did not report")
        kind, info = pipe.recv()
        if kind != "result":
            raise RuntimeError(f"load generator failed: {info}")
        results.append(info)
    for proc in procs:
        proc.join(10)
    metrics1 = server.metrics()
    return _merge(results, clients=clients, workers=workers, rate_per_client=rate_per_client,
                  duration=duration, server_cpu=(cpu1 - cpu0) / duration, memory=memory,
                  metrics=(metrics0, metrics1))


def _merge(results: list[dict], *, clients: int, workers: int, rate_per_client: float,
           duration: float, server_cpu: float, memory: dict, metrics) -> FanoutResult:
    sends: dict = {}
    acks: dict = {}
    for r in results:
        sends.update(r["sends"])
        acks.update(r["acks"])
    latencies = []
    seen = set()
    for r in results:
        for receiver, key, t in r["receipts"]:
            sent = sends.get(key)
            if sent is None or receiver == key[0] or (receiver, key) in seen:
                continue
            seen.add((receiver, key))
            latencies.append((t - sent) / 1e6)
    ack_lat = [(acks[k] - sends[k]) / 1e6 for k in acks if k in sends]
    lags = [x / 1e6 for r in results for x in r["lags"]]
    plain = [x for r in results for x in r["plain_sizes"]]
    cipher = [x for r in results for x in r["cipher_sizes"]]
    m0, m1 = metrics
    count, total = "tandem_storage_seconds_count", "tandem_storage_seconds_sum"
    n_storage = m1.get(count, 0) - m0.get(count, 0)
    s_storage = m1.get(total, 0) - m0.get(total, 0)
    server_errors = {k: v - m0.get(k, 0) for k, v in m1.items()
                     if k.startswith("tandem_errors_total") and v - m0.get(k, 0)}
    return FanoutResult(
        clients=clients, workers=workers, rate_per_client=rate_per_client, duration=duration,
        sends=len(sends), acked=sum(1 for k in acks if k in sends),
        expected=len(sends) * (clients - 1), received=len(latencies),
        latency_ms=report.summary(latencies), ack_ms=report.summary(ack_lat),
        send_lag_ms=report.summary(lags),
        plain_bytes=sum(plain) / len(plain) if plain else 0,
        cipher_bytes=sum(cipher) / len(cipher) if cipher else 0,
        server_cpu=server_cpu,
        generator_cpu=[r["cpu_typing"] / max(r["typing_wall"], 1e-9) for r in results],
        rss_mib=memory.get("VmRSS", 0) / 1024, hwm_mib=memory.get("VmHWM", 0) / 1024,
        storage_ms=(s_storage / n_storage * 1e3) if n_storage else 0.0,
        errors=[e for r in results for e in r["errors"]] + [
            f"server {k}: {int(v)}" for k, v in server_errors.items()],
        snapshots=sum(r["snapshots_sent"] for r in results),
    )


# --- join -------------------------------------------------------------------------------------
@dataclass
class JoinResult:
    history: int
    snapshot_seq: int
    tail_updates: int
    bytes_in: int
    doc_chars: int
    welcome_ms: dict = field(default_factory=dict)
    synced_ms: dict = field(default_factory=dict)
    apply_ms: dict = field(default_factory=dict)
    total_ms: dict = field(default_factory=dict)
    sdk_ms: float = 0.0
    write_rate: float = 0.0
    converged: bool = True


async def _write_history(writer, typist: Typist, count: int) -> float:
    """Type ``count`` keystrokes through the real SDK (one update each), in batches."""
    started = time.perf_counter()
    done = 0
    while done < count:  # one update per step: a keystroke, or (2 %) a new paragraph
        batch = min(500, count - done)
        for _ in range(batch):
            if typist.rng.random() < 0.02:
                typist.new_paragraph()
            else:
                typist.keystroke()
        done += batch
        await writer.flush(timeout=120)
    return count / (time.perf_counter() - started)


async def run_join(server: TandemServer, sizes: list[int], reps: int) -> list[JoinResult]:
    from tandem.client import DocumentClient
    from tandem.crypto import clear_key_cache

    document_id = "join-doc"
    writer = DocumentClient(
        server.http_url, api_key=server.api_key, document_id=document_id,
        token_provider=lambda _a: {"token": server.token("writer")},
        encryption_provider=lambda _a: {"key": BENCH_KEY, "keyHint": "bench"},
        initial_content="<p>start</p>", iterations=BENCH_ITERATIONS, reconnect=False,
    )
    await writer.start()
    await writer.wait_synced()
    typist = Typist(writer.fragment, seed=7)
    typist.new_paragraph()
    await writer.flush()
    written = 1
    out = []
    try:
        for size in sizes:
            rate = await _write_history(writer, typist, size - written)
            written = size
            await asyncio.sleep(1.0)  # let the last snapshot land
            expected = str(writer.fragment)
            rows = []
            for rep in range(reps):
                clear_key_cache()  # a fresh browser derives the key: include PBKDF2
                joiner = TandemClient(server.ws_url, server.api_key, document_id,
                                      server.token(f"joiner-{rep}"), answer_snapshots=False)
                await joiner.connect(buffer_sync=True, timeout=300)
                t_synced = joiner.t_synced
                frames = list(joiner.buffered or [])
                t0 = now_ns()
                joiner.apply_buffered()
                t_applied = now_ns()
                snap = [f for f in frames if f["type"] == "snapshot"]
                rows.append({
                    "welcome": (joiner.t_welcome - joiner.t_hello) / 1e6,
                    "synced": (t_synced - joiner.t_hello) / 1e6,
                    "apply": (t_applied - t0) / 1e6,
                    "total": (t_synced - joiner.t_hello + t_applied - t0) / 1e6,
                    "snapshot_seq": snap[0]["seq"] if snap else 0,
                    "tail": sum(1 for f in frames if f["type"] == "update"),
                    "bytes": joiner.bytes_in,
                    "converged": str(joiner.fragment) == expected,
                    "chars": len(expected),
                })
                await joiner.close()
            clear_key_cache()
            t0 = time.perf_counter()
            sdk = DocumentClient(
                server.http_url, api_key=server.api_key, document_id=document_id,
                token_provider=lambda _a: {"token": server.token("sdk-joiner")},
                encryption_provider=lambda _a: {"key": BENCH_KEY, "keyHint": "bench"},
                reconnect=False, create=False)
            async with sdk:
                sdk_ms = (time.perf_counter() - t0) * 1e3
                sdk_ok = str(sdk.fragment) == expected
            first = rows[0]
            out.append(JoinResult(
                history=size, snapshot_seq=first["snapshot_seq"], tail_updates=first["tail"],
                bytes_in=first["bytes"], doc_chars=first["chars"],
                welcome_ms=report.summary([r["welcome"] for r in rows]),
                synced_ms=report.summary([r["synced"] for r in rows]),
                apply_ms=report.summary([r["apply"] for r in rows]),
                total_ms=report.summary([r["total"] for r in rows]),
                sdk_ms=sdk_ms, write_rate=rate,
                converged=all(r["converged"] for r in rows) and sdk_ok,
            ))
    finally:
        await writer.close()
    return out
