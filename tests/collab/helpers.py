"""Helpers for the collaboration tests: waiting, convergence, a raw protocol client."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pycrdt
import websockets

from tandem.client import DocumentClient, websocket_url
from tandem.client.richtext import append_paragraph, content_root
from tandem.crypto import SessionCipher, unwrap_content_key
from tandem.protocol.errors import CLOSE_CODES
from tandem.storage.sqlite import SQLiteStore
from tests.conftest import KEY
from tests.support.server import RunningServer, Tenant


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def converged(
    clients: Iterable[DocumentClient], timeout: float = 20.0, version: int | None = None
) -> str:
    """Flush every client, then wait until all hold identical content and versions."""
    clients = list(clients)
    await asyncio.gather(*(c.flush(timeout) for c in clients))

    def same() -> bool:
        htmls = {c.to_html() for c in clients}
        versions = {c.version for c in clients}
        if version is not None and versions != {version}:
            return False
        return len(htmls) == 1 and len(versions) == 1 and all(c.synced for c in clients)

    try:
        await wait_until(same, timeout, "convergence")
    except AssertionError:
        detail = "\n".join(f"{c.client_id} v{c.version}: {c.to_html()[:300]}" for c in clients)
        raise AssertionError(f"clients did not converge:\n{detail}") from None
    return clients[0].to_html()


async def storage_info(server: RunningServer, doc_id: str, tenant: Tenant | None = None):
    """document_info read from the server's SQLite file through a second store."""
    store = SQLiteStore(server.db_path)
    await store.open()
    try:
        return await store.document_info((tenant or server.tenant).api_key, doc_id)
    finally:
        await store.close()


async def stored_seqs(server: RunningServer, doc_id: str) -> list[int]:
    store = SQLiteStore(server.db_path)
    await store.open()
    try:
        return [u.seq for u in await store.updates_after(server.tenant.api_key, doc_id, 0)]
    finally:
        await store.close()


def raw_bytes(data_dir: Path) -> bytes:
    """Every byte of the SQLite database files (main, -wal, -shm)."""
    blob = b""
    for path in sorted(data_dir.glob("tandem.sqlite3*")):
        blob += path.read_bytes()
    return blob


def paragraph_texts(client: DocumentClient) -> list[str]:
    return [str(p.children[0]) if len(p.children) else "" for p in client.fragment.children]


class RawClient:
    """Speaks the wire protocol directly with ``websockets`` (no SDK)."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.client_id = secrets.token_urlsafe(12)
        self.welcome: dict | None = None
        self.cipher: SessionCipher | None = None
        self.doc_id = ""

    @classmethod
    async def connect(cls, server: RunningServer, **kw: Any) -> RawClient:
        ws = await websockets.connect(websocket_url(server.url), max_size=None, **kw)
        return cls(ws)

    async def send(self, frame: dict | str | bytes) -> None:
        if isinstance(frame, dict):
            frame = json.dumps(frame)
        await self.ws.send(frame)

    async def recv(self, timeout: float = 10.0) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def recv_type(self, *types: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.recv(max(0.01, deadline - time.monotonic()))
            if msg["type"] in types:
                return msg

    async def drain(self, quiet: float = 0.3) -> list[dict]:
        """Every frame until none arrives for ``quiet`` seconds."""
        frames = []
        while True:
            try:
                frames.append(await self.recv(quiet))
            except TimeoutError:
                return frames

    def hello_frame(self, tenant: Tenant, doc_id: str, *, user: str = "raw", **extra: Any) -> dict:
        token = extra.pop("token", None) or tenant.token(
            user, role=extra.pop("role", None), document=extra.pop("document", None)
        )
        frame = {
            "type": "hello",
            "protocol": 1,
            "api_key": tenant.api_key,
            "document_id": doc_id,
            "token": token,
            "client_id": self.client_id,
            "client_info": {"name": "raw"},
        }
        frame.update(extra)
        return frame

    async def hello(self, tenant: Tenant, doc_id: str, **extra: Any) -> dict:
        self.doc_id = doc_id
        await self.send(self.hello_frame(tenant, doc_id, **extra))
        self.welcome = await self.recv_type("welcome")
        return self.welcome

    def unlock(self, key: str = KEY) -> SessionCipher:
        """Derive the session's content key from the welcome's session (like a client)."""
        assert self.welcome and self.welcome["session"], "no session in welcome"
        session = self.welcome["session"]
        content_key = unwrap_content_key(
            key,
            base64.b64decode(session["salt"]),
            session["iterations"],
            base64.b64decode(session["wrapped_key"]),
            self.doc_id,
            session["session_id"],
        )
        self.cipher = SessionCipher(content_key, self.doc_id, session["session_id"])
        return self.cipher

    def update_frame(self, counter: int, text: str) -> dict:
        """A real encrypted Yjs update appending ``<p>text</p>`` (from an empty doc)."""
        assert self.cipher is not None and self.welcome is not None
        doc = pycrdt.Doc()
        captured: list[bytes] = []
        doc.observe(lambda event: captured.append(event.update))
        append_paragraph(content_root(doc), text)
        data = self.cipher.seal_update(self.client_id, counter, captured[-1])
        return {
            "type": "update",
            "session_id": self.welcome["session"]["session_id"],
            "counter": counter,
            "data": base64.b64encode(data).decode(),
        }

    async def expect_error(
        self, code: str, close: int | None = None, timeout: float = 10.0
    ) -> dict:
        """The next error frame has ``code`` and the documented close code, then the
        server closes the connection with that close code."""
        error = await self.recv_type("error", timeout=timeout)
        assert error["code"] == code, error
        expected_close = CLOSE_CODES[code][0]
        if close is not None:
            assert expected_close == close, (code, expected_close, close)
        assert error["close"] == expected_close, error
        assert error["message"], error
        await asyncio.wait_for(self.ws.wait_closed(), timeout)
        assert self.ws.close_code == expected_close, (self.ws.close_code, error)
        return error

    async def close(self) -> None:
        await self.ws.close()


class ThreadedServer:
    """A server (and any clients started through ``run``) in its own thread and event
    loop, so synchronous code (hypothesis, websockets.sync) can talk to it."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        import threading

        self.data_dir = data_dir
        self.settings = settings
        self.server: RunningServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True, name="test-server")

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from tests.support.server import serve_in_loop

        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve_in_loop(self.data_dir, **self.settings) as server:
            self.server = server
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None or self.server is None:
            raise RuntimeError(f"the server did not start: {self._error!r}")
        return self

    def run(self, coro: Awaitable[Any], timeout: float = 60) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
