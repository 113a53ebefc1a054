"""Key rotation: a new session with a new key; old key hints stay usable; nothing lost."""

from __future__ import annotations

import asyncio

from tests.collab.helpers import converged, storage_info
from tests.conftest import close_all, new_client

KEYS = {"k1": "first secret", "k2": "second secret"}


def rotating_provider(calls: list):
    """New sessions get the next key of KEYS; known hints get their key."""

    def provide(arg):
        calls.append(arg["keyHint"])
        hint = arg["keyHint"]
        if hint is None:
            hint = "k1" if calls.count(None) == 1 else "k2"
        return {"key": KEYS[hint], "keyHint": hint}

    return provide


async def test_rotation_moves_everyone_to_the_new_key_without_losing_edits(server):
    calls_a: list = []
    calls_b: list = []
    a = new_client(
        server,
        "alice",
        "rot-doc",
        initial_content="<p>one</p>",
        encryption_provider=rotating_provider(calls_a),
    )
    b = new_client(server, "bob", "rot-doc", encryption_provider=rotating_provider(calls_b))
    try:
        await a.start()
        await a.wait_synced()
        await b.start()
        await b.wait_synced()
        assert a.key_hint == b.key_hint == "k1"
        b.append_paragraph("before rotation")
        await converged([a, b])
        hint = await a.rotate_key()
        assert hint == "k2"
        # bob was told about the new session, asked his provider for k2, and kept his doc
        for _ in range(200):
            if b.key_hint == "k2" and b.synced:
                break
            await asyncio.sleep(0.02)
        assert b.key_hint == "k2"
        assert "k2" in calls_b
        b.append_paragraph("after rotation")
        a.append_paragraph("alice after rotation")
        html = await converged([a, b])
        assert html == (
            "<p>one</p>\n<p>before rotation</p>\n<p>after rotation</p>\n<p>alice after rotation</p>"
        ) or ("<p>after rotation</p>" in html and "<p>alice after rotation</p>" in html)
        info = await storage_info(server, "rot-doc")
        assert info.session_count == 2 and info.active_session.key_hint == "k2"
        # a late joiner only needs the new key
        c = new_client(
            server,
            "carol",
            "rot-doc",
            encryption_provider=lambda arg: {"key": KEYS[arg["keyHint"]]},
        )
        await c.start()
        await c.wait_synced()
        assert c.to_html() == html
        await c.close()
    finally:
        await close_all([a, b])
