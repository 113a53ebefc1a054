"""Who may do what: viewers, document-scoped tokens, tenants, origins."""

from __future__ import annotations

import asyncio

from tandem.client.errors import ClientError
from tandem.protocol.messages import b64
from tests.collab.helpers import RawClient, converged, wait_until
from tests.support.server import make_tenant, serve_in_loop


async def test_viewer_reads_but_cannot_write(server, make_client):
    doc = "viewer-doc"
    editor = make_client(server, "ed", doc, initial_content="<p>hello</p>")
    await editor.start()
    await editor.wait_synced()

    # SDK viewer: welcome says viewer, it syncs and receives the editor's updates.
    viewer = make_client(server, "vi", doc, role="viewer")
    await viewer.start()
    await viewer.wait_synced()
    assert viewer.role == "viewer"
    editor.append_paragraph("for the viewer")
    await wait_until(lambda: "for the viewer" in viewer.to_html(), what="viewer receives")

    # Raw viewer: an update attempt is refused with read_only and close 4003.
    raw = await RawClient.connect(server)
    welcome = await raw.hello(server.tenant, doc, role="viewer")
    assert welcome["role"] == "viewer"
    raw.unlock()
    await raw.drain(0.2)
    await raw.send(raw.update_frame(1, "viewer was here"))
    await raw.expect_error("read_only", 4003)

    # A viewer cannot create a session for a new document either.
    raw = await RawClient.connect(server)
    welcome = await raw.hello(server.tenant, "viewer-new-doc", role="viewer")
    assert welcome["session"] is None
    await raw.send(
        {
            "type": "create_session",
            "session_id": "s" * 20,
            "key_hint": "",
            "salt": b64(bytes(32)),
            "iterations": 10000,
            "wrapped_key": b64(bytes(40)),
            "snapshot": b64(bytes(40)),
        }
    )
    await raw.expect_error("read_only", 4003)

    # The SDK viewer's own local edit is refused and ends its connection (fatal 4003).
    viewer.append_paragraph("sneaky")
    try:
        await viewer.flush(10)
    except ClientError as exc:
        assert exc.code == "read_only"
    else:
        raise AssertionError("the viewer's edit was acknowledged")
    # Nothing of the viewer's reached the document; the editor continues.
    editor.append_paragraph("still writing")
    await editor.flush()
    await asyncio.sleep(0.2)
    assert "sneaky" not in editor.to_html()
    assert "viewer was here" not in editor.to_html()


async def test_document_claim_limits_the_token(server, make_client):
    raw = await RawClient.connect(server)
    await raw.send(raw.hello_frame(server.tenant, "doc-B", document="doc-A"))
    await raw.expect_error("forbidden_document", 4003)

    # The same token opens the document it names.
    client = make_client(
        server, "alice", "doc-A", document_claim="doc-A", initial_content="<p>A</p>"
    )
    await client.start()
    await client.wait_synced()
    assert client.to_html() == "<p>A</p>"


async def test_token_of_one_api_key_cannot_open_another_tenants_document(server, make_client):
    other = await make_tenant(server.db_path)  # tenant Y: its own API key and signer
    owner = make_client(server, "yuser", "y-doc", tenant=other, initial_content="<p>Y</p>")
    await owner.start()
    await owner.wait_synced()

    # A token signed by X's key, presented with Y's API key.
    raw = await RawClient.connect(server)
    frame = raw.hello_frame(other, "y-doc", token=server.tenant.token("intruder"))
    await raw.send(frame)
    error = await raw.expect_error("jwt", 4001)
    # X's kid is not in Y's JWK set; if it were, the signature would not verify.
    assert error.get("detail") in ("jwks_unavailable", "bad_signature"), error
    if error["detail"] == "jwks_unavailable":
        assert error["message"] == "Unable to retrieve JWK set"

    # And the SDK with X's token on Y's API key fails fatally-ish, never syncing.
    intruder = make_client(server, "intruder", "y-doc", reconnect=False)
    intruder.api_key = other.api_key
    await intruder.start()
    try:
        await intruder.wait_synced(10)
    except ClientError as exc:
        assert exc.code == "jwt"
    else:
        raise AssertionError("a foreign token opened the document")

    # Unknown API key: the seed's message.
    raw = await RawClient.connect(server)
    frame = raw.hello_frame(server.tenant, "y-doc")
    frame["api_key"] = "no-such-api-key"
    await raw.send(frame)
    error = await raw.expect_error("jwt", 4001)
    assert error["message"] == "Unable to retrieve JWK set"


async def test_origins_of_an_api_key_are_enforced(tmp_path):
    allowed = "https://app.example.com"
    async with serve_in_loop(tmp_path / "data", origins=(allowed,)) as server:
        raw = await RawClient.connect(server, origin="https://evil.example.net")
        await raw.send(raw.hello_frame(server.tenant, "o-doc"))
        error = await raw.expect_error("origin_not_allowed", 4003)
        assert "evil.example.net" in error["message"]

        raw = await RawClient.connect(server, origin=allowed)
        welcome = await raw.hello(server.tenant, "o-doc")
        assert welcome["type"] == "welcome"
        await raw.close()


async def test_editors_converge_after_refused_clients(server, make_client):
    """Refusals on a document never disturb the clients working on it."""
    a = make_client(server, "a", "busy", initial_content="<p>0</p>")
    await a.start()
    await a.wait_synced()
    b = make_client(server, "b", "busy")
    await b.start()
    await b.wait_synced()
    for _ in range(3):
        raw = await RawClient.connect(server)
        await raw.send(raw.hello_frame(server.tenant, "busy", document="elsewhere"))
        await raw.expect_error("forbidden_document", 4003)
        a.append_paragraph("a")
        b.append_paragraph("b")
    html = await converged([a, b])
    assert html.count("<p>") == 7
