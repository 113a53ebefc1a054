"""Case 9: removing a key (``tandem keys remove``) or an API key (``tandem apikey
delete``) closes the connections it authenticated, promptly; a token may not live
longer than ``max_token_lifetime``."""

from __future__ import annotations

import time

import pytest

from tandem.storage.sqlite import SQLiteStore
from tests.adversarial.helpers import raw_hello
from tests.collab.helpers import wait_until

DOC = "revoked-doc"


async def cli_store(server) -> SQLiteStore:
    """The database as the ``tandem`` CLI sees it: another process's store."""
    store = SQLiteStore(server.db_path)
    await store.open()
    return store


@pytest.mark.parametrize("how", ["keys remove", "apikey delete"])
async def test_revoking_closes_open_connections(server, make_client, how):
    editor = make_client(server, "alice", DOC, initial_content="<p>start</p>")
    viewer = make_client(server, "victor", DOC, role="viewer")
    for client in (editor, viewer):
        await client.start()
        await client.wait_synced()
    store = await cli_store(server)
    try:
        if how == "keys remove":
            assert await store.remove_public_key(server.tenant.api_key, server.tenant.signer.kid)
        else:
            assert await store.delete_api_key(server.tenant.api_key)
    finally:
        await store.close()
    revoked_at = time.monotonic()
    await wait_until(
        lambda: editor.error is not None and viewer.error is not None,
        30,
        "both connections to be closed for good",
    )
    # Deleting the API key also erases its documents: whichever watcher sees it first
    # (the key's revocation or the document's deletion) closes the connections for good.
    expected = {"jwt"} if how == "keys remove" else {"jwt", "document_deleted"}
    assert editor.error.code in expected and viewer.error.code in expected
    assert time.monotonic() - revoked_at < 30


async def test_a_token_for_year_9999_is_refused(server):
    token = server.tenant.token("alice", ttl=253402300799 - time.time() - 10)
    raw = await raw_hello(server, DOC, token=token)
    reply = await raw.recv_type("welcome", "error")
    assert reply["type"] == "error" and reply["code"] == "jwt", reply
    assert reply["detail"] == "invalid_claim", reply
