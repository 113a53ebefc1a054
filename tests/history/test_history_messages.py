"""The history messages, sans I/O: parsing, bounds, roles, the hub's checkpoint timer."""

from __future__ import annotations

import json

import pytest

from tandem.protocol.messages import (
    GetUpdates,
    GetVersion,
    ListVersions,
    Snapshot,
    parse_client_message,
)
from tandem.protocol.server_connection import HistoryRequested, SnapshotReceived
from tandem.server.hub import DocumentHub
from tandem.storage import SessionRecord
from tests.collab.test_sans_io import SEALED, SESSION, code_of, opened


def parse(frame: dict):
    return parse_client_message(json.dumps(frame), max_bytes=1 << 20)


def test_snapshot_kinds_and_sealed_names():
    base = {"type": "snapshot", "session_id": SESSION, "seq": 3, "data": SEALED}
    assert parse(base) == Snapshot(SESSION, 3, bytes(40))
    named = parse({**base, "kind": "named", "name": SEALED})
    assert (named.kind, named.name) == ("named", bytes(40))
    for bad in ({"kind": "session"}, {"kind": 1}, {"name": "c2hvcnQ="}, {"name": "A" * 1400}):
        assert code_of(lambda bad=bad: parse({**base, **bad})) == "bad_frame"


def test_history_requests_are_bounded():
    assert parse({"type": "list_versions", "id": 1}) == ListVersions(1, None, 50)
    assert parse({"type": "list_versions", "id": 2, "before": 9, "limit": 100}) == ListVersions(
        2, 9, 100
    )
    assert parse({"type": "get_version", "id": 3, "number": 4}) == GetVersion(3, 4)
    assert parse({"type": "get_updates", "id": 4, "after": 0, "upto": 10}) == GetUpdates(
        4, 0, 10, 1000
    )
    for bad in (
        {"type": "list_versions", "id": 1, "limit": 101},
        {"type": "list_versions", "id": 1, "limit": 0},
        {"type": "list_versions", "id": -1},
        {"type": "list_versions"},
        {"type": "get_version", "id": 1, "number": 0},
        {"type": "get_updates", "id": 1, "after": 0, "upto": 5, "limit": 1001},
        {"type": "get_updates", "id": 1, "after": "0", "upto": 5},
    ):
        assert code_of(lambda bad=bad: parse(bad)) == "bad_frame", bad


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_viewers_read_history_and_only_editors_write_it(role):
    machine = opened(role)
    event = machine.receive_frame(json.dumps({"type": "list_versions", "id": 1}))
    assert isinstance(event, HistoryRequested)
    snapshot = json.dumps(
        {
            "type": "snapshot",
            "session_id": SESSION,
            "seq": 0,
            "data": SEALED,
            "kind": "named",
            "name": SEALED,
        }
    )
    if role == "editor":
        assert isinstance(machine.receive_frame(snapshot), SnapshotReceived)
    else:
        assert code_of(lambda: machine.receive_frame(snapshot)) == "read_only"


class Editor:
    role = "editor"

    def __init__(self) -> None:
        self.asked: list[int] = []

    def request_snapshot(self, seq: int) -> None:
        self.asked.append(seq)


def test_checkpoints_are_asked_for_after_a_pause_and_hourly():
    hub = DocumentHub(("k", "d"))
    hub.session = SessionRecord(SESSION, "h", bytes(32), 10_000, bytes(40), "a", 0.0)
    editor = Editor()
    hub.members["c"] = editor  # type: ignore[assignment]
    hub.last_write_at = hub.checkpoint_at = 0.0
    assert not hub.ask_for_checkpoint(100.0, 60, 3600)  # nothing new since the checkpoint
    hub.head = 5
    hub.last_write_at = 90.0
    assert not hub.ask_for_checkpoint(100.0, 60, 3600)  # still being edited
    assert hub.ask_for_checkpoint(151.0, 60, 3600) and editor.asked == [5]
    assert not hub.ask_for_checkpoint(160.0, 60, 3600)  # asked a moment ago
    hub.snapshot_seq = 5
    hub.head = 9
    hub.last_write_at = 3700.0  # edited all along: the hourly one
    assert hub.ask_for_checkpoint(3700.0, 60, 3600) and editor.asked == [5, 9]
