"""Collaboration workloads: typing fan-out (and saturation), and late join.

Load generation runs in separate processes (``multiprocessing`` spawn) so the
server, the generators and the coordinator are different processes; every time
stamp is ``time.monotonic_ns()`` (CLOCK_MONOTONIC: one clock for the machine).
Send times live in a side table keyed by the update key (client id, counter),
never inside the ciphertext.
"""

from __future__ import annotations

import asyncio
import contextlib
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
def generator_loop_factory():
    """The generators' event loop, the same for every system measured: uvloop when
    installed (its socket reads are in C: about a quarter of a generator's CPU on
    asyncio's own loop went to selector and transport code), else asyncio's;
    ``BENCH_GENERATOR_LOOP=asyncio`` forces asyncio's."""
    if os.environ.get("BENCH_GENERATOR_LOOP", "uvloop") != "asyncio":
        with contextlib.suppress(ImportError):
            import uvloop

            return uvloop.new_event_loop
    return asyncio.new_event_loop


def fanout_worker(conn, cfg: dict) -> None:
    """Entry point of one load-generator process (multiprocessing spawn)."""
    try:
        with asyncio.Runner(loop_factory=generator_loop_factory()) as runner:
            runner.run(_fanout_worker(conn, cfg))
    except BaseException as exc:  # report, never hang the coordinator
        conn.send(("error", repr(exc)))
        raise


def make_client(
    cfg: dict, client_id: str, token: str, document_id: str, *, apply_remote: bool = True
):
    """A TandemClient or a y-websocket YClient, by ``cfg["driver"]``."""
    driver = cfg.get("driver", "tandem")
    if driver == "tandem":
        return TandemClient(
            cfg["url"],
            cfg["api_key"],
            document_id,
            token,
            client_id=client_id,
            apply_remote=apply_remote,
        )
    import ypeers

    return ypeers.YClient(driver, cfg["url"], document_id, apply_remote=apply_remote)


def make_sink(client) -> None:
    import ypeers

    client.is_sink = True
    ypeers.sink(client.ws)


async def close_client(client) -> None:
    if getattr(client, "is_sink", False) and client.ws is not None:
        client.ws.transport.abort()
    await client.close()


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

    clients: list = []
    typing: list[bool] = []
    observer: list[bool] = []
    apply_remote = cfg.get("apply_remote", True)
    node_of: dict = {}
    for spec in cfg["clients"]:
        if not isinstance(spec, dict):
            spec = {"id": spec[0], "token": spec[1]}
        client = make_client(
            dict(cfg, url=spec.get("url", cfg["url"])),
            spec["id"],
            spec["token"],
            spec.get("doc", cfg.get("document_id")),
            apply_remote=apply_remote,
        )
        client.on_ack = on_ack
        client.on_update = receipt_cb(getattr(client, "key_id", spec["id"]))
        clients.append(client)
        typing.append(spec.get("typing", True))
        observer.append(spec.get("observer", True))
        node_of[getattr(client, "key_id", spec["id"])] = spec.get("node", 0)
    sem = asyncio.Semaphore(cfg.get("connect_concurrency", 10))

    async def connect(client) -> None:
        async with sem:
            await client.connect()

    await asyncio.gather(*(connect(c) for c in clients))
    # Warm-up: each typing client creates its own paragraph (not measured).
    typists = []
    for i, client in enumerate(clients):
        typist = Typist(client.fragment, seed=1000 + i)
        if typing[i]:
            typist.new_paragraph("hello from " + client.client_id[:6] + " ")
            for update in client.take_local_updates():
                await client.send_update(update)
        typists.append(typist)
    conn.send(("ready", len(clients)))
    command, start_ns, duration_s = await asyncio.to_thread(conn.recv)
    assert command == "start"
    for client, obs in zip(clients, observer, strict=True):
        if not obs:  # the many-client fan-out: drain without parsing (see ypeers.sink)
            make_sink(client)
    recording = True
    end_ns = start_ns + int(duration_s * 1e9)
    period_ns = int(1e9 / cfg["rate_per_client"])
    lags: list[int] = []
    plain_sizes: list[int] = []
    cipher_sizes: list[int] = []
    rng = random.Random(os.getpid())

    async def type_loop(client, typist: Typist) -> None:
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
    await asyncio.gather(
        *(type_loop(c, t) for c, t, on in zip(clients, typists, typing, strict=True) if on)
    )
    cpu1 = os.times()
    typing_wall = (now_ns() - start_ns) / 1e9
    # Grace: wait for our acks and for receipts to stop arriving (bounded).
    deadline = now_ns() + int(GRACE_S * 1e9)
    quiet_since, last_count = now_ns(), -1
    while now_ns() < deadline:
        count = len(receipts) + len(acks)
        if count != last_count:
            last_count, quiet_since = count, now_ns()
        if (
            len(acks) >= len(sends) or not cfg.get("acks", True)
        ) and now_ns() - quiet_since > 1.0e9:
            break
        await asyncio.sleep(0.1)
    result = {
        "sends": sends,
        "acks": acks,
        "receipts": receipts,
        "lags": lags,
        "plain_sizes": plain_sizes,
        "cipher_sizes": cipher_sizes,
        "cpu_typing": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
        "typing_wall": typing_wall,
        "errors": [c.error for c in clients if c.error],
        "snapshots_sent": sum(c.snapshots_sent for c in clients),
        "pid": os.getpid(),
        "observers": [
            getattr(c, "key_id", c.client_id) for c, o in zip(clients, observer, strict=True) if o
        ],
        "typists": [
            getattr(c, "key_id", c.client_id) for c, t in zip(clients, typing, strict=True) if t
        ],
        "doc_of": {getattr(c, "key_id", c.client_id): c.document_id for c in clients},
        "node_of": node_of,
    }
    await asyncio.gather(*(close_client(c) for c in clients))
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
    same_node_ms: dict = field(default_factory=dict)
    other_node_ms: dict = field(default_factory=dict)
    per_server_cpu: list = field(default_factory=list)
    observers: int = 0
    typists: int = 0
    machine_busy: float = 0.0  # cores busy on the whole machine while typing
    # Raw time stamps (CLOCK_MONOTONIC ns) for tools that line them up with the
    # server's (bench/trace_relay.py): update key -> send; (receiver, key, receipt).
    send_times: dict = field(default_factory=dict, repr=False)
    receipt_times: list = field(default_factory=list, repr=False)

    @property
    def server_cpu_per_k(self) -> float:
        """Server CPU seconds per 1,000 delivered messages (receipts expected at the
        receivers)."""
        return self.server_cpu * self.duration / max(self.expected, 1) * 1000

    @property
    def foreign_cpu(self) -> float:
        """Cores busy with processes other than the server(s) and the generators."""
        return max(
            0.0,
            self.machine_busy
            - sum(self.per_server_cpu or [self.server_cpu])
            - sum(self.generator_cpu),
        )

    @property
    def drops(self) -> int:
        return self.expected - self.received

    @property
    def offered_rate(self) -> float:
        return (self.typists or self.clients) * self.rate_per_client

    @property
    def acked_rate(self) -> float:
        return self.acked / self.duration


async def prepare_documents(server, document_ids: list[str], concurrency: int = 8) -> None:
    """Create each document's session (Tandem) or nothing (peers create on first use)."""
    if not isinstance(server, TandemServer):
        for document_id in document_ids:
            await server.prepare_document(document_id)
        return
    sem = asyncio.Semaphore(concurrency)

    async def one(document_id: str) -> None:
        async with sem:
            await create_document(server, document_id)

    await asyncio.gather(*(one(d) for d in document_ids))


def generator_layout(clients: int) -> tuple[int, int | None]:
    """Load-generator processes for a fan-out of ``clients`` and how many of the clients
    parse what they receive (None: all; above 50 only 20 observers do, see ``ypeers.sink``)."""
    workers = 1 if clients <= 10 else (2 if clients <= 50 else 3)
    return workers, (None if clients <= 50 else 20)


def run_standard_fanout(server, document_id: str, *, clients: int, duration: float):
    """The bench's fan-out: ``clients`` people typing 5 updates/s each on one document,
    with the generator layout of ``generator_layout``."""
    workers, observers = generator_layout(clients)
    return run_fanout(
        server,
        document_id,
        clients=clients,
        rate_per_client=5.0,
        duration=duration,
        workers=workers,
        observers=observers,
    )


def run_fanout(
    server,
    document_id: str,
    *,
    clients: int,
    rate_per_client: float,
    duration: float,
    workers: int,
    observers: int | None = None,
    apply_remote: bool = True,
    nodes: list | None = None,
) -> FanoutResult:
    """N clients on one document, each typing at ``rate_per_client`` updates/s.

    ``observers``: only that many clients parse what they receive (latency is measured
    there); the others drain their socket without parsing (``ypeers.sink``).
    ``nodes``: several servers sharing one database; clients go round-robin over them."""
    servers = nodes or [server]
    asyncio.run(prepare_documents(servers[0], [document_id]))
    ids = [f"bench-{document_id[-6:]}-{i:03d}" for i in range(clients)]
    n_obs = clients if observers is None else observers
    specs = [
        {
            "id": cid,
            "token": servers[0].token(f"user-{cid[-3:]}"),
            "doc": document_id,
            "typing": True,
            "observer": i < n_obs,
            "node": i % len(servers),
            "url": servers[i % len(servers)].ws_url,
        }
        for i, cid in enumerate(ids)
    ]
    return run_clients(
        servers,
        specs,
        workers=workers,
        rate_per_client=rate_per_client,
        duration=duration,
        apply_remote=apply_remote,
    )


def run_clients(
    servers: list,
    specs: list[dict],
    *,
    workers: int,
    rate_per_client: float,
    duration: float,
    apply_remote: bool = True,
    group_by_doc: bool = False,
    ready_timeout: float = 300,
) -> FanoutResult:
    server = servers[0]
    ctx = mp.get_context("spawn")
    if group_by_doc:  # keep a document's clients in one process (one key derivation)
        docs = sorted({s["doc"] for s in specs})
        slot = {d: i % workers for i, d in enumerate(docs)}
        groups = [[s for s in specs if slot[s["doc"]] == w] for w in range(workers)]
    else:
        groups = [specs[w::workers] for w in range(workers)]
    procs, pipes = [], []
    base = server.client_config(specs[0]["doc"])
    is_tandem = isinstance(server, TandemServer)
    for group in groups:
        parent, child = ctx.Pipe()
        cfg = dict(
            base,
            rate_per_client=rate_per_client,
            clients=group,
            apply_remote=apply_remote,
            acks=is_tandem or base.get("driver") == "hocuspocus",
        )
        proc = ctx.Process(target=fanout_worker, args=(child, cfg), daemon=True)
        proc.start()
        procs.append(proc)
        pipes.append(parent)
    try:
        for pipe in pipes:
            if not pipe.poll(ready_timeout):
                raise RuntimeError(f"a load generator did not get ready in {ready_timeout} s")
            kind, info = pipe.recv()
            if kind != "ready":
                raise RuntimeError(f"load generator failed: {info}")
        time.sleep(1.0)  # let warm-up paragraphs settle
        metrics0 = [s.metrics() for s in servers]
        start_ns = now_ns() + int(0.5e9)
        for pipe in pipes:
            pipe.send(("start", start_ns, duration))
        time.sleep(max(0.0, (start_ns - now_ns()) / 1e9))
        cpu0 = [s.cpu_seconds() for s in servers]
        busy0 = machine_busy_seconds()
        time.sleep(duration)
        cpu1 = [s.cpu_seconds() for s in servers]
        busy1 = machine_busy_seconds()
        memory = [s.memory_kib() for s in servers]
        results = []
        for pipe in pipes:
            if not pipe.poll(duration + GRACE_S + 120):
                raise RuntimeError("a load generator did not report")
            kind, info = pipe.recv()
            if kind != "result":
                raise RuntimeError(f"load generator failed: {info}")
            results.append(info)
    finally:
        for proc in procs:
            proc.join(15)
            if proc.is_alive():
                proc.kill()
    metrics1 = [s.metrics() for s in servers]
    mem = {k: sum(m.get(k, 0) for m in memory) for k in ("VmRSS", "VmHWM")}
    m0 = {k: sum(m.get(k, 0) for m in metrics0) for m in metrics0 for k in m}
    m1 = {k: sum(m.get(k, 0) for m in metrics1) for m in metrics1 for k in m}
    out = _merge(
        results,
        clients=len(specs),
        workers=workers,
        rate_per_client=rate_per_client,
        duration=duration,
        server_cpu=sum(b - a for a, b in zip(cpu0, cpu1, strict=True)) / duration,
        memory=mem,
        metrics=(m0, m1),
    )
    out.per_server_cpu = [(b - a) / duration for a, b in zip(cpu0, cpu1, strict=True)]
    out.typists = sum(1 for s in specs if s.get("typing", True))
    out.machine_busy = (busy1 - busy0) / duration
    return out


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores; /proc/stat), to show how
    much of it went to processes that are not this benchmark (other users' jobs)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _merge(
    results: list[dict],
    *,
    clients: int,
    workers: int,
    rate_per_client: float,
    duration: float,
    server_cpu: float,
    memory: dict,
    metrics,
) -> FanoutResult:
    sends: dict = {}
    acks: dict = {}
    doc_of: dict = {}
    node_of: dict = {}
    observers: list = []
    for r in results:
        sends.update(r["sends"])
        acks.update(r["acks"])
        doc_of.update(r["doc_of"])
        node_of.update(r["node_of"])
        observers += r["observers"]
    obs_per_doc: dict = {}
    for o in observers:
        obs_per_doc[doc_of[o]] = obs_per_doc.get(doc_of[o], 0) + 1
    expected = 0
    for key in sends:
        sender = key[0]
        expected += obs_per_doc.get(doc_of.get(sender), 0) - (1 if sender in observers else 0)
    latencies, same_node, other_node = [], [], []
    seen = set()
    for r in results:
        for receiver, key, t in r["receipts"]:
            sent = sends.get(key)
            if sent is None or receiver == key[0] or (receiver, key) in seen:
                continue
            seen.add((receiver, key))
            ms = (t - sent) / 1e6
            latencies.append(ms)
            (same_node if node_of.get(receiver) == node_of.get(key[0]) else other_node).append(ms)
    ack_lat = [(acks[k] - sends[k]) / 1e6 for k in acks if k in sends]
    lags = [x / 1e6 for r in results for x in r["lags"]]
    plain = [x for r in results for x in r["plain_sizes"]]
    cipher = [x for r in results for x in r["cipher_sizes"]]
    m0, m1 = metrics
    count, total = "tandem_storage_seconds_count", "tandem_storage_seconds_sum"
    n_storage = m1.get(count, 0) - m0.get(count, 0)
    s_storage = m1.get(total, 0) - m0.get(total, 0)
    server_errors = {
        k: v - m0.get(k, 0)
        for k, v in m1.items()
        if k.startswith("tandem_errors_total") and v - m0.get(k, 0)
    }
    out = FanoutResult(
        clients=clients,
        workers=workers,
        rate_per_client=rate_per_client,
        duration=duration,
        sends=len(sends),
        acked=sum(1 for k in acks if k in sends),
        expected=expected,
        received=len(latencies),
        latency_ms=report.summary(latencies),
        ack_ms=report.summary(ack_lat),
        send_lag_ms=report.summary(lags),
        plain_bytes=sum(plain) / len(plain) if plain else 0,
        cipher_bytes=sum(cipher) / len(cipher) if cipher else 0,
        server_cpu=server_cpu,
        generator_cpu=[r["cpu_typing"] / max(r["typing_wall"], 1e-9) for r in results],
        rss_mib=memory.get("VmRSS", 0) / 1024,
        hwm_mib=memory.get("VmHWM", 0) / 1024,
        storage_ms=(s_storage / n_storage * 1e3) if n_storage else 0.0,
        errors=[e for r in results for e in r["errors"]]
        + [f"server {k}: {int(v)}" for k, v in server_errors.items()],
        snapshots=sum(r["snapshots_sent"] for r in results),
    )
    out.send_times = sends
    out.receipt_times = [x for r in results for x in r["receipts"]]
    out.same_node_ms = report.summary(same_node)
    out.other_node_ms = report.summary(other_node)
    out.observers = len(observers)
    return out


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
        server.http_url,
        api_key=server.api_key,
        document_id=document_id,
        token_provider=lambda _a: {"token": server.token("writer")},
        encryption_provider=lambda _a: {"key": BENCH_KEY, "keyHint": "bench"},
        initial_content="<p>start</p>",
        iterations=BENCH_ITERATIONS,
        reconnect=False,
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
                joiner = TandemClient(
                    server.ws_url,
                    server.api_key,
                    document_id,
                    server.token(f"joiner-{rep}"),
                    answer_snapshots=False,
                )
                await joiner.connect(buffer_sync=True, timeout=300)
                t_synced = joiner.t_synced
                frames = list(joiner.buffered or [])
                t0 = now_ns()
                joiner.apply_buffered()
                t_applied = now_ns()
                snap = [f for f in frames if f["type"] == "snapshot"]
                rows.append(
                    {
                        "welcome": (joiner.t_welcome - joiner.t_hello) / 1e6,
                        "synced": (t_synced - joiner.t_hello) / 1e6,
                        "apply": (t_applied - t0) / 1e6,
                        "total": (t_synced - joiner.t_hello + t_applied - t0) / 1e6,
                        "snapshot_seq": snap[0]["seq"] if snap else 0,
                        "tail": sum(1 for f in frames if f["type"] == "update"),
                        "bytes": joiner.bytes_in,
                        "converged": str(joiner.fragment) == expected,
                        "chars": len(expected),
                    }
                )
                await joiner.close()
            clear_key_cache()
            t0 = time.perf_counter()
            sdk = DocumentClient(
                server.http_url,
                api_key=server.api_key,
                document_id=document_id,
                token_provider=lambda _a: {"token": server.token("sdk-joiner")},
                encryption_provider=lambda _a: {"key": BENCH_KEY, "keyHint": "bench"},
                reconnect=False,
                create=False,
            )
            async with sdk:
                sdk_ms = (time.perf_counter() - t0) * 1e3
                sdk_ok = str(sdk.fragment) == expected
            first = rows[0]
            out.append(
                JoinResult(
                    history=size,
                    snapshot_seq=first["snapshot_seq"],
                    tail_updates=first["tail"],
                    bytes_in=first["bytes"],
                    doc_chars=first["chars"],
                    welcome_ms=report.summary([r["welcome"] for r in rows]),
                    synced_ms=report.summary([r["synced"] for r in rows]),
                    apply_ms=report.summary([r["apply"] for r in rows]),
                    total_ms=report.summary([r["total"] for r in rows]),
                    sdk_ms=sdk_ms,
                    write_rate=rate,
                    converged=all(r["converged"] for r in rows) and sdk_ok,
                )
            )
    finally:
        await writer.close()
    return out


# --- join on a y-websocket peer -------------------------------------------------------------
async def run_join_y(server, sizes: list[int], reps: int) -> list[JoinResult]:
    """The same history (one update per keystroke, 2 % new paragraphs) written by one
    y-websocket client, then ``reps`` fresh clients join: hello = the first frame sent
    after the WebSocket opened; synced = sync step 2 received; apply = applying it."""
    import ypeers

    document_id = "join-doc"
    writer = ypeers.YClient(server.driver, server.ws_url, document_id)
    await writer.connect()
    # a watcher paces the writer: each batch of 500 must have come back through the
    # server before the next is sent (else a flood of 100k updates is all in flight)
    watcher = ypeers.YClient(server.driver, server.ws_url, document_id, apply_remote=False)
    await watcher.connect()
    typist = Typist(writer.fragment, seed=7)
    typist.new_paragraph()
    written = 1
    out = []
    try:
        for size in sizes:
            started = time.perf_counter()
            while written < size:
                batch = min(500, size - written)
                for _ in range(batch):
                    if typist.rng.random() < 0.02:
                        typist.new_paragraph()
                    else:
                        typist.keystroke()
                last = None
                for update in writer.take_local_updates():
                    last, _ = await writer.send_update(update)
                written += batch
                deadline = time.monotonic() + 120
                while last is not None and watcher.seen.get(last[0], 0) < last[1]:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the server did not relay the history in 120 s")
                    await asyncio.sleep(0.005)
            # the server has it all when a fresh client sees the writer's content
            expected = str(writer.fragment)
            deadline = time.monotonic() + 300
            while True:
                probe = ypeers.YClient(server.driver, server.ws_url, document_id)
                await probe.connect(timeout=300)
                ok = str(probe.fragment) == expected
                await probe.close()
                if ok or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            rate = (size - (out[-1].history if out else 1)) / (time.perf_counter() - started)
            rows = []
            for _ in range(reps):
                joiner = ypeers.YClient(server.driver, server.ws_url, document_id)
                await joiner.connect(timeout=300)
                rows.append(
                    {
                        "synced": (joiner.t_synced - joiner.t_hello) / 1e6,
                        "apply": (joiner.t_applied - joiner.t_synced) / 1e6,
                        "total": (joiner.t_applied - joiner.t_hello) / 1e6,
                        "bytes": joiner.bytes_in,
                        "converged": str(joiner.fragment) == expected,
                    }
                )
                await joiner.close()
            out.append(
                JoinResult(
                    history=size,
                    snapshot_seq=0,
                    tail_updates=0,
                    bytes_in=rows[0]["bytes"],
                    doc_chars=len(expected),
                    welcome_ms=report.summary([]),
                    synced_ms=report.summary([r["synced"] for r in rows]),
                    apply_ms=report.summary([r["apply"] for r in rows]),
                    total_ms=report.summary([r["total"] for r in rows]),
                    sdk_ms=float("nan"),
                    write_rate=rate,
                    converged=ok and all(r["converged"] for r in rows),
                )
            )
    finally:
        await watcher.close()
        await writer.close()
    return out


# --- idle connections -------------------------------------------------------------------------
def idle_worker(conn, cfg: dict) -> None:
    try:
        asyncio.run(_idle_worker(conn, cfg))
    except BaseException as exc:
        conn.send(("error", repr(exc)))
        raise


async def _idle_worker(conn, cfg: dict) -> None:
    """Open ``cfg["specs"]`` idle connections as lean as a client can be: Tandem: hello,
    then wait for ``synced`` (no key derivation, nothing decrypted); y-websocket: sync
    step 1, wait for step 2. The sockets are then drained by ``ypeers.sink`` (which
    answers pings) until the coordinator says stop."""
    import json as _json

    import websockets
    import ypeers

    driver = cfg["driver"]
    sem = asyncio.Semaphore(cfg.get("concurrency", 50))
    conns: list = []
    failures: list[str] = []

    async def one(spec: dict) -> None:
        async with sem:
            try:
                if driver == "tandem":
                    ws = await websockets.connect(
                        cfg["url"],
                        max_size=None,
                        open_timeout=30,
                        ping_interval=None,
                        compression=None,
                    )
                    await ws.send(
                        _json.dumps(
                            {
                                "type": "hello",
                                "protocol": 1,
                                "api_key": cfg["api_key"],
                                "document_id": spec["doc"],
                                "token": spec["token"],
                                "client_id": spec["id"],
                                "client_info": {},
                                "last_seq": None,
                                "session_id": None,
                            }
                        )
                    )
                    while True:
                        msg = _json.loads(await asyncio.wait_for(ws.recv(), 60))
                        if msg["type"] == "synced":
                            break
                        if msg["type"] == "error":
                            raise RuntimeError(msg["code"])
                else:
                    client = ypeers.YClient(driver, cfg["url"], spec["doc"])
                    await client.connect(timeout=60)
                    client.reader.cancel()
                    ws = client.ws
                conns.append(ws)
            except Exception as exc:
                failures.append(repr(exc)[:120])

    t0 = time.monotonic()
    await asyncio.gather(*(one(s) for s in cfg["specs"]))
    setup_s = time.monotonic() - t0
    await asyncio.sleep(0.5)
    for ws in conns:
        ypeers.sink(ws)
    conn.send(
        (
            "ready",
            {
                "open": len(conns),
                "failures": failures[:5],
                "failed": len(failures),
                "setup_s": setup_s,
            },
        )
    )
    await asyncio.to_thread(conn.recv)  # "stop"
    for ws in conns:
        ws.transport.abort()
    conn.send(("done", None))
