"""Invariant 2 through a crash: kill -9 the server under load, restart, lose nothing acked."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from tandem.client.richtext import append_paragraph
from tests.collab.helpers import converged, storage_info, stored_seqs
from tests.conftest import close_all, new_client
from tests.support.server import (
    RunningServer,
    free_port,
    kill_hard,
    make_tenant,
    start_subprocess,
)

WRITERS = 4
MAX_PER_WRITER = 300


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 8])
async def test_kill_9_under_load_keeps_every_acknowledged_update(tmp_path, seed):
    rng = random.Random(seed)
    data = tmp_path / "data"
    data.mkdir()
    tenant = await make_tenant(data / "tandem.sqlite3")
    port = free_port()
    proc = await asyncio.to_thread(start_subprocess, data, port)
    server = RunningServer(f"http://127.0.0.1:{port}", data, tenant, process=proc)
    doc = "crash-doc"
    writers = [
        new_client(server, f"w{i}", doc, initial_content="<p>base</p>") for i in range(WRITERS)
    ]
    disconnects = [0] * WRITERS
    for i, client in enumerate(writers):
        client.on(
            lambda kind, info, i=i: (
                disconnects.__setitem__(i, disconnects[i] + 1) if kind == "disconnected" else None
            )
        )
    acked: list[tuple[float, str]] = []
    stop = asyncio.Event()
    reader = None

    async def write(i: int) -> None:
        client = writers[i]
        for n in range(MAX_PER_WRITER):
            if stop.is_set():
                return
            text = f"writer{i}-para{n}"
            # Edit the document directly: this works offline too (the SDK queues it).
            append_paragraph(client.fragment, text)
            await client.flush(60)
            acked.append((time.monotonic(), text))
            await asyncio.sleep(rng.uniform(0, 0.01))

    try:
        await writers[0].start()
        await writers[0].wait_synced()
        for client in writers[1:]:
            await client.start()
        await asyncio.gather(*(c.wait_synced() for c in writers))
        tasks = [asyncio.create_task(write(i)) for i in range(WRITERS)]

        await asyncio.sleep(rng.uniform(0.3, 1.2))
        kill_hard(proc)  # SIGKILL: no shutdown, no flush, no goodbye
        killed_at = time.monotonic()
        acked_before_kill = [text for _, text in acked]
        assert acked_before_kill, "no update was acknowledged before the kill"

        await asyncio.sleep(rng.uniform(0, 0.5))
        proc = await asyncio.to_thread(start_subprocess, data, port)
        server.process = proc

        # The writers reconnect by themselves and continue.
        def acked_after_restart() -> set[str]:
            return {text.split("-")[0] for at, text in acked if at > killed_at}

        deadline = time.monotonic() + 30
        while len(acked_after_restart()) < WRITERS and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(acked_after_restart()) == WRITERS, "not every writer continued"
        stop.set()
        await asyncio.gather(*tasks)
        assert all(n >= 1 for n in disconnects), disconnects

        html = await converged(writers, timeout=30)
        reader = new_client(server, "reader", doc)
        await reader.start()
        await reader.wait_synced()
        assert reader.to_html() == html
        for text in acked_before_kill:
            assert f"<p>{text}</p>" in html, f"acknowledged update {text!r} was lost"
        for _, text in acked:
            assert f"<p>{text}</p>" in html
        # Every paragraph appears exactly once (resent updates were deduplicated).
        assert html.count("<p>") == 1 + len({t for _, t in acked})

        info = await storage_info(server, doc)
        assert info.session_count == 1
        assert reader.version == info.version
        seqs = await stored_seqs(server, doc)
        # Every update of the session is kept, each once, whether or not a checkpoint
        # covers it (history is pruned only after history_days).
        assert info.active_session is not None
        assert seqs == list(range(info.active_session.start_seq + 1, info.version + 1))
    finally:
        await close_all([*writers, *([reader] if reader else [])])
        if proc.poll() is None:
            kill_hard(proc)
