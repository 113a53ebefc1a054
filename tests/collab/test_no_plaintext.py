"""Invariant 1: typed text never reaches the server's storage; the key never does either."""

from __future__ import annotations

import asyncio

from tests.collab.helpers import converged, raw_bytes, storage_info
from tests.conftest import KEY, KEY_HINT, close_all, new_client
from tests.support.server import serve_in_loop

MARKERS = [
    "ZEBRA-QUOKKA-4711",
    "Geheimnis-Überweisung-ÄÖÜ",
    "секретный-маркер",
    "機密マーカー",
]
INITIAL = "INITIAL-CONTENT-PLAINTEXT-8842"
PRESENCE = "PRESENCE-CARET-MARKER-3141"


def encodings(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("utf-16-le"), text.encode("utf-16-be")]


def assert_absent(blob: bytes, texts: list[str]) -> None:
    for text in texts:
        for encoded in encodings(text):
            assert encoded not in blob, f"plaintext {text!r} found in storage"


async def test_storage_never_holds_plaintext_or_the_key(tmp_path):
    data = tmp_path / "data"
    async with serve_in_loop(data) as server:
        doc = "secret-doc"
        a = new_client(server, "alice", doc, initial_content=f"<p>{INITIAL}</p>")
        b = new_client(server, "bob", doc)
        try:
            await a.start()
            await a.wait_synced()
            await b.start()
            await b.wait_synced()
            for i, marker in enumerate(MARKERS):
                (a if i % 2 else b).append_paragraph(marker)
            await b.set_presence({"caret": PRESENCE})
            html = await converged([a, b])
            for marker in [*MARKERS, INITIAL]:
                assert marker in html  # the clients do hold the text...
            # ...and the snapshot path: force one so the whole state is stored sealed.
            await a._on_snapshot_request({})
            await asyncio.sleep(0.3)
            info = await storage_info(server, doc)
            assert info.stored_updates + (info.snapshot_seq is not None) > 0
            live = raw_bytes(data)
        finally:
            await close_all([a, b])
    at_rest = raw_bytes(data)
    for blob in (live, at_rest):
        assert len(blob) > 0
        assert_absent(blob, [*MARKERS, INITIAL, PRESENCE, KEY])
        # The key hint and the document id are plaintext metadata by design.
        assert KEY_HINT.encode() in blob
        assert doc.encode() in blob
