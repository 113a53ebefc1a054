"""A browser fuzzer for collaborative editing: 2–4 users type at the same caret at once.

One :class:`FuzzCase` (a seed, a number of users, rounds, actions per phase) drives
everything through ``random.Random``: the same seed replays the same action script (only
timing varies). Each user is a separate Chromium context on the demo page (real TinyMCE, the
built plugin, a real Tandem server), fed real key presses. ``scripts/fuzz-browser`` runs many
seeds; tests/browser/test_fuzz.py a fixed list.

A run is a document seeded with digits (users only ever type letters, each user from its own
alphabet, so every letter says who typed it), then ``rounds`` rounds of two phases, each
ending in quiescence (everyone back online, nothing unacknowledged, all shared documents
equal twice in a row) and checks:

* **race**: every user puts the caret at the same place (the same caret, the same block, or
  the same table cell) and types bursts of words at the same time; nothing is deleted.
* **mixed**: each user, mostly at the same caret again, runs a random script: typing, Enter,
  Backspace/Delete (across block boundaries too), selections (Shift+arrows) replaced by
  typing, Ctrl+B/Ctrl+I, list commands, typing in table cells, paste, Ctrl+Z/Ctrl+Y, rarely
  setContent; all under random network latency, one user sometimes dropped offline and back.

Checks after every phase (the failure says which and where):

1. every editor's shared document (``getCanonicalContent()`` after ``flush()``) is the same,
   each editor shows it (``getContent()`` and its visible text), and at the end it is what
   ``tandem doc cat`` prints;
2. no text duplicated (:func:`duplication_excess`); in a race, exactly the old text plus
   every character typed;
3. typed runs contiguous: in a race (and a mixed phase with nothing but typing) every burst
   was inserted whole (:func:`nested_insertion`);
4. no editor read-only (``getState().editable``, ``editor.mode.isReadOnly()``);
5. no page error and no console error (Chromium's own network errors while a user is
   deliberately offline excepted).

How characters are counted (whitespace is not counted: it is compared by check 1). Every
action is measured in a *frozen window*, a moment in which nothing from the server reaches
that page (tests/support/fuzz_page.js holds inbound WebSocket messages): a key press from its
keydown (before TinyMCE sees it) to its keyup (after TinyMCE's handlers), in the page; a
command (paste, list, table, setContent, undo/redo) from before it until two timer turns
after it. The view before and after differs by exactly what that action did in that user's
view (:func:`effect`):

* ``inserted`` (an upper bound, per character): a key press inserts its own character (none
  if the view did not change), a paste its text, setContent its HTML's text, undo/redo what
  appeared plus at most what that user removed earlier (Yjs undo re-creates only that);
  Enter, Backspace, Delete, formatting and list commands insert nothing;
* ``deleted`` (a lower bound, per character): what disappeared from the view; when a key's
  character demonstrably landed (it is right before the caret) exactly ``inserted - delta``;
* ``moved``: when the block structure changed (split, merge, list, table, pasted blocks), the
  text of the blocks not found unchanged in the old view: a Y.XmlFragment binding re-creates
  it (Yjs has no move), so two users splitting one paragraph at once legitimately leave two
  copies of its tail. Reported as a note, or a failure with ``strict_structure``.

The bound per character c, for a phase: final[c] <= start[c] + sum over users of
(inserted[c] + moved[c]) - max over users of deleted[c]. A user's deletions are distinct
characters (a character leaves a view once), so at least the largest user's count is gone;
two users' deletions may be the same characters (both press Backspace at one caret), so
their sum would not be a bound. tests/browser/test_fuzz_accounting.py checks this against
pycrdt merges of random concurrent edits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tandem.client.richtext import normalize_html
from tests.support.browser import PageLog, doc_cat, sdk_client, wait_synced

PAGE_JS = Path(__file__).with_name("fuzz_page.js").read_text()

USERS = ("ann", "bob", "cyd", "dee")
# Disjoint alphabets: every letter in a document says who typed it. Digits are the seed text.
ALPHABETS = ("abcdefghijklm", "nopqrstuvwxyz", "ABCDEFGHIJKLM", "NOPQRSTUVWXYZ")
BASE_CONTENT = (
    "<h2>1234 5678</h2>"
    "<p>2345 6789 1234</p>"
    "<p>3456 7891</p>"
    "<ul><li>4567</li><li>5678 9123</li></ul>"
    "<table><tbody><tr><td>67</td><td>78</td></tr><tr><td>89</td><td>91</td></tr></tbody></table>"
    "<p>7891 2345</p>"
)

DEFAULT_ROUNDS = 3
DEFAULT_ACTIONS = 4
MAX_TEXT = 20_000  # characters: beyond this the document is running away; stop early
SETTLE_TIMEOUT = 30.0  # seconds for quiescence after a phase
UNRESPONSIVE = 20.0  # seconds a page may take to answer while the users act

# Console errors Chromium itself logs while a context is offline (not the plugin's).
NETWORK_NOISE = re.compile(
    r"net::ERR_INTERNET_DISCONNECTED|net::ERR_NETWORK_CHANGED|WebSocket connection to .* failed"
)
EMPTY_BLOCK = re.compile(r"<(td|th|p|li|h[1-6])>(?:&nbsp;|<br>)?</\1>")
WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class FuzzCase:
    """Everything a run depends on; ``command()`` replays it."""

    seed: int
    users: int = 3
    rounds: int = DEFAULT_ROUNDS
    actions: int = DEFAULT_ACTIONS

    def __post_init__(self) -> None:
        if not 2 <= self.users <= len(USERS):
            raise ValueError(f"users must be 2..{len(USERS)}")

    def command(self, *, strict_structure: bool = False, full_offline: bool = False) -> str:
        cmd = f"scripts/fuzz-browser --seed {self.seed} --users {self.users}"
        if self.rounds != DEFAULT_ROUNDS:
            cmd += f" --rounds {self.rounds}"
        if self.actions != DEFAULT_ACTIONS:
            cmd += f" --actions {self.actions}"
        if strict_structure:
            cmd += " --strict-structure"
        if full_offline:
            cmd += " --full-offline"
        return cmd

    def __str__(self) -> str:
        extra = (
            ""
            if (self.rounds, self.actions) == (DEFAULT_ROUNDS, DEFAULT_ACTIONS)
            else (f"-r{self.rounds}-a{self.actions}")
        )
        return f"seed{self.seed}-u{self.users}{extra}"


def seeded(*parts: Any) -> random.Random:
    """``random.Random`` seeded by a string made of the case seed and where it is used (str
    seeds are hashed with SHA-512: stable across runs and platforms)."""
    return random.Random(":".join(str(p) for p in parts))


# -- text accounting ---------------------------------------------------------------------------


def letters(blocks: Iterable[Iterable[str]]) -> str:
    """The document's characters without whitespace, in order (blocks joined)."""
    return "".join(WHITESPACE.sub("", text) for _path, text in blocks)


def counted(blocks: Iterable[Iterable[str]]) -> Counter[str]:
    return Counter(letters(blocks))


def structure_allowance(before: list, after: list) -> Counter[str]:
    """Characters a structural change may legitimately re-create.

    When the block structure changed (a split, a merge, a list toggle, a table, a pasted
    block), a binding of a Y.XmlFragment (no move operation in Yjs) re-creates the text of
    the blocks it rebuilt: the characters of every block that is not in the old view with the
    same path and text. Text edits inside unchanged blocks get no allowance."""
    if [p for p, _ in before] == [p for p, _ in after]:
        return Counter()
    old = Counter((p, t) for p, t in before)
    moved: Counter[str] = Counter()
    for path, text in after:
        if old[(path, text)] > 0:
            old[(path, text)] -= 1
        else:
            moved.update(WHITESPACE.sub("", text))
    return moved


@dataclass
class Effect:
    """What one action did in its user's view: ``inserted`` is an upper bound of the
    characters it created, ``deleted`` a lower bound of those it removed (distinct characters
    of that view), ``moved`` what a structural change may have re-created."""

    inserted: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    moved: Counter[str] = field(default_factory=Counter)
    changed: bool = False
    landed: bool = False


def effect(
    before: dict,
    after: dict,
    *,
    typed: str = "",
    keystroke: str | None = None,
    restorable: Counter[str] | None = None,
) -> Effect:
    """The effect of one action run in a frozen window (no remote change in between).

    ``typed``: what the action inserts by definition (a key's character, pasted text, the
    HTML set by setContent); ``keystroke``: the action was one key press of that character;
    ``restorable``: the action is undo/redo, which can re-create only characters its user
    removed before (Yjs UndoManager restores deleted items as new ones)."""
    b, a = counted(before["blocks"]), counted(after["blocks"])
    delta = {c: a[c] - b[c] for c in set(a) | set(b)}
    changed = before["blocks"] != after["blocks"]
    inserted = Counter(WHITESPACE.sub("", typed))
    landed = False
    if keystroke is not None:
        if not changed and before.get("selected") != keystroke:
            inserted = Counter()  # nothing happened (read-only while offline, for example)
        # the key's character is right before the caret: it landed, so every other change
        # (a replaced selection) is exactly inserted - delta
        landed = changed and after.get("prev") == keystroke
    elif not changed:
        inserted = Counter()
    if restorable is not None:
        # undo/redo: what appeared, plus at most the restorable characters that an equal
        # deletion hides from the count difference
        inserted = Counter({c: d for c, d in delta.items() if d > 0})
        for c, budget in restorable.items():
            hidden = min(a[c], b[c], budget)
            if hidden > 0:
                inserted[c] += hidden
    # removed = inserted - delta; only a landed key press has a known `inserted`, otherwise
    # what disappeared (-delta) is the lower bound
    base = inserted if landed else Counter()
    deleted = Counter({c: base[c] - d for c, d in delta.items() if base[c] - d > 0})
    return Effect(
        inserted, deleted, structure_allowance(before["blocks"], after["blocks"]), changed, landed
    )


@dataclass
class Ledger:
    """One user's effects during one phase."""

    inserted: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    moved: Counter[str] = field(default_factory=Counter)

    def add(self, e: Effect) -> None:
        self.inserted.update(e.inserted)
        self.deleted.update(e.deleted)
        self.moved.update(e.moved)


def duplication_excess(
    start: Counter[str], final: Counter[str], ledgers: Iterable[Ledger], *, structural: bool = True
) -> Counter[str]:
    """Per character c, how far ``final`` exceeds the bound

        start[c] + sum(inserted[c] (+ moved[c])) - max over users of deleted[c]

    Each user's deletions are distinct characters (a character leaves a view once), so at
    least max_u deleted[c] characters c are gone; concurrent deletions by several users may be
    the same characters, so the sum would not be a bound."""
    ledgers = list(ledgers)
    excess: Counter[str] = Counter()
    for c in set(final) | set(start):
        bound = start[c] + sum(
            lg.inserted[c] + (lg.moved[c] if structural else 0) for lg in ledgers
        )
        bound -= max((lg.deleted[c] for lg in ledgers), default=0)
        if final[c] > bound:
            excess[c] = final[c] - bound
    return excess


def comparable(html: str) -> str:
    """TinyMCE's getContent() and the canonical HTML differ only in how an empty block is
    written."""
    return EMPTY_BLOCK.sub(r"<\1></\1>", normalize_html(html))


def nested_insertion(
    before: str, after: str, bursts: list[str], limit: int = 20_000
) -> tuple[bool | None, list[str]]:
    """Is ``after`` ``before`` with every burst inserted whole, bursts possibly inside other
    bursts but never crossing them?

    Texts are without whitespace, blocks joined by newlines. Innermost bursts are contiguous:
    remove one, and the burst around it becomes contiguous in turn. The search removes
    contiguous bursts (any occurrence, backtracking) until none is left and checks that the
    old text remains. Character interleaving ("one" and "three" as "otnhree") leaves both
    bursts split forever; a burst typed whole into the middle of another user's burst (when
    that user's caret followed remote text) is removable and allowed.

    Returns (True, nested) where nested lists bursts that were not contiguous themselves,
    (False, stuck) with the bursts that could not be removed, or (None, []) when the search
    gave up after ``limit`` states (never for distinct bursts)."""
    seen: set[tuple[str, tuple[str, ...]]] = set()

    def search(text: str, remaining: tuple[str, ...]) -> bool | None:
        if not remaining:
            return text == before
        key = (text, remaining)
        if key in seen:
            return False
        if len(seen) >= limit:
            return None
        seen.add(key)
        gave_up = False
        for i, b in enumerate(remaining):
            at = text.find(b)
            while at != -1:
                found = search(text[:at] + text[at + len(b) :], remaining[:i] + remaining[i + 1 :])
                if found:
                    return True
                gave_up = gave_up or found is None
                at = text.find(b, at + 1)
        return None if gave_up else False

    wanted = tuple(sorted(b for b in bursts if b))
    outcome = search(after, wanted)
    if outcome:
        return True, [b for b in wanted if b not in after]
    if outcome is None:
        return None, []
    # greedily remove what can be removed, to name the bursts that are interleaved
    text, stuck = after, list(wanted)
    progress = True
    while progress:
        progress = False
        for b in list(stuck):
            if b in text:
                text = text.replace(b, "", 1)
                stuck.remove(b)
                progress = True
    return False, stuck


# -- one user -------------------------------------------------------------------------------------

HOLD_VIEW = "(id) => { __fuzz.hold(); return __fuzz.view(id); }"
SETTLE_VIEW_RELEASE = """async (id) => {
  // effects that an editor or the plugin applies a moment later (a timer, a frame)
  for (let i = 0; i < 2; i++) await new Promise((r) => setTimeout(r, 16));
  const v = __fuzz.view(id); __fuzz.release(); return v;
}"""
SETTLED = """(id) => {
  const s = tinymce.get(id).plugins.rtc.getState();
  return s.connected && s.synced && s.unacknowledged === 0;
}"""


@dataclass
class Burst:
    user: str
    text: str
    phase: str


class User:
    """One user: a browser context, a page, an alphabet, a ledger per phase."""

    def __init__(self, run: FuzzRun, index: int, context: Any, page: Any) -> None:
        self.run = run
        self.index = index
        self.name = USERS[index]
        self.alphabet = ALPHABETS[index]
        self.ed = f"editor-{self.name}"
        self.context = context
        self.page = page
        self.log: PageLog = page.rtc_log
        self.ledger = Ledger()
        self.removed: Counter[str] = Counter()  # upper bound of what this user ever removed
        self.offline = False
        self.went_offline = False
        self.keystrokes = 0
        self.dead_keys: list[str] = []  # character keys that changed nothing (this phase)

    # -- reading -----------------------------------------------------------------------------

    async def view(self) -> dict:
        return await self.page.evaluate("(id) => __fuzz.view(id)", self.ed)

    async def canonical(self) -> str:
        return await self.page.evaluate(
            """async (id) => { const rtc = tinymce.get(id).plugins.rtc;
                               await rtc.flush(); return rtc.getCanonicalContent(); }""",
            self.ed,
        )

    async def state(self) -> dict:
        return await self.page.evaluate("(id) => tinymce.get(id).plugins.rtc.getState()", self.ed)

    # -- acting, and accounting for what each action did ------------------------------------------

    def account(self, before: dict, after: dict, e: Effect, label: str) -> None:
        self.ledger.add(e)
        # an upper bound of what this user removed (inserted - delta, and re-created
        # structure): what its undo/redo may re-create later
        b, a = counted(before["blocks"]), counted(after["blocks"])
        for c in set(e.inserted) | set(b):
            removed = e.inserted[c] - (a[c] - b[c])
            if removed > 0:
                self.removed[c] += removed
        self.removed.update(e.moved)
        if e.deleted or e.moved:
            self.run.note(
                f"{self.name}: {label}: removed {_fmt(e.deleted)!r} re-created {_fmt(e.moved)!r}"
            )
        self.run.check_view_size(self, after)

    async def collect(self) -> None:
        """Account for the key presses since the last call (measured in the page)."""
        for rec in await self.page.evaluate("() => __fuzz.takeKeys()"):
            key = rec["key"]
            char = key if len(key) == 1 and not rec["modified"] else None
            e = effect(rec["before"], rec["after"], typed=char or "", keystroke=char)
            self.account(rec["before"], rec["after"], e, repr(key))
            if char is not None and not e.changed:
                self.dead_keys.append(char)

    async def press(self, key: str, *, collect: bool = True) -> None:
        """One real key press (a character, or a named key such as Enter, Control+b)."""
        self.keystrokes += 1
        await self.page.keyboard.press(key)
        if collect:
            await self.collect()

    async def frozen(
        self,
        act: Callable[[], Awaitable[Any]],
        *,
        typed: str = "",
        undo: bool = False,
        label: str = "",
    ) -> Effect:
        """Run a command (or a key press whose effect may come a moment later: undo) with
        inbound delivery held from before it until its effect has settled."""
        await self.collect()
        before = await self.page.evaluate(HOLD_VIEW, self.ed)
        try:
            await act()
        finally:
            after = await self.page.evaluate(SETTLE_VIEW_RELEASE, self.ed)
            await self.page.evaluate("() => __fuzz.takeKeys()")  # inside this window
        e = effect(before, after, typed=typed, restorable=self.removed if undo else None)
        self.account(before, after, e, label)
        return e

    async def type(self, text: str, delay: float, phase: str) -> None:
        """Type a burst, key by key; remote changes arrive between the keys."""
        self.run.bursts.append(Burst(self.name, text, phase))
        self.run.note(f"{self.name}: type {text!r}")
        for ch in text:
            await self.press(ch, collect=False)
            await asyncio.sleep(delay)
        await self.collect()

    async def place(self, spec: dict) -> dict | None:
        where = await self.page.evaluate("([id, spec]) => __fuzz.place(id, spec)", [self.ed, spec])
        if where is None and spec.get("cells"):
            where = await self.page.evaluate(
                "([id, spec]) => __fuzz.place(id, spec)", [self.ed, {**spec, "cells": False}]
            )
        self.run.note(f"{self.name}: caret {spec} -> {where}")
        return where

    async def go_offline(self) -> None:
        """The network drops: every WebSocket closes abnormally and new ones fail until
        ``go_online``. With ``full_offline`` the whole browser context goes offline (HTTP
        too, so the token provider's fetch fails as well)."""
        self.run.note(f"{self.name}: offline")
        self.offline = self.went_offline = True
        if self.run.full_offline:
            await self.context.set_offline(True)
        await self.page.evaluate("() => __fuzz.setOffline(true)")

    async def go_online(self) -> None:
        if self.offline:
            self.run.note(f"{self.name}: online")
            self.offline = False
            if self.run.full_offline:
                await self.context.set_offline(False)
            await self.page.evaluate("() => __fuzz.setOffline(false)")

    async def configure_network(self, rng: Any) -> None:
        latency_in = rng.choice((0, 0, 10, 40, 100, 200))
        latency_out = rng.choice((0, 0, 10, 40, 100))
        jitter = rng.choice((0, 20, 60))
        await self.page.evaluate(
            "(o) => __fuzz.configure(o)",
            {
                "latencyIn": latency_in,
                "latencyOut": latency_out,
                "jitter": jitter,
                "seed": rng.randrange(1 << 30),
            },
        )
        self.run.note(
            f"{self.name}: latency in {latency_in} out {latency_out} ms, jitter {jitter} ms"
        )

    # -- the actions ------------------------------------------------------------------------------

    async def perform(self, action: tuple, phase: str) -> None:
        kind, *args = action
        page = self.page
        if kind == "pause":
            await asyncio.sleep(args[0])
        elif kind == "place":
            await self.place(args[0])
        elif kind == "type":
            await self.type(args[0], args[1], phase)
        elif kind in ("Enter", "Backspace", "Delete"):
            for _ in range(args[0]):
                await self.press(kind)
        elif kind == "move":
            key, n = args
            for _ in range(n):
                await self.press(key)
        elif kind == "replace":
            key, n, text, delay = args
            for _ in range(n):
                await self.press(f"Shift+{key}")
            await self.type(text, delay, phase)
        elif kind == "format":
            shortcut, select, text, delay = args
            for _ in range(select):
                await self.press("Shift+ArrowLeft")
            await self.press(shortcut)
            if select:
                await self.press("ArrowRight")
            if text:
                await self.type(text, delay, phase)
        elif kind == "list":
            command = args[0]
            await self.frozen(
                lambda: page.evaluate("([id, c]) => __fuzz.exec(id, c)", [self.ed, command]),
                label=command,
            )
        elif kind == "table":
            spec, text, delay = args
            where = await self.page.evaluate(
                "([id, spec]) => __fuzz.place(id, spec)", [self.ed, spec]
            )
            if where is None:
                self.run.note(f"{self.name}: no table: inserting one")
                await self.frozen(
                    lambda: page.evaluate(
                        "([id, v]) => __fuzz.exec(id, 'mceInsertTable', v)",
                        [self.ed, {"rows": 2, "columns": 2}],
                    ),
                    label="insert table",
                )
            else:
                self.run.note(f"{self.name}: caret in cell {where}")
            await self.type(text, delay, phase)
        elif kind == "paste":
            html, text = args
            self.run.note(f"{self.name}: paste {html!r}")
            await self.frozen(
                lambda: page.evaluate(
                    "([id, h, t]) => __fuzz.paste(id, h, t)", [self.ed, html, text]
                ),
                typed=text,
                label="paste",
            )
        elif kind in ("Control+z", "Control+y"):
            for _ in range(args[0]):
                await self.frozen(lambda k=kind: page.keyboard.press(k), undo=True, label=kind)
        elif kind == "setContent":
            html, text = args
            self.run.note(f"{self.name}: setContent {html!r}")
            await self.frozen(
                lambda: page.evaluate("([id, h]) => __fuzz.setContent(id, h)", [self.ed, html]),
                typed=text,
                label="setContent",
            )
        elif kind == "offline":
            await self.go_offline()
        elif kind == "online":
            await self.go_online()
        else:  # pragma: no cover
            raise AssertionError(f"unknown action {kind}")

    async def run_script(self, script: list[tuple], phase: str) -> None:
        for action in script:
            if self.run.aborted:
                return
            await self.perform(action, phase)


def _fmt(c: Counter[str]) -> str:
    return "".join(sorted(c.elements())) or "-"


# -- scripts (all randomness is here, none at run time) --------------------------------------


def word(rng: Any, alphabet: str) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 6)))


def burst(rng: Any, alphabet: str) -> str:
    text = " ".join(word(rng, alphabet) for _ in range(rng.choice((1, 1, 2, 3))))
    if rng.random() < 0.4:
        text = " " + text
    if rng.random() < 0.15:
        text += " "
    return text


def caret_spec(rng: Any, *, cells: bool = False) -> dict:
    offset = rng.choice(("start", "end", "end", rng.random(), rng.random()))
    return {"block": rng.random(), "offset": offset, "cells": cells}


def round_spec(case: FuzzCase, rnd: int) -> dict:
    """Where everybody meets in this round: the same caret, the same block, the same cell."""
    rng = seeded(case.seed, rnd, "spec")
    mode = rng.choice(("caret", "caret", "block", "cell"))
    spec = caret_spec(rng, cells=mode == "cell")
    return {"mode": mode, "spec": spec}


def race_script(case: FuzzCase, rnd: int, user: int, meet: dict) -> list[tuple]:
    rng = seeded(case.seed, rnd, "race", user)
    alphabet = ALPHABETS[user]
    spec = dict(meet["spec"])
    if meet["mode"] == "block":
        spec["offset"] = rng.choice(("start", "end", rng.random()))
    script: list[tuple] = [("place", spec)]
    if rng.random() < 0.25:
        script.append(("format", rng.choice(("Control+b", "Control+i")), 0, "", 0))
    for _ in range(rng.randint(1, 3)):
        script.append(("type", burst(rng, alphabet), rng.uniform(0.005, 0.04)))
        script.append(("pause", rng.uniform(0, 0.15)))
    return script


MIXED = (  # (kind, weight)
    ("type", 5),
    ("Enter", 2),
    ("Backspace", 3),
    ("Delete", 2),
    ("replace", 3),
    ("format", 2),
    ("list", 1),
    ("table", 1),
    ("paste", 1),
    ("Control+z", 1),
    ("Control+y", 0.5),
    ("move", 1),
    ("setContent", 0.08),
)


def mixed_script(case: FuzzCase, rnd: int, user: int, meet: dict) -> list[tuple]:
    rng = seeded(case.seed, rnd, "mixed", user)
    alphabet = ALPHABETS[user]
    kinds = [k for k, _ in MIXED]
    weights = [w for _, w in MIXED]
    spec = dict(meet["spec"]) if rng.random() < 0.7 else caret_spec(rng)
    script: list[tuple] = [("place", spec)]
    for _ in range(case.actions):
        kind = rng.choices(kinds, weights)[0]
        delay = rng.uniform(0.005, 0.04)
        if kind == "type":
            script.append(("type", burst(rng, alphabet), delay))
        elif kind in ("Enter", "Backspace", "Delete"):
            script.append((kind, rng.choice((1, 1, 2, 3, 5))))
        elif kind == "replace":
            script.append(
                (
                    "replace",
                    rng.choice(("ArrowLeft", "ArrowRight")),
                    rng.randint(1, 6),
                    word(rng, alphabet),
                    delay,
                )
            )
        elif kind == "format":
            script.append(
                (
                    "format",
                    rng.choice(("Control+b", "Control+i")),
                    rng.choice((0, 0, 2, 4)),
                    word(rng, alphabet),
                    delay,
                )
            )
        elif kind == "list":
            script.append(("list", rng.choice(("InsertUnorderedList", "InsertOrderedList"))))
        elif kind == "table":
            cell = (
                dict(meet["spec"], cells=True)
                if meet["mode"] == "cell"
                else caret_spec(rng, cells=True)
            )
            script.append(("table", cell, word(rng, alphabet), delay))
        elif kind == "paste":
            a, b = word(rng, alphabet), word(rng, alphabet)
            if rng.random() < 0.5:
                script.append(("paste", f"<strong>{a}</strong> {b}", f"{a} {b}"))
            else:
                script.append(("paste", f"<p>{a}</p><p>{b}</p>", f"{a}\n{b}"))
        elif kind in ("Control+z", "Control+y"):
            script.append((kind, rng.choice((1, 1, 2))))
        elif kind == "move":
            script.append(
                (
                    "move",
                    rng.choice(("ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End")),
                    rng.randint(1, 3),
                )
            )
        elif kind == "setContent":
            a, b = word(rng, alphabet), word(rng, alphabet)
            script.append(("setContent", f"<p>{a} 1234</p><p>{b}</p>", f"{a} 1234 {b}"))
        script.append(("pause", rng.uniform(0, 0.08)))
    return script


def disconnect_plan(case: FuzzCase, rnd: int) -> tuple[int, int, int] | None:
    """(user, after action index, back after n more actions) or None."""
    rng = seeded(case.seed, rnd, "network")
    if rng.random() >= 0.4:
        return None
    return rng.randrange(case.users), rng.randint(1, case.actions), rng.randint(1, 3)


# -- one run ---------------------------------------------------------------------------------------


@dataclass
class FuzzResult:
    case: FuzzCase
    command: str = ""  # what replays it
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    seconds: float = 0.0
    keystrokes: int = 0
    document: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures

    def report(self, log_lines: int = 60) -> str:
        lines = [
            f"{self.case}: {'ok' if self.ok else 'FAILED'} in {self.seconds:.1f}s, "
            f"{self.keystrokes} key presses",
            f"replay: {self.command}",
        ]
        lines += [f"  FAIL {f}" for f in self.failures]
        lines += [f"  note {n}" for n in self.notes]
        if not self.ok:
            lines.append(f"  last {log_lines} log lines:")
            lines += [f"    {entry}" for entry in self.log[-log_lines:]]
            doc = (
                self.document
                if len(self.document) < 3000
                else (
                    self.document[:1500]
                    + f" … ({len(self.document)} chars) … "
                    + self.document[-1000:]
                )
            )
            lines.append(f"  document: {doc}")
        return "\n".join(lines)


class Aborted(Exception):
    """A check failed: stop this run (later phases would only repeat the damage)."""


class FuzzRun:
    def __init__(
        self,
        browser: Any,
        server: Any,
        case: FuzzCase,
        tmp_dir: Path,
        *,
        strict_structure: bool = False,
        full_offline: bool = False,
    ) -> None:
        self.browser = browser
        self.server = server
        self.case = case
        self.tmp_dir = Path(tmp_dir)
        self.strict_structure = strict_structure
        self.full_offline = full_offline
        self.doc = f"fuzz-{case.seed}-{case.users}-{uuid.uuid4().hex[:8]}"
        self.users: list[User] = []
        self.bursts: list[Burst] = []
        self.result = FuzzResult(
            case, case.command(strict_structure=strict_structure, full_offline=full_offline)
        )
        self.aborted = False
        self.t0 = time.monotonic()
        self.phase = "setup"

    # -- bookkeeping ----------------------------------------------------------------------------

    def note(self, text: str) -> None:
        self.result.log.append(f"{time.monotonic() - self.t0:6.2f} {self.phase}: {text}")

    def fail(self, text: str) -> None:
        self.result.failures.append(f"{self.phase}: {text}")
        self.aborted = True

    def check_view_size(self, user: User, view: dict) -> None:
        size = sum(len(t) for _, t in view["blocks"])
        if size > MAX_TEXT and not self.aborted:
            self.fail(f"{user.name}'s document grew to {size} characters (runaway)")

    # -- set-up ---------------------------------------------------------------------------------

    async def open(self) -> None:
        client = sdk_client(self.server, self.doc, user="fuzz-setup", initial_content=BASE_CONTENT)
        await client.start()
        try:
            await client.wait_synced()
            await client.flush()
        finally:
            await client.close()

        async def join(i: int) -> User:
            context = await self.browser.new_context()
            await context.add_init_script(PAGE_JS)
            if os.environ.get("RTC_DEBUG"):
                await context.add_init_script("globalThis.__rtcDebug = true;")
            page = await context.new_page()
            page.rtc_log = PageLog(page)
            user = User(self, i, context, page)
            self.users.append(user)  # closed at the end whatever happens next
            await page.goto(self.server.page_url(user=USERS[i], doc=self.doc))
            await wait_synced(page, user.name)
            await page.evaluate("(id) => __fuzz.instrument(id)", user.ed)
            return user

        self.users = list(await asyncio.gather(*(join(i) for i in range(self.case.users))))

    async def close(self) -> None:
        for user in self.users:
            with contextlib.suppress(Exception):
                await user.context.close()

    # -- quiescence and checks -------------------------------------------------------------------

    async def quiesce(self) -> str:
        """Everyone online, nothing held or unacknowledged, all shared documents equal twice
        in a row. Returns the canonical HTML."""
        task = asyncio.create_task(self._quiesce())
        watch = asyncio.create_task(self.watch([task]))
        try:
            return await task
        except asyncio.CancelledError:
            if self.aborted:  # the watch stopped it: a runaway document
                raise Aborted("stopped") from None
            raise
        finally:
            watch.cancel()

    async def _quiesce(self) -> str:
        for user in self.users:
            await user.go_online()
            await user.page.evaluate(
                "() => { __fuzz.configure({latencyIn: 0, latencyOut: 0}); __fuzz.takeKeys(); }"
            )
        settled = await asyncio.gather(
            *(
                user.page.wait_for_function(SETTLED, arg=user.ed, timeout=SETTLE_TIMEOUT * 1000)
                for user in self.users
            ),
            return_exceptions=True,
        )
        for user, outcome in zip(self.users, settled, strict=True):
            if isinstance(outcome, BaseException):
                state = await asyncio.wait_for(user.state(), UNRESPONSIVE)
                state.pop("clients", None)
                raise Aborted(
                    f"{user.name} never settled (connected, synced, everything "
                    f"acknowledged) in {SETTLE_TIMEOUT}s: {state}"
                )
        deadline = time.monotonic() + SETTLE_TIMEOUT
        previous: list[str] | None = None
        while True:
            try:
                contents = [
                    await asyncio.wait_for(user.canonical(), UNRESPONSIVE) for user in self.users
                ]
            except TimeoutError:
                raise Aborted(f"an editor did not flush within {UNRESPONSIVE}s") from None
            for user, html in zip(self.users, contents, strict=True):
                if len(html) > 4 * MAX_TEXT:
                    raise Aborted(
                        f"{user.name}'s document grew to {len(html)} characters of HTML (runaway)"
                    )
            if len(set(contents)) == 1 and contents == previous:
                return contents[0]
            previous = contents
            if time.monotonic() > deadline:
                detail = "\n".join(
                    f"    {u.name}: {html}" for u, html in zip(self.users, contents, strict=True)
                )
                raise Aborted(f"editors did not converge in {SETTLE_TIMEOUT}s:\n{detail}")
            await asyncio.sleep(0.1)

    async def check_editors(self, canonical: str) -> None:
        """Each editor shows the shared document, is editable, and logged no error."""
        want = comparable(canonical)
        expected_blocks = await self.users[0].page.evaluate(
            "(h) => __fuzz.canonicalBlocks(h)", canonical
        )
        for user in self.users:
            # the view follows the shared document synchronously in a correct binding; allow
            # it the time a rendering frame takes, then it must be exact
            for _ in range(20):
                shown = comparable(
                    await user.page.evaluate("(id) => tinymce.get(id).getContent()", user.ed)
                )
                if shown == want:
                    break
                await asyncio.sleep(0.05)
            if shown != want:
                self.fail(
                    f"{user.name}'s editor shows\n    {shown}\n  but the shared "
                    f"document is\n    {want}"
                )
            view = await user.view()
            if letters(view["blocks"]) != letters(expected_blocks):
                self.fail(
                    f"{user.name}'s visible text {letters(view['blocks'])!r} is not the "
                    f"shared document's {letters(expected_blocks)!r}"
                )
            if not view["editable"] or view["readOnly"]:
                self.fail(
                    f"{user.name}'s editor is read-only after reconnecting "
                    f"(editable={view['editable']}, readOnly={view['readOnly']}, "
                    f"state={await user.state()})"
                )
            if user.log.errors:
                self.fail(f"{user.name}: page errors: {user.log.errors}")
            console = [
                m
                for m in user.log.console_errors
                if not (user.went_offline and NETWORK_NOISE.search(m))
            ]
            if console:
                self.fail(f"{user.name}: console errors: {console}")

    # -- phases ---------------------------------------------------------------------------------

    async def phase_run(self, name: str, scripts: list[list[tuple]], start_html: str) -> str:
        """Run the users' scripts at the same time, then quiesce and check the text."""
        self.phase = name
        for user in self.users:
            user.ledger = Ledger()
            user.dead_keys = []
        first_bursts = len(self.bursts)
        start = await self.users[0].page.evaluate("(h) => __fuzz.canonicalBlocks(h)", start_html)
        # carets first (everyone at the same place), then everybody acts at once
        placed = []
        for user, script in zip(self.users, scripts, strict=True):
            if script and script[0][0] == "place":
                await user.perform(script[0], name)
                script = script[1:]
            placed.append(script)
        tasks = [
            asyncio.create_task(user.run_script(script, name))
            for user, script in zip(self.users, placed, strict=True)
        ]
        watch = asyncio.create_task(self.watch(tasks))
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        watch.cancel()
        for user, outcome in zip(self.users, outcomes, strict=True):
            if isinstance(outcome, BaseException) and not self.aborted:
                self.fail(f"{user.name}'s actions raised {outcome!r}")
        if self.aborted:
            raise Aborted("stopped")
        html = await self.quiesce()
        self.result.document = html
        await self.check_editors(html)
        final = await self.users[0].page.evaluate("(h) => __fuzz.canonicalBlocks(h)", html)
        self.check_text(name, start, final, self.bursts[first_bursts:], scripts)
        if self.aborted:
            raise Aborted("stopped")
        return html

    async def watch(self, tasks: list[asyncio.Task]) -> None:
        """While ``tasks`` run (the users' actions, quiescence): stop them as soon as a
        document runs away (it would take the machine with it) or a page stops answering."""
        while not all(t.done() for t in tasks):
            for user in self.users:
                try:
                    size = await asyncio.wait_for(
                        user.page.evaluate(
                            "(id) => tinymce.get(id).getBody().textContent.length", user.ed
                        ),
                        UNRESPONSIVE,
                    )
                except TimeoutError:
                    self.fail(f"{user.name}'s page did not answer for {UNRESPONSIVE}s")
                    size = 0
                except Exception:  # the page is closing: the tasks report why
                    size = 0
                if size > MAX_TEXT and not self.aborted:
                    self.fail(f"{user.name}'s document grew to {size} characters (runaway)")
                    with contextlib.suppress(Exception):
                        self.result.document = await asyncio.wait_for(
                            user.page.evaluate(
                                "(id) => tinymce.get(id).getBody().innerHTML.slice(0, 2000)",
                                user.ed,
                            ),
                            UNRESPONSIVE,
                        )
                if self.aborted:
                    for t in tasks:
                        t.cancel()
                    return
            await asyncio.sleep(0.3)

    def check_text(
        self, name: str, start: list, final: list, bursts: list[Burst], scripts: list[list[tuple]]
    ) -> None:
        ledgers = [u.ledger for u in self.users]
        before, after = counted(start), counted(final)
        race = name.endswith("race")
        if race:
            # nothing is deleted or moved in a race: the text is exactly the old text plus
            # every character typed
            for user in self.users:
                if user.dead_keys:
                    self.fail(
                        f"{user.name}'s key presses {''.join(user.dead_keys)!r} changed "
                        "nothing in its editor"
                    )
                if user.ledger.deleted:
                    self.fail(
                        f"{user.name}'s typing at a collapsed caret removed "
                        f"{_fmt(user.ledger.deleted)!r} in its own view"
                    )
                if user.ledger.moved:  # harmless to the text (the equality below checks it)
                    self.result.notes.append(
                        f"{name}: {user.name}'s typing changed the block structure of its own "
                        f"view around {_fmt(user.ledger.moved)!r}"
                    )
            expected = before + sum((lg.inserted for lg in ledgers), Counter())
            if after != expected:
                extra, missing = after - expected, expected - after
                self.fail(
                    f"typed text not kept exactly once: extra {_fmt(extra)!r}, "
                    f"missing {_fmt(missing)!r}"
                )
        excess = duplication_excess(before, after, ledgers, structural=True)
        if excess:
            self.fail(self.describe_excess(excess, before, after, ledgers))
        else:
            strict = duplication_excess(before, after, ledgers, structural=False)
            if strict:
                message = (
                    "text duplicated by concurrent structural edits (split/merge/"
                    f"list of the same block): {_fmt(strict)!r}"
                )
                if self.strict_structure:
                    self.fail(message)
                else:
                    self.result.notes.append(f"{name}: {message}")
        # contiguity: in a race; in a mixed phase only if nothing but typing happened
        only_typing = all(a[0] in ("place", "type", "pause") for s in scripts for a in s)
        if race or (only_typing and not self.aborted):
            self.check_bursts(name, start, final, bursts)

    def check_bursts(self, name: str, start: list, final: list, bursts: list[Burst]) -> None:
        """Every burst of this phase was inserted whole (see nested_insertion)."""
        joined = [WHITESPACE.sub("", b.text) for b in bursts]
        old = "\n".join(WHITESPACE.sub("", t) for _, t in start)
        new = "\n".join(WHITESPACE.sub("", t) for _, t in final)
        ok, which = nested_insertion(old, new, joined)
        if ok is None:
            self.result.notes.append(f"{name}: contiguity search gave up (ambiguous bursts)")
        elif ok:
            for b in which:
                self.result.notes.append(
                    f"{name}: burst {b!r} holds another user's whole burst (a caret followed "
                    "remote text)"
                )
        else:
            owners = {WHITESPACE.sub("", b.text): b for b in bursts}
            texts = [t for _, t in final]
            for b in which:
                burst = owners[b]
                self.fail(
                    f"{burst.user}'s burst {burst.text.strip()!r} is interleaved with "
                    f"other text: {self.find_fragments(burst.text, texts)}"
                )

    def describe_excess(
        self, excess: Counter[str], before: Counter[str], after: Counter[str], ledgers: list[Ledger]
    ) -> str:
        total_after, total_before = sum(after.values()), sum(before.values())
        ins = sum(sum(lg.inserted.values()) for lg in ledgers)
        moved = sum(sum(lg.moved.values()) for lg in ledgers)
        dele = {u.name: sum(u.ledger.deleted.values()) for u in self.users}
        return (
            f"duplicated text: {sum(excess.values())} characters beyond the bound "
            f"({_fmt(excess)!r}); document {total_before} -> {total_after} characters, "
            f"typed/pasted {ins}, structural allowance {moved}, deleted per user {dele}"
        )

    @staticmethod
    def find_fragments(text: str, texts: list[str]) -> str:
        """The block holding most of the burst's letters, for the failure message."""
        letters_of = Counter(WHITESPACE.sub("", text))
        best = max(
            texts, key=lambda t: sum(min(n, t.count(c)) for c, n in letters_of.items()), default=""
        )
        return repr(best[:300])

    async def run(self) -> FuzzResult:
        budget = 60 + 45 * self.case.rounds
        try:
            await asyncio.wait_for(self._run(), budget)
        except TimeoutError:
            self.fail(f"the seed did not finish within {budget}s")
        finally:
            self.result.seconds = time.monotonic() - self.t0
            self.result.keystrokes = sum(u.keystrokes for u in self.users)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.close(), 30)
        return self.result

    async def _run(self) -> None:
        case = self.case
        try:
            await self.open()
            html = await self.quiesce()
            for rnd in range(1, case.rounds + 1):
                meet = round_spec(case, rnd)
                net = seeded(case.seed, rnd, "latency")
                for user in self.users:
                    await user.configure_network(net)
                self.phase = f"r{rnd}.race"
                self.note(f"meet at {meet}")
                html = await self.phase_run(
                    f"r{rnd}.race",
                    [race_script(case, rnd, u.index, meet) for u in self.users],
                    html,
                )
                scripts = [mixed_script(case, rnd, u.index, meet) for u in self.users]
                plan = disconnect_plan(case, rnd)
                if plan:
                    who, at, back = plan
                    script = scripts[who]
                    # actions are (action, pause) pairs after the leading place
                    pos = 1 + 2 * min(at, case.actions)
                    script.insert(pos, ("offline",))
                    script.insert(min(len(script), pos + 1 + 2 * back), ("online",))
                html = await self.phase_run(f"r{rnd}.mixed", scripts, html)
            self.phase = "end"
            printed = await doc_cat(self.server, self.doc, self.tmp_dir)
            if printed != html:
                self.fail(
                    f"tandem doc cat prints\n    {printed}\n  but the editors hold\n    {html}"
                )
        except Aborted as stop:
            if str(stop) != "stopped":
                self.fail(str(stop))
        except Exception as exc:  # a crash of the harness or the browser is a failure too
            if not self.aborted:
                where = traceback.extract_tb(exc.__traceback__)[-1]
                self.fail(
                    f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:"
                    f"{where.lineno} {where.line})"
                )


async def run_case(
    browser: Any,
    server: Any,
    case: FuzzCase,
    tmp_dir: Path,
    *,
    strict_structure: bool = False,
    full_offline: bool = False,
) -> FuzzResult:
    """Run one case against ``server`` (a DemoServer) in ``browser`` (a Playwright Chromium)."""
    return await FuzzRun(
        browser, server, case, tmp_dir, strict_structure=strict_structure, full_offline=full_offline
    ).run()
