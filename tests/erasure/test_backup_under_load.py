"""``tandem db backup`` while a real ``tandem serve`` is writing: every update
acknowledged before the backup started is in the restored database, the restored
document is exactly a prefix of what was written, and the restored server takes new
edits."""

from __future__ import annotations

import asyncio
import sys
import time

from tandem.client import DocumentClient
from tests.conftest import new_client
from tests.support.server import (
    RunningServer,
    free_port,
    make_tenant,
    start_subprocess,
)

DOCS = ["load-a", "load-b"]


async def tandem(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tandem",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


def paragraphs(texts: list[str]) -> str:
    return "\n".join(f"<p>{t}</p>" for t in texts)


async def test_backup_under_load_then_restore(tmp_path, monkeypatch):
    # Snapshots and compaction happen during the load too.
    monkeypatch.setenv("TANDEM_SNAPSHOT_THRESHOLD", "40")
    data, fresh = tmp_path / "data", tmp_path / "restored"
    backup = tmp_path / "tandem-backup.sqlite3"
    tenant = await make_tenant(data / "tandem.sqlite3")
    port = free_port()
    proc = await asyncio.to_thread(start_subprocess, data, port)
    server = RunningServer(f"http://127.0.0.1:{port}", data, tenant, process=proc)
    acked: dict[str, list[str]] = {doc: [] for doc in DOCS}
    stop = asyncio.Event()

    async def write(doc: str) -> None:
        client = new_client(server, f"writer-{doc}", doc)
        await client.start()
        try:
            await client.wait_synced()
            i = 0
            while not stop.is_set():
                text = f"{doc} paragraph {i:05d}"
                client.append_paragraph(text)
                await client.flush()  # acknowledged: durable on the server
                acked[doc].append(text)
                i += 1
        finally:
            await client.close()

    try:
        writers = [asyncio.create_task(write(doc)) for doc in DOCS]
        while min(len(v) for v in acked.values()) < 50:
            await asyncio.sleep(0.05)
            for w in writers:
                if w.done():
                    w.result()
        before = {doc: len(texts) for doc, texts in acked.items()}
        started = time.monotonic()
        code, out, err = await tandem("--data-dir", str(data), "db", "backup", str(backup))
        took = time.monotonic() - started
        during = {doc: len(texts) - before[doc] for doc, texts in acked.items()}
        await asyncio.sleep(0.5)  # and more writes after it
        stop.set()
        await asyncio.gather(*writers)
        assert code == 0, err
        assert "backed up" in out and "integrity_check ok" in out
        print(
            f"{out.strip()}\n(command: {took:.2f} s; acknowledged before it: {before}, "
            f"during it: {during})"
        )
    finally:
        stop.set()
        proc.terminate()
        await asyncio.to_thread(proc.wait, 15)

    code, out, err = await tandem("--data-dir", str(fresh), "db", "restore", str(backup))
    assert code == 0, err
    assert "restored" in out and "2 document(s)" in out

    port = free_port()
    proc = await asyncio.to_thread(start_subprocess, fresh, port)
    restored = RunningServer(f"http://127.0.0.1:{port}", fresh, tenant, process=proc)
    clients: list[DocumentClient] = []
    try:
        for doc in DOCS:
            reader = new_client(restored, "reader", doc, create=False)
            clients.append(reader)
            await reader.start()
            await reader.wait_synced()
            html = reader.to_html()
            count = html.count("<p>")
            # Exactly the first ``count`` acknowledged paragraphs, in order, and at
            # least every one acknowledged before the backup started.
            assert count >= before[doc], (doc, count, before[doc])
            assert count <= len(acked[doc]) + 1  # + one written, not yet acknowledged
            written = acked[doc] + [f"{doc} paragraph {len(acked[doc]):05d}"]
            assert html == paragraphs(written[:count]), doc

            # The restored server takes new edits, and they are durable.
            editor = new_client(restored, "editor", doc, create=False)
            clients.append(editor)
            await editor.start()
            await editor.wait_synced()
            editor.append_paragraph(f"{doc} after restore")
            await editor.flush()
            check = new_client(restored, "checker", doc, create=False)
            clients.append(check)
            await check.start()
            await check.wait_synced()
            assert check.to_html() == paragraphs([*written[:count], f"{doc} after restore"])
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        proc.terminate()
        await asyncio.to_thread(proc.wait, 15)
