"""The Yjs v1 update reader that tells a client its document lacks updates (pending
structs): clock ranges match what pycrdt integrates, for every content kind."""

from __future__ import annotations

import json
from pathlib import Path

import pycrdt
import pytest

from tandem.client.richtext import content_root, html_to_fragment
from tandem.client.yjs_blocks import (
    decode_state_vector,
    merge_ends,
    missing_clients,
    update_ranges,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "content.json").read_text())


@pytest.mark.parametrize("case", VECTORS["html"], ids=lambda c: c["name"])
def test_ranges_of_every_content_vector_match_the_state_vector(case):
    doc = pycrdt.Doc()
    fragment = content_root(doc)
    html_to_fragment(case["html"], fragment)
    before = doc.get_state()
    html_to_fragment(case["html"] + "<p>more</p>", fragment)  # deletions and inserts
    full, diff = doc.get_update(), doc.get_update(before)
    assert update_ranges(full) == decode_state_vector(doc.get_state())
    ends: dict[int, int] = {}
    merge_ends(ends, update_ranges(diff))
    assert ends == decode_state_vector(doc.get_state())


def test_other_content_kinds_and_missing_dependencies():
    doc = pycrdt.Doc()
    text = doc.get("t", type=pycrdt.Text)
    items = doc.get("a", type=pycrdt.Array)
    fields = doc.get("m", type=pycrdt.Map)
    text.insert(0, "héllo 😀 wörld")
    text.format(0, 5, {"bold": True, "href": "https://x"})
    text.insert_embed(3, {"image": "x.png", "n": [1, 2.5, None, True, "s"]})
    items.extend([1, -7, 2.5, "x", None, False, {"k": [1, {"z": b"\x00\x01"}]}, b"bytes"])
    fields["k"] = pycrdt.Map({"nested": pycrdt.Array([1, 2])})
    fields["t"] = pycrdt.Text("inner")
    first = doc.get_update()
    assert update_ranges(first) == decode_state_vector(doc.get_state())
    state = doc.get_state()
    text.insert(len(str(text)), " and more")
    del items[0:3]
    second = doc.get_update(state)

    other = pycrdt.Doc()
    other.get("t", type=pycrdt.Text)
    other.apply_update(second)  # builds on structs it lacks: pending
    expected: dict[int, int] = {}
    merge_ends(expected, update_ranges(second))
    assert missing_clients(other.get_state(), expected) == {doc.client_id: 0}
    other.apply_update(first)
    merge_ends(expected, update_ranges(first))
    assert missing_clients(other.get_state(), expected) == {}


def test_garbage_is_a_value_error():
    for garbage in (b"\x01", b"\x01\x01\x05\x00\xff", b"\xff" * 12):
        with pytest.raises(ValueError):
            update_ranges(garbage)
