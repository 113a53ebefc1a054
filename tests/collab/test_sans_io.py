"""The sans-I/O core, case by case of issue 11, with no socket: the connection state
machine, strict JSON, the outbound queue, server frames, the hub's membership."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from tandem.protocol import server_frames, strict_json
from tandem.protocol.errors import CLOSE_CODES, ProtocolError
from tandem.protocol.messages import parse_client_message
from tandem.protocol.outbound import OutboundQueue
from tandem.protocol.server_connection import (
    ConnectionLimits,
    ConnectionState,
    CreateSessionReceived,
    Credentials,
    HelloReceived,
    PresenceReceived,
    ServerConnection,
    TokenReceived,
    UpdateReceived,
)
from tandem.server.hub import DocumentHub, HubRegistry, MembershipLimits
from tandem.storage import SessionRecord

SEALED = base64.b64encode(bytes(40)).decode()
SESSION = "S" * 20


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def hello(**extra: object) -> str:
    frame = {
        "type": "hello",
        "protocol": 1,
        "api_key": "tk_x",
        "document_id": "doc",
        "token": "a.b.c",
        "client_id": "client-0001",
        "client_info": {"name": "A"},
    }
    frame.update(extra)
    return json.dumps(frame)


def update(counter: int = 1, session: str = SESSION) -> str:
    return json.dumps({"type": "update", "session_id": session, "counter": counter, "data": SEALED})


def opened(
    role: str = "editor", limits: ConnectionLimits | None = None, clock: Clock | None = None
) -> ServerConnection:
    clock = clock or Clock()
    machine = ServerConnection(limits or ConnectionLimits(), clock=clock, wall_clock=clock)
    assert isinstance(machine.receive_frame(hello()), HelloReceived)
    machine.authenticated(Credentials("alice", role, clock.now + 600))
    session = SessionRecord(SESSION, "hint", bytes(32), 10_000, bytes(40), "alice", 0.0)
    welcome = json.loads(machine.joined(caret=1, version=0, session=session, clients=[], counter=7))
    assert welcome["type"] == "welcome" and welcome["counter"] == 7
    return machine


def code_of(call) -> str:
    with pytest.raises(ProtocolError) as info:
        call()
    assert info.value.code in CLOSE_CODES
    return info.value.code


# -- the state machine ----------------------------------------------------------------
def test_states_and_illegal_transitions():
    machine = ServerConnection(ConnectionLimits())
    assert machine.state is ConnectionState.AWAIT_HELLO
    assert code_of(lambda: machine.receive_frame(update())) == "protocol_violation"
    machine = ServerConnection(ConnectionLimits())
    machine.receive_frame(hello())
    assert machine.state is ConnectionState.AUTHENTICATING
    assert code_of(lambda: machine.receive_frame(update())) == "protocol_violation"
    machine = opened()
    assert machine.state is ConnectionState.OPEN
    assert code_of(lambda: machine.receive_frame(hello())) == "protocol_violation"
    assert isinstance(machine.receive_frame(update()), UpdateReceived)
    assert isinstance(
        machine.receive_frame(json.dumps({"type": "token", "token": "x"})), TokenReceived
    )
    error = json.loads(machine.fail(ProtocolError("quota_exceeded", "slow down", retry_after=2.25)))
    assert error["retry_after"] in (2.2, 2.3)
    del error["retry_after"]
    assert error == {
        "type": "error",
        "code": "quota_exceeded",
        "message": "slow down",
        "close": 4008,
    }
    assert machine.is_closed and machine.fail(ProtocolError("bad_frame", "x")) is None
    assert machine.receive_frame(update()) is None


def test_roles_sessions_and_iterations():
    viewer = opened("viewer")
    assert code_of(lambda: viewer.receive_frame(update())) == "read_only"
    editor = opened()
    assert code_of(lambda: editor.receive_frame(update(session="T" * 20))) == "stale_session"
    create = {
        "type": "create_session",
        "session_id": "N" * 20,
        "key_hint": "",
        "salt": base64.b64encode(bytes(32)).decode(),
        "iterations": 9_999,
        "wrapped_key": SEALED,
        "snapshot": SEALED,
        "replaces": SESSION,
        "seq": 0,
    }
    assert code_of(lambda: editor.receive_frame(json.dumps(create))) == "bad_frame"
    create["iterations"] = 10_000
    assert isinstance(editor.receive_frame(json.dumps(create)), CreateSessionReceived)


def test_rate_limit_and_token_time():
    clock = Clock()
    machine = opened(limits=ConnectionLimits(messages_per_second=10, message_burst=3), clock=clock)
    for counter in range(3):
        machine.receive_frame(update(counter + 1))
    assert code_of(lambda: machine.receive_frame(update(4))) == "rate_limited"
    clock.now += 0.5
    assert machine.time_left() == pytest.approx(600 - 0.5 + 30)
    assert code_of(lambda: machine.token_refreshed(Credentials("mallory", "editor", 0))) == "jwt"
    frame = json.loads(machine.token_refreshed(Credentials("alice", "viewer", 5000.0)))
    assert frame == {"type": "token_accepted", "expires_at": 5000.0, "role": "viewer"}


# -- case 2 and 6: strict JSON ------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        '{"a": "\\ud800"}',
        '{"\\udfff": 1}',
        '["x\\udbff"]',
        '{"a": 1e999}',
        '{"a": -1e999}',
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": 1, "a": 2}',
        '{"a": {"b": 1, "b": 1}}',
        "[" * 40 + "]" * 40,
        '{"a": ' + "[" * 5000 + "]" * 5000 + "}",
    ],
)
def test_strict_json_refuses(text):
    with pytest.raises(strict_json.StrictJSONError):
        strict_json.loads(text)


def test_strict_json_accepts_ordinary_json():
    assert strict_json.loads('{"a": [1, 2.5, "é😀", null, true], "b": {"c": -0.0}}') == {
        "a": [1, 2.5, "é😀", None, True],
        "b": {"c": -0.0},
    }
    assert strict_json.loads("[" * 32 + "]" * 32, max_depth=32) == json.loads("[" * 32 + "]" * 32)


@pytest.mark.parametrize(
    "frame",
    [
        hello(client_info="SURROGATE").replace('"SURROGATE"', '{"n": "\\ud800"}'),
        hello(document_id="x\\udfff").replace("x\\\\udfff", "x\\udfff"),
        hello(client_info="DEEP").replace('"DEEP"', '{"a": ' + "[" * 9 + "]" * 9 + "}"),
        hello(client_info="BIG").replace('"BIG"', '{"zoom": 1e999}'),
        hello().replace('"client_info"', '"client_id": "client-0002", "client_info"'),
        json.dumps(
            {
                "type": "create_session",
                "session_id": "N" * 20,
                "key_hint": "\ud800",
                "salt": SEALED,
                "iterations": 1,
                "wrapped_key": SEALED,
                "snapshot": SEALED,
            }
        ).replace("\\\\ud800", "\\ud800"),
    ],
)
def test_frames_with_odd_json_are_bad_frames(frame):
    with pytest.raises(ProtocolError) as info:
        parse_client_message(frame, max_bytes=1 << 20)
    assert info.value.code == "bad_frame"


def test_server_frames_are_ascii_whatever_the_strings():
    """A user id from a token may hold anything; a frame must still be sendable."""
    frame = server_frames.client_joined(
        {
            "user_id": "\ud800 é",
            "client_id": "c" * 8,
            "caret": 1,
            "client_info": {},
            "role": "editor",
        }
    )
    assert frame.isascii()
    frame.encode("utf-8")
    assert json.loads(frame)["user_id"] == "\ud800 é"


# -- case 4: memory ---------------------------------------------------------------------
def test_first_frame_and_presence_are_small():
    machine = ServerConnection(ConnectionLimits(max_hello_bytes=1024))
    assert (
        code_of(lambda: machine.receive_frame(hello(client_info={"x": "y" * 2000})))
        == "frame_too_large"
    )
    machine = opened(limits=ConnectionLimits(max_presence_bytes=100))
    small = json.dumps({"type": "presence", "data": base64.b64encode(bytes(100)).decode()})
    big = json.dumps({"type": "presence", "data": base64.b64encode(bytes(101)).decode()})
    assert isinstance(machine.receive_frame(small), PresenceReceived)
    assert code_of(lambda: machine.receive_frame(big)) == "frame_too_large"


def test_outbound_queue_is_bounded_in_bytes():
    queue = OutboundQueue(max_bytes=1000, max_frames=100)
    assert queue.push("x" * 600)
    assert not queue.push("y" * 500)  # would pass the byte bound: slow consumer
    assert queue.push("p" * 10, ephemeral=True)  # presence is shed, not an overflow
    assert queue.pop(10) == ["x" * 600]
    assert queue.push("p" * 10, ephemeral=True)
    assert queue.pop(10) == ["p" * 10]
    frames = OutboundQueue(max_bytes=1 << 20, max_frames=3)
    assert frames.push("a") and frames.push("b") and frames.push("c")
    assert not frames.push("d")


def test_outbound_queue_holds_live_frames_during_a_sync_and_paces_history():
    queue = OutboundQueue(max_bytes=1000, max_frames=100)
    queue.begin_sync(last_sent_seq=2)
    assert queue.push("live-3", seq=3)
    assert queue.push_history("hist-3", seq=3) and queue.push_history("hist-4", seq=4)
    assert queue.room_for_history
    queue.push_history("z" * 490)
    assert not queue.room_for_history  # the sync waits until the reader catches up
    queue.end_sync()
    assert queue.pop(10) == ["hist-3", "hist-4", "z" * 490]  # live-3 was already sent
    assert queue.total_bytes == 0


# -- cases 1, 3 and 5: membership belongs to the hub ---------------------------------------
class FakeMember:
    def __init__(self, client_id: str, user_id: str, role: str = "editor") -> None:
        self.client_id = client_id
        self.user_id = user_id
        self.role = role
        self.caret = 0
        self.frames: list[str] = []
        self.kicked: ProtocolError | None = None
        self.snapshot_requests: list[int] = []

    def info(self) -> dict:
        return {
            "user_id": self.user_id,
            "client_id": self.client_id,
            "caret": self.caret,
            "client_info": {},
            "role": self.role,
        }

    def deliver(self, frame: str, *, seq: int | None = None, ephemeral: bool = False) -> None:
        self.frames.append(frame)

    def deliver_run(self, run) -> None:
        for seq, frame in run.frames_for(self):
            self.deliver(frame, seq=seq)

    def kick(self, error: ProtocolError) -> None:
        self.kicked = error

    def announce(self, session) -> None:
        pass

    def resync(self, session) -> None:
        pass

    def request_snapshot(self, seq: int) -> None:
        self.snapshot_requests.append(seq)

    def types(self) -> list[str]:
        return [json.loads(f)["type"] for f in self.frames]


class NoStore:
    async def document_info(self, api_key, document_id):
        return None


async def test_a_reconnect_replaces_its_old_connection_on_the_same_hub():
    registry = HubRegistry(NoStore())  # type: ignore[arg-type]
    limits = MembershipLimits()
    hub = await registry.open(("k", "doc"))
    old = FakeMember("client-1", "alice")
    hub.admit(old, limits)
    registry.unpin(hub)

    again = await registry.open(("k", "doc"))
    assert again is hub
    new = FakeMember("client-1", "alice")
    hub.admit(new, limits)
    registry.unpin(hub)
    assert old.kicked is not None and old.kicked.code == "replaced"
    hub.leave(old)  # the old connection's clean-up comes later: it changes nothing
    registry.release(hub)
    assert registry.hubs[("k", "doc")] is hub and hub.members == {"client-1": new}

    later = await registry.open(("k", "doc"))
    assert later is hub
    others = hub.admit(FakeMember("client-2", "bob"), limits)
    registry.unpin(hub)
    assert [o["client_id"] for o in others] == ["client-1"]
    hub.publish(1, '{"type":"update"}', new)
    await asyncio.sleep(0)  # released updates go out at the end of the loop turn
    assert hub.members["client-2"].types()[-1] == "update"  # type: ignore[attr-defined]


async def test_pinned_hub_is_not_dropped_while_a_connection_is_joining():
    registry = HubRegistry(NoStore())  # type: ignore[arg-type]
    hub = await registry.open(("k", "doc"))
    registry.release(hub)  # nobody is a member yet, but someone is joining
    assert registry.hubs.get(("k", "doc")) is hub
    registry.unpin(hub)
    assert ("k", "doc") not in registry.hubs


def test_client_ids_are_bound_to_their_user_and_slots_to_limits():
    hub = DocumentHub(("k", "doc"))
    limits = MembershipLimits(per_document=4, per_user=2)
    alice = FakeMember("client-1", "alice")
    hub.admit(alice, limits)
    with pytest.raises(ProtocolError) as taken:
        hub.admit(FakeMember("client-1", "mallory"), limits)
    assert taken.value.code == "client_id_taken" and alice.kicked is None
    hub.remote_members["client-9"] = ("node-b", {"client_id": "client-9", "user_id": "bob"})
    with pytest.raises(ProtocolError) as remote:
        hub.admit(FakeMember("client-9", "mallory"), limits)
    assert remote.value.code == "client_id_taken"
    hub.admit(FakeMember("client-2", "alice"), limits)
    with pytest.raises(ProtocolError) as per_user:
        hub.admit(FakeMember("client-3", "alice"), limits)
    assert per_user.value.code == "too_many_connections" and per_user.value.retry_after
    hub.admit(FakeMember("client-4", "bob"), limits)
    hub.admit(FakeMember("client-5", "carol"), limits)
    with pytest.raises(ProtocolError) as full:
        hub.admit(FakeMember("client-6", "dave"), limits)
    assert full.value.code == "too_many_connections"
    # the same client of the same user still gets in on a full document (replacement)
    hub.admit(FakeMember("client-5", "carol"), limits)


def test_snapshot_requests_go_to_editors_at_most_every_30_seconds():
    hub = DocumentHub(("k", "doc"))
    viewer = FakeMember("client-v", "vera", "viewer")
    editor = FakeMember("client-e", "ed")
    hub.admit(viewer, MembershipLimits())
    hub.admit(editor, MembershipLimits())
    hub.head = 600
    hub.ask_for_snapshot(500, prefer=viewer, now=100.0)
    assert editor.snapshot_requests == [600] and viewer.snapshot_requests == []
    hub.ask_for_snapshot(500, now=110.0)
    assert editor.snapshot_requests == [600]
    hub.ask_for_snapshot(500, everyone=True, now=131.0)
    assert editor.snapshot_requests == [600, 600]


async def test_a_documents_write_quota_outlives_its_hub():
    """Closing and reopening a document (a refused writer reconnecting) must not refill
    its quota."""
    from tandem.server.quotas import ByteRate

    registry = HubRegistry(NoStore())  # type: ignore[arg-type]
    registry.new_write_rate = lambda: ByteRate(60_000)
    hub = await registry.open(("k", "doc"))
    assert hub.write_rate is not None and hub.write_rate.take(15_000) == 0.0
    registry.unpin(hub)
    assert ("k", "doc") not in registry.hubs
    again = await registry.open(("k", "doc"))
    assert again is not hub and again.write_rate is hub.write_rate
    assert again.write_rate.take(1_000) > 0
    registry.unpin(again)


def test_an_unanswered_snapshot_request_moves_on_to_more_editors():
    """A busy document must not run into ``max_log_updates`` while the editors asked
    never answer: each further ``threshold`` updates, the next 2, then 4 ... editors in
    turn are asked (never everyone at once); a stored snapshot ends the round."""
    hub = DocumentHub(("k", "doc"))
    editors = [FakeMember(f"client-{i}", f"user-{i}") for i in range(8)]
    for editor in editors:
        hub.admit(editor, MembershipLimits(per_document=20))

    def asked() -> list[int]:
        return [len(e.snapshot_requests) for e in editors]

    hub.head = 500
    hub.ask_for_snapshot(500, prefer=editors[1], now=10.0)
    assert asked() == [0, 1, 0, 0, 0, 0, 0, 0]
    hub.head = 900  # grew by less than the threshold since: still waiting
    hub.ask_for_snapshot(500, prefer=editors[1], now=11.0)
    assert asked() == [0, 1, 0, 0, 0, 0, 0, 0]
    hub.head = 1000  # another 500 and no snapshot: the next two editors
    hub.ask_for_snapshot(500, prefer=editors[1], now=12.0)
    assert asked() == [0, 1, 1, 1, 0, 0, 0, 0]
    hub.head = 1500  # then the next four
    hub.ask_for_snapshot(500, prefer=editors[1], now=13.0)
    assert asked() == [0, 1, 1, 1, 1, 1, 1, 1]
    hub.head = 2000  # then eight, wrapping around (the whole document here)
    hub.ask_for_snapshot(500, prefer=editors[1], now=14.0)
    assert asked() == [1, 2, 2, 2, 2, 2, 2, 2]
    hub.snapshot_stored(1900)
    hub.head = 2100  # log 200 since the snapshot: below the threshold
    hub.ask_for_snapshot(500, prefer=editors[1], now=15.0)
    assert asked() == [1, 2, 2, 2, 2, 2, 2, 2]
    hub.head = 2400  # a new round starts with the preferred editor alone
    hub.ask_for_snapshot(500, prefer=editors[3], now=16.0)
    assert asked() == [1, 2, 2, 3, 2, 2, 2, 2]
    hub.head = 2900  # another 500: the next two
    hub.ask_for_snapshot(500, prefer=editors[3], now=16.5)
    assert asked() == [1, 2, 2, 3, 3, 3, 2, 2]


def test_a_large_document_is_asked_for_snapshots_by_bytes_not_every_threshold():
    """A snapshot is the whole document and each is kept as a version: while the log
    holds less than half the bytes of the latest snapshot, the threshold alone does not
    ask (up to half of ``max_log_updates``); a small document is asked at the threshold."""
    hub = DocumentHub(("k", "doc"))
    editor = FakeMember("client-e", "ed")
    hub.admit(editor, MembershipLimits())
    hub.snapshot_stored(0, nbytes=200_000)  # a 200 kB document

    def write(count: int, size: int) -> None:
        for _ in range(count):
            seq = hub.next_seq
            hub.publish(seq, server_frames.update(seq, "S" * 20, "c", seq, "u", bytes(size)), None)

    write(600, 100)  # past the threshold, 60 kB of log: not yet
    hub.ask_for_snapshot(500, log_cap=5000, now=1.0)
    assert editor.snapshot_requests == []
    write(400, 100)  # 100 kB: half the snapshot
    hub.ask_for_snapshot(500, log_cap=5000, now=2.0)
    assert editor.snapshot_requests == [1000]

    hub.snapshot_stored(1000, nbytes=200_000)
    write(2500, 10)  # tiny updates: half the log cap asks anyway (25 kB of log)
    hub.ask_for_snapshot(500, log_cap=5000, now=3.0)
    assert editor.snapshot_requests == [1000, 3500]

    hub.snapshot_stored(3500, nbytes=1_000)  # a small document: every threshold
    write(499, 10)
    hub.ask_for_snapshot(500, log_cap=5000, now=4.0)
    assert editor.snapshot_requests == [1000, 3500]
    write(1, 10)
    hub.ask_for_snapshot(500, log_cap=5000, now=5.0)
    assert editor.snapshot_requests == [1000, 3500, 4000]
    # without a cap (the quota path asks everyone) the bytes are not weighed
    hub.snapshot_stored(4000, nbytes=200_000)
    write(1, 10)
    hub.ask_for_snapshot(0, everyone=True, now=6.0)
    assert editor.snapshot_requests == [1000, 3500, 4000, 4001]


def test_update_frame_nbytes_is_the_ciphertext_size_in_either_form():
    for size in (0, 1, 2, 3, 40, 1001):
        data = bytes(range(256)) * 4
        data = data[:size]
        raw = server_frames.update(1, "S" * 20, "c", 1, "u", data)
        from_b64 = server_frames.update_from_b64(
            1, "S" * 20, "c", 1, "u", base64.b64encode(data).decode()
        )
        assert raw.nbytes == from_b64.nbytes == size
