"""Tandem target for the collaboration benchmark: server process, tenant, raw protocol client.

The workloads (``workloads.py``) only use the small surface defined here:

* ``TandemServer``: provision a tenant (API key + ES256 key) in a fresh SQLite data
  directory, run ``tandem serve`` as a separate process, report its CPU and RSS.
* ``TandemClient``: a lean simulated collaborator speaking docs/protocol.md directly
  (websockets asyncio client, ``tandem.crypto.SessionCipher``). It keeps a pycrdt
  document like a real editor (decrypts and applies every remote update, answers
  ``snapshot_request``), and calls back with an *update key* and a receipt time
  for every remote update, ack and sync, so the workload can measure latency on
  one clock (``time.monotonic_ns``: CLOCK_MONOTONIC, system-wide on Linux).

The update key is ``(client_id, counter)`` for Tandem. A later y-websocket driver
(Hocuspocus, pycrdt-websocket) would expose the same surface with the key taken
from the Yjs update itself (Yjs client id, clock), which such servers relay verbatim.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pycrdt
import websockets
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tandem.crypto import SessionCipher, unwrap_content_key
from tandem.protocol import binary
from tandem.protocol.messages import PROTOCOL_VERSION

REPO = Path(__file__).resolve().parent.parent
BENCH_KEY = "bench-secret-key"  # the encryption provider's key string for every bench document
BENCH_ITERATIONS = 10_000  # PBKDF2 iterations of bench sessions (the server's minimum)
now_ns = time.monotonic_ns


# --- tokens (an independent ES256 signer, as tests/support/tokens.py) ---------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Signer:
    def __init__(self, kid: str = "bench-key") -> None:
        self.kid = kid
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.private_key.public_key().public_numbers()
        self.public_jwk = {
            "kty": "EC",
            "crv": "P-256",
            "kid": kid,
            "alg": "ES256",
            "use": "sig",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }

    def token(self, sub: str, ttl: float = 3600) -> str:
        payload = {"sub": sub, "exp": int(time.time() + ttl), "iat": int(time.time())}
        header = {"alg": "ES256", "typ": "JWT", "kid": self.kid}
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(payload).encode())
        ).encode()
        der = self.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input.decode() + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


# --- process statistics from /proc ----------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def proc_memory_kib(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":")
                out[name] = int(value.split()[0])
    return out


# --- the server -----------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """What every benchmarked server process shares: pid, CPU, memory, log, stop.
    Subclasses set ``process``, ``data_dir`` and ``_log`` when they start."""

    process: subprocess.Popen | None
    data_dir: Path

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def memory_kib(self) -> dict[str, int]:
        return proc_memory_kib(self.pid)

    def log_tail(self, n: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return (self.data_dir / "server.log").read_text(errors="replace")[-n:]
        return ""

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        self._log.close()


class LocalEdits:
    """Captures a client's own pycrdt updates (not the ones it applies from others).
    Subclasses set ``doc``, ``_local = []`` and ``_applying = False``."""

    def _on_local(self, event) -> None:
        if not self._applying:
            self._local.append(event.update)

    def take_local_updates(self) -> list[bytes]:
        out, self._local = self._local, []
        return out

    def _apply(self, update: bytes) -> None:
        self._applying = True
        try:
            self.doc.apply_update(update)
        finally:
            self._applying = False


@dataclass
class TandemServer(ServerProcess):
    """``tandem --data-dir DIR serve`` as a separate process, with a provisioned tenant."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    api_key: str = ""
    signer: Signer | None = None
    process: subprocess.Popen | None = None
    name: str = "Tandem"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/collab"

    async def provision(self) -> None:
        from tandem.storage.sqlite import SQLiteStore

        self.data_dir.mkdir(parents=True, exist_ok=True)
        store = SQLiteStore(self.data_dir / "tandem.sqlite3")
        await store.open()
        try:
            record = await store.create_api_key("bench")
            self.signer = Signer(kid=f"bench-{record.key[:6]}")
            await store.add_public_keys(record.key, [self.signer.public_jwk])
        finally:
            await store.close()
        self.api_key = record.key

    def start(self) -> None:
        import httpx

        self.port = self.port or free_port()
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        exe = Path(sys.executable).with_name("tandem")
        cmd = [
            str(exe),
            "--data-dir",
            str(self.data_dir),
            "serve",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        self._log = open(self.data_dir / "server.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_tail()}")
            try:
                if httpx.get(self.http_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not start")

    def token(self, sub: str) -> str:
        assert self.signer is not None
        return self.signer.token(sub)

    def metrics(self) -> dict[str, float]:
        """The numeric lines of /metrics (storage latency histogram sum/count, errors)."""
        import httpx

        out: dict[str, float] = {}
        with contextlib.suppress(httpx.HTTPError):
            for line in httpx.get(self.http_url + "/metrics", timeout=5).text.splitlines():
                if line and not line.startswith("#"):
                    name, _, value = line.rpartition(" ")
                    with contextlib.suppress(ValueError):
                        out[name] = float(value)
        return out

    def client_config(self, document_id: str) -> dict:
        """What a load-generator process needs to connect clients (picklable)."""
        return {
            "url": self.ws_url,
            "http_url": self.http_url,
            "api_key": self.api_key,
            "document_id": document_id,
        }


async def create_document(
    server: TandemServer, document_id: str, initial_html: str = "<p>bench</p>"
) -> None:
    """Create the document's session with the real SDK (PBKDF2 at BENCH_ITERATIONS)."""
    from tandem.client import DocumentClient

    client = DocumentClient(
        server.http_url,
        api_key=server.api_key,
        document_id=document_id,
        token_provider=lambda _a: {"token": server.token("creator")},
        encryption_provider=lambda _a: {"key": BENCH_KEY, "keyHint": "bench"},
        initial_content=initial_html,
        iterations=BENCH_ITERATIONS,
        reconnect=False,
    )
    async with client:
        await client.flush()


# --- the raw protocol client ----------------------------------------------------------------
UpdateKey = tuple[str, int]
Receipt = Callable[[UpdateKey, int], None]


class TandemError(Exception):
    pass


class TandemClient(LocalEdits):
    """One simulated collaborator on one document (see the module docstring)."""

    def __init__(
        self,
        url: str,
        api_key: str,
        document_id: str,
        token: str,
        *,
        client_id: str | None = None,
        key: str = BENCH_KEY,
        on_update: Receipt | None = None,
        on_ack: Receipt | None = None,
        answer_snapshots: bool = True,
        apply_remote: bool = True,
        binary: bool = True,
    ) -> None:
        self.url = url
        self.binary = binary  # offer binary update frames (used when welcome agrees)
        self.binary_ok = False
        self.api_key = api_key
        self.document_id = document_id
        self.token = token
        self.client_id = client_id or secrets.token_urlsafe(12)
        self.key = key
        self.on_update = on_update
        self.on_ack = on_ack
        self.answer_snapshots = answer_snapshots
        self.apply_remote = apply_remote
        self.doc = pycrdt.Doc()
        self.fragment = self.doc.get("content", type=pycrdt.XmlFragment)
        self._local: list[bytes] = []
        self._applying = False
        self.doc.observe(self._on_local)
        self.ws = None
        self.cipher: SessionCipher | None = None
        self.session_id = ""
        self.counter = 0
        self.version = 0
        self._above: set[int] = set()
        self.synced = asyncio.Event()
        self.closed = asyncio.Event()
        self.error: str | None = None
        self.reader: asyncio.Task | None = None
        self.snapshots_sent = 0
        self.frames_in = 0
        self.bytes_in = 0
        # join timing (monotonic ns)
        self.t_hello = self.t_welcome = self.t_synced = 0
        self.buffered: list[dict] | None = None

    def _advance(self, seq: int) -> None:
        if seq <= self.version:
            return
        self._above.add(seq)
        while self.version + 1 in self._above:
            self.version += 1
            self._above.discard(self.version)

    # connection ----------------------------------------------------------------------------
    async def connect(self, *, buffer_sync: bool = False, timeout: float = 60) -> None:
        """Open, say hello, and return once ``synced``. With ``buffer_sync`` the history
        frames are only buffered (timed separately by ``apply_buffered``)."""
        self.buffered = [] if buffer_sync else None
        self.ws = await websockets.connect(
            self.url, max_size=None, open_timeout=10, ping_interval=None, compression=None
        )
        self.t_hello = now_ns()
        await self.ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "protocol": PROTOCOL_VERSION,
                    "api_key": self.api_key,
                    "document_id": self.document_id,
                    "token": self.token,
                    "client_id": self.client_id,
                    "client_info": {"bench": True},
                    "last_seq": None,
                    "session_id": None,
                    "batch": True,
                    "binary": self.binary,
                }
            )
        )
        self.reader = asyncio.create_task(self._read())
        waiter = asyncio.create_task(self.synced.wait())
        await asyncio.wait(
            {waiter, self.reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if not self.synced.is_set():
            raise TandemError(f"{self.client_id}: not synced: {self.error or 'timeout'}")

    def apply_buffered(self) -> None:
        frames, self.buffered = self.buffered or [], None
        for msg in frames:
            self._handle_history(msg)

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader

    async def send_update(self, plaintext: bytes) -> tuple[UpdateKey, int]:
        """Seal and send one update; returns its key and the send time (ns)."""
        assert self.cipher is not None and self.ws is not None
        self.counter += 1
        data = self.cipher.seal_update(self.client_id, self.counter, plaintext)
        if self.binary_ok:
            frame: str | bytes = binary.encode_client_update(self.session_id, self.counter, data)
        else:
            frame = (
                '{"type":"update","session_id":"%s","counter":%d,"data":"%s"}'  # noqa: UP031
                % (self.session_id, self.counter, base64.b64encode(data).decode())
            )
        t = now_ns()
        await self.ws.send(frame)
        return (self.client_id, self.counter), t

    # incoming ------------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                t = now_ns()
                self.frames_in += 1
                self.bytes_in += len(raw)
                if isinstance(raw, bytes) and binary.is_binary(raw):
                    for part in binary.decode_server_frame(raw):
                        if isinstance(part, binary.ServerUpdate):
                            self._receive_update(part.as_message(), t)
                        else:
                            await self._dispatch(json.loads(part), t)
                    continue
                frame = json.loads(raw)
                messages = frame["messages"] if frame["type"] == "batch" else [frame]
                for msg in messages:
                    await self._dispatch(msg, t)
        except websockets.ConnectionClosed as exc:
            if self.error is None and exc.rcvd is not None and exc.rcvd.code != 1000:
                self.error = f"closed {exc.rcvd.code} {exc.rcvd.reason}"
        finally:
            self.closed.set()

    def _receive_update(self, msg: dict, t: int) -> None:
        if self.buffered is not None and not self.synced.is_set():
            self.buffered.append(msg)
            return
        self._on_update(msg)
        if self.on_update is not None:
            self.on_update((msg["client_id"], msg["counter"]), t)

    async def _dispatch(self, msg: dict, t: int) -> None:
        kind = msg["type"]
        if kind == "update":
            self._receive_update(msg, t)
        elif kind == "ack":
            self._advance(msg["seq"])
            if self.on_ack is not None:
                self.on_ack((self.client_id, msg["counter"]), t)
        elif kind == "snapshot":
            if self.buffered is not None and not self.synced.is_set():
                self.buffered.append(msg)
            else:
                self._on_snapshot(msg)
        elif kind == "synced":
            self.t_synced = t
            self._advance(msg["version"])
            self.synced.set()
        elif kind == "welcome":
            self.t_welcome = t
            self.binary_ok = self.binary and msg.get("binary") is True
            self._on_welcome(msg)
        elif kind == "snapshot_request":
            if self.answer_snapshots and not self._above and self.apply_remote:
                await self._send_snapshot()
        elif kind == "error":
            self.error = f"{msg.get('code')}: {msg.get('message')}"

    def _on_welcome(self, msg: dict) -> None:
        session = msg["session"]
        if session is None:
            raise TandemError("the bench document has no session (create it first)")
        content_key = unwrap_content_key(
            self.key,
            base64.b64decode(session["salt"]),
            session["iterations"],
            base64.b64decode(session["wrapped_key"]),
            self.document_id,
            session["session_id"],
        )
        self.session_id = session["session_id"]
        self.cipher = SessionCipher(content_key, self.document_id, self.session_id)

    def _handle_history(self, msg: dict) -> None:
        if msg["type"] == "snapshot":
            self._on_snapshot(msg)
        else:
            self._on_update(msg)

    def _on_snapshot(self, msg: dict) -> None:
        assert self.cipher is not None
        self._apply(self.cipher.open_snapshot(msg["seq"], base64.b64decode(msg["data"])))
        if msg["seq"] > self.version:
            self.version = msg["seq"]
            self._above = {s for s in self._above if s > self.version}

    def _on_update(self, msg: dict) -> None:
        assert self.cipher is not None
        data = msg["data"]
        plain = self.cipher.open_update(
            msg["client_id"],
            msg["counter"],
            data if isinstance(data, bytes) else base64.b64decode(data),
        )
        if self.apply_remote:
            self._apply(plain)
        self._advance(msg["seq"])

    async def _send_snapshot(self) -> None:
        assert self.cipher is not None
        seq = self.version
        data = self.cipher.seal_snapshot(seq, self.doc.get_update())
        self.snapshots_sent += 1
        await self.ws.send(
            json.dumps(
                {
                    "type": "snapshot",
                    "session_id": self.session_id,
                    "seq": seq,
                    "data": base64.b64encode(data).decode(),
                }
            )
        )
