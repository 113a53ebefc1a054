"""``Member``: all a DocumentHub knows of a connection (hocuspocus's Document/Connection
split). The hub owns membership; it talks to its members only through this."""

from __future__ import annotations

from typing import Any, Protocol

from tandem.protocol.errors import ProtocolError
from tandem.protocol.server_frames import UpdateFrame
from tandem.server.fanout import ReleasedRun
from tandem.storage import SessionRecord


class Member(Protocol):
    client_id: str
    user_id: str
    role: str
    caret: int

    def info(self) -> dict[str, Any]:
        """The member object other clients see (docs/protocol.md)."""

    def deliver(
        self, frame: str | UpdateFrame, *, seq: int | None = None, ephemeral: bool = False
    ) -> None:
        """Queue a frame for this client (never blocks; a client that cannot keep up is
        dropped by its own connection). An ``UpdateFrame`` is sent in the representation
        the client negotiated (JSON text or binary)."""

    def deliver_run(self, run: ReleasedRun) -> None:
        """Released updates (``DocumentHub.flush``), in sequence order: those of ``run``
        this client did not send and has not got yet (``ReleasedRun.frames_for``)."""

    def kick(self, error: ProtocolError) -> None:
        """End this connection with ``error`` (the hub has already removed it)."""

    def announce(self, session: SessionRecord) -> None:
        """A new session became active: tell the client, then sync it."""

    def resync(self, session: SessionRecord) -> None:
        """Updates this client needs were compacted before it got them: sync again."""

    def request_snapshot(self, seq: int) -> None:
        """Ask this (editor) client for a snapshot at its version."""
