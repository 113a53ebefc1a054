"""Case 4: memory is bounded in bytes: the first frame (before hello) is small, presence
is small, and a reader that does not read is dropped when its queue passes a byte
bound, not a frame count."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import websockets

from tandem.client import websocket_url
from tests.adversarial.helpers import closed_with, joined
from tests.collab.helpers import RawClient, wait_until
from tests.support.server import serve_in_loop

DOC = "memory-doc"


async def test_a_big_first_frame_is_cut_before_it_is_read(server):
    raw = await RawClient.connect(server)
    await raw.send("x" * (1024 * 1024))  # 1 MiB before hello
    code, errors = await closed_with(raw)
    assert code == 1009, (code, errors)  # cut by the WebSocket layer, never buffered


async def test_big_presence_is_refused(server, make_client):
    a = make_client(server, "alice", DOC, initial_content="<p>start</p>")
    await a.start()
    await a.wait_synced()
    viewer = await joined(server, DOC, user="victor", role="viewer")
    await viewer.recv_type("synced")
    viewer.unlock()
    seal = viewer.cipher.seal_presence(viewer.client_id, b"{" + b" " * (256 * 1024) + b"}")
    await viewer.send({"type": "presence", "data": base64.b64encode(seal).decode()})
    error = await viewer.recv_type("error")
    assert error["code"] == "frame_too_large", error


async def test_a_reader_that_does_not_read_is_dropped_by_bytes(tmp_path, make_client):
    # Each update is ~256 KiB; the old queue bound (4096 frames) would hold 1 GiB.
    async with serve_in_loop(
        tmp_path / "data", document_bytes_per_minute=1 << 30, api_key_bytes_per_minute=1 << 30
    ) as server:
        a = make_client(server, "alice", DOC, initial_content="<p>start</p>")
        await a.start()
        await a.wait_synced()
        # A reader with a tiny receive buffer that stops reading after welcome.
        sock = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ws = await websockets.connect(websocket_url(server.url), sock=sock, max_size=None)
        slow = RawClient(ws)
        await slow.send(slow.hello_frame(server.tenant, DOC, user="slow"))
        await slow.recv_type("synced")
        ws.transport.pause_reading()
        state = server.app.state.tandem
        sent = 0
        for i in range(400):  # at most 100 MiB, stops as soon as the reader is dropped
            a.doc["blob" + str(i % 4)] = __import__("pycrdt").Text(os.urandom(96 * 1024).hex())
            sent += 1
            await a.flush(30)
            if state.metrics.errors["slow_consumer"]:
                break
        await wait_until(
            lambda: state.metrics.errors["slow_consumer"] >= 1, 20, "the slow reader to be dropped"
        )
        assert sent < 200, f"dropped only after {sent} updates of 192 KiB"
        ws.transport.resume_reading()
        await asyncio.sleep(0)
        # The server already dropped it: no close handshake to wait for. (Left open, its
        # unread buffer kept uvloop's loop.close() from returning.)
        ws.transport.abort()
        await a.close()


async def test_a_late_joiner_of_a_big_document_is_paced_not_dropped(tmp_path, make_client):
    """History bigger than the outbound queue bound is sent at the reader's pace."""
    async with serve_in_loop(
        tmp_path / "data", send_queue_bytes=1 << 20, max_frame_bytes=256 * 1024
    ) as server:
        a = make_client(server, "alice", DOC, initial_content="<p>start</p>")
        await a.start()
        await a.wait_synced()
        for i in range(40):  # ~5 MiB of history in 128 KiB updates
            a.doc["blob" + str(i)] = __import__("pycrdt").Text(os.urandom(64 * 1024).hex())
        await a.flush(60)
        late = make_client(server, "bob", DOC)
        await late.start()
        await late.wait_synced(60)
        assert late.version == a.version
        assert server.app.state.tandem.metrics.errors["slow_consumer"] == 0
