"""Issue 12: one message must not destroy a document. A garbage snapshot, a stale
snapshot and a rotation with a garbage wrapped key only add to the history; clients
fall back to an older checkpoint and the retained log and say so."""

from __future__ import annotations

import base64
import os
import secrets

import pytest

from tandem.crypto import WRONG_KEY_MESSAGE, EncryptionError
from tests.collab.helpers import RawClient, converged, wait_until
from tests.history.conftest import server_store


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _document(server, make_client, paragraphs: int = 4):
    """alice and bob write a document; returns (alice, bob, its HTML)."""
    alice = make_client(server, "alice", "doc", initial_content="<p>start</p>")
    await alice.start()
    await alice.wait_synced()
    bob = make_client(server, "bob", "doc")
    await bob.start()
    await bob.wait_synced()
    for i in range(paragraphs):
        (alice if i % 2 else bob).append_paragraph(f"line {i}")
        await converged([alice, bob])
    await alice.create_version()  # a checkpoint to fall back to
    alice.append_paragraph("after the checkpoint")
    html = await converged([alice, bob])
    return alice, bob, html


async def _all_seqs(server) -> list[int]:
    async with server_store(server) as store:
        return [
            u.seq
            for u in await store.updates_between(
                server.tenant.api_key, "doc", 0, 10**9, limit=10_000
            )
        ]


async def test_random_bytes_as_snapshot_do_not_lose_the_document(server, make_client):
    alice, _bob, html = await _document(server, make_client)
    head = alice.version
    mallory = await RawClient.connect(server)
    welcome = await mallory.hello(server.tenant, "doc", user="mallory")
    await mallory.send(
        {
            "type": "snapshot",
            "session_id": welcome["session"]["session_id"],
            "seq": head,
            "data": b64(os.urandom(28)),
        }
    )
    ack = await mallory.recv_type("snapshot_ack")
    assert ack["accepted"]  # the server cannot tell: it only adds a version
    await mallory.close()

    carol = make_client(server, "carol", "doc")
    incidents: list[dict] = []
    carol.on(lambda kind, info: incidents.append(info) if kind == "incident" else None)
    await carol.start()
    await carol.wait_synced()
    assert carol.to_html() == html
    assert [(i["code"], i["recovered"]) for i in incidents] == [("snapshot_unreadable", True)]
    assert await _all_seqs(server) == list(range(1, head + 1))
    # carol stored a repair checkpoint: the next client opens without an incident.
    await wait_until(lambda: carol.versions(limit=1), what="versions")
    latest = (await carol.versions(limit=1))[0]
    assert (latest["kind"], latest["seq"]) == ("repair", head)
    dave = make_client(server, "dave", "doc")
    dave_incidents: list = []
    dave.on(lambda kind, info: dave_incidents.append(info) if kind == "incident" else None)
    await dave.start()
    await dave.wait_synced()
    assert dave.to_html() == html and dave_incidents == []


async def test_a_stale_snapshot_is_detected_or_undone_by_a_restore(server, make_client):
    alice, bob, html = await _document(server, make_client)
    old_state = (await alice.state_at(1, format="doc")).get_update()  # "<p>start</p>"
    head = alice.version
    mallory = await RawClient.connect(server)
    await mallory.hello(server.tenant, "doc", user="mallory")
    cipher = mallory.unlock()
    await mallory.send(
        {
            "type": "snapshot",
            "session_id": cipher.session_id,
            "seq": head,
            "data": b64(cipher.seal_snapshot(head, old_state)),
        }
    )
    assert (await mallory.recv_type("snapshot_ack"))["accepted"]
    await mallory.close()

    # With nothing after it, a stale checkpoint is a valid (old) state: a new client
    # shows it, and restoring the version before it brings everything back.
    carol = make_client(server, "carol", "doc")
    await carol.start()
    await carol.wait_synced()
    assert carol.to_html() == "<p>start</p>"
    versions = await carol.versions()
    stale, before = versions[0], versions[1]
    assert (stale["seq"], stale["editors"], before["kind"]) == (head, ["alice"], "named")
    assert await carol.state_at(stale["number"]) == "<p>start</p>"
    # Nothing acknowledged is gone: the log rebuilds the state at the stale one's seq
    # from the checkpoint before it, and restoring that brings the document back.
    assert await carol.state_at(stale["number"], rebuild=True) == html
    await carol.restore(stale["number"], rebuild=True)
    assert await converged([alice, bob, carol]) == html
    assert await _all_seqs(server) == list(range(1, carol.version + 1))


async def test_a_stale_snapshot_with_updates_after_it_is_detected(server, make_client):
    alice, bob, html = await _document(server, make_client)
    old_state = (await alice.state_at(1, format="doc")).get_update()
    head = alice.version
    mallory = await RawClient.connect(server)
    await mallory.hello(server.tenant, "doc", user="mallory")
    cipher = mallory.unlock()
    await mallory.send(
        {
            "type": "snapshot",
            "session_id": cipher.session_id,
            "seq": head,
            "data": b64(cipher.seal_snapshot(head, old_state)),
        }
    )
    assert (await mallory.recv_type("snapshot_ack"))["accepted"]
    await mallory.close()
    alice.append_paragraph("written after the stale snapshot")  # builds on what it lacks
    html = await converged([alice, bob])

    carol = make_client(server, "carol", "doc")
    incidents: list[dict] = []
    carol.on(lambda kind, info: incidents.append(info) if kind == "incident" else None)
    await carol.start()
    await carol.wait_synced()
    assert carol.to_html() == html
    assert [(i["code"], i["recovered"]) for i in incidents] == [("snapshot_incomplete", True)]


async def test_rotation_with_a_garbage_wrapped_key_keeps_the_history(server, make_client):
    alice, _bob, html = await _document(server, make_client)
    head = alice.version
    old_session = alice.session["session_id"]
    mallory = await RawClient.connect(server)
    await mallory.hello(server.tenant, "doc", user="mallory")
    await mallory.send(
        {
            "type": "create_session",
            "session_id": secrets.token_urlsafe(18),
            "key_hint": "hint-v1",
            "salt": b64(os.urandom(32)),
            "iterations": 10_000,
            "wrapped_key": b64(os.urandom(60)),
            "snapshot": b64(os.urandom(60)),
            "replaces": old_session,
            "seq": head,
        }
    )
    await mallory.recv_type("session_created")
    await mallory.close()
    assert await _all_seqs(server) == list(range(1, head + 1))

    # A new client cannot open the new session, rebuilds from the old one's history...
    carol = make_client(server, "carol", "doc")
    incidents: list[dict] = []
    carol.on(lambda kind, info: incidents.append(info) if kind == "incident" else None)
    await carol.start()
    await carol.wait_synced()
    assert carol.to_html() == html
    assert [(i["code"], i["recovered"]) for i in incidents] == [("session_key_unusable", True)]
    # ... and an editor repairs the document by rotating to a good key.
    await carol.rotate_key()
    dave = make_client(server, "dave", "doc")
    await dave.start()
    await dave.wait_synced()
    assert dave.to_html() == html
    dave.append_paragraph("life goes on")
    await converged([carol, dave])


async def test_sdk_local_file_keeps_unsent_changes_across_a_restart(server, make_client, tmp_path):
    path = tmp_path / "alice.local.json"
    alice = make_client(server, "alice", "doc", initial_content="<p>first</p>", local_path=path)
    await alice.start()
    await alice.wait_synced()
    await alice.close()  # as if the process crashed: edits below never leave
    alice.append_paragraph("typed while the server was away")
    assert alice.unacknowledged == 1 and path.exists()

    again = make_client(server, "alice", "doc", local_path=path)
    merged: list[dict] = []
    again.on(lambda kind, info: merged.append(info) if kind == "local_merged" else None)
    await again.start()
    await again.wait_synced()
    await again.flush()
    assert merged == [{"updates": 1}]
    assert again.to_html() == "<p>first</p>\n<p>typed while the server was away</p>"
    reader = make_client(server, "bob", "doc")
    await reader.start()
    await reader.wait_synced()
    assert reader.to_html() == again.to_html()
    # Acknowledged: the file no longer holds it; a file for another document is ignored.
    assert again.local.load() == []
    other = make_client(server, "alice", "other-doc", local_path=path, initial_content="<p>x</p>")
    assert other._local_updates == []


async def test_a_wrong_key_is_still_a_wrong_key_after_a_rotation(server, make_client):
    alice, _bob, _html = await _document(server, make_client, paragraphs=1)
    await alice.rotate_key()  # the document's session now starts after seq 0
    eve = make_client(
        server,
        "eve",
        "doc",
        encryption_provider=lambda arg: {"key": "not the key", "keyHint": arg["keyHint"]},
    )
    await eve.start()
    with pytest.raises(EncryptionError) as err:
        await eve.wait_synced(15)
    assert str(err.value) == WRONG_KEY_MESSAGE
    assert [i["recovered"] for i in eve.incidents] == [False]
