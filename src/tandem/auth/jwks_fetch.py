"""Fetching a JWK set from an API key's ``jwks_url``, bounded in time and bytes.

* Only ``https://`` URLs, or ``http://`` to localhost / 127.0.0.1 / ::1.
* Redirects are followed by hand (at most 3), each target checked by the same
  rule, so a redirect can never lead to plain http on another host.
* The body is streamed and the fetch stops as soon as it exceeds ``max_bytes``;
  the whole fetch (connect, redirects, body) is bounded by ``timeout`` seconds.
* Fetched keys pass the same checks as registered ones (invalid or private
  entries are dropped, never used).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:  # httpx is imported when a fetch happens (CLI start-up time)
    import httpx

from tandem.auth.key_import import lenient_key_set

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_REDIRECTS = 3
_REQUEST_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}


class JwksFetchError(Exception):
    """The JWK set could not be fetched; ``str()`` says why (for logs and the CLI)."""


def check_jwks_url(url: str) -> str:
    """Return the URL if it is acceptable, else raise JwksFetchError with the reason."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise JwksFetchError(f"invalid URL {url!r}: {exc}") from None
    if not host:
        raise JwksFetchError(f"invalid URL {url!r}: no host")
    if parts.username or parts.password:
        raise JwksFetchError("a JWKS URL must not contain credentials")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and host in LOCAL_HOSTS:
        return url
    if parts.scheme == "http":
        raise JwksFetchError(f"plain http is only allowed for localhost; use https:// for {host}")
    raise JwksFetchError(f"unsupported URL scheme {parts.scheme!r}: use https://")


@dataclass(slots=True)
class FetchedKeySet:
    keys: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)


async def _read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise JwksFetchError(f"JWK set is too large ({declared} bytes > {max_bytes})")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > max_bytes:
            raise JwksFetchError(f"JWK set is too large (more than {max_bytes} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


async def _fetch_body(client: httpx.AsyncClient, url: str, max_bytes: int) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        check_jwks_url(url)
        request = client.build_request("GET", url, headers=_REQUEST_HEADERS)
        response = await client.send(request, stream=True)
        try:
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise JwksFetchError(f"redirect without Location from {url}")
                url = urljoin(url, location)
                continue
            if response.status_code != 200:
                raise JwksFetchError(f"HTTP {response.status_code} from {url}")
            return await _read_limited(response, max_bytes)
        finally:
            await response.aclose()
    raise JwksFetchError(f"more than {MAX_REDIRECTS} redirects")


async def fetch_jwks(
    url: str,
    *,
    timeout: float = 5.0,
    max_bytes: int = 256 * 1024,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchedKeySet:
    """Fetch and validate a JWK set; raise JwksFetchError on any failure."""
    import httpx

    check_jwks_url(url)
    try:
        async with asyncio.timeout(timeout):
            async with httpx.AsyncClient(
                follow_redirects=False,
                timeout=timeout,
                transport=transport,
                headers={"User-Agent": "tandem-jwks"},
                trust_env=False,
            ) as client:
                body = await _fetch_body(client, url, max_bytes)
    except TimeoutError:
        raise JwksFetchError(f"timed out after {timeout:g} s fetching {url}") from None
    except httpx.HTTPError as exc:
        raise JwksFetchError(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from None
    # httpx does not decompress raw bytes; identity encoding is what we asked for.
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise JwksFetchError(f"{url} did not return JSON: {exc}") from None
    keys, problems = lenient_key_set(value)
    if not keys:
        why = f" ({'; '.join(problems)})" if problems else ""
        raise JwksFetchError(f"{url} returned no usable public key{why}")
    return FetchedKeySet(keys, problems)
