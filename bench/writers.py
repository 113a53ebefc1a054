"""Closed-loop writers: W real SDK clients (``tandem.client.DocumentClient``) on one
document, each in a loop "add a paragraph, ``flush()``" (wait for the durable ack
before the next edit). Measures acknowledged updates/s and flush latency; the same
workload for SQLite, PostgreSQL on one node and PostgreSQL on several nodes.

Writers run in separate load-generator processes (spawn); every writer gets its own
node round-robin when there are several.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from dataclasses import dataclass

import report
from tandem_driver import BENCH_KEY, create_document, proc_cpu_seconds
from workloads import machine_busy_seconds


@dataclass
class WritersResult:
    writers: int
    nodes: int
    acked: int
    duration: float
    flush_ms: dict
    server_cpu: list[float]
    generator_cpu: list[float]
    foreign_cpu: float
    errors: list[str]
    contiguous: bool | None = None

    @property
    def rate(self) -> float:
        return self.acked / self.duration if self.duration else 0.0


def writers_worker(conn, cfg: dict) -> None:
    try:
        asyncio.run(_writers_worker(conn, cfg))
    except BaseException as exc:  # report, never hang the coordinator
        conn.send(("error", repr(exc)))
        raise


async def _writers_worker(conn, cfg: dict) -> None:
    from pycrdt import XmlElement, XmlText

    from tandem.client import DocumentClient

    clients = []
    for spec in cfg["writers"]:
        token = spec["token"]
        clients.append(
            DocumentClient(
                spec["http_url"],
                api_key=cfg["api_key"],
                document_id=cfg["document_id"],
                token_provider=lambda _a, token=token: {"token": token},
                encryption_provider=lambda _a: {"key": BENCH_KEY, "keyHint": "bench"},
                reconnect=False,
                create=False,
                client_id=spec["id"],
            )
        )
    for client in clients:
        await client.start()
    for client in clients:
        await client.wait_synced(timeout=60)
    latencies: list[float] = []
    errors: list[str] = []
    counts = [0]
    cpu0 = time.process_time()
    conn.send(("ready", None))
    start_at = await asyncio.to_thread(conn.recv)  # monotonic time to start at
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    deadline = start_at + cfg["duration"]

    async def loop(i: int, client) -> None:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            # At index 0: pycrdt's append walks the whole list to its end (O(n)), half
            # the generator's CPU by the end of a run; a prepend costs the same at any size.
            client.fragment.children.insert(
                0, XmlElement("p", {}, [XmlText(f"writer {i} paragraph {n}")])
            )
            t0 = time.perf_counter()
            try:
                await client.flush(timeout=30)
            except Exception as exc:
                errors.append(repr(exc)[:120])
                return
            if time.monotonic() <= deadline:
                latencies.append((time.perf_counter() - t0) * 1e3)
                counts[0] += 1

    await asyncio.gather(*(loop(i, c) for i, c in enumerate(clients)))
    cpu = time.process_time() - cpu0
    for client in clients:
        await client.close()
    conn.send(
        (
            "done",
            {
                "latencies": latencies,
                "acked": counts[0],
                "errors": errors[:5],
                "cpu": cpu / cfg["duration"],
            },
        )
    )


def run_writers(
    servers: list, document_id: str, *, writers: int, duration: float, workers: int = 2
) -> WritersResult:
    """``writers`` closed-loop SDK writers on one document, round-robin over ``servers``."""
    asyncio.run(create_document(servers[0], document_id))
    specs = [
        {
            "id": f"writer-{document_id[-8:]}-{i:02d}",
            "token": servers[0].token(f"w{i}"),
            "http_url": servers[i % len(servers)].http_url,
        }
        for i in range(writers)
    ]
    cfg0 = {"api_key": servers[0].api_key, "document_id": document_id, "duration": duration}
    ctx = mp.get_context("spawn")
    procs, pipes = [], []
    for w in range(workers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=writers_worker, args=(child, dict(cfg0, writers=specs[w::workers])), daemon=True
        )
        proc.start()
        procs.append(proc)
        pipes.append(parent)
    try:
        for pipe in pipes:
            if not pipe.poll(120):
                raise RuntimeError("writer generator not ready in 120 s")
            kind, info = pipe.recv()
            if kind != "ready":
                raise RuntimeError(f"writer generator failed: {info}")
        start_at = time.monotonic() + 0.5
        cpu0 = [s.cpu_seconds() for s in servers]
        busy0 = machine_busy_seconds()
        gen_pids = [p.pid for p in procs]
        gen0 = [proc_cpu_seconds(pid) for pid in gen_pids]
        for pipe in pipes:
            pipe.send(start_at)
        time.sleep(max(0.0, start_at + duration - time.monotonic()))
        cpu = [(s.cpu_seconds() - c) / duration for s, c in zip(servers, cpu0, strict=True)]
        gen = [
            (proc_cpu_seconds(pid) - c) / duration for pid, c in zip(gen_pids, gen0, strict=True)
        ]
        busy = (machine_busy_seconds() - busy0) / duration
        results = []
        for pipe in pipes:
            if not pipe.poll(60):
                raise RuntimeError("writer generator did not finish")
            kind, info = pipe.recv()
            if kind != "done":
                raise RuntimeError(f"writer generator failed: {info}")
            results.append(info)
    finally:
        for proc in procs:
            proc.join(20)
            if proc.is_alive():
                proc.kill()
    latencies = [x for r in results for x in r["latencies"]]
    return WritersResult(
        writers=writers,
        nodes=len(servers),
        acked=sum(r["acked"] for r in results),
        duration=duration,
        flush_ms=report.summary(latencies),
        server_cpu=cpu,
        generator_cpu=gen,
        foreign_cpu=max(0.0, busy - sum(cpu) - sum(gen)),
        errors=[e for r in results for e in r["errors"]],
    )


async def check_contiguous(
    database_url: str | None, data_dir, api_key: str, document_id: str
) -> bool:
    """Every seq from the session's start to the head is stored exactly once."""
    if database_url:
        from tandem.storage.postgres import PostgresStore

        store = PostgresStore(database_url)
    else:
        from tandem.storage.sqlite import SQLiteStore

        store = SQLiteStore(data_dir / "tandem.sqlite3")
    await store.open()
    try:
        info = await store.document_info(api_key, document_id)
        snapshot = await store.latest_snapshot(api_key, document_id)
        start = snapshot.seq if snapshot is not None else 0
        rows = await store.updates_after(api_key, document_id, start)
        seqs = [r.seq for r in rows]
        keys = {(r.client_id, r.counter) for r in rows}
        return (
            info is not None
            and seqs == list(range(start + 1, info.version + 1))
            and len(keys) == len(rows)
        )
    finally:
        await store.close()
