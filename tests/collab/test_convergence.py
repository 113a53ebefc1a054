"""Concurrent random rich-text edits converge; sequence numbers stay contiguous."""

from __future__ import annotations

import asyncio
import random

import pytest

from tandem.client.richtext import MARKS, append_paragraph, format_text, insert_text
from tests.collab.helpers import converged, storage_info, stored_seqs

WORDS = ["alpha", "beta", "gamma", "delta", " ", "x", "yz", "omega!"]


def text_of(block) -> str:
    texts = [c for c in block.children if hasattr(c, "diff")]
    return "".join(part for t in texts[:1] for part, _ in t.diff() if isinstance(part, str))


def random_edit(client, rng: random.Random) -> str:
    """One random local transaction on the client's XmlFragment."""
    fragment = client.fragment
    blocks = len(fragment.children)
    op = rng.choice(["insert", "insert", "append", "format", "delete"]) if blocks else "append"
    if op == "append":
        append_paragraph(fragment, rng.choice(WORDS) + str(rng.randrange(100)))
        return op
    index = rng.randrange(blocks)
    text = text_of(fragment.children[index])
    if op == "insert" or not text:
        attrs = {rng.choice(MARKS[1:]): True} if rng.random() < 0.3 else None
        insert_text(fragment, index, rng.randint(0, len(text)), rng.choice(WORDS), attrs)
        return "insert"
    start = rng.randrange(len(text))
    end = rng.randint(start + 1, len(text))
    if op == "format":
        mark = rng.choice(MARKS[1:])
        format_text(fragment, index, start, end, {mark: True if rng.random() < 0.7 else None})
        return op
    with fragment.doc.transaction():
        target = next(c for c in fragment.children[index].children if hasattr(c, "diff"))
        del target[start:end]  # ASCII only: code points == UTF-8 units
    return op


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_concurrent_edits_converge(server, make_client, seed):
    rng = random.Random(seed)
    doc = f"converge-{seed}"
    count = 3 + seed % 2
    clients = [
        make_client(server, f"user{i}", doc, initial_content="<p>start here</p>")
        for i in range(count)
    ]
    for client in clients:
        await client.start()
    await asyncio.gather(*(c.wait_synced() for c in clients))

    ops: dict[str, int] = {}
    for _round in range(6):
        # Each client makes a burst of edits without waiting for the others...
        for client in clients:
            for _ in range(rng.randint(1, 6)):
                op = random_edit(client, rng)
                ops[op] = ops.get(op, 0) + 1
        # ...and sometimes the network gets a moment in between.
        if rng.random() < 0.5:
            await asyncio.sleep(rng.uniform(0, 0.03))
    html = await converged(clients)
    assert set(ops) == {"insert", "append", "format", "delete"}, ops

    info = await storage_info(server, doc)
    seqs = await stored_seqs(server, doc)
    # Every update of the session is kept, each once (a checkpoint does not remove any).
    assert info.active_session is not None
    start = info.active_session.start_seq
    assert seqs == list(range(start + 1, info.version + 1)), "gaps in the update log"
    assert info.version > 0
    assert {c.version for c in clients} == {info.version}
    assert html.startswith("<p>")

    # A late joiner rebuilds exactly the same content from storage.
    late = make_client(server, "late", doc)
    await late.start()
    await late.wait_synced()
    assert late.to_html() == html
    assert late.version == info.version
