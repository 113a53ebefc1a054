"""The browser fuzzer's accounting (tests/support/fuzz.py) against real CRDT merges, without a
browser: replicas of a pycrdt document (an array of blocks, each a Y.Text) edit concurrently
the way editors do (typing anchored after the typist's previous character, Backspace, a
selection replaced by typing, Enter as delete-tail-and-copy, merging blocks as
copy-and-delete), exchange updates in random orders, and every local action is measured as
the fuzzer measures it in the browser.

Whatever the interleaving, a correct merge never exceeds the duplication bound and every
typed run is inserted whole (nested_insertion); an injected duplicate and character-level
interleaving are caught.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter

import pytest
from pycrdt import Array, Assoc, Doc, Map, Text

from tests.support.fuzz import (
    Ledger,
    counted,
    duplication_excess,
    effect,
    nested_insertion,
)

ALPHABETS = ("abcdefghijklm", "nopqrstuvwxyz", "ABCDEFGHIJKLM")
START = ["1234 5678", "2345", "3456 7891"]


def block(text: str) -> Map:
    return Map({"id": uuid.uuid4().hex, "t": Text(text)})


class Replica:
    def __init__(
        self, seed_update: bytes, alphabet: str, rng: random.Random, *, follow_remote: bool = False
    ) -> None:
        self.doc = Doc()
        self.doc.apply_update(seed_update)
        self.blocks = self.doc.get("blocks", type=Array)
        self.alphabet = alphabet
        self.rng = rng
        # a caret that stays left of text others insert at it (typing anchored after the
        # typist's own previous character), or one that follows remote text (kept at its
        # distance from the block's end: what interleaves characters)
        self.follow_remote = follow_remote
        self.ledger = Ledger()
        self.caret: tuple[str, object] | None = None  # (block id, sticky index)
        self.runs: list[str] = []

    def texts(self) -> list[str]:
        return [str(b["t"]) for b in self.blocks]

    def view(self, prev: str | None = None, selected: str = "") -> dict:
        return {"blocks": [["p", t] for t in self.texts()], "prev": prev, "selected": selected}

    def index_of(self, block_id: str) -> int | None:
        return next((i for i, b in enumerate(self.blocks) if b["id"] == block_id), None)

    def set_caret(self, index: int, at: int) -> None:
        b = self.blocks[index]
        if self.follow_remote:
            self.caret = (b["id"], len(str(b["t"])) - at)
        else:
            self.caret = (b["id"], b["t"].sticky_index(at, Assoc.BEFORE))

    def place(self) -> None:
        index = self.rng.randrange(len(self.blocks))
        self.set_caret(index, self.rng.randint(0, len(str(self.blocks[index]["t"]))))

    def where(self) -> tuple[int, Text, int] | None:
        if self.caret is None:
            return None
        index = self.index_of(self.caret[0])
        if index is None:
            return None  # someone merged the block away
        text = self.blocks[index]["t"]
        if self.follow_remote:
            return index, text, max(0, len(str(text)) - self.caret[1])
        return index, text, self.caret[1].get_index()

    def measured(self, change, *, typed: str = "", selected: str = "") -> None:
        before = self.view(selected=selected)
        prev = change()
        after = self.view(prev=prev)
        keystroke = typed if len(typed) == 1 else None
        self.ledger.add(effect(before, after, typed=typed, keystroke=keystroke))

    def type_run(self, length: int) -> None:
        run = "".join(self.rng.choice(self.alphabet) for _ in range(length))
        self.runs.append(run)
        for ch in run:
            self.type_char(ch)

    def type_char(self, ch: str) -> None:
        index, text, at = self.where()

        def key():
            text.insert(at, ch)
            self.set_caret(index, at + 1)
            return ch

        self.measured(key, typed=ch)

    def act(self) -> None:
        if self.where() is None or self.rng.random() < 0.2:
            self.place()
        index, text, at = self.where()
        kind = self.rng.choice(("type", "type", "backspace", "replace", "split", "merge"))
        if kind == "type":
            self.type_run(self.rng.randint(1, 5))
        elif kind == "backspace" and at > 0:

            def backspace():
                del text[at - 1]
                self.set_caret(index, at - 1)

            self.measured(backspace)
        elif kind == "replace" and len(str(text)) > at:
            n = self.rng.randint(1, len(str(text)) - at)
            ch = self.rng.choice(self.alphabet)
            selected = str(text)[at : at + n]

            def replace():
                del text[at : at + n]
                text.insert(at, ch)
                self.set_caret(index, at + 1)
                return ch

            self.measured(replace, typed=ch, selected=selected)
        elif kind == "split":

            def split():  # Enter: the tail becomes a new block (a copy: Yjs has no move)
                tail = str(text)[at:]
                with self.doc.transaction():
                    if tail:
                        del text[at:]
                    self.blocks.insert(index + 1, block(tail))
                self.set_caret(index + 1, 0)

            self.measured(split)
        elif kind == "merge" and index > 0:

            def merge():  # Backspace at a block start: this block's text joins the previous
                prev_text = self.blocks[index - 1]["t"]
                end = len(str(prev_text))
                with self.doc.transaction():
                    prev_text.insert(end, str(text))
                    del self.blocks[index]
                self.set_caret(index - 1, end)

            self.measured(merge)


def sync(a: Replica, b: Replica) -> None:
    ua = a.doc.get_update(b.doc.get_state())
    ub = b.doc.get_update(a.doc.get_state())
    b.doc.apply_update(ua)
    a.doc.apply_update(ub)


def make_replicas(seed: int, users: int, **kw) -> list[Replica]:
    origin = Doc()
    blocks = origin.get("blocks", type=Array)
    with origin.transaction():
        for line in START:
            blocks.append(block(line))
    update = origin.get_update()
    rng = random.Random(seed)
    return [Replica(update, ALPHABETS[i], random.Random(rng.random()), **kw) for i in range(users)]


def converge(replicas: list[Replica]) -> list[str]:
    for a in replicas:
        for b in replicas:
            if a is not b:
                sync(a, b)
    views = [r.texts() for r in replicas]
    assert all(v == views[0] for v in views)
    return views[0]


@pytest.mark.parametrize("seed", range(200))
def test_correct_merges_stay_within_the_bound(seed: int) -> None:
    rng = random.Random(seed)
    replicas = make_replicas(seed, rng.choice((2, 3)))
    start = counted([["p", t] for t in converge(replicas)])
    for _ in range(rng.randint(5, 30)):
        rng.choice(replicas).act()
        if rng.random() < 0.3:  # partial delivery: some pairs hear of each other
            a, b = rng.sample(replicas, 2)
            sync(a, b)
    final = counted([["p", t] for t in converge(replicas)])
    excess = duplication_excess(start, final, [r.ledger for r in replicas])
    assert not excess, (excess, final)


@pytest.mark.parametrize("seed", range(50))
def test_an_unaccounted_copy_is_caught(seed: int) -> None:
    """Typing only (no deletion can hide it): one replica's binding writes a character
    twice; the bound is exceeded by exactly that character."""
    rng = random.Random(seed)
    replicas = make_replicas(seed, 2)
    start = counted([["p", t] for t in converge(replicas)])
    for r in replicas:
        r.place()
        r.type_run(rng.randint(2, 6))
    victim = replicas[0]
    victim.blocks[0]["t"].insert(0, victim.runs[0][0])  # the echo: not a key press
    final = counted([["p", t] for t in converge(replicas)])
    excess = duplication_excess(start, final, [r.ledger for r in replicas])
    assert excess == Counter(victim.runs[0][0])


def race(seed: int, follow_remote: bool) -> tuple[bool | None, list[str]]:
    """Every replica types runs at one shared caret; updates arrive between key presses."""
    rng = random.Random(seed)
    replicas = make_replicas(seed, 3, follow_remote=follow_remote)
    before = converge(replicas)
    at = rng.choice((0, len(START[1]), rng.randint(0, len(START[1]))))
    queue = {}
    for r in replicas:
        r.set_caret(1, at)
        r.runs = [
            "".join(rng.choice(r.alphabet) for _ in range(rng.randint(3, 6)))
            for _ in range(rng.randint(1, 3))
        ]
        queue[id(r)] = list("".join(r.runs))
    while any(queue.values()):
        r = rng.choice([r for r in replicas if queue[id(r)]])
        r.type_char(queue[id(r)].pop(0))
        for _ in range(rng.randint(0, 2)):
            a, b = rng.sample(replicas, 2)
            sync(a, b)
    after = converge(replicas)
    runs = [run for r in replicas for run in r.runs]
    return nested_insertion("\n".join(before), "\n".join(after), runs)


@pytest.mark.parametrize("seed", range(100))
def test_runs_typed_at_one_caret_are_inserted_whole(seed: int) -> None:
    ok, _ = race(seed, follow_remote=False)
    assert ok


def test_a_caret_that_follows_remote_text_interleaves_and_is_caught() -> None:
    outcomes = [race(seed, follow_remote=True)[0] for seed in range(100)]
    assert outcomes.count(False) > 10, outcomes


def test_character_interleaving_is_not_a_nested_insertion() -> None:
    assert nested_insertion("12", "1onethree2", ["one", "three"]) == (True, [])
    assert nested_insertion("12", "1thoneree2", ["one", "three"]) == (True, ["three"])
    assert nested_insertion("12", "1otnhree2", ["one", "three"]) == (False, ["one", "three"])
    assert nested_insertion("1\n2", "1on\ne2", ["one"]) == (False, ["one"])
