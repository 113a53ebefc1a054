"""Case 1: an editor reconnecting with its client id while its old socket is still
open (a network change) stays on the document's one hub: later joiners see it and
its updates and presence reach them live."""

from __future__ import annotations

import base64

from tests.adversarial.helpers import joined
from tests.collab.helpers import converged, paragraph_texts, wait_until

DOC = "reconnect-doc"


async def test_same_client_reconnect_keeps_one_hub(server, make_client):
    creator = make_client(server, "carol", DOC, initial_content="<p>start</p>")
    await creator.start()
    await creator.wait_synced()
    await creator.close()  # the document exists; nobody is connected

    first = await joined(server, DOC, user="alice")
    await first.recv_type("synced")
    # The network changed: the same editor instance connects again, old socket open.
    second = await joined(server, DOC, user="alice", client_id=first.client_id)
    await second.recv_type("synced")
    await first.expect_error("replaced")

    bob = make_client(server, "bob", DOC)
    await bob.start()
    await bob.wait_synced()
    assert first.client_id in bob.clients, "a later joiner does not see the reconnected editor"

    second.unlock()
    await second.send(second.update_frame(1, "typed after the reconnect"))
    ack = await second.recv_type("ack")
    assert ack["duplicate"] is False
    await wait_until(
        lambda: "typed after the reconnect" in paragraph_texts(bob),
        10,
        "the reconnected editor's update at bob, live",
    )
    seal = second.cipher.seal_presence(second.client_id, b'{"caret": 3}')
    got = []
    bob.on(lambda kind, info: got.append(info) if kind == "presence" else None)
    await second.send({"type": "presence", "data": base64.b64encode(seal).decode()})
    await wait_until(lambda: got, 10, "the reconnected editor's presence at bob")

    # Everyone agrees, and a fresh reader has it all.
    reader = make_client(server, "dave", DOC)
    await reader.start()
    await reader.wait_synced()
    await converged([bob, reader])
    assert "typed after the reconnect" in paragraph_texts(reader)
    await second.close()
