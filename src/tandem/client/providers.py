"""Calling the integrator's providers: the same shapes as TinyMCE's RTC plugin options."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from tandem.crypto import EncryptionError
from tandem.errors import TandemError

Provider = Callable[[dict[str, Any]], Any | Awaitable[Any]]


class ProviderError(TandemError):
    code = "provider"


async def call_provider(provider: Provider, arg: dict[str, Any]) -> Any:
    result = provider(arg)
    if inspect.isawaitable(result):
        result = await result
    return result


async def fetch_token(provider: Provider, document_id: str) -> str:
    result = await call_provider(provider, {"documentId": document_id})
    token = result.get("token") if isinstance(result, dict) else None
    if not isinstance(token, str) or not token:
        raise ProviderError("the token provider must return {'token': '<JWT>'}", code="jwt")
    return token


async def fetch_key(provider: Provider, document_id: str, key_hint: str | None) -> tuple[str, str]:
    """Returns (key, key_hint). For a new session the provider may choose the hint."""
    result = await call_provider(provider, {"documentId": document_id, "keyHint": key_hint})
    key = result.get("key") if isinstance(result, dict) else None
    if not isinstance(key, str) or not key:
        raise EncryptionError("the encryption provider must return {'key': '<secret>', ...}")
    hint = result.get("keyHint")
    if key_hint is not None:
        hint = key_hint
    if hint is None:
        hint = ""
    if not isinstance(hint, str) or len(hint) > 256:
        raise EncryptionError("the key hint must be a string of at most 256 characters")
    return key, hint


def keyring_provider(keyring: dict[str, str]) -> Provider:
    """An encryption provider over a {key_hint: key} mapping; new documents use the first."""
    if not keyring:
        raise EncryptionError("the keyring is empty")

    def provide(arg: dict[str, Any]) -> dict[str, str]:
        hint = arg.get("keyHint")
        if hint is None:
            hint = next(iter(keyring))
        if hint not in keyring:
            raise EncryptionError(f"the keyring has no key for the document's key hint {hint!r}")
        return {"key": keyring[hint], "keyHint": hint}

    return provide
