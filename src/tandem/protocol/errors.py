"""Protocol errors: each has a stable code, a message, and the WebSocket close code it ends with.

The table is the one in docs/protocol.md ("Errors and close codes"); the client
maps close codes to the TinyMCE ``rtc_server_disconnected`` reasons.
"""

from __future__ import annotations

from tandem.errors import TandemError

# code -> (close code, TinyMCE disconnect reason). Clients reconnect (with backoff, and
# not before ``retry_after`` seconds when the error frame has it) after every close
# except 4003, 4004 and 4010.
CLOSE_CODES: dict[str, tuple[int, str]] = {
    "bad_frame": (4000, "general"),
    "protocol_violation": (4000, "general"),
    "hello_timeout": (4000, "general"),
    "jwt": (4001, "jwt"),
    "forbidden_document": (4003, "jwt"),
    "read_only": (4003, "general"),
    "origin_not_allowed": (4003, "general"),
    "client_id_taken": (4003, "general"),
    "document_deleted": (4004, "general"),
    "replaced": (4005, "general"),
    "rate_limited": (4008, "general"),
    "slow_consumer": (4008, "general"),
    "quota_exceeded": (4008, "general"),
    "too_many_connections": (4009, "general"),
    "client_update_required": (4010, "client_update_required"),
    "stale_session": (4012, "general"),
    "session_conflict": (4012, "general"),
    "storage_quota_exceeded": (4013, "general"),
    "frame_too_large": (1009, "general"),
    "storage_unavailable": (1013, "general"),
    "server_shutdown": (1001, "general"),
    "internal_error": (1011, "general"),
}


class ProtocolError(TandemError):
    """A fatal protocol error: the server sends it as an ``error`` frame, then closes."""

    code = "protocol_violation"

    def __init__(
        self,
        code: str,
        message: str,
        *,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        if code not in CLOSE_CODES:
            raise ValueError(f"undocumented protocol error code {code!r}")
        super().__init__(message, code=code)
        self.detail = detail
        self.retry_after = None if retry_after is None else round(max(0.0, retry_after), 1)

    @property
    def close_code(self) -> int:
        return CLOSE_CODES[self.code][0]

    @property
    def reason(self) -> str:
        return CLOSE_CODES[self.code][1]


def bad_frame(message: str) -> ProtocolError:
    return ProtocolError("bad_frame", message)
