"""Client-side errors; ``code`` is the server's error code or a client-side one."""

from __future__ import annotations

from tandem.errors import TandemError


class ClientError(TandemError):
    code = "client"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fatal: bool = False,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.fatal = fatal
        self.detail = detail
        self.retry_after = retry_after  # seconds the server asked to wait before retrying


class DisconnectedError(ClientError):
    code = "disconnected"
