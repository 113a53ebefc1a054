"""Quotas, fairness, admission, revocation, transport and monitoring (issue 11, cases 3
and 5 to 11), as units: injected clocks, fake transports, a SQLite file, no socket."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import warnings

import pytest
import uvicorn
from uvicorn.server import ServerState as UvicornState

from tandem.auth import AuthError, StaticKeySource, TokenVerifier
from tandem.protocol.errors import ProtocolError
from tandem.server.admission import RejectedTokens, SourceLimiter, UserConnections
from tandem.server.app import create_app
from tandem.server.quotas import ByteGate, ByteRate, StoredBytes, WriteLimits, check_write
from tandem.server.revocation import RevocationWatcher
from tandem.server.transport import HTTPProtocol, RepeatFilter, connection_cap
from tandem.settings import load_settings
from tandem.storage import ClientIdTaken, SessionRecord
from tandem.storage.sqlite import SQLiteStore
from tests.support.tokens import Signer

with warnings.catch_warnings():  # starlette prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- case 7: storage growth -------------------------------------------------------------------
def test_byte_rate_allows_bursts_then_the_rate():
    clock = Clock()
    rate = ByteRate(60_000, clock=clock)  # 1000 B/s, bursts of 15 000
    assert rate.take(15_000) == 0.0
    wait = rate.take(1000)
    assert wait == pytest.approx(1.0)
    clock.now += 1.0
    assert rate.take(1000) == 0.0
    big = ByteRate(60_000, floor=100_000, clock=clock)
    assert big.take(100_000) == 0.0  # one maximal frame always fits an empty bucket


def test_check_write_order_and_errors():
    clock = Clock()
    limits = WriteLimits(max_document_bytes=1000, max_api_key_bytes=5000, max_log_updates=10)
    ok = dict(
        log_length=0,
        document_bytes=0,
        api_key_bytes=0,
        limits=limits,
        document_rate=None,
        api_key_rate=None,
    )
    assert check_write(100, **ok) is None
    log_full = check_write(1, **{**ok, "log_length": 10})
    assert log_full.code == "storage_quota_exceeded" and log_full.retry_after
    assert check_write(100, **{**ok, "document_bytes": 950}).code == "storage_quota_exceeded"
    assert check_write(100, **{**ok, "api_key_bytes": 4950}).code == "storage_quota_exceeded"
    rate = ByteRate(600, clock=clock)  # 10 B/s, bursts of 150
    assert check_write(150, **{**ok, "document_rate": rate}) is None
    refused = check_write(50, **{**ok, "document_rate": rate})
    assert refused.code == "quota_exceeded" and refused.retry_after == pytest.approx(5.0)
    # a write refused for size takes no rate quota
    other = ByteRate(600, clock=clock)
    assert check_write(1, **{**ok, "log_length": 10, "document_rate": other}) is not None
    assert check_write(150, **{**ok, "document_rate": other}) is None


def test_stored_bytes_are_reread_after_their_ttl():
    clock = Clock()
    stored = StoredBytes(ttl=60, clock=clock)
    assert stored.known("k") is None
    stored.set("k", 100)
    stored.add("k", 50)
    assert stored.known("k") == 150
    clock.now += 61
    assert stored.known("k") is None


async def test_byte_gate_serves_documents_in_turn():
    """A busy document waits behind its own bytes in flight; others are not queued there."""
    busy = ByteGate(1000)
    order: list[str] = []
    await busy.acquire(800)

    async def write(name: str, gate: ByteGate, nbytes: int) -> None:
        await gate.acquire(nbytes)
        order.append(name)
        gate.release(nbytes)

    second = asyncio.create_task(write("busy-2", busy, 800))
    third = asyncio.create_task(write("busy-3", busy, 100))  # behind busy-2, FIFO
    quiet = asyncio.create_task(write("quiet", ByteGate(1000), 100))
    await asyncio.sleep(0)
    await quiet
    assert order == ["quiet"]
    busy.release(800)
    await asyncio.gather(second, third)
    assert order == ["quiet", "busy-2", "busy-3"]
    huge = ByteGate(10)
    await huge.acquire(50)  # larger than the gate: passes alone
    huge.release(50)
    assert huge.in_flight == 0


async def test_byte_gate_try_acquire_takes_only_what_fits_with_nobody_waiting():
    gate = ByteGate(1000)
    assert gate.try_acquire(600) and gate.in_flight == 600
    assert not gate.try_acquire(500) and gate.in_flight == 600  # would not fit
    waiter = asyncio.create_task(gate.acquire(500))
    await asyncio.sleep(0)
    assert not gate.try_acquire(100)  # fits, but someone waits: first come, first served
    gate.release(600)
    await waiter
    assert gate.in_flight == 500
    assert gate.try_acquire(500) and gate.in_flight == 1000
    gate.release(1000)
    assert gate.try_acquire(5000) and gate.in_flight == 5000  # alone, larger than the gate


# -- case 3: client ids in storage ----------------------------------------------------------
@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_storage_binds_a_client_id_to_its_user(tmp_path, engine):
    if engine == "postgres":
        from tandem.storage.postgres import PostgresStore
        from tests.support.postgres import create_database, drop_database

        url = await create_database()
        store = PostgresStore(url)
    else:
        url = None
        store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    try:
        key = (await store.create_api_key("t")).key
        session = SessionRecord("S" * 20, "h", bytes(32), 10_000, bytes(40), "alice", 0.0)
        await store.create_session(key, "doc", session, bytes(40))
        first = await store.append_updates(
            key, "doc", "S" * 20, "client-1", "alice", [(1, b"a" * 30), (2, b"b" * 30)]
        )
        assert [r.seq for r in first] == [1, 2]
        with pytest.raises(ClientIdTaken):
            await store.append_update(
                key, "doc", "S" * 20, "client-1", 2**53 - 1, "mallory", b"m" * 30
            )
        counter = await store.client_counter(key, "doc", "S" * 20, "client-1")
        assert counter is not None and (counter.user_id, counter.max_counter) == ("alice", 2)
        assert await store.client_counter(key, "doc", "S" * 20, "client-2") is None
        assert await store.api_key_stored_bytes(key) == 40 + 60
    finally:
        await store.close()
        if url is not None:
            await drop_database(url)


# -- case 5 and 10: admission --------------------------------------------------------------
def test_user_connections_are_capped():
    users = UserConnections(2)
    users.acquire("k", "alice")
    users.acquire("k", "alice")
    users.acquire("k", "bob")
    with pytest.raises(ProtocolError) as full:
        users.acquire("k", "alice")
    assert full.value.code == "too_many_connections"
    users.release("k", "alice")
    users.acquire("k", "alice")


def test_failed_authentications_are_limited_per_source():
    clock = Clock()
    sources = SourceLimiter(2.0, 3, clock=clock, max_sources=2)
    for _ in range(3):
        sources.check("10.0.0.1")
        sources.failed("10.0.0.1")
    with pytest.raises(ProtocolError) as limited:
        sources.check("10.0.0.1")
    assert limited.value.code == "rate_limited" and limited.value.retry_after >= 0.5
    sources.check("10.0.0.2")  # other sources are not affected
    clock.now += 0.5
    sources.check("10.0.0.1")
    sources.failed("10.0.0.3")
    sources.failed("10.0.0.4")  # bounded: the oldest source is forgotten
    assert len(sources._buckets) == 2


def test_rejected_tokens_are_remembered_for_a_while():
    clock = Clock()
    cache = RejectedTokens(size=2, ttl=60, clock=clock)
    error = AuthError("bad_signature", "no")
    cache.add("k", "t1", error)
    assert cache.get("k", "t1") is error and cache.get("k2", "t1") is None
    clock.now += 61
    assert cache.get("k", "t1") is None


# -- case 9: revocation and token lifetime ----------------------------------------------------
async def test_tokens_may_not_live_longer_than_the_maximum():
    signer = Signer(kid="k1")
    verifier = TokenVerifier(StaticKeySource({"key": [signer.public_jwk]}), max_lifetime=3600)
    await verifier.verify("key", signer.token("alice", ttl=3000))
    with pytest.raises(AuthError) as info:
        await verifier.verify("key", signer.token("alice", ttl=253402300799 - time.time()))
    assert info.value.code == "invalid_claim"


class FakeConnection:
    def __init__(self, still_valid: bool) -> None:
        self.still_valid = still_valid
        self.failed: ProtocolError | None = None
        self.protocol = self

    @property
    def is_closed(self) -> bool:
        return self.failed is not None

    def fail(self, error: ProtocolError) -> None:
        self.failed = error

    async def reverify(self) -> None:
        if not self.still_valid:
            self.fail(ProtocolError("jwt", "Unable to retrieve JWK set"))


async def test_revocation_closes_only_connections_whose_keys_went(tmp_path):
    store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    try:
        key = (await store.create_api_key("t")).key
        signer = Signer(kid="k1")
        await store.add_public_keys(key, [signer.public_jwk, Signer(kid="k2").public_jwk])

        class State:
            pass

        state = State()
        state.store = store
        valid, revoked = FakeConnection(True), FakeConnection(False)
        state.connections = {key: {valid, revoked}}
        watcher = RevocationWatcher(state, 5.0)  # type: ignore[arg-type]
        await watcher.check()  # first look: everyone re-verified once
        assert revoked.failed is not None and valid.failed is None
        revoked.failed = None
        assert await watcher.check() == 0  # nothing changed: nothing re-verified
        assert revoked.failed is None
        await store.remove_public_key(key, "k2")
        assert await watcher.check() == 1
        await store.delete_api_key(key)
        assert await watcher.check() == 2
        assert valid.failed.code == "jwt"
    finally:
        await store.close()


# -- case 8: sockets, descriptors, logs --------------------------------------------------------
class FakeTransport:
    def __init__(self) -> None:
        self.aborted = False
        self.closing = False

    def get_extra_info(self, name: str, default=None):
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def abort(self) -> None:
        self.aborted = True
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def write(self, data: bytes) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol) -> None:
        pass


def http_protocol(header_timeout: float, max_connections: int):
    async def app(scope, receive, send):  # pragma: no cover - never reached
        pass

    config = uvicorn.Config(app, http="h11", lifespan="off")
    config.load()
    cls = type(
        "P", (HTTPProtocol,), {"header_timeout": header_timeout, "max_connections": max_connections}
    )
    state = UvicornState()
    return cls, config, state


async def test_idle_and_slow_header_connections_are_cut():
    cls, config, state = http_protocol(0.05, 100)
    idle = FakeTransport()
    cls(config, state, {}).connection_made(idle)
    slow = FakeTransport()
    protocol = cls(config, state, {})
    protocol.connection_made(slow)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers never end
    quick = FakeTransport()
    done = cls(config, state, {})
    done.connection_made(quick)
    done.data_received(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.15)
    assert idle.aborted and slow.aborted and not quick.aborted


async def test_connections_over_the_cap_are_closed_at_once():
    cls, config, state = http_protocol(10, 2)
    transports = [FakeTransport() for _ in range(3)]
    for transport in transports:
        cls(config, state, {}).connection_made(transport)
    assert [t.aborted for t in transports] == [False, False, True]
    assert connection_cap(0, 100) >= 16 and connection_cap(50, 100) <= 50


def test_a_repeated_log_record_is_written_once_per_interval():
    clock = Clock()
    repeat = RepeatFilter(10, clock=clock)

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, None, None)

    assert repeat.filter(record("socket.accept() out of system resource"))
    assert (
        sum(repeat.filter(record("socket.accept() out of system resource")) for _ in range(1000))
        == 0
    )
    assert repeat.filter(record("another message"))
    clock.now += 11
    again = record("socket.accept() out of system resource")
    assert repeat.filter(again) and "1000 similar messages suppressed" in again.getMessage()


# -- case 11: monitoring ------------------------------------------------------------------------
@pytest.mark.parametrize("token", [None, "s3cret"])
def test_metrics_need_the_token_and_health_tells_no_counts(tmp_path, token):
    settings = load_settings(data_dir=str(tmp_path), metrics_token=token)
    with TestClient(create_app(settings)) as http:
        health = http.get("/healthz").json()
        assert health["status"] == "ok" and "connections" not in health
        if token is None:
            assert http.get("/metrics").status_code == 404
            return
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = http.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and "tandem_connections 0" in ok.text


def test_cluster_events_are_typed_and_checked():
    from tandem.server.cluster_events import (
        MemberJoined,
        UpdateCommitted,
        parse_event,
    )

    update = UpdateCommitted("k", "d", 5, "S" * 20, "c" * 8, 3, "alice", 1.5, "AAAA")
    envelope = parse_event({**update.to_wire(), "node": "n1"})
    assert envelope is not None and envelope.node == "n1" and envelope.event == update
    member = {
        "user_id": "a",
        "client_id": "c" * 8,
        "caret": 1,
        "client_info": {},
        "role": "editor",
        "extra": "dropped",
    }
    joined = parse_event({"k": "j", "a": "k", "d": "d", "m": member, "node": "n2"})
    assert isinstance(joined.event, MemberJoined) and "extra" not in joined.event.member.info()
    for bad in (
        {"k": "u", "a": "k", "d": "d", "s": "5"},
        {"k": "j", "a": "k", "d": "d", "m": {"client_id": 1}},
        {"k": "nope", "a": "k", "d": "d"},
        [],
        {"k": 1},
        {"k": "pr", "a": "k", "d": "d", "c": "c", "uid": "u", "data": None},
        {"k": "u", "a": "k", "d": "d", "s": True, "sid": "s", "c": "c", "n": 1, "uid": "u"},
    ):
        assert parse_event(bad) is None, bad
    assert json.dumps(update.to_wire())


def test_cluster_member_events_carry_a_typed_member():
    from tandem.server.cluster_events import MemberInfo, MemberLeft, parse_event, parse_member

    member = {"user_id": "a", "client_id": "c" * 8, "caret": 2, "client_info": {}, "role": "viewer"}
    info = parse_member(member)
    assert info == MemberInfo("a", "c" * 8, 2, "viewer", {})
    assert info.info() == member and list(info.info()) == list(member)
    left = MemberLeft("k", "d", info)
    envelope = parse_event({**left.to_wire(), "node": "n2"})
    assert envelope is not None and envelope.event == left
    no_info = {"user_id": "a", "client_id": "c" * 8, "caret": 2, "role": "editor"}
    assert parse_member(no_info).info() == no_info  # absent client_info stays absent
    for bad in (
        {**member, "client_info": None},
        {**member, "client_info": []},
        {**member, "caret": True},
        {**member, "client_id": ""},
        {k: v for k, v in member.items() if k != "role"},
        ["not", "an", "object"],
    ):
        assert parse_member(bad) is None, bad
        assert parse_event({"k": "l", "a": "k", "d": "d", "m": bad}) is None, bad


def test_cluster_events_name_only_document_keys_a_hello_could():
    from tandem.protocol.messages import MAX_API_KEY, MAX_DOCUMENT_ID
    from tandem.server.cluster_events import DocumentDeleted, parse_event

    longest = {"k": "x", "a": "k" * MAX_API_KEY, "d": "d" * MAX_DOCUMENT_ID}
    assert parse_event(longest).event == DocumentDeleted("k" * MAX_API_KEY, "d" * MAX_DOCUMENT_ID)
    for bad in (
        {**longest, "d": "d" * (MAX_DOCUMENT_ID + 1)},
        {**longest, "a": "k" * (MAX_API_KEY + 1)},
        {**longest, "d": ""},
        {**longest, "a": ["k"]},
        {**longest, "d": {"id": "d"}},
        {"k": "who", "a": "k"},
    ):
        assert parse_event(bad) is None, bad
