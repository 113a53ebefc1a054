"""The server side of one collaboration connection, as a sans-I/O state machine.

In the style of h11 and websockets' ``protocol.py``: the I/O layer feeds it what
happened (a frame arrived, the token verified, the document was joined, time passed)
and it answers with small immutable events saying what the client asked for, or
raises ``ProtocolError`` for every illegal input or transition. It never awaits,
never touches a socket or the database, and reads time only from the clocks it was
given, so every rule below is tested without a socket (tests/collab/test_sans_io.py).

States::

    AWAIT_HELLO ──hello──▶ AUTHENTICATING ──joined()──▶ OPEN ──fail()/closed()──▶ CLOSED

What it enforces:

- the first frame is ``hello`` and at most ``max_hello_bytes`` long (before anyone is
  authenticated, nothing large is read); a second ``hello`` is a violation;
- frames after hello are at most ``max_frame_bytes``, at most ``messages_per_second``
  (bursts of ``message_burst``); presence is at most ``max_presence_bytes`` and over
  ``presence_per_second`` it is dropped;
- viewers cannot send updates, snapshots (named versions, restores) or create sessions,
  but may read the version history; updates and snapshots
  must name the document's active session; key-derivation iterations have a minimum;
- a refreshed token must be for the same user; the token's expiry (plus leeway)
  decides when the connection must end.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tandem.protocol import server_frames
from tandem.protocol.errors import ProtocolError
from tandem.protocol.messages import (
    ClientMessage,
    CreateSession,
    GetUpdates,
    GetVersion,
    Hello,
    HistoryRequest,
    ListVersions,
    Presence,
    Snapshot,
    TokenRefresh,
    Update,
    parse_client_message,
)
from tandem.protocol.outbound import OutboundQueue
from tandem.protocol.token_bucket import TokenBucket
from tandem.storage.records import SessionRecord


class ConnectionState(enum.Enum):
    AWAIT_HELLO = "await_hello"
    AUTHENTICATING = "authenticating"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_frame_bytes: int = 4 * 1024 * 1024
    max_hello_bytes: int = 32 * 1024
    max_presence_bytes: int = 8 * 1024
    messages_per_second: float = 100.0
    message_burst: int = 200
    presence_per_second: float = 20.0
    send_queue_bytes: int = 16 * 1024 * 1024
    send_queue_limit: int = 4096
    pbkdf2_min_iterations: int = 10_000
    leeway: float = 30.0

    @classmethod
    def from_settings(cls, settings: object) -> ConnectionLimits:
        names = cls.__dataclass_fields__
        return cls(**{name: getattr(settings, name) for name in names if hasattr(settings, name)})


# -- events: what the client asked for (the I/O layer acts on them) ------------------
@dataclass(frozen=True, slots=True)
class HelloReceived:
    hello: Hello


@dataclass(frozen=True, slots=True)
class UpdateReceived:
    update: Update


@dataclass(frozen=True, slots=True)
class PresenceReceived:
    presence: Presence


@dataclass(frozen=True, slots=True)
class SnapshotReceived:
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class CreateSessionReceived:
    request: CreateSession


@dataclass(frozen=True, slots=True)
class TokenReceived:
    token: str


@dataclass(frozen=True, slots=True)
class HistoryRequested:
    """list_versions, get_version or get_updates (editors and viewers)."""

    request: HistoryRequest


ClientEvent = (
    HelloReceived
    | UpdateReceived
    | PresenceReceived
    | SnapshotReceived
    | CreateSessionReceived
    | TokenReceived
    | HistoryRequested
)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a verified token established (the I/O layer verifies; this only records)."""

    user_id: str
    role: str
    expires_at: float  # the token's exp (seconds since the epoch)


class ServerConnection:
    def __init__(
        self,
        limits: ConnectionLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits
        self.state = ConnectionState.AWAIT_HELLO
        self.hello: Hello | None = None
        self.credentials: Credentials | None = None
        self.document_session_id: str | None = None  # the document's active session
        self.outbound = OutboundQueue(
            max(limits.send_queue_bytes, 3 * limits.max_frame_bytes), limits.send_queue_limit
        )
        self.error: ProtocolError | None = None
        self._clock = clock
        self._wall = wall_clock
        self._messages = TokenBucket(limits.messages_per_second, limits.message_burst, clock)
        self._presence = TokenBucket(
            limits.presence_per_second, limits.presence_per_second * 2, clock
        )

    # -- input -----------------------------------------------------------------------
    def receive_frame(self, raw: str | bytes) -> ClientEvent | None:
        """One frame from the client. Returns what it asks for (None: nothing to do,
        e.g. presence over its rate); raises ProtocolError."""
        state = self.state
        if state is ConnectionState.CLOSED:
            return None
        if state is ConnectionState.AWAIT_HELLO:
            self._check_size(
                raw, min(self.limits.max_hello_bytes, self.limits.max_frame_bytes), "a first frame"
            )
            message = self._parse(raw)
            if not isinstance(message, Hello):
                raise ProtocolError("protocol_violation", "the first message must be hello")
            self.hello = message
            self.state = ConnectionState.AUTHENTICATING
            return HelloReceived(message)
        if state is ConnectionState.AUTHENTICATING:
            raise ProtocolError("protocol_violation", "a message arrived before welcome")
        self._check_size(raw, self.limits.max_frame_bytes, "a frame")
        if not self._messages.take():
            raise ProtocolError(
                "rate_limited",
                f"more than {self.limits.messages_per_second:g} messages per second",
                retry_after=1.0,
            )
        return self._dispatch(self._parse(raw))

    def _parse(self, raw: str | bytes) -> ClientMessage:
        return parse_client_message(raw, max_bytes=self.limits.max_frame_bytes)

    @staticmethod
    def _check_size(raw: str | bytes, limit: int, what: str) -> None:
        if len(raw) > limit:
            raise ProtocolError(
                "frame_too_large", f"{what} of {len(raw)} bytes exceeds the limit of {limit} bytes"
            )

    def _dispatch(self, message: ClientMessage) -> ClientEvent | None:
        if isinstance(message, Update):
            self._require_editor("send updates")
            self._require_active(message.session_id, "update")
            return UpdateReceived(message)
        if isinstance(message, Presence):
            if len(message.data) > self.limits.max_presence_bytes:
                raise ProtocolError(
                    "frame_too_large",
                    f"presence of {len(message.data)} bytes exceeds "
                    f"the limit of {self.limits.max_presence_bytes} bytes",
                )
            if not self._presence.take():
                return None  # presence is ephemeral: excess is dropped, not an error
            return PresenceReceived(message)
        if isinstance(message, Snapshot):
            self._require_editor("upload snapshots")
            return SnapshotReceived(message)
        if isinstance(message, CreateSession):
            self._require_editor("create sessions")
            if message.iterations < self.limits.pbkdf2_min_iterations:
                raise ProtocolError(
                    "bad_frame",
                    f"'iterations' must be at least {self.limits.pbkdf2_min_iterations}",
                )
            return CreateSessionReceived(message)
        if isinstance(message, TokenRefresh):
            return TokenReceived(message.token)
        if isinstance(message, ListVersions | GetVersion | GetUpdates):
            return HistoryRequested(message)
        raise ProtocolError("protocol_violation", "hello was already received")

    def _require_editor(self, what: str) -> None:
        assert self.credentials is not None
        if self.credentials.role != "editor":
            raise ProtocolError("read_only", f"a viewer token cannot {what}")

    def _require_active(self, session_id: str, what: str) -> None:
        if session_id != self.document_session_id:
            raise ProtocolError(
                "stale_session",
                f"the {what} names a session that is not the document's active session",
            )

    # -- what the I/O layer reports ----------------------------------------------------
    def authenticated(self, credentials: Credentials) -> None:
        """The hello's token verified (and the API key, origin, limits allowed it)."""
        if self.state is not ConnectionState.AUTHENTICATING:
            raise ProtocolError("protocol_violation", "not waiting for authentication")
        self.credentials = credentials

    def joined(
        self,
        *,
        caret: int,
        version: int,
        session: SessionRecord | None,
        clients: list[dict[str, Any]],
        counter: int,
    ) -> str:
        """The document was joined: the welcome frame (queue it first)."""
        if self.state is not ConnectionState.AUTHENTICATING or self.credentials is None:
            raise ProtocolError("protocol_violation", "not authenticated")
        assert self.hello is not None
        self.state = ConnectionState.OPEN
        self.document_session_id = session.session_id if session is not None else None
        return server_frames.welcome(
            protocol=self.hello.protocol,
            user_id=self.credentials.user_id,
            role=self.credentials.role,
            client_id=self.hello.client_id,
            caret=caret,
            version=version,
            session=session,
            clients=clients,
            token_expires_at=self.credentials.expires_at,
            limits={
                "max_frame_bytes": self.limits.max_frame_bytes,
                "max_presence_bytes": self.limits.max_presence_bytes,
                "messages_per_second": self.limits.messages_per_second,
                "presence_per_second": self.limits.presence_per_second,
            },
            counter=counter,
            binary=self.hello.binary,
        )

    def token_refreshed(self, credentials: Credentials) -> str:
        """A ``token`` message verified: the ``token_accepted`` frame."""
        assert self.credentials is not None
        if credentials.user_id != self.credentials.user_id:
            raise ProtocolError(
                "jwt", "a refreshed token must be for the same user (sub)", detail="user_changed"
            )
        self.credentials = credentials
        return server_frames.token_accepted(credentials.expires_at, credentials.role)

    def session_changed(self, session_id: str | None) -> None:
        self.document_session_id = session_id

    # -- time --------------------------------------------------------------------------
    def time_left(self) -> float | None:
        """Seconds until the connection must end (token expiry plus leeway), None
        before authentication."""
        if self.credentials is None:
            return None
        deadline = self.credentials.expires_at + self.limits.leeway
        return max(0.0, deadline - self._wall())

    def expired(self) -> ProtocolError:
        return ProtocolError("jwt", "JWT has expired", detail="expired")

    # -- output ------------------------------------------------------------------------
    def fail(self, error: ProtocolError) -> str | None:
        """Close with ``error``: its frame, once (None when already closed)."""
        if self.state is ConnectionState.CLOSED:
            return None
        self.state = ConnectionState.CLOSED
        self.error = error
        return server_frames.error(error)

    def closed(self) -> None:
        self.state = ConnectionState.CLOSED

    @property
    def is_closed(self) -> bool:
        return self.state is ConnectionState.CLOSED
