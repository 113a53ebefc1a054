"""Two and three users (separate browser contexts) edit one document at the same time.

Each user types, formats (Ctrl+B and the toolbar's Italic button), makes lists and inserts
and fills a table, with seeded random pauses, all concurrently. Afterwards every editor's
shared document (canonical HTML) is the same, is what ``tandem doc cat`` prints, is what
each editor shows, and holds every word everyone typed.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import pytest

from tandem.client.richtext import normalize_html
from tests.support.browser import (
    canonical,
    converge,
    doc_cat,
    editor_html,
    editor_js,
    open_editor,
    wait_synced,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

# An empty block is <p></p> or <td><br></td> in the document, <p>&nbsp;</p> in TinyMCE's
# getContent(): compare them as empty.
EMPTY_BLOCK = re.compile(r"<(td|th|p|li|h[1-6])>(?:&nbsp;|<br>)?</\1>")


def comparable(html: str) -> str:
    return EMPTY_BLOCK.sub(r"<\1></\1>", normalize_html(html))


ACTIONS = ("type", "bold", "italic", "paragraph", "bullets", "numbers", "table")


class Typist:
    """One user in one browser context, with a seeded script of random actions."""

    def __init__(self, page: Any, user: str, rng: random.Random) -> None:
        self.page = page
        self.user = user
        self.rng = rng
        self.words: list[str] = []
        self.ed = editor_js(user)

    def word(self) -> str:
        w = f"{self.user}{len(self.words)}x"
        self.words.append(w)
        return w

    async def pause(self) -> None:
        await asyncio.sleep(self.rng.uniform(0.0, 0.15))

    async def type(self, text: str) -> None:
        await self.page.keyboard.type(text, delay=self.rng.randint(5, 30))

    async def exec(self, command: str, value: Any = None) -> None:
        await self.page.evaluate(
            f"([c, v]) => {self.ed}.execCommand(c, false, v)", [command, value]
        )

    async def claim_line(self) -> None:
        """Put the caret at the end of the paragraph this user owns (made before the race)."""
        await self.page.evaluate(
            """([id, marker]) => {
                 const ed = tinymce.get(id);
                 const p = [...ed.getBody().querySelectorAll('p')]
                   .find((el) => el.textContent.startsWith(marker));
                 ed.focus();
                 ed.selection.select(p, true);
                 ed.selection.collapse(false);
               }""",
            [f"editor-{self.user}", f"{self.user}:"],
        )

    async def act(self, action: str) -> None:
        if action == "type":
            await self.type(f" {self.word()}")
        elif action == "bold":
            # type, select the word, Ctrl+B (a formatted range: a pending caret format is
            # lost to remote edits, see test_formatting.py)
            await self.type(f" {self.word()}")
            await self.page.keyboard.press("Shift+Control+ArrowLeft")
            await self.page.keyboard.press("Control+b")
            await self.page.keyboard.press("ArrowRight")
        elif action == "italic":
            await self.type(f" {self.word()}")
            await self.page.keyboard.press("Shift+Control+ArrowLeft")
            await self.page.locator(".tox-toolbar__primary button[aria-label='Italic']").click()
            await self.page.keyboard.press("ArrowRight")
        elif action == "paragraph":
            await self.page.keyboard.press("Enter")
            await self.type(self.word())
        elif action in ("bullets", "numbers"):
            await self.page.keyboard.press("Enter")
            await self.type(self.word())
            await self.exec("InsertUnorderedList" if action == "bullets" else "InsertOrderedList")
            await self.page.keyboard.press("Enter")
            await self.type(self.word())
        elif action == "table":
            await self.page.keyboard.press("Enter")
            await self.exec("mceInsertTable", {"rows": 2, "columns": 2})
            await self.type(self.word())
            await self.page.keyboard.press("Tab")
            await self.type(self.word())
        else:  # pragma: no cover
            raise AssertionError(action)

    async def run(self, steps: int) -> list[str]:
        script = [self.rng.choice(ACTIONS) for _ in range(steps)]
        # every kind of edit happens in every run: formatting, a list and a table
        for needed, at in (("bold", 0), ("bullets", 1), ("table", steps - 1)):
            if needed not in script:
                script[at] = needed
        await self.claim_line()
        for action in script:
            await self.pause()
            await self.act(action)
        return script


async def open_users(contexts, demo, doc: str, users: list[str]) -> list[tuple[Any, str]]:
    pages = [
        (await open_editor(await contexts(), demo, user, doc, wait=False), user) for user in users
    ]
    for page, user in pages:
        await wait_synced(page, user)
    return pages


@pytest.mark.parametrize(
    "users", [["alice", "bob"], ["alice", "bob", "carol"]], ids=["two-users", "three-users"]
)
async def test_concurrent_editing_converges(demo, contexts, tmp_path, users):
    doc = f"race-{len(users)}"
    pages = await open_users(contexts, demo, doc, users)
    rng = random.Random(20240611 + len(users))

    # each user first adds its own line, one after the other, so that concurrent typing
    # later has a place of its own (words stay whole) while structure changes around it
    for page, user in pages:
        await page.evaluate(
            """(id) => { const ed = tinymce.get(id); ed.focus();
                         ed.selection.select(ed.getBody(), true);
                         ed.selection.collapse(false); }""",
            f"editor-{user}",
        )
        await page.keyboard.press("Enter")
        await page.keyboard.type(f"{user}:")
        await converge(pages)

    typists = [Typist(page, user, random.Random(rng.random())) for page, user in pages]
    scripts = await asyncio.gather(*(t.run(8) for t in typists))

    final = await converge(pages)

    # every user's every word survived, the formatting and structure are there
    for typist in typists:
        for word in typist.words:
            assert word in final, f"{typist.user} typed {word!r}, lost in:\n{final}"
    assert "<strong>" in final, final
    if any("italic" in script for script in scripts):
        assert "<em>" in final, final
    assert "<ul>" in final, final
    assert final.count("<table") == sum(script.count("table") for script in scripts), final

    # each editor shows exactly the shared document
    for page, user in pages:
        view = comparable(await editor_html(page, user))
        assert view == comparable(final), (
            f"{user}'s editor shows\n{view}\nbut the document is\n{final}"
        )
        assert not page.rtc_log.errors, page.rtc_log.errors
        assert await canonical(page, user) == final

    # and the key holder's command-line view agrees
    assert await doc_cat(demo, doc, tmp_path) == final
