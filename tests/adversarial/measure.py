"""Measure each attack of issue 11 against a real ``tandem serve`` process.

    .venv/bin/python -m tests.adversarial.measure [--src DIR] [--label L] [CASE ...]

``--src`` is a source tree whose ``src/`` is run as the server (default: this
checkout), so the same attacks can be run against an older commit::

    git archive main | tar -x -C /tmp/tandem-main
    .venv/bin/python -m tests.adversarial.measure --src /tmp/tandem-main --label before

Every attack is bounded (a few seconds, a fixed volume) and targets loopback only.
While an attack runs, probe editors on three other documents append a paragraph and
wait for its acknowledgement ten times a second: their ack latencies are "other
documents' ack p50/p99". Afterwards a fresh reader checks that every paragraph that
was acknowledged is still there ("acked lost" must be 0). Memory is the server's RSS
from /proc (peak during the attack minus the RSS before it). One JSON line per case.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import websockets

from tandem.client import DocumentClient, websocket_url
from tests.collab.helpers import RawClient, paragraph_texts
from tests.conftest import ITERATIONS, static_provider
from tests.support.server import RunningServer, Tenant, free_port
from tests.support.tokens import Signer

HERE = Path(__file__).resolve().parents[2]


# -- the server under test ------------------------------------------------------------
class Target:
    """``tandem serve`` from a source tree, with its own data directory and tenant."""

    def __init__(
        self, src: Path, env: dict[str, str] | None = None, nofile: int | None = None
    ) -> None:
        self.src = src
        self.env = env or {}
        self.nofile = nofile
        self.tmp = Path(tempfile.mkdtemp(prefix="tandem-measure-"))
        self.data = self.tmp / "data"
        self.port = free_port()
        self.log_path = self.tmp / "server.log"
        self.proc: subprocess.Popen | None = None
        self.tenant: Tenant | None = None

    def _environ(self) -> dict[str, str]:
        return dict(os.environ, PYTHONPATH=str(self.src / "src"), PYTHONUNBUFFERED="1", **self.env)

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "tandem", "--data-dir", str(self.data), *args],
            env=self._environ(),
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout

    def start(self) -> Target:
        key = self.cli("apikey", "create", "--name", "measure").strip().splitlines()[-1]
        signer = Signer(kid="measure-key")
        jwk = self.tmp / "key.jwk.json"
        jwk.write_text(json.dumps(signer.public_jwk))
        self.cli("keys", "add", "--api-key", key, str(jwk))
        self.tenant = Tenant(key, signer)
        limit = self.nofile

        def pre() -> None:
            if limit:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tandem",
                    "--data-dir",
                    str(self.data),
                    "serve",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "info",
                ],
                env=self._environ(),
                stdout=log,
                stderr=log,
                preexec_fn=pre,
            )
        for _ in range(400):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        raise RuntimeError("server did not start: " + self.log_path.read_text()[-2000:])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def server(self) -> RunningServer:
        assert self.tenant is not None
        return RunningServer(self.url, self.data, self.tenant)

    def rss_kib(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_bytes(self) -> int:
        return self.log_path.stat().st_size

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def client(target: Target, user: str, doc: str, **kw: Any) -> DocumentClient:
    tenant = target.tenant
    assert tenant is not None
    role = kw.pop("role", None)
    return DocumentClient(
        target.url,
        api_key=tenant.api_key,
        document_id=doc,
        token_provider=lambda _arg: {"token": tenant.token(user, role=role)},
        encryption_provider=static_provider(),
        iterations=ITERATIONS,
        max_backoff=1.0,
        **kw,
    )


class MemoryWatch:
    """Samples the server's RSS every 50 ms; ``peak_delta_mib`` after ``stop``."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.base = target.rss_kib()
        self.peak = self.base
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(OSError, ValueError):
                self.peak = max(self.peak, self.target.rss_kib())
            await asyncio.sleep(0.05)

    async def stop(self) -> dict[str, float]:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        end = self.target.rss_kib() if self.target.alive() else 0
        return {
            "rss_before_mib": round(self.base / 1024, 1),
            "rss_peak_delta_mib": round((self.peak - self.base) / 1024, 1),
            "rss_after_delta_mib": round((end - self.base) / 1024, 1),
        }


class _ProbeRun:
    """Editors on other documents appending and waiting for acks, 10 per second each
    (runs in its own process: the attacks' client-side work must not slow it)."""

    def __init__(self, url: str, api_key: str, tokens: dict[str, str]) -> None:
        self.url = url
        self.api_key = api_key
        self.tokens = tokens
        self.clients = [
            self._client(f"probe{i}", f"probe-doc-{i}", "<p>probe</p>") for i in range(3)
        ]
        self.latencies: list[float] = []
        self.slowest: list[tuple[float, float]] = []  # (latency, wall-clock time)
        self.acked: dict[str, list[str]] = {}
        self.failures = 0

    def _client(self, user: str, doc: str, initial: str | None = None) -> DocumentClient:
        token = self.tokens[user]
        return DocumentClient(
            self.url,
            api_key=self.api_key,
            document_id=doc,
            token_provider=lambda _arg: {"token": token},
            encryption_provider=static_provider(),
            iterations=ITERATIONS,
            max_backoff=1.0,
            initial_content=initial,
        )

    async def _edit(self, c: DocumentClient) -> None:
        i = 0
        while True:
            i += 1
            text = f"{c.document_id} line {i}"
            started = time.perf_counter()
            try:
                c.append_paragraph(text)
                await c.flush(30)
            except Exception:
                self.failures += 1
                await asyncio.sleep(0.5)
                continue
            self.latencies.append(time.perf_counter() - started)
            self.slowest = sorted([*self.slowest, (self.latencies[-1], time.time())])[-3:]
            self.acked[c.document_id].append(text)
            await asyncio.sleep(0.1)

    async def run(self, ready: Any, stop: Any) -> dict[str, Any]:
        for c in self.clients:
            await c.start()
            await c.wait_synced(30)
            self.acked[c.document_id] = []
        tasks = [asyncio.create_task(self._edit(c)) for c in self.clients]
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in self.clients:
            await c.close()
        lost = 0
        for doc, texts in self.acked.items():
            reader = self._client("reader", doc)
            try:
                await reader.start()
                await reader.wait_synced(60)
                have = set(paragraph_texts(reader))
                lost += sum(1 for t in texts if t not in have)
            finally:
                await reader.close()
        lat = sorted(self.latencies) or [float("nan")]
        return {
            "probe_acks": len(self.latencies),
            "probe_failures": self.failures,
            "others_ack_p50_ms": round(1000 * statistics.median(lat), 1),
            "others_ack_p99_ms": round(1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
            "others_acked_lost": lost,
            "slowest_acks": [(round(lat, 2), round(at % 1000, 1)) for lat, at in self.slowest],
        }


def _probe_main(
    url: str, api_key: str, tokens: dict[str, str], ready: Any, stop: Any, results: Any
) -> None:
    results.put(asyncio.run(_ProbeRun(url, api_key, tokens).run(ready, stop)))


class Probes:
    """``_ProbeRun`` in a child process; ``stop`` returns its figures."""

    def __init__(self, target: Target) -> None:
        tenant = target.tenant
        assert tenant is not None
        context = multiprocessing.get_context("spawn")
        tokens = {user: tenant.token(user) for user in ("probe0", "probe1", "probe2", "reader")}
        self._ready, self._stop, self._results = context.Event(), context.Event(), context.Queue()
        self._process = context.Process(
            target=_probe_main,
            daemon=True,
            args=(target.url, tenant.api_key, tokens, self._ready, self._stop, self._results),
        )

    async def start(self) -> Probes:
        self._process.start()
        while not self._ready.is_set():
            if not self._process.is_alive():
                raise RuntimeError("the probe process died")
            await asyncio.sleep(0.05)
        return self

    async def stop(self) -> dict[str, Any]:
        self._stop.set()
        for _ in range(2400):
            if not self._results.empty():
                break
            await asyncio.sleep(0.05)
        result = self._results.get(timeout=5)
        self._process.join(10)
        return result


async def raw_joined(target: Target, doc: str, user: str = "raw", **extra: Any) -> RawClient:
    raw = await RawClient.connect(target.server)
    raw.doc_id = doc
    if "client_id" in extra:
        raw.client_id = extra.pop("client_id")
    assert target.tenant is not None
    await raw.send(raw.hello_frame(target.tenant, doc, user=user, **extra))
    raw.welcome = await raw.recv_type("welcome")
    return raw


async def make_doc(target: Target, doc: str) -> None:
    c = client(target, "creator", doc, initial_content="<p>start</p>")
    await c.start()
    await c.wait_synced(30)
    await c.close()


async def reader_texts(target: Target, doc: str, timeout: float = 20) -> list[str] | None:
    c = client(target, "reader", doc)
    try:
        await c.start()
        await c.wait_synced(timeout)
        return paragraph_texts(c)
    except Exception:
        return None
    finally:
        await c.close()


# -- the attacks ------------------------------------------------------------------------
async def case0(target: Target) -> dict[str, Any]:
    """No attack: the probes alone for 10 s (the baseline of "others' ack")."""
    probes = await Probes(target).start()
    await asyncio.sleep(10)
    return await probes.stop()


async def case1(target: Target) -> dict[str, Any]:
    """Same client id reconnects while its old socket is open; a later joiner?"""
    await make_doc(target, "c1")
    first = await raw_joined(target, "c1", user="alice")
    await first.recv_type("synced")
    second = await raw_joined(target, "c1", user="alice", client_id=first.client_id)
    await second.recv_type("synced")
    bob = client(target, "bob", "c1")
    await bob.start()
    await bob.wait_synced(30)
    sees = first.client_id in bob.clients
    second.unlock()
    for i in range(20):
        await second.send(second.update_frame(i + 1, f"live {i}"))
        await second.recv_type("ack")
    await asyncio.sleep(1.0)
    live = sum(1 for t in paragraph_texts(bob) if t.startswith("live "))
    await bob.close()
    await second.close()
    return {"later_joiner_sees_editor": sees, "live_updates_delivered": f"{live}/20"}


async def case2(target: Target) -> dict[str, Any]:
    """A viewer with a lone surrogate in client_info; do the others still get acks?"""
    a = client(target, "alice", "c2", initial_content="<p>start</p>")
    await a.start()
    await a.wait_synced(30)
    log_before = target.log_bytes()
    frame = RawClient(None).hello_frame(target.tenant, "c2", user="mallory", role="viewer")
    frame["client_info"] = {"name": "SURROGATE"}
    raw = await RawClient.connect(target.server)
    await raw.send(json.dumps(frame).replace('"SURROGATE"', '"\\ud800"'))
    await asyncio.sleep(0.5)
    acked = 0
    for i in range(10):
        a.append_paragraph(f"after {i}")
        try:
            await a.flush(2)
            acked += 1
        except (TimeoutError, Exception):
            pass
    await a.close()
    with contextlib.suppress(Exception):
        await raw.close()
    return {"editor_flushes_ok": f"{acked}/10", "log_bytes": target.log_bytes() - log_before}


async def case3(target: Target) -> dict[str, Any]:
    """A bot re-run with the same client id; another user poisoning a client id."""
    lost = 0
    for run in ("first run", "second run"):
        bot = client(target, "bot", "c3", client_id="nightly-bot-1", initial_content="<p>start</p>")
        await bot.start()
        await bot.wait_synced(30)
        bot.append_paragraph(run)
        with contextlib.suppress(Exception):
            await bot.flush(10)
        await bot.close()
    texts = await reader_texts(target, "c3") or []
    lost += sum(1 for run in ("first run", "second run") if run not in texts)
    # another editor uses alice's client id with the largest counter, then compacts
    alice = client(
        target, "alice", "c3b", client_id="alice-editor-1", initial_content="<p>start</p>"
    )
    await alice.start()
    await alice.wait_synced(30)
    alice.append_paragraph("alice one")
    await alice.flush(10)
    state = alice.doc.get_update()
    await alice.close()
    poisoned = False
    with contextlib.suppress(Exception):
        mallory = await raw_joined(target, "c3b", user="mallory", client_id="alice-editor-1")
        await mallory.recv_type("synced")
        mallory.unlock()
        await mallory.send(mallory.update_frame(2**53 - 1, "poison"))
        reply = await mallory.recv_type("ack", "error")
        if reply["type"] == "ack":
            poisoned = True
            seal = mallory.cipher.seal_snapshot(reply["seq"], state)
            await mallory.send(
                {
                    "type": "snapshot",
                    "session_id": mallory.welcome["session"]["session_id"],
                    "seq": reply["seq"],
                    "data": base64.b64encode(seal).decode(),
                }
            )
            await mallory.recv_type("snapshot_ack", "error")
        await mallory.close()
    alice = client(target, "alice", "c3b", client_id="alice-editor-1")
    await alice.start()
    await alice.wait_synced(30)
    alice.append_paragraph("alice two")
    acked = True
    try:
        await alice.flush(10)
    except Exception:
        acked = False
    await alice.close()
    texts = await reader_texts(target, "c3b") or []
    lost += int(acked and "alice two" not in texts)
    return {"acked_edits_lost": lost, "foreign_client_id_accepted": poisoned}


async def case4(target: Target) -> dict[str, Any]:
    """(a) two viewers send near-4 MiB presence to a slow reader for 8 s;
    (b) 60 unauthenticated sockets send a 16 MiB frame each before hello."""
    await make_doc(target, "c4")
    probes = await Probes(target).start()
    watch = MemoryWatch(target)
    sock = socket.create_connection(("127.0.0.1", target.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow_ws = await websockets.connect(websocket_url(target.url), sock=sock, max_size=None)
    slow = RawClient(slow_ws)
    await slow.send(slow.hello_frame(target.tenant, "c4", user="slow", role="viewer"))
    await slow.recv_type("synced")
    slow_ws.transport.pause_reading()
    blob = os.urandom(3 * 1024 * 1024 - 64)
    deadline = time.monotonic() + 8

    async def viewer(n: int) -> int:
        sent = 0
        while time.monotonic() < deadline:
            try:
                raw = await raw_joined(target, "c4", user=f"v{n}", role="viewer")
                await raw.recv_type("synced")
                raw.unlock()
                data = base64.b64encode(raw.cipher.seal_presence(raw.client_id, blob)).decode()
                frame = json.dumps({"type": "presence", "data": data})
                while time.monotonic() < deadline:
                    await raw.ws.send(frame)
                    sent += 1
                    await asyncio.sleep(0.05)
            except Exception:
                await asyncio.sleep(0.2)
        return sent

    sent = sum(await asyncio.gather(viewer(1), viewer(2)))
    presence = await watch.stop()
    slow_ws.transport.abort()
    await asyncio.sleep(1)
    watch = MemoryWatch(target)
    big = "x" * (16 * 1024 * 1024)
    url = websocket_url(target.url)

    async def unauth() -> None:
        with contextlib.suppress(Exception):
            ws = await websockets.connect(url, max_size=None, open_timeout=20)
            await ws.send(big)
            await asyncio.sleep(3)
            await ws.close()

    sem = asyncio.Semaphore(20)

    async def limited() -> None:
        async with sem:
            await unauth()

    await asyncio.gather(*(limited() for _ in range(60)))
    await asyncio.sleep(1)
    prehello = await watch.stop()
    result = {
        "presence_frames_sent": sent,
        "presence_rss_peak_delta_mib": presence["rss_peak_delta_mib"],
        "presence_rss_retained_mib": presence["rss_after_delta_mib"],
        "prehello_rss_peak_delta_mib": prehello["rss_peak_delta_mib"],
        "prehello_rss_after_delta_mib": prehello["rss_after_delta_mib"],
    }
    result.update(await probes.stop())
    return result


async def case5(target: Target) -> dict[str, Any]:
    """250 viewer sockets with one token; can an editor still get in (within 15 s)?"""
    await make_doc(target, "c5")
    token = target.tenant.token("flood", role="viewer")
    sockets, refused = [], 0
    for _ in range(250):
        raw = await RawClient.connect(target.server)
        await raw.send(raw.hello_frame(target.tenant, "c5", token=token))
        reply = await raw.recv_type("welcome", "error")
        if reply["type"] == "error":
            refused += 1
            await raw.close()
        else:
            sockets.append(raw)
    editor = client(target, "bob", "c5")
    started = time.monotonic()
    joined: Any = False
    try:
        await editor.start()
        await editor.wait_synced(15)
        joined = round(time.monotonic() - started, 2)
    except Exception as exc:
        joined = f"no: {getattr(exc, 'code', type(exc).__name__)}"
    await editor.close()
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    return {
        "flood_sockets_accepted": len(sockets),
        "flood_refused": refused,
        "editor_joined_after_s": joined,
    }


async def case6(target: Target) -> dict[str, Any]:
    """Deep / non-finite / duplicate-key client_info; does a later joiner still sync?"""
    await make_doc(target, "c6")
    accepted = 0
    for info in ['{"a": ' + "[" * d + "]" * d + "}" for d in (40, 500, 900, 960, 985)] + [
        '{"zoom": 1e999}',
        '{"n": "a", "n": "b"}',
    ]:
        frame = RawClient(None).hello_frame(target.tenant, "c6", user="mallory", role="viewer")
        frame["client_info"] = "INFO"
        raw = await RawClient.connect(target.server)
        await raw.send(json.dumps(frame).replace('"INFO"', info))
        with contextlib.suppress(Exception):
            if (await raw.recv_type("welcome", "error", timeout=5))["type"] == "welcome":
                accepted += 1
        with contextlib.suppress(Exception):
            await raw.close()
    texts = await reader_texts(target, "c6", timeout=10)
    return {"odd_hellos_accepted": f"{accepted}/7", "later_joiner_synced": texts is not None}


async def case7(target: Target) -> dict[str, Any]:
    """One editor stores 1 MiB updates as fast as it can for 30 s (8 in flight), and
    reconnects after ``retry_after`` whenever it is refused."""
    await make_doc(target, "c7")
    probes = await Probes(target).start()
    payload = os.urandom(1024 * 1024)
    deadline = time.monotonic() + 30
    acked: list[int] = []
    errors: dict[str, int] = {}
    client_id = "hog-client-1"

    resume: dict[str, Any] = {}  # like a real client: resume, do not reload the history

    async def one_connection() -> float:
        raw = await RawClient.connect(target.server)
        raw.doc_id, raw.client_id = "c7", client_id
        await raw.send(raw.hello_frame(target.tenant, "c7", user="hog", **resume))
        welcome = await raw.recv_type("welcome", "error")
        if welcome["type"] == "error":
            errors[welcome["code"]] = errors.get(welcome["code"], 0) + 1
            return float(welcome.get("retry_after") or 1.0)
        raw.welcome = welcome
        resume["session_id"] = welcome["session"]["session_id"]
        resume.setdefault("last_seq", welcome["version"])
        await raw.recv_type("synced", timeout=60)
        raw.unlock()
        session = raw.welcome["session"]["session_id"]
        counter = raw.welcome.get("counter", len(acked))
        inflight = asyncio.Semaphore(8)
        error: dict | None = None

        async def reader() -> None:
            nonlocal error
            with contextlib.suppress(Exception):
                while True:
                    msg = await raw.recv(30)
                    if msg["type"] == "ack":
                        acked.append(msg["counter"])
                        inflight.release()
                        resume["last_seq"] = max(resume.get("last_seq", 0), msg["seq"])
                    elif msg["type"] == "error":
                        error = msg
                        return

        task = asyncio.create_task(reader())
        with contextlib.suppress(Exception):
            while time.monotonic() < deadline and error is None and not task.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(inflight.acquire(), 1)
                    counter += 1
                    data = raw.cipher.seal_update(raw.client_id, counter, payload)
                    await raw.send(
                        {
                            "type": "update",
                            "session_id": session,
                            "counter": counter,
                            "data": base64.b64encode(data).decode(),
                        }
                    )
        with contextlib.suppress(TimeoutError, Exception):
            await asyncio.wait_for(task, 2)
        task.cancel()
        with contextlib.suppress(Exception):
            await raw.close()
        if error is None:
            return 0.0
        print(f"hog refused at {time.time() % 1000:.1f}: {error['code']}", file=sys.stderr)
        errors[error["code"]] = errors.get(error["code"], 0) + 1
        return float(error.get("retry_after") or 1.0)

    started = time.monotonic()
    while time.monotonic() < deadline:
        wait = await one_connection()
        await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))
    elapsed = time.monotonic() - started
    result = {"hog_stored_mib_per_s": round(len(set(acked)) / elapsed, 1), "hog_errors": errors}
    result.update(await probes.stop())
    # every acknowledged update of the hog is stored
    async with httpx.AsyncClient() as http:
        info = (
            await http.get(
                target.url + "/v1/documents/info",
                params={"document_id": "c7"},
                headers={
                    "Tandem-Api-Key": target.tenant.api_key,
                    "Authorization": "Bearer " + target.tenant.token("r"),
                },
                timeout=30,
            )
        ).json()
    result["hog_acked"] = len(set(acked))
    result["hog_acked_lost"] = max(0, len(set(acked)) - info.get("stored_updates", 0))
    return result


async def case8(target: Target) -> dict[str, Any]:
    """400 idle TCP connections against a process limited to 256 descriptors."""
    cpu = target.cpu_seconds()
    log = target.log_bytes()
    hogs = []
    for _ in range(400):
        sock = socket.socket()
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError, OSError):
            sock.connect(("127.0.0.1", target.port))
        hogs.append(sock)
    await asyncio.sleep(8)
    result = {
        "cpu_s_in_8s": round(target.cpu_seconds() - cpu, 2),
        "log_bytes_in_8s": target.log_bytes() - log,
        "alive": target.alive(),
    }
    for sock in hogs:
        sock.close()
    await asyncio.sleep(2)
    texts = await reader_texts(target, "c8", timeout=20) if target.alive() else None
    if texts is not None:
        result["recovered"] = True
    else:
        try:
            await make_doc(target, "c8")
            result["recovered"] = True
        except Exception:
            result["recovered"] = False
    return result


async def case9(target: Target) -> dict[str, Any]:
    """Remove the signing key with the CLI; how long until the connections close?"""
    editor = client(target, "alice", "c9", initial_content="<p>start</p>")
    viewer = client(target, "victor", "c9", role="viewer")
    for c in (editor, viewer):
        await c.start()
        await c.wait_synced(30)
    started = time.monotonic()
    target.cli("keys", "remove", f"--api-key={target.tenant.api_key}", "--", "measure-key")
    closed: Any = "not within 20 s"
    while time.monotonic() - started < 20:
        if editor.error is not None and viewer.error is not None:
            closed = round(time.monotonic() - started, 1)
            break
        await asyncio.sleep(0.1)
    await editor.close()
    await viewer.close()
    return {"closed_after_key_removal_s": closed}


async def case9b(target: Target) -> dict[str, Any]:
    token = target.tenant.token("alice", ttl=253402300799 - time.time() - 10)
    raw = await RawClient.connect(target.server)
    await raw.send(raw.hello_frame(target.tenant, "c9b", token=token))
    reply = await raw.recv_type("welcome", "error")
    await raw.close()
    return {"year_9999_token_accepted": reply["type"] == "welcome"}


class _Refused(Exception):
    """The WebSocket handshake was answered with another status than 101."""


def _masked_text_frame(payload: bytes) -> bytes:
    """A client-to-server WebSocket text frame (masked, as clients must send)."""
    mask = os.urandom(4)
    header = bytes([0x81])
    size = len(payload)
    if size < 126:
        header += bytes([0x80 | size])
    elif size < 65536:
        header += bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        header += bytes([0x80 | 127]) + size.to_bytes(8, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def case10(target: Target) -> dict[str, Any]:
    """300 forged-token hellos per second for 10 s from one address. The attacker is
    raw sockets with prebuilt bytes, so its own CPU use does not skew the figures."""
    probes = await Probes(target).start()
    cpu = target.cpu_seconds()
    good = target.tenant.token("alice")
    h, p, s = good.split(".")
    forged = f"{h}.{p}.{s[:-4]}AAAA"
    hello = json.dumps(RawClient(None).hello_frame(target.tenant, "c10", token=forged))
    upgrade = (
        f"GET /v1/collab HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    frame = _masked_text_frame(hello.encode())
    codes: dict[str, int] = {}

    async def one() -> None:
        code = "failed"
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
            writer.write(upgrade)
            data = b""
            async with asyncio.timeout(10):
                data = await reader.readuntil(b"\r\n\r\n")  # 101, then the frame
                if not data.startswith(b"HTTP/1.1 101"):
                    raise _Refused(data.split(b"\r\n", 1)[0].decode())
                writer.write(frame)
                while b'"code":"' not in data and len(data) < 65536:
                    chunk = await reader.read(4096)
                    if not chunk:
                        break
                    data += chunk
            if b'"code":"' in data:
                code = data.split(b'"code":"', 1)[1].split(b'"', 1)[0].decode()
            writer.close()
        except _Refused as refused:
            code = "http_" + str(refused).split(" ")[1]
        except Exception:
            pass
        codes[code] = codes.get(code, 0) + 1

    tasks = []
    started = time.monotonic()
    for i in range(3000):
        tasks.append(asyncio.create_task(one()))
        wait = started + (i + 1) / 300 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    used = target.cpu_seconds() - cpu
    answered = sum(n for code, n in codes.items() if code != "failed")
    result = {
        "server_cpu_percent": round(100 * used / elapsed),
        "server_cpu_ms_per_answered_hello": round(1000 * used / max(1, answered), 2),
        "forged_replies": codes,
    }
    result.update(await probes.stop())
    return result


async def case11(target: Target) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        metrics = await http.get(target.url + "/metrics")
        health = await http.get(target.url + "/healthz")
    return {
        "public_metrics_status": metrics.status_code,
        "healthz_has_counts": "connections" in health.text,
    }


CASES: dict[str, tuple[Callable[[Target], Awaitable[dict[str, Any]]], dict[str, Any]]] = {
    "0": (case0, {}),
    "1": (case1, {}),
    "2": (case2, {}),
    "3": (case3, {}),
    "4": (case4, {}),
    "5": (case5, {}),
    "6": (case6, {}),
    "7": (case7, {}),
    "8": (case8, {"nofile": 256}),
    "9": (case9, {}),
    "9b": (case9b, {}),
    "10": (case10, {}),
    "11": (case11, {}),
}


async def run_case(name: str, src: Path, label: str) -> dict[str, Any]:
    attack, options = CASES[name]
    target = Target(src, nofile=options.get("nofile")).start()
    started = time.monotonic()
    try:
        result = await asyncio.wait_for(attack(target), 180)
    except Exception as exc:  # an attack that breaks the server is a result too
        result = {"attack_error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        result["server_alive"] = target.alive()
        target.stop()
        if os.environ.get("MEASURE_KEEP_LOG"):
            result["server_log"] = str(target.log_path)
    return {
        "case": name,
        "label": label,
        "seconds": round(time.monotonic() - started, 1),
        "load_average": round(os.getloadavg()[0], 1),
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=HERE, help="source tree of the server")
    parser.add_argument("--label", default="after")
    parser.add_argument("cases", nargs="*", default=list(CASES))
    args = parser.parse_args()
    for name in args.cases:
        print(json.dumps(asyncio.run(run_case(name, args.src.resolve(), args.label))), flush=True)


if __name__ == "__main__":
    main()
