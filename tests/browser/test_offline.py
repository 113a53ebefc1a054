"""Offline editing (issue 12, item 2): the editor stays editable while the collaboration
server cannot be reached, edits not yet sent are kept on the device (IndexedDB) — through a
reload too — and they are merged into the shared document when the connection is back."""

from __future__ import annotations

import pytest

from tests.support.browser import canonical, converge, focus_end, open_editor, rtc_state

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

OFFLINE = """(id) => { const s = tinymce.get(id).plugins.rtc.getState();
                       return !s.connected && s.offline && s.editable; }"""
NOTICE = """() => Array.from(document.querySelectorAll('.tox-notification__body'))
                  .some((n) => n.textContent.includes('Your changes are kept'))"""


# The collaboration server unreachable from one tab (the page itself still loads, as when
# only the collaboration host is down): while the tab's sessionStorage says so — which
# survives a reload — its WebSockets go to a closed port.
BLOCKABLE_SOCKETS = """(() => {
  const Native = window.WebSocket;
  function Switched(url, protocols) {
    const blocked = sessionStorage.getItem('rtc-test-offline') === '1';
    return new Native(blocked ? 'ws://127.0.0.1:9/' : url, protocols);
  }
  Switched.prototype = Native.prototype;
  Object.assign(Switched, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Switched;
})();"""


async def set_blocked(page, blocked: bool) -> None:
    await page.evaluate("(b) => sessionStorage.setItem('rtc-test-offline', b ? '1' : '0')", blocked)


async def test_network_cut_keeps_editing_and_merges(demo, contexts):
    doc = "network-cut"
    alice_ctx = await contexts()
    alice = await open_editor(alice_ctx, demo, "alice", doc)
    bob = await open_editor(await contexts(), demo, "bob", doc)
    pages = [(alice, "alice"), (bob, "bob")]
    before = await converge(pages)

    await alice_ctx.set_offline(True)
    await alice.evaluate("() => tinymce.get('editor-alice').plugins.rtc.reconnect()")
    await alice.wait_for_function(OFFLINE, arg="editor-alice", timeout=15_000)
    await focus_end(alice, "alice")
    await alice.keyboard.type(" offline words")
    await alice.wait_for_function(NOTICE, timeout=10_000)
    # bob keeps working meanwhile
    await focus_end(bob, "bob")
    await bob.keyboard.press("Enter")
    await bob.keyboard.type("bob online")
    assert "offline words" not in await canonical(bob, "bob")

    await alice_ctx.set_offline(False)
    after = await converge(pages, timeout=40)
    assert after.count("offline words") == 1 and after.count("bob online") == 1, after
    assert after != before
    assert (await rtc_state(alice, "alice"))["unacknowledged"] == 0


async def test_reload_while_offline_keeps_edits(demo, contexts):
    doc = "reload-offline"
    alice_ctx = await contexts()
    await alice_ctx.add_init_script(BLOCKABLE_SOCKETS)
    alice = await open_editor(alice_ctx, demo, "alice", doc)
    bob = await open_editor(await contexts(), demo, "bob", doc)
    await converge([(alice, "alice"), (bob, "bob")])

    await set_blocked(alice, True)
    await alice.evaluate("() => tinymce.get('editor-alice').plugins.rtc.reconnect()")
    await alice.wait_for_function(OFFLINE, arg="editor-alice", timeout=15_000)
    await focus_end(alice, "alice")
    await alice.keyboard.type(" before reload")
    await alice.evaluate("() => tinymce.get('editor-alice').plugins.rtc.saveLocal()")

    # the tab reloads while the server is still unreachable: the copy on the device shows
    await alice.reload()
    await alice.wait_for_function(OFFLINE, arg="editor-alice", timeout=20_000)
    assert "before reload" in await alice.evaluate(
        "() => tinymce.get('editor-alice').getBody().textContent"
    )
    await focus_end(alice, "alice")
    await alice.keyboard.type(" after reload")
    await alice.evaluate("() => tinymce.get('editor-alice').plugins.rtc.saveLocal()")
    assert "before reload" not in await canonical(bob, "bob")

    # the server is reachable again: the editor reconnects by itself and merges both edits
    await set_blocked(alice, False)
    final = await converge([(alice, "alice"), (bob, "bob")], timeout=40)
    assert final.count("before reload") == 1 and final.count("after reload") == 1, final
    state = await rtc_state(alice, "alice")
    assert state["unacknowledged"] == 0 and not state["offline"], state
