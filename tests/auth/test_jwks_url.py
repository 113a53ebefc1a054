"""JWKS URL key sets: a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from typing import Any

import pytest

from tandem.auth import AuthError, JwksFetchError, KeyDirectory, TokenVerifier, check_jwks_url
from tandem.auth.jwks_fetch import fetch_jwks
from tandem.storage.records import ApiKeyRecord
from tests.auth.signing import make_keypair, sign_token


class JwksServer:
    """Serves ``self.body`` at any path; counts requests; ``self.routes`` override."""

    def __init__(self) -> None:
        self.body: bytes = b"{}"
        self.requests: list[str] = []
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                status, headers, body = outer.routes.get(self.path, (200, {}, outer.body))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, keys: list[dict]) -> None:
        self.body = json.dumps({"keys": keys}).encode()


@pytest.fixture
def jwks_server():
    server = JwksServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


class MemoryStore:
    """The two Store methods KeyDirectory reads."""

    def __init__(self, jwks_url: str | None, keys: list[dict] | None = None) -> None:
        self.record = ApiKeyRecord(key="ak", name="t", jwks_url=jwks_url)
        self.keys = keys or []

    async def get_api_key(self, key: str) -> ApiKeyRecord | None:
        return self.record if key == "ak" else None

    async def list_public_keys(self, api_key: str) -> list[dict]:
        return list(self.keys)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token(alg: str = "ES256", kid: str | None = "default", **kw) -> str:
    private, _ = make_keypair(alg, **kw)
    return sign_token(private, alg, {"sub": "u", "exp": time.time() + 60}, kid=kid)


async def test_fetched_and_cached(jwks_server):
    jwks_server.serve([make_keypair("ES256")[1]])
    clock = FakeMonotonic()
    directory = KeyDirectory(MemoryStore(jwks_server.url + "/jwks.json"), jwks_ttl=300, clock=clock)
    verifier = TokenVerifier(directory)
    for _ in range(5):
        assert (await verifier.verify("ak", token())).user_id == "u"
    assert jwks_server.requests == ["/jwks.json"]
    clock.now += 301  # TTL passed: refetched once
    for _ in range(3):
        await verifier.verify("ak", token())
    assert len(jwks_server.requests) == 2


async def test_unknown_kid_refetch_is_rate_limited(jwks_server):
    jwks_server.serve([make_keypair("ES256")[1]])
    clock = FakeMonotonic()
    directory = KeyDirectory(
        MemoryStore(jwks_server.url + "/jwks.json"), refetch_interval=30, clock=clock
    )
    verifier = TokenVerifier(directory)
    await verifier.verify("ak", token())
    assert len(jwks_server.requests) == 1
    clock.now += 31
    # a rotated key appears at the URL: the unknown kid triggers one refetch
    _, new_jwk = make_keypair("EdDSA")
    jwks_server.serve([make_keypair("ES256")[1], new_jwk])
    assert (await verifier.verify("ak", token("EdDSA"))).user_id == "u"
    assert len(jwks_server.requests) == 2
    # unknown kids within the interval do not refetch
    for i in range(10):
        with pytest.raises(AuthError) as info:
            await verifier.verify("ak", token(kid=f"nope-{i}"))
        assert info.value.message == "Unable to retrieve JWK set"
    assert len(jwks_server.requests) == 2
    clock.now += 31
    with pytest.raises(AuthError):
        await verifier.verify("ak", token(kid="nope"))
    assert len(jwks_server.requests) == 3


async def test_oversized_body_refused(jwks_server):
    _, jwk = make_keypair("ES256")
    jwks_server.body = json.dumps({"keys": [jwk], "pad": "x" * 100_000}).encode()
    with pytest.raises(JwksFetchError, match="too large"):
        await fetch_jwks(jwks_server.url + "/big", max_bytes=10_000)
    # also when the server lies about / omits Content-Length (chunked): streaming stops
    jwks_server.routes["/chunked"] = (200, {"Content-Length": "50"}, jwks_server.body)
    with pytest.raises(JwksFetchError):
        await fetch_jwks(jwks_server.url + "/chunked", max_bytes=10_000)
    directory = KeyDirectory(MemoryStore(jwks_server.url + "/big"), max_jwks_bytes=10_000)
    with pytest.raises(AuthError) as info:
        await TokenVerifier(directory).verify("ak", token())
    assert info.value.code == "jwks_unavailable"
    assert "too large" in info.value.detail


async def test_unreachable_url():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    directory = KeyDirectory(MemoryStore(f"http://127.0.0.1:{port}/jwks.json"), http_timeout=2)
    with pytest.raises(AuthError) as info:
        await TokenVerifier(directory).verify("ak", token())
    assert info.value.message == "Unable to retrieve JWK set"
    # the failure is remembered: no second attempt within refetch_interval
    with pytest.raises(AuthError):
        await TokenVerifier(directory).verify("ak", token())
    assert directory.fetch_count == 1


async def test_slow_server_times_out():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts at the TCP level, never answers
    port = listener.getsockname()[1]
    try:
        start = time.monotonic()
        with pytest.raises(JwksFetchError, match=r"timed out|ReadTimeout"):
            await fetch_jwks(f"http://127.0.0.1:{port}/", timeout=0.5)
        assert time.monotonic() - start < 5
    finally:
        listener.close()


async def test_stored_keys_still_work_when_url_is_down():
    _private, jwk = make_keypair("ES256")
    directory = KeyDirectory(MemoryStore("http://127.0.0.1:9/x", keys=[jwk]), http_timeout=1)
    assert (await TokenVerifier(directory).verify("ak", token())).user_id == "u"


async def test_unknown_api_key():
    directory = KeyDirectory(MemoryStore(None))
    with pytest.raises(AuthError) as info:
        await directory.keys_for("other")
    assert info.value.code == "jwks_unavailable"
    assert info.value.detail == "unknown API key"


@pytest.mark.parametrize(
    "url", ["http://example.com/jwks.json", "http://10.0.0.1/jwks", "ftp://localhost/x",
            "file:///etc/passwd", "https://user:pw@example.com/x", "jwks.json", "http://"],
)  # fmt: skip
def test_url_rules_refuse(url):
    with pytest.raises(JwksFetchError):
        check_jwks_url(url)


@pytest.mark.parametrize(
    "url", ["https://example.com/.well-known/jwks.json", "http://localhost:8080/jwks",
            "http://127.0.0.1/jwks", "http://[::1]:9000/jwks"],
)  # fmt: skip
def test_url_rules_accept(url):
    assert check_jwks_url(url) == url


async def test_redirect_to_plain_http_elsewhere_not_followed(jwks_server):
    jwks_server.routes["/r"] = (302, {"Location": "http://example.com/jwks.json"}, b"")
    with pytest.raises(JwksFetchError, match="plain http"):
        await fetch_jwks(jwks_server.url + "/r")


async def test_redirect_to_localhost_followed(jwks_server):
    jwks_server.serve([make_keypair("ES256")[1]])
    jwks_server.routes["/r"] = (302, {"Location": "/jwks.json"}, b"")
    result = await fetch_jwks(jwks_server.url + "/r")
    assert jwks_server.requests == ["/r", "/jwks.json"]
    assert result.keys[0]["kid"] == "test-es256"


async def test_fetched_private_and_invalid_keys_are_dropped(jwks_server):
    _, good = make_keypair("ES256")
    _, rsa_jwk = make_keypair("RS256")
    jwks_server.serve(
        [{**rsa_jwk, "d": "AAAA"}, {"kty": "oct", "k": "c2VjcmV0"}, {**good, "use": "enc"}, good]
    )
    result = await fetch_jwks(jwks_server.url + "/jwks.json")
    assert [k["kid"] for k in result.keys] == ["test-es256"]
    assert all("d" not in k for k in result.keys)
    assert len(result.problems) == 3


async def test_non_json_and_http_error(jwks_server):
    jwks_server.body = b"<html>"
    with pytest.raises(JwksFetchError, match="JSON"):
        await fetch_jwks(jwks_server.url + "/x")
    jwks_server.routes["/404"] = (404, {}, b"{}")
    with pytest.raises(JwksFetchError, match="404"):
        await fetch_jwks(jwks_server.url + "/404")
