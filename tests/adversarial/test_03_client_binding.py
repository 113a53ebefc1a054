"""Case 3: a client id is bound to its user, and a (client id, counter) is only a
duplicate when it carries the same ciphertext: nothing acknowledged is ever dropped."""

from __future__ import annotations

import base64

from tests.adversarial.helpers import joined, raw_hello
from tests.collab.helpers import paragraph_texts, wait_until

DOC = "binding-doc"
MAX_COUNTER = 2**53 - 1


async def read_all(server, make_client, user="reader"):
    reader = make_client(server, user, DOC)
    await reader.start()
    await reader.wait_synced()
    texts = paragraph_texts(reader)
    await reader.close()
    return texts


async def test_bot_rerun_with_the_same_client_id_keeps_both_edits(server, make_client):
    first = make_client(
        server, "bot", DOC, client_id="nightly-bot-1", initial_content="<p>start</p>"
    )
    await first.start()
    await first.wait_synced()
    first.append_paragraph("first run")
    await first.flush()
    await first.close()

    second = make_client(server, "bot", DOC, client_id="nightly-bot-1")
    await second.start()
    await second.wait_synced()
    second.append_paragraph("second run")
    await second.flush()  # acknowledged, so it must be kept
    await second.close()

    texts = await read_all(server, make_client)
    assert "first run" in texts and "second run" in texts, texts


async def test_another_user_cannot_poison_a_client_id(server, make_client):
    alice = make_client(
        server, "alice", DOC, client_id="alice-editor-1", initial_content="<p>start</p>"
    )
    await alice.start()
    await alice.wait_synced()
    alice.append_paragraph("alice one")
    await alice.flush()
    await alice.close()

    # Mallory, another editor of the document (she has the key), uses Alice's client
    # id with the largest counter, then compacts the log with an honest snapshot.
    spy = make_client(server, "mallory", DOC)
    await spy.start()
    await spy.wait_synced()
    mallory = await raw_hello(server, DOC, user="mallory", client_id="alice-editor-1")
    welcome = await mallory.recv_type("welcome", "error")
    if welcome["type"] == "error":  # refused: the client id is bound to alice
        assert welcome["code"] == "client_id_taken", welcome
    else:
        mallory.welcome = welcome
        await mallory.recv_type("synced")
        mallory.unlock()
        await mallory.send(mallory.update_frame(MAX_COUNTER, "mallory under alice's id"))
        reply = await mallory.recv_type("ack", "error")
        if reply["type"] == "ack":  # then a snapshot makes the poisoned counter "compacted"
            await wait_until(lambda: spy.version >= reply["seq"], what="spy caught up")
            seal = mallory.cipher.seal_snapshot(reply["seq"], spy.doc.get_update())
            await mallory.send(
                {
                    "type": "snapshot",
                    "session_id": mallory.welcome["session"]["session_id"],
                    "seq": reply["seq"],
                    "data": base64.b64encode(seal).decode(),
                }
            )
            await mallory.recv_type("snapshot_ack", "error")
            await mallory.close()
    await spy.close()

    alice = make_client(server, "alice", DOC, client_id="alice-editor-1")
    await alice.start()
    await alice.wait_synced()
    alice.append_paragraph("alice two")
    await alice.flush()
    await alice.close()
    texts = await read_all(server, make_client)
    assert "alice one" in texts and "alice two" in texts, texts


async def test_welcome_tells_a_returning_client_its_stored_counter(server, make_client):
    """So a new instance reusing a client id continues after it instead of having its
    new updates mistaken for re-sent ones."""
    alice = make_client(server, "alice", DOC, initial_content="<p>start</p>")
    await alice.start()
    await alice.wait_synced()
    raw = await joined(server, DOC, user="erin", client_id="erin-editor-1")
    assert raw.welcome.get("counter") == 0, raw.welcome
    await raw.recv_type("synced")
    raw.unlock()
    for counter in (1, 2):
        await raw.send(raw.update_frame(counter, f"erin {counter}"))
        assert (await raw.recv_type("ack"))["duplicate"] is False
    await raw.close()
    again = await joined(server, DOC, user="erin", client_id="erin-editor-1")
    assert again.welcome.get("counter") == 2, again.welcome
    await again.close()


async def test_same_client_id_of_another_user_cannot_replace_a_connection(server, make_client):
    alice = make_client(
        server, "alice", DOC, client_id="alice-editor-2", initial_content="<p>start</p>"
    )
    events = []
    alice.on(lambda kind, info: events.append(info) if kind == "disconnected" else None)
    await alice.start()
    await alice.wait_synced()
    mallory = await raw_hello(server, DOC, user="mallory", client_id="alice-editor-2")
    error = await mallory.recv_type("error", "welcome")
    assert error["type"] == "error" and error["code"] == "client_id_taken", error
    alice.append_paragraph("alice still here")
    await alice.flush(10)
    assert events == [], events
