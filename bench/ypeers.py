"""The peers Tandem is compared with: Hocuspocus and pycrdt-websocket (y-websocket sync protocol).

Same surface as ``tandem_driver``: a server object (``start/stop/pid/cpu_seconds/
memory_kib/client_config/token/prepare_document``) and a client (``connect()``,
``doc``/``fragment``, ``take_local_updates()``, ``send_update()`` returning ``(key, t)``,
``on_update(key, t)``, ``on_ack(key, t)``), plus ``sink()`` (shared by both drivers).

Wire format (y-protocols ``sync``): ``[0 = Sync][0 = step 1 | 1 = step 2 | 2 = update]
[varUint8Array payload]``. pycrdt-websocket speaks it as is, one room per URL path.
Hocuspocus multiplexes documents on a socket: every message starts with the document
name (``varString``), and a client must send ``[name][2 = Auth][0 = Token][varString
token]`` first (messages before it are queued); it answers every applied update with
``[name][8 = SyncStatus][1]`` (applied in memory, not a durability ack: the ack columns
of the report are for that, marked as such) and replies to step 1 with step 2 and a
``SyncReply`` (4) carrying its own step 1.

Update key: servers of this protocol apply updates to their own Y.Doc and broadcast the
update Yjs produces (Hocuspocus even merges the updates of one event-loop turn), so
bytes are not relayed verbatim. The key is ``(Yjs client id, end clock)``: a sender
records the end clock of its own update; a receiver reads the (client, clock range) of each
struct group of every incoming update (``update_ranges``, a small Yjs v1 struct walker)
and, per client, emits every clock between the last end it saw and the new end, so
merged updates still yield one receipt per key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pycrdt
import websockets
from tandem_driver import LocalEdits, ServerProcess, free_port, now_ns

BENCH = Path(__file__).resolve().parent
PEERS_VENV = BENCH / ".venv-peers"


# --- lib0 encoding ---------------------------------------------------------------------------
def var_uint(num: int) -> bytes:
    out = bytearray()
    while num > 127:
        out.append(128 | (num & 127))
        num >>= 7
    out.append(num)
    return bytes(out)


def read_var_uint(buf: bytes, pos: int) -> tuple[int, int]:
    num = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        num |= (byte & 127) << shift
        shift += 7
        if byte < 128:
            return num, pos


def var_string(text: str) -> bytes:
    raw = text.encode()
    return var_uint(len(raw)) + raw


def _skip_any(buf: bytes, pos: int) -> int:
    kind = buf[pos]
    pos += 1
    if kind in (127, 126, 121, 120):
        return pos
    if kind == 125:  # varInt
        while buf[pos] >= 128:
            pos += 1
        return pos + 1
    if kind == 124:
        return pos + 4
    if kind in (123, 122):
        return pos + 8
    if kind in (119, 116):  # string, Uint8Array
        n, pos = read_var_uint(buf, pos)
        return pos + n
    if kind == 118:  # object
        count, pos = read_var_uint(buf, pos)
        for _ in range(count):
            n, pos = read_var_uint(buf, pos)
            pos = _skip_any(buf, pos + n)
        return pos
    if kind == 117:  # array
        count, pos = read_var_uint(buf, pos)
        for _ in range(count):
            pos = _skip_any(buf, pos)
        return pos
    raise ValueError(f"unknown lib0 any type {kind}")


def _skip_string(buf: bytes, pos: int) -> int:
    n, pos = read_var_uint(buf, pos)
    return pos + n


def update_ranges(update: bytes) -> list[tuple[int, int, int]]:
    """(client, start clock, end clock) of every struct group of a Yjs v1 update
    (the delete set is not read)."""
    groups, pos = read_var_uint(update, 0)
    out = []
    for _ in range(groups):
        structs, pos = read_var_uint(update, pos)
        client, pos = read_var_uint(update, pos)
        start, pos = read_var_uint(update, pos)
        clock = start
        for _ in range(structs):
            info = update[pos]
            pos += 1
            ref = info & 31
            if ref in (0, 10):  # GC, Skip
                n, pos = read_var_uint(update, pos)
                clock += n
                continue
            if info & 0x80:  # origin id
                _, pos = read_var_uint(update, pos)
                _, pos = read_var_uint(update, pos)
            if info & 0x40:  # right origin id
                _, pos = read_var_uint(update, pos)
                _, pos = read_var_uint(update, pos)
            if not info & 0xC0:
                parent_is_key, pos = read_var_uint(update, pos)
                if parent_is_key == 1:
                    pos = _skip_string(update, pos)
                else:
                    _, pos = read_var_uint(update, pos)
                    _, pos = read_var_uint(update, pos)
                if info & 0x20:
                    pos = _skip_string(update, pos)
            length = 1
            if ref == 1:  # deleted
                length, pos = read_var_uint(update, pos)
            elif ref == 2:  # JSON
                length, pos = read_var_uint(update, pos)
                for _ in range(length):
                    pos = _skip_string(update, pos)
            elif ref in (3, 5):  # binary, embed
                pos = _skip_string(update, pos)
            elif ref == 4:  # string: length in UTF-16 code units
                n, pos = read_var_uint(update, pos)
                text = update[pos : pos + n].decode()
                pos += n
                length = len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
            elif ref == 6:  # format: key, JSON value
                pos = _skip_string(update, _skip_string(update, pos))
            elif ref == 7:  # type
                type_ref, pos = read_var_uint(update, pos)
                if type_ref in (3, 5):  # XmlElement node name, XmlHook name
                    pos = _skip_string(update, pos)
            elif ref == 8:  # any
                length, pos = read_var_uint(update, pos)
                for _ in range(length):
                    pos = _skip_any(update, pos)
            elif ref == 9:  # subdocument
                pos = _skip_any(update, _skip_string(update, pos))
            else:
                raise ValueError(f"unknown Yjs content ref {ref}")
            clock += length
        out.append((client, start, clock))
    return out


# --- sink: drain a websocket without parsing its messages --------------------------------------
def sink(ws) -> None:
    """Turn a quiet ``websockets`` client connection into a sink: incoming frames are
    skipped by their headers (server frames are unmasked) and pings answered with pongs,
    without building messages. For the many-client fan-out, where a Python generator
    cannot parse 200 × 1000 frames/s; latency is measured at the other (observer)
    clients. Call it only on a quiet connection (at a frame boundary)."""
    transport = ws.transport
    buf = bytearray()

    def data_received(data: bytes) -> None:
        buf.extend(data)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 127, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if size - pos < head + length:
                break
            if b0 & 0x0F == 0x9 and length < 126:  # ping -> pong (masked, zero mask)
                payload = bytes(buf[pos + head : pos + head + length])
                transport.write(bytes([0x8A, 0x80 | length, 0, 0, 0, 0]) + payload)
            pos += head + length
        del buf[:pos]

    ws.data_received = data_received
    # uvloop's transport keeps the protocol's data_received it saw when the protocol was
    # set (asyncio's looks it up per read): set the protocol again so it takes this one.
    transport.set_protocol(ws)
    with contextlib.suppress(Exception):
        transport.resume_reading()


# --- servers -----------------------------------------------------------------------------------
@dataclass
class PeerServer(ServerProcess):
    """A peer server as a separate process on a loopback port."""

    data_dir: Path
    name: str = "peer"
    port: int = 0
    process: subprocess.Popen | None = None
    api_key: str = ""
    env: dict = field(default_factory=dict)

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        import socket

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self._log = open(self.data_dir / "server.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=self._log,
            cwd=self.cwd,
            env=dict(os.environ, **self.env),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not start")

    async def provision(self) -> None:
        return None

    def token(self, sub: str) -> str:
        return ""

    async def prepare_document(self, document_id: str) -> None:
        return None  # y-websocket servers create a document on first use

    def metrics(self) -> dict:
        return {}

    def client_config(self, document_id: str) -> dict:
        return {
            "driver": self.driver,
            "url": self.ws_url,
            "api_key": "",
            "document_id": document_id,
        }

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


class HocuspocusServer(PeerServer):
    driver = "hocuspocus"

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, name="Hocuspocus")
        self.cwd = BENCH / "peers" / "hocuspocus"

    def command(self) -> list[str]:
        return ["node", "server.mjs", str(self.port), str(self.data_dir / "hocuspocus.sqlite")]


class PycrdtServer(PeerServer):
    driver = "pycrdt"

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, name="pycrdt-websocket")
        self.cwd = BENCH / "peers" / "pycrdt_ws"

    def command(self) -> list[str]:
        return [
            str(PEERS_VENV / "bin" / "python"),
            "server.py",
            str(self.port),
            str(self.data_dir / "ystore.db"),
        ]


class RawRelayServer(PeerServer):
    """``peers/raw_relay/server.py``: verbatim broadcast, no work per message (the limit
    a Python WebSocket server reaches); speaks just enough y-websocket for YClient."""

    driver = "pycrdt"

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, name="raw relay")
        self.cwd = BENCH / "peers" / "raw_relay"

    def command(self) -> list[str]:
        import sys

        return [sys.executable, "server.py", str(self.port)]


def versions() -> dict[str, str]:
    out = {}
    pkg = BENCH / "peers" / "hocuspocus" / "node_modules"
    import json

    for name in ("@hocuspocus/server", "@hocuspocus/extension-sqlite", "better-sqlite3", "yjs"):
        with contextlib.suppress(OSError, ValueError):
            out[name] = json.loads((pkg / name / "package.json").read_text())["version"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        code = (
            "import importlib.metadata as m;print(' '.join(p+'='+m.version(p) for p in "
            "('pycrdt-websocket','pycrdt-store','pycrdt','websockets')))"
        )
        line = subprocess.run(
            [str(PEERS_VENV / "bin" / "python"), "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        for item in line.split():
            k, _, v = item.partition("=")
            out[k] = v
    return out


# --- the y-websocket client ---------------------------------------------------------------------
class YError(Exception):
    pass


class YClient(LocalEdits):
    """One simulated collaborator on a Hocuspocus or pycrdt-websocket document."""

    def __init__(
        self,
        flavor: str,
        url: str,
        document_id: str,
        *,
        on_update=None,
        on_ack=None,
        apply_remote: bool = True,
    ) -> None:
        self.flavor = flavor
        self.document_id = document_id
        self.url = url if flavor == "hocuspocus" else f"{url}/{document_id}"
        self.prefix = var_string(document_id) if flavor == "hocuspocus" else b""
        self.on_update = on_update
        self.on_ack = on_ack
        self.apply_remote = apply_remote
        self.doc = pycrdt.Doc()
        self.fragment = self.doc.get("content", type=pycrdt.XmlFragment)
        self.key_id = self.doc.client_id
        self.client_id = str(self.key_id)
        self._local: list[bytes] = []
        self._applying = False
        self.doc.observe(self._on_local)
        self.ws = None
        self.synced = asyncio.Event()
        self.closed = asyncio.Event()
        self.error: str | None = None
        self.reader: asyncio.Task | None = None
        self.snapshots_sent = 0
        self.frames_in = 0
        self.bytes_in = 0
        self.seen: dict[int, int] = {}
        self._unacked: list = []  # keys awaiting Hocuspocus SyncStatus, in send order
        self.t_hello = self.t_synced = self.t_applied = 0
        self.is_sink = False

    async def connect(self, *, timeout: float = 60) -> None:
        self.ws = await websockets.connect(
            self.url, max_size=None, open_timeout=10, ping_interval=None, compression=None
        )
        self.t_hello = now_ns()
        if self.flavor == "hocuspocus":
            await self.ws.send(self.prefix + b"\x02\x00" + var_string(""))
        await self.ws.send(self.prefix + pycrdt.create_sync_message(self.doc))
        self.reader = asyncio.create_task(self._read())
        waiter = asyncio.create_task(self.synced.wait())
        await asyncio.wait(
            {waiter, self.reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if not self.synced.is_set():
            raise YError(f"{self.client_id}: not synced: {self.error or 'timeout'}")

    def sink(self) -> None:
        self.is_sink = True
        sink(self.ws)

    async def close(self) -> None:
        if self.ws is not None:
            if self.is_sink:
                self.ws.transport.abort()
            else:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.ws.close(), 5)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader

    async def send_update(self, update: bytes) -> tuple[tuple[int, int], int]:
        end = max(e for c, _, e in update_ranges(update) if c == self.key_id)
        key = (self.key_id, end)
        frame = self.prefix + pycrdt.create_update_message(update)
        t = now_ns()
        if self.flavor == "hocuspocus":
            self._unacked.append(key)
        await self.ws.send(frame)
        return key, t

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                t = now_ns()
                self.frames_in += 1
                self.bytes_in += len(raw)
                pos = 0
                if self.prefix:
                    n, pos = read_var_uint(raw, 0)
                    pos += n
                kind, pos = read_var_uint(raw, pos)
                if kind in (0, 4):  # Sync / SyncReply
                    sub, pos = read_var_uint(raw, pos)
                    n, pos = read_var_uint(raw, pos)
                    payload = raw[pos : pos + n]
                    if sub == 0:  # step 1: answer with step 2
                        diff = self.doc.get_update(payload)
                        if self.flavor == "hocuspocus":
                            self._unacked.append(None)  # its SyncStatus is not an update's
                        await self.ws.send(self.prefix + bytes([0, 1]) + var_uint(len(diff)) + diff)
                    else:  # step 2 or update
                        if sub == 1 or self.apply_remote:
                            self._apply(payload)
                        self._received(payload, t)
                        if sub == 1 and not self.synced.is_set():
                            self.t_synced = t
                            self.t_applied = now_ns()
                            self.synced.set()
                elif kind == 8:  # Hocuspocus SyncStatus: applied (in memory)
                    if self._unacked:
                        key = self._unacked.pop(0)
                        if key is not None and self.on_ack is not None:
                            self.on_ack(key, t)
                elif kind == 2:  # Hocuspocus auth answer
                    sub, _ = read_var_uint(raw, pos)
                    if sub == 1:
                        self.error = "permission denied"
        except websockets.ConnectionClosed as exc:
            if self.error is None and exc.rcvd is not None and exc.rcvd.code != 1000:
                self.error = f"closed {exc.rcvd.code} {exc.rcvd.reason}"
        finally:
            self.closed.set()

    def _received(self, update: bytes, t: int) -> None:
        for client, _start, end in update_ranges(update):
            if client == self.key_id:
                continue
            prev = self.seen.get(client)
            if prev is not None and end <= prev:
                continue
            self.seen[client] = end
            if self.on_update is not None:
                start = end if prev is None else prev + 1
                for clock in range(start, end + 1):
                    self.on_update((client, clock), t)
