"""Invariant 4: every malformed frame gets a documented error and close code; the
server stays up and the other clients on the document keep working."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as sync_connect

from tandem.client import websocket_url
from tandem.protocol.errors import CLOSE_CODES, ProtocolError
from tandem.protocol.messages import parse_client_message
from tests.collab.helpers import RawClient, ThreadedServer, converged
from tests.conftest import close_all, new_client
from tests.support.server import serve_in_loop

MAX_FRAME = 8192
STRICT = {
    "max_frame_bytes": MAX_FRAME,
    "hello_timeout": 0.5,
    "messages_per_second": 20,
    "message_burst": 40,
}
DOC = "target-doc"
SEALED = base64.b64encode(bytes(40)).decode()


@pytest.fixture
async def strict(tmp_path, make_client):
    """A server with small limits, and two SDK editors working on DOC."""
    async with serve_in_loop(tmp_path / "data", **STRICT) as server:
        a = make_client(server, "alice", DOC, initial_content="<p>start</p>")
        await a.start()
        await a.wait_synced()
        b = make_client(server, "bob", DOC)
        await b.start()
        await b.wait_synced()
        yield server, a, b
        await close_all([a, b])


async def still_working(server, a, b, label: str) -> None:
    a.append_paragraph(f"a after {label}")
    b.append_paragraph(f"b after {label}")
    html = await converged([a, b])
    assert f"a after {label}" in html and f"b after {label}" in html
    async with httpx.AsyncClient() as http:
        health = (await http.get(server.url + "/healthz")).json()
    assert health["status"] == "ok"


def hello(raw: RawClient, server, **extra) -> dict:
    return raw.hello_frame(server.tenant, DOC, **extra)


# (name, first frame(s) builder, expected code): frames sent instead of a valid hello
BEFORE_HELLO = [
    ("not json", lambda r, s: ["{not json"], "bad_frame"),
    ("json array", lambda r, s: ["[1, 2, 3]"], "bad_frame"),
    ("json string", lambda r, s: ['"hello"'], "bad_frame"),
    ("NaN", lambda r, s: ['{"type": "hello", "protocol": NaN}'], "bad_frame"),
    ("missing type", lambda r, s: [json.dumps({"protocol": 1})], "bad_frame"),
    ("type not a string", lambda r, s: [json.dumps({"type": 7})], "bad_frame"),
    ("unknown type", lambda r, s: [json.dumps({"type": "gimme"})], "bad_frame"),
    ("invalid utf-8 binary", lambda r, s: [b"\xff\xfe{"], "bad_frame"),
    (
        "hello missing token",
        lambda r, s: [json.dumps({k: v for k, v in hello(r, s).items() if k != "token"})],
        "bad_frame",
    ),
    ("hello protocol as string", lambda r, s: [json.dumps(hello(r, s, protocol="1"))], "bad_frame"),
    (
        "hello bad client id",
        lambda r, s: [json.dumps(hello(r, s, client_id="no spaces!"))],
        "bad_frame",
    ),
    (
        "hello wrong protocol version",
        lambda r, s: [json.dumps(hello(r, s, protocol=2))],
        "client_update_required",
    ),
    (
        "message before hello",
        lambda r, s: [json.dumps({"type": "presence", "data": SEALED})],
        "protocol_violation",
    ),
    ("garbage token", lambda r, s: [json.dumps(hello(r, s, token="a.b.c"))], "jwt"),
]


@pytest.mark.parametrize("name,frames,code", BEFORE_HELLO, ids=[c[0] for c in BEFORE_HELLO])
async def test_bad_first_frames(strict, name, frames, code):
    server, a, b = strict
    raw = await RawClient.connect(server)
    for frame in frames(raw, server):
        await raw.send(frame)
    await raw.expect_error(code)
    await still_working(server, a, b, name)


def _update(raw: RawClient, **override) -> str:
    frame = {
        "type": "update",
        "session_id": raw.welcome["session"]["session_id"],
        "counter": 1,
        "data": SEALED,
    }
    frame.update(override)
    return json.dumps(frame)


AFTER_HELLO = [
    ("update counter as string", lambda r: [_update(r, counter="1")], "bad_frame"),
    ("update counter zero", lambda r: [_update(r, counter=0)], "bad_frame"),
    ("update counter bool", lambda r: [_update(r, counter=True)], "bad_frame"),
    ("update invalid base64", lambda r: [_update(r, data="!!not base64!!")], "bad_frame"),
    ("update unpadded base64", lambda r: [_update(r, data=SEALED.rstrip("="))], "bad_frame"),
    ("update too short to be sealed", lambda r: [_update(r, data="AAAA")], "bad_frame"),
    ("update data as list", lambda r: [_update(r, data=[1, 2])], "bad_frame"),
    ("update unknown session", lambda r: [_update(r, session_id="Z" * 24)], "stale_session"),
    (
        "update missing data",
        lambda r: [json.dumps({"type": "update", "counter": 1, "session_id": "Z" * 24})],
        "bad_frame",
    ),
    (
        "second hello",
        lambda r: [json.dumps({**r.hello_frame(r.tenant, DOC)})],
        "protocol_violation",
    ),
    ("unknown type", lambda r: [json.dumps({"type": "delete_everything"})], "bad_frame"),
    (
        "snapshot seq negative",
        lambda r: [
            json.dumps(
                {
                    "type": "snapshot",
                    "session_id": r.welcome["session"]["session_id"],
                    "seq": -1,
                    "data": SEALED,
                }
            )
        ],
        "bad_frame",
    ),
    ("token refresh garbage", lambda r: [json.dumps({"type": "token", "token": "x.y.z"})], "jwt"),
    (
        "oversized frame",
        lambda r: [json.dumps({"type": "presence", "data": "A" * (MAX_FRAME + 4)})],
        "frame_too_large",
    ),
    ("flood", lambda r: [json.dumps({"type": "presence", "data": SEALED})] * 120, "rate_limited"),
]


@pytest.mark.parametrize("name,frames,code", AFTER_HELLO, ids=[c[0] for c in AFTER_HELLO])
async def test_bad_frames_after_hello(strict, name, frames, code):
    server, a, b = strict
    raw = await RawClient.connect(server)
    raw.tenant = server.tenant
    await raw.hello(server.tenant, DOC)
    await raw.recv_type("synced")
    for frame in frames(raw):
        try:
            await raw.send(frame)
        except ConnectionClosed:
            break
    await raw.expect_error(code)
    await still_working(server, a, b, name)


async def test_frame_beyond_transport_limit_is_cut_with_1009(strict):
    server, a, b = strict
    raw = await RawClient.connect(server)
    await raw.hello(server.tenant, DOC)
    await raw.send("x" * (MAX_FRAME * 2 + 10))
    await asyncio.wait_for(raw.ws.wait_closed(), 10)
    assert raw.ws.close_code == 1009
    await still_working(server, a, b, "huge frame")


async def test_oversized_first_frame_is_cut_before_it_is_read(strict):
    """Before hello the WebSocket layer itself cuts a frame over the (small) hello limit."""
    server, a, b = strict
    raw = await RawClient.connect(server)
    await raw.send("x" * (MAX_FRAME + 1))
    await asyncio.wait_for(raw.ws.wait_closed(), 10)
    assert raw.ws.close_code == 1009
    await still_working(server, a, b, "oversized first frame")


async def test_hello_timeout(strict):
    server, a, b = strict
    raw = await RawClient.connect(server)
    started = time.monotonic()
    error = await raw.expect_error("hello_timeout", 4000)
    assert 0.4 < time.monotonic() - started < 5
    assert "0.5" in error["message"]
    await still_working(server, a, b, "silence")


# -- hypothesis: random frames after a valid hello ----------------------------------------
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
_FIELDS = [
    "session_id",
    "counter",
    "data",
    "seq",
    "key_hint",
    "salt",
    "iterations",
    "wrapped_key",
    "snapshot",
    "replaces",
    "token",
    "protocol",
    "api_key",
    "document_id",
    "client_id",
    "last_seq",
    "client_info",
]
_values = _json | st.sampled_from(
    [
        SEALED,
        "!!notbase64!!",
        "Q" * 24,
        "",
        "=",
        0,
        -1,
        2**60,
        base64.b64encode(bytes(32)).decode(),
        "e.e.e",
    ]
)
_TYPES = [
    "hello",
    "update",
    "presence",
    "snapshot",
    "create_session",
    "token",
    "ack",
    "welcome",
    "HELLO",
    "",
]
_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(_TYPES) | st.text(max_size=12) | _scalars},
    optional={f: _values for f in _FIELDS},
)
random_frames = st.one_of(
    _objects.map(json.dumps),
    _json.map(json.dumps),
    st.text(max_size=60),
    st.binary(max_size=60),
)


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    settings_ = dict(STRICT, hello_timeout=5.0, messages_per_second=1000, message_burst=1000)
    with ThreadedServer(tmp_path_factory.mktemp("fuzz") / "data", **settings_) as threaded:
        server = threaded.server

        async def start():
            a = new_client(server, "alice", DOC, initial_content="<p>start</p>")
            await a.start()
            await a.wait_synced()
            b = new_client(server, "bob", DOC)
            await b.start()
            await b.wait_synced()
            return a, b

        a, b = threaded.run(start())
        yield threaded, a, b
        threaded.run(close_all([a, b]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=random_frames)
def test_random_frames_after_hello(fuzz_target, frame):
    threaded, _a, _b = fuzz_target
    server = threaded.server
    raw = RawClient(None)  # only builds the hello frame; the socket is synchronous here
    with sync_connect(websocket_url(server.url), max_size=None) as ws:
        ws.send(json.dumps(raw.hello_frame(server.tenant, DOC)))
        while json.loads(ws.recv(10))["type"] != "synced":
            pass
        ws.send(frame)
        error = None
        try:
            while error is None:
                msg = json.loads(ws.recv(0.5))
                if msg["type"] == "error":
                    error = msg
        except TimeoutError:
            pass
        if error is None:
            # No error: the frame must have been a valid message.
            try:
                parse_client_message(frame, max_bytes=MAX_FRAME)
            except ProtocolError as exc:
                raise AssertionError(f"no error for an invalid frame ({exc.code})") from None
            return
        assert error["code"] in CLOSE_CODES and error["code"] != "internal_error", error
        assert error["close"] == CLOSE_CODES[error["code"]][0], error
        try:
            ws.recv(10)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == error["close"], closed
        else:
            raise AssertionError("the connection stayed open after an error")


def test_fuzzed_document_still_works(fuzz_target):
    """Runs after the fuzzing (same module server): the editors were never disturbed."""
    threaded, a, b = fuzz_target

    async def check():
        await still_working(threaded.server, a, b, "fuzzing")

    threaded.run(check())
