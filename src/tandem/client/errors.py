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
    ) -> None:
        super().__init__(message, code=code)
        self.fatal = fatal
        self.detail = detail


class DisconnectedError(ClientError):
    code = "disconnected"
