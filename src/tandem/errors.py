"""The root of Tandem's exception hierarchy: every error has a stable code and a message."""

from __future__ import annotations


class TandemError(Exception):
    """Base error. ``code`` is stable and documented; ``message`` is for humans."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message
