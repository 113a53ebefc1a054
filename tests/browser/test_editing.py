"""Edits between users: a Python SDK client, collaborative undo, remote carets, formatting."""

from __future__ import annotations

import pytest

from tandem.client.richtext import normalize_html
from tests.support.browser import (
    canonical,
    converge,
    doc_cat,
    editor_html,
    focus_end,
    open_editor,
    rtc_state,
    sdk_client,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def two_users(contexts, demo, doc: str):
    alice = await open_editor(await contexts(), demo, "alice", doc)
    bob = await open_editor(await contexts(), demo, "bob", doc)
    return alice, bob


async def test_python_sdk_append_appears_in_open_editor(demo, contexts):
    doc = "sdk-append"
    page = await open_editor(await contexts(), demo, "alice", doc)
    await page.evaluate("window.__loadedOnce = true")
    loads = []
    page.on("load", lambda _page: loads.append(1))

    client = sdk_client(demo, doc)
    await client.start()
    try:
        await client.wait_synced()
        assert "Welcome to Tandem" in client.to_html()  # the browser's initial content
        client.append_paragraph("Appended by the Python SDK")
        await client.flush()
        await page.wait_for_function(
            """() => tinymce.get('editor-alice').getContent()
                       .includes('<p>Appended by the Python SDK</p>')""",
            timeout=10_000,
        )
        assert await page.evaluate("window.__loadedOnce === true") and not loads  # no reload
        assert await canonical(page, "alice") == client.to_html()
        assert normalize_html(await editor_html(page, "alice")) == client.to_html()
    finally:
        await client.close()


async def test_undo_removes_only_own_typing(demo, contexts):
    doc = "undo"
    alice, bob = await two_users(contexts, demo, doc)
    pages = [(alice, "alice"), (bob, "bob")]
    before = await converge(pages)

    await focus_end(alice, "alice")
    await alice.keyboard.press("Enter")
    await alice.keyboard.type("Alice wrote this")
    await converge(pages)
    await focus_end(bob, "bob")
    await bob.keyboard.press("Enter")
    await bob.keyboard.type("Bob wrote that")
    both = await converge(pages)
    assert "Alice wrote this" in both and "Bob wrote that" in both

    # Ctrl+Z in Alice's iframe until her typing is gone: on a slow machine her keystrokes
    # may fall into several undo steps (the undo manager groups by time), but no step may
    # ever touch Bob's typing
    expected = before + "\n<p>Bob wrote that</p>"
    for _ in range(40):
        await alice.frame_locator("#editor-alice_ifr").locator("body").press("Control+z")
        await alice.wait_for_timeout(100)
        now = await canonical(alice, "alice", flush=False)
        assert "Bob wrote that" in now, now
        if now == expected:
            break
    after = await converge(pages)
    assert "Alice wrote this" not in after
    assert "Bob wrote that" in after
    assert after == before + "\n<p>Bob wrote that</p>", after
    for page, user in pages:
        shown = await editor_html(page, user)
        assert "Alice wrote this" not in shown and "Bob wrote that" in shown, (user, shown)

    # Bob's undo stack is his own: his undo removes his line and leaves Alice's undone state
    await bob.evaluate("tinymce.get('editor-bob').execCommand('Undo')")
    await bob.wait_for_function(
        "() => !tinymce.get('editor-bob').plugins.rtc.getCanonicalContent()"
        ".includes('Bob wrote that')",
        timeout=10_000,
    )
    assert await converge(pages) == before

    # redo brings Alice's typing back
    await alice.evaluate("tinymce.get('editor-alice').execCommand('Redo')")
    redone = await converge(pages)
    assert "Alice wrote this" in redone and "Bob wrote that" not in redone


CARET = """([clientId]) => {
  const doc = tinymce.get('editor-alice').getDoc();
  const caret = doc.querySelector('[data-rtc-overlay] [data-rtc-caret="' + clientId + '"]');
  if (!caret) return null;
  const r = caret.getBoundingClientRect();
  return {name: caret.textContent, top: r.top, left: r.left, height: r.height,
          inBody: tinymce.get('editor-alice').getBody().contains(caret)};
}"""

PARAGRAPH_RECT = """([text]) => {
  const p = [...tinymce.get('editor-alice').getBody().children]
    .find((el) => el.textContent.includes(text));
  const range = p.ownerDocument.createRange();
  range.selectNodeContents(p);  // the text's box, not the block's
  const r = range.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, right: r.right, left: r.left};
}"""


async def test_remote_caret_shows_other_users_name_and_place(demo, contexts):
    doc = "carets"
    alice, bob = await two_users(contexts, demo, doc)
    bob_id = (await rtc_state(bob, "bob"))["clientId"]
    await alice.wait_for_function(
        "(id) => tinymce.get('editor-alice').plugins.rtc.getState().clients"
        ".some((c) => c.client_id === id && c.user_id === 'bob')",
        arg=bob_id,
    )

    # Bob puts his caret at the end of the heading
    heading = await alice.evaluate(PARAGRAPH_RECT, ["Welcome to Tandem"])
    await bob.evaluate("""() => { const ed = tinymce.get('editor-bob'); ed.focus();
        ed.selection.select(ed.getBody().querySelector('h2'), true);
        ed.selection.collapse(false); ed.nodeChanged(); }""")
    # (his first presence, sent on sync, may show him at the start of the document)
    await alice.wait_for_function(
        f"([a, right]) => {{ const c = ({CARET})(a); return c && Math.abs(c.left - right) <= 3; }}",
        arg=[[bob_id], heading["right"]],
        timeout=5_000,
    )
    caret = await alice.evaluate(CARET, [bob_id])
    assert caret["name"] == "Bob"  # rtc_user_details_provider's fullName
    assert not caret["inBody"]  # the overlay is never part of the content
    assert heading["top"] - 2 <= caret["top"] <= heading["bottom"]

    # Bob moves to the start of the second paragraph: Alice's view of his caret follows
    await bob.evaluate("""() => { const ed = tinymce.get('editor-bob'); ed.focus();
        ed.selection.setCursorLocation(ed.getBody().querySelector('p').firstChild, 0);
        ed.nodeChanged(); }""")
    para = await alice.evaluate(PARAGRAPH_RECT, ["Type in either editor"])
    await alice.wait_for_function(
        f"([a, top]) => {{ const c = ({CARET})(a); return c && c.top >= top - 2; }}",
        arg=[[bob_id], para["top"]],
        timeout=10_000,
    )
    caret = await alice.evaluate(CARET, [bob_id])
    assert para["top"] - 2 <= caret["top"] <= para["bottom"]
    assert abs(caret["left"] - para["left"]) <= 3
    assert "data-rtc" not in await canonical(alice, "alice")

    # Bob leaves: his caret goes away
    await bob.close()
    await alice.wait_for_function(f"(a) => ({CARET})(a) === null", arg=[bob_id], timeout=10_000)


async def test_pending_bold_survives_a_remote_edit_elsewhere(demo, contexts):
    doc = "pending-format"
    alice, bob = await two_users(contexts, demo, doc)
    pages = [(alice, "alice"), (bob, "bob")]

    await focus_end(alice, "alice")
    await alice.keyboard.press("Enter")
    await alice.keyboard.type("plain ")
    await alice.keyboard.press("Control+b")  # bold on, caret collapsed: nothing typed yet
    await converge(pages)

    # meanwhile Bob types in another paragraph
    await focus_end(bob, "bob")
    await bob.keyboard.press("Enter")
    await bob.keyboard.type("Bob elsewhere")
    await alice.wait_for_function(
        "() => tinymce.get('editor-alice').getContent().includes('Bob elsewhere')"
    )

    await alice.keyboard.type("bold")
    final = await converge(pages)
    assert "<p>plain <strong>bold</strong></p>" in final, final


async def test_key_rotation_by_the_sdk_is_followed_by_the_editor(demo, contexts):
    """The SDK moves the document to a new session (new key hint); the open editor asks
    its encryption provider for the new hint, keeps its content, and keeps editing."""
    from tandem.demo.page import DEMO_KEY

    doc = "rotation"
    page = await open_editor(await contexts(), demo, "alice", doc)
    before = await canonical(page, "alice")
    old_session = (await rtc_state(page, "alice"))["sessionId"]

    client = sdk_client(
        demo,
        doc,
        encryption_provider=lambda arg: {"key": DEMO_KEY, "keyHint": arg["keyHint"] or "demo-2"},
    )
    await client.start()
    try:
        await client.wait_synced()
        assert await client.rotate_key() == "demo-2"
        await page.wait_for_function(
            """() => { const s = tinymce.get('editor-alice').plugins.rtc.getState();
                       return s.keyHint === 'demo-2' && s.synced; }""",
            timeout=15_000,
        )
        state = await rtc_state(page, "alice")
        assert state["sessionId"] != old_session
        assert await canonical(page, "alice") == before
        await focus_end(page, "alice")
        await page.keyboard.type(" after rotation")
        client.append_paragraph("bot after rotation")
        await client.flush()
        await page.wait_for_function(
            """() => tinymce.get('editor-alice').getContent().includes('bot after rotation')""",
            timeout=10_000,
        )
        html = await canonical(page, "alice")
        assert "after rotation" in html and "bot after rotation" in html
        for _ in range(100):
            if client.to_html() == html:
                break
            await page.wait_for_timeout(50)
        assert client.to_html() == html
    finally:
        await client.close()


async def test_presence_callbacks_user_details_and_snapshot_hook(demo, contexts):
    """rtc_client_connected/disconnected get the user details from
    rtc_user_details_provider; rtc_snapshot gets the version and lazy HTML."""
    doc = "callbacks"
    alice, bob = await two_users(contexts, demo, doc)
    await alice.wait_for_function(
        "() => document.getElementById('here-alice').textContent.includes('Bob (caret')",
        timeout=10_000,
    )
    await bob.wait_for_function(
        "() => document.getElementById('here-bob').textContent.includes('Alice (caret')",
        timeout=10_000,
    )
    await focus_end(alice, "alice")
    await alice.keyboard.type(" saved by the integrator")
    await alice.wait_for_function(
        "() => /rtc_snapshot: version [1-9]\\d*, \\d+ characters/.test("
        "document.getElementById('saved-alice').textContent)",
        timeout=15_000,
    )
    version = int(
        (await alice.evaluate("() => document.getElementById('saved-alice').textContent"))
        .split()[2]
        .rstrip(",")
    )
    assert version >= 1
    await bob.close()
    await alice.wait_for_function(
        "() => document.getElementById('here-alice').textContent === 'also here: nobody'",
        timeout=10_000,
    )


async def test_an_empty_list_left_in_a_table_cell_is_shown_as_nothing_and_stays_editable(
    demo, contexts, tmp_path
):
    """Concurrent list toggles can leave a <ul> without items in the shared document (the
    browser fuzzer's seed 16); TinyMCE drops it, and so does the content model: every editor
    shows the shared document, and an edit in that cell deletes the empty list without
    rewriting the table or tripping the loop guard."""
    from pycrdt import XmlElement

    doc = "empty-list-in-cell"
    client = sdk_client(demo, doc)
    await client.start()
    try:
        await client.wait_synced()
        client.set_html(
            "<p>before</p><table><tbody><tr><td><p></p><p>a</p><ol><li>a</li></ol>"
            "</td></tr></tbody></table>"
        )
        cell = client.fragment.children[1].children[0].children[0].children[0]
        with client.doc.transaction():
            cell.children.insert(2, XmlElement("ul"))  # between <p>a</p> and the <ol>
        await client.flush()
        expected = (
            "<p>before</p>\n<table><tbody><tr><td><p></p><p>a</p><ol><li>a</li></ol>"
            "</td></tr></tbody></table>"
        )
        assert client.to_html() == expected
        assert [c.tag for c in cell.children] == ["p", "p", "ul", "ol"]

        pages = []
        for user in ("alice", "bob"):
            page = await open_editor(await contexts(), demo, user, doc)
            await page.evaluate(
                """(id) => { window.__incidents = [];
                tinymce.get(id).on('RtcIncident', (e) => window.__incidents.push(e.reason)); }""",
                f"editor-{user}",
            )
            assert await canonical(page, user) == expected
            assert normalize_html(await editor_html(page, user)) == expected
            pages.append((page, user))
        assert await doc_cat(demo, doc, tmp_path) == expected

        alice = pages[0][0]
        await alice.evaluate(
            """(id) => { const ed = tinymce.get(id); ed.focus();
            ed.selection.select(ed.getBody().querySelectorAll('td p')[1], true);
            ed.selection.collapse(false); }""",
            "editor-alice",
        )
        await alice.keyboard.type("XYZ")
        final = await converge(pages)
        assert final == expected.replace("<p>a</p>", "<p>aXYZ</p>")
        for page, user in pages:
            assert normalize_html(await editor_html(page, user)) == final
            assert await page.evaluate("window.__incidents") == []
            state = await rtc_state(page, user)
            assert state["editable"], state
            stats = await page.evaluate(
                "(id) => tinymce.get(id).plugins.rtc.getStats()", f"editor-{user}"
            )
            assert not stats.get("rewrites") and not stats.get("incidents"), stats
            assert page.rtc_log.errors == [] and page.rtc_log.console_errors == []
        for _ in range(100):
            if client.to_html() == final:
                break
            await alice.wait_for_timeout(50)
        assert client.to_html() == final
        cell = client.fragment.children[1].children[0].children[0].children[0]
        assert [c.tag for c in cell.children] == ["p", "p", "ol"], "the empty <ul> was deleted"
        assert await doc_cat(demo, doc, tmp_path) == final
    finally:
        await client.close()
