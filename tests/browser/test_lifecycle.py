"""Joining late, surviving a server restart, read-only viewers, refreshing expiring tokens."""

from __future__ import annotations

import asyncio

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
    wait_synced,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_late_joiner_gets_identical_content(demo, contexts, tmp_path):
    doc = "late"
    alice = await open_editor(await contexts(), demo, "alice", doc)
    await focus_end(alice, "alice")
    await alice.keyboard.press("Enter")
    await alice.keyboard.type("First ")
    await alice.keyboard.press("Control+b")
    await alice.keyboard.type("bold")
    await alice.keyboard.press("Control+b")
    await alice.keyboard.press("Enter")
    await alice.evaluate("tinymce.get('editor-alice').execCommand('InsertOrderedList')")
    await alice.keyboard.type("one")
    await alice.keyboard.press("Enter")
    await alice.keyboard.type("two")
    written = await canonical(alice, "alice")  # flushed: every change acknowledged
    assert "<strong>bold</strong>" in written and "<ol><li>one</li><li>two</li></ol>" in written

    bob = await open_editor(await contexts(), demo, "bob", doc)
    assert await canonical(bob, "bob", flush=False) == written
    assert normalize_html(await editor_html(bob, "bob")) == written
    assert (await rtc_state(bob, "bob"))["version"] == (await rtc_state(alice, "alice"))["version"]
    assert await doc_cat(demo, doc, tmp_path) == written


async def test_editor_reconnects_after_server_restart(demo, contexts, tmp_path):
    """The server stops (same port and data directory when it comes back): the editors stay
    editable, what is typed meanwhile is kept (the notice says so), they reconnect by
    themselves to the same session, and the offline edit arrives at the other editor and in
    storage."""
    doc = "restart"
    alice = await open_editor(await contexts(), demo, "alice", doc)
    bob = await open_editor(await contexts(), demo, "bob", doc)
    pages = [(alice, "alice"), (bob, "bob")]
    await focus_end(alice, "alice")
    await alice.keyboard.press("Enter")
    await alice.keyboard.type("Before the restart.")
    before = await converge(pages)
    session = (await rtc_state(alice, "alice"))["sessionId"]

    await demo.stop()
    for page, user in pages:
        await page.wait_for_function(
            "(id) => { const s = tinymce.get(id).plugins.rtc.getState();"
            " return !s.connected && !s.synced; }",
            arg=f"editor-{user}",
        )
    # offline: still editable, and what is typed is kept
    state = await rtc_state(alice, "alice")
    assert state["editable"] and state["offline"], state
    assert not await alice.evaluate("tinymce.get('editor-alice').mode.isReadOnly()")
    await focus_end(alice, "alice")
    await alice.keyboard.type(" Typed offline.")
    assert await canonical(alice, "alice", flush=False) == before.replace(
        "Before the restart.</p>", "Before the restart. Typed offline.</p>"
    )
    await alice.wait_for_function(
        """() => Array.from(document.querySelectorAll('.tox-notification__body'))
                 .some((n) => n.textContent.includes('Your changes are kept'))""",
        timeout=10_000,
    )

    await demo.start()  # same port, same data directory
    for page, user in pages:
        await wait_synced(page, user, timeout=30_000)
        state = await rtc_state(page, user)
        assert state["sessionId"] == session and state["error"] is None, state
    assert len(alice.rtc_log.websockets) >= 2  # it opened a new socket by itself

    await focus_end(alice, "alice")
    await alice.keyboard.type(" After the restart.")
    await bob.wait_for_function(
        "() => tinymce.get('editor-bob').getContent().includes('After the restart.')",
        timeout=10_000,
    )
    after = await converge(pages)
    assert "<p>Before the restart. Typed offline. After the restart.</p>" in after, after
    assert await doc_cat(demo, doc, tmp_path) == after


async def test_viewer_is_read_only_and_sees_edits(demo, contexts):
    doc = "viewer"
    alice = await open_editor(await contexts(), demo, "alice", doc)
    viewer = await open_editor(await contexts(), demo, "v", doc, role="viewer")
    state = await rtc_state(viewer, "v")
    assert state["role"] == "viewer" and state["editable"] is False, state
    assert await viewer.evaluate("tinymce.get('editor-v').mode.isReadOnly()")

    content = await canonical(viewer, "v", flush=False)
    body = viewer.frame_locator("#editor-v_ifr").locator("body")
    await body.click()
    await body.press_sequentially("viewer typing")
    await body.press("Enter")
    await viewer.evaluate("tinymce.get('editor-v').execCommand('mceInsertContent', false, 'x')")
    assert "viewer typing" not in await editor_html(viewer, "v")
    assert await canonical(viewer, "v", flush=False) == content

    await focus_end(alice, "alice")
    await alice.keyboard.press("Enter")
    await alice.keyboard.type("For the viewer")
    await viewer.wait_for_function(
        "() => tinymce.get('editor-v').getContent().includes('For the viewer')", timeout=10_000
    )
    assert await canonical(viewer, "v", flush=False) == await canonical(alice, "alice")
    assert "viewer typing" not in await canonical(alice, "alice")
    state = await rtc_state(viewer, "v")
    assert state["connected"] and state["error"] is None, state  # never sent a write
    assert len(viewer.rtc_log.websockets) == 1


@pytest.mark.demo_settings(leeway=1)
async def test_expiring_token_is_refreshed_through_the_token_provider(demo, contexts, tmp_path):
    doc = "ttl"
    context = await contexts()
    requested: list[str] = []
    context.on("request", lambda r: requested.append(r.url) if "/demo/token" in r.url else None)
    page = await open_editor(context, demo, "tim", doc, ttl="5")
    assert len(requested) == 1 and "ttl=5" in requested[0]
    synced_at = asyncio.get_running_loop().time()

    # the token lives 5 s (+1 s leeway): the server would close the socket after 6 s
    # unless the plugin sends fresh tokens; wait for twice the lifetime, and then some
    await asyncio.sleep(max(0.0, synced_at + 11 - asyncio.get_running_loop().time()))

    state = await rtc_state(page, "tim")
    assert state["connected"] and state["synced"] and state["error"] is None, state
    assert len(page.rtc_log.websockets) == 1, page.rtc_log.websockets  # no reconnect
    assert len(requested) >= 4, requested  # the first token and at least three refreshes
    assert demo.token_requests == len(requested)

    await focus_end(page, "tim")
    await page.keyboard.press("Enter")
    await page.keyboard.type("Still connected")
    written = await canonical(page, "tim")
    assert "<p>Still connected</p>" in written
    assert await doc_cat(demo, doc, tmp_path) == written


CAPTURE_SOCKETS = """
window.__sockets = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""


async def test_typing_just_before_a_connection_drop_is_kept(demo, contexts):
    doc = "drop"
    context = await contexts()
    await context.add_init_script(CAPTURE_SOCKETS)
    alice = await open_editor(context, demo, "alice", doc)
    await focus_end(alice, "alice")
    await alice.keyboard.press("Enter")
    await alice.keyboard.type("Typed")
    await canonical(alice, "alice")

    # a keystroke's DOM change, and in the same task the socket's close event (the server
    # went away): what the browser does when the close arrives before the 0 ms sync timer
    await alice.evaluate("""() => {
        const ed = tinymce.get('editor-alice');
        const p = ed.getBody().lastElementChild;
        p.appendChild(ed.getDoc().createTextNode(' at the last moment'));
        const ws = window.__sockets[window.__sockets.length - 1];
        ws.onclose(new CloseEvent('close', {code: 1006}));
      }""")
    await alice.wait_for_function("() => window.__sockets.length >= 2")
    await wait_synced(alice, "alice")  # reconnected by itself
    final = await canonical(alice, "alice")
    assert "<p>Typed at the last moment</p>" in final, final
