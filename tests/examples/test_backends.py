"""examples/node and examples/python against a real Tandem server: their tokens pass the
server's checks, their keys open documents, and only authorised users get either."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tandem.auth import KeyDirectory, TokenVerifier
from tandem.client import DocumentClient
from tandem.storage.sqlite import SQLiteStore
from tests.examples.harness import Backend, Integration, new_secret, start_backend
from tests.support.server import serve_in_loop

BACKENDS = ["node", "python"]
DOC = "doc-42"
ITERATIONS = 10_000  # the server's minimum PBKDF2 count: fast tests


def reference_key(secret: str, document_id: str) -> str:
    """examples/README.md: base64url(HKDF-SHA256(secret, no salt,
    "tandem-example/document-key/v1:" || SHA-256(document id), 32 bytes))."""
    info = b"tandem-example/document-key/v1:" + hashlib.sha256(document_id.encode()).digest()
    raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(raw)
    return base64.urlsafe_b64encode(derived).rstrip(b"=").decode()


def decode_part(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


async def verify(integration: Integration, token: str, document_id: str):
    store = SQLiteStore(integration.data_dir / "tandem.sqlite3")
    await store.open()
    try:
        return await TokenVerifier(KeyDirectory(store)).verify(
            integration.api_key, token, document_id=document_id
        )
    finally:
        await store.close()


def client_for(
    server_url: str,
    integration: Integration,
    backend: Backend,
    user: str,
    document_id: str = DOC,
    **kw,
) -> DocumentClient:
    """A Python SDK client whose providers are the example's two endpoints, as the
    TinyMCE plugin's rtc_token_provider / rtc_encryption_provider would call them."""
    http = backend.client(user)

    async def tokens(arg: dict) -> dict:
        response = await http.get("/jwt", params={"documentId": arg["documentId"]})
        response.raise_for_status()
        return response.json()

    async def keys(arg: dict) -> dict:
        params = {"documentId": arg["documentId"]}
        if arg["keyHint"] is not None:
            params["keyHint"] = arg["keyHint"]
        response = await http.get("/rtc-key", params=params)
        response.raise_for_status()
        return response.json()

    return DocumentClient(
        server_url,
        api_key=integration.api_key,
        document_id=document_id,
        token_provider=tokens,
        encryption_provider=keys,
        iterations=ITERATIONS,
        max_backoff=1.0,
        **kw,
    )


@pytest.mark.parametrize("kind", BACKENDS)
async def test_token_endpoint_signs_for_authorised_users_only(kind, integration, backends):
    backend = start_backend(kind, integration)
    backends.append(backend)
    for user, status, body in (
        (None, 401, {"message": "not logged in"}),
        ("eve", 403, {"message": "no access to this document"}),
        ("mallory", 401, {"message": "not logged in"}),
    ):
        async with backend.client(user) as http:
            response = await http.get("/jwt", params={"documentId": DOC})
        assert (response.status_code, response.json()) == (status, body)
    async with backend.client("alice") as http:
        response = await http.get("/jwt")
        assert (response.status_code, response.json()) == (
            400,
            {"message": "documentId is required"},
        )
    for user, role in (("alice", "editor"), ("bob", "viewer")):
        async with backend.client(user) as http:
            response = await http.get("/jwt", params={"documentId": DOC})
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert list(response.json()) == ["token"]
        token = response.json()["token"]
        header, payload = (decode_part(part) for part in token.split(".")[:2])
        assert header == {"alg": "RS256", "kid": integration.kid, "typ": "JWT"}
        assert payload["exp"] - payload["iat"] == 600
        assert abs(payload["iat"] - time.time()) < 60
        identity = await verify(integration, token, DOC)
        assert (identity.user_id, identity.role, identity.document_id) == (user, role, DOC)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_key_service_derives_per_document_keys_for_authorised_users_only(
    kind, integration, backends
):
    secret = new_secret()
    integration.write_secrets("2026-01", {"2025-07": new_secret(), "2026-01": secret})
    backend = start_backend(kind, integration)
    backends.append(backend)
    expected = reference_key(secret, DOC)
    async with backend.client("alice") as alice, backend.client("bob") as bob:
        fresh = await alice.get("/rtc-key", params={"documentId": DOC})  # a new document
        assert fresh.status_code == 200 and fresh.headers["cache-control"] == "no-store"
        assert fresh.json() == {"key": expected, "keyHint": "2026-01"}
        for http in (alice, bob, alice):  # same hint, same key: for every user, every time
            again = await http.get("/rtc-key", params={"documentId": DOC, "keyHint": "2026-01"})
            assert again.json() == {"key": expected, "keyHint": "2026-01"}
        other = await bob.get("/rtc-key", params={"documentId": "doc-43", "keyHint": "2026-01"})
        assert other.json()["key"] == reference_key(secret, "doc-43") != expected
        unicode_id = "déjà vu/📄"
        named = await bob.get("/rtc-key", params={"documentId": unicode_id})
        assert named.json()["key"] == reference_key(secret, unicode_id)
        unknown = await alice.get("/rtc-key", params={"documentId": DOC, "keyHint": "2099-01"})
        assert (unknown.status_code, unknown.json()) == (404, {"message": "unknown key hint"})
    for user, status in ((None, 401), ("eve", 403)):
        async with backend.client(user) as http:
            refused = await http.get("/rtc-key", params={"documentId": DOC, "keyHint": "2026-01"})
        assert refused.status_code == status
        assert "key" not in refused.json()


@pytest.mark.parametrize("kind", BACKENDS)
async def test_editor_and_viewer_collaborate_with_the_backends_tokens_and_keys(
    kind, integration, backends
):
    backend = start_backend(kind, integration)
    backends.append(backend)
    async with (
        serve_in_loop(integration.data_dir) as server,
        client_for(
            server.url, integration, backend, "alice", initial_content="<p>Draft</p>"
        ) as alice,
    ):
        assert (alice.user_id, alice.role, alice.key_hint) == ("alice", "editor", "2026-01")
        alice.append_paragraph(f"Written through the {kind} example")
        await alice.flush()
        async with client_for(server.url, integration, backend, "bob") as bob:
            assert (bob.user_id, bob.role) == ("bob", "viewer")
            assert bob.to_html() == f"<p>Draft</p>\n<p>Written through the {kind} example</p>"


@pytest.mark.parametrize("kind", BACKENDS)
async def test_rotation_is_a_new_hint_and_old_hints_stay_usable(kind, integration, backends):
    old_secret = new_secret()
    integration.write_secrets("2026-01", {"2026-01": old_secret})
    backend = start_backend(kind, integration)
    backends.append(backend)
    async with serve_in_loop(integration.data_dir) as server:
        async with client_for(
            server.url, integration, backend, "alice", initial_content="<p>Under the first key</p>"
        ) as alice:
            await alice.flush()
            assert alice.key_hint == "2026-01"
        backend.stop()
        # Rotation, as examples/README.md describes it: a new secret under a new hint,
        # made current; the old secret stays.
        integration.write_secrets("2026-07", {"2026-01": old_secret, "2026-07": new_secret()})
        backend = start_backend(kind, integration)
        backends.append(backend)
        async with client_for(server.url, integration, backend, "alice") as alice:
            assert alice.key_hint == "2026-01"  # the old document opens with its old hint
            assert alice.to_html() == "<p>Under the first key</p>"
            assert await alice.rotate_key() == "2026-07"
            alice.append_paragraph("Under the second key")
            await alice.flush()
        async with client_for(server.url, integration, backend, "bob") as bob:
            assert bob.key_hint == "2026-07"
            assert bob.to_html() == "<p>Under the first key</p>\n<p>Under the second key</p>"
        async with client_for(
            server.url, integration, backend, "alice", "doc-new", initial_content="<p>New</p>"
        ) as fresh:
            assert fresh.key_hint == "2026-07"  # new documents get the current hint


async def test_node_and_python_examples_sign_with_other_algorithms(integration, backends):
    """TANDEM_JWT_ALG: an ES256 key registered as PEM; both examples sign tokens the
    server accepts."""
    from tests.examples.harness import tandem

    tandem(
        "keys",
        "generate",
        "--alg",
        "ES256",
        "--out",
        "ec",
        cwd=integration.workdir,
        data_dir=integration.data_dir,
    )
    tandem(
        "keys",
        "add",
        "--api-key",
        integration.api_key,
        "ec.public.pem",
        cwd=integration.workdir,
        data_dir=integration.data_dir,
    )
    kid = json.loads((integration.workdir / "ec.public.jwk.json").read_text())["kid"]
    integration.private_key = integration.workdir / "ec.private.pem"
    for kind in BACKENDS:
        backend = start_backend(kind, integration, TANDEM_JWT_ALG="ES256")
        backends.append(backend)
        async with backend.client("bob") as http:
            token = (await http.get("/jwt", params={"documentId": DOC})).json()["token"]
        assert decode_part(token.split(".")[0]) == {"alg": "ES256", "kid": kid, "typ": "JWT"}
        identity = await verify(integration, token, DOC)
        assert (identity.user_id, identity.role) == ("bob", "viewer")
