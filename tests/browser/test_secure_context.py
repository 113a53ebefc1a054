"""A page served from a non-secure origin: the plugin refuses to start, as Tiny's RTC did."""

from __future__ import annotations

import pytest

from tests.support.browser import PageLog, launch_chromium

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

MESSAGE = "RTC services require a secure context"


async def test_insecure_origin_shows_error_and_opens_no_websocket(playwright, demo):
    # tandem.test resolves to the loopback server, but http://tandem.test is not a secure
    # context (only https, localhost and 127.0.0.1 are)
    browser = await launch_chromium(playwright, "--host-resolver-rules=MAP tandem.test 127.0.0.1")
    try:
        page = await browser.new_page()
        log = PageLog(page)
        await page.goto(f"http://tandem.test:{demo.port}/?doc=insecure")
        assert await page.evaluate("window.isSecureContext") is False

        # both editors of the page report it in a TinyMCE notification...
        notification = page.locator(".tox-notification", has_text=MESSAGE)
        await notification.first.wait_for(timeout=15_000)
        await page.wait_for_function(
            "() => ['alice', 'bob'].every((u) => { const ed = tinymce.get('editor-' + u);"
            " return ed && ed.plugins.rtc && ed.plugins.rtc.getState().error; })"
        )
        assert await notification.count() == 2
        for user in ("alice", "bob"):
            state = await page.evaluate(
                "(id) => tinymce.get(id).plugins.rtc.getState()", f"editor-{user}"
            )
            assert state["error"] == {"reason": "general", "message": MESSAGE}, state
            assert not state["connected"] and not state["synced"] and not state["editable"]
            assert await page.evaluate(
                "(id) => tinymce.get(id).mode.isReadOnly()", f"editor-{user}"
            )
            rejected = await page.evaluate(
                "(id) => tinymce.get(id).plugins.rtc.whenSynced().then(() => null,"
                " (e) => e.message)",
                f"editor-{user}",
            )
            assert rejected == MESSAGE

        # ... and on the console
        assert sum(m == f"error: {MESSAGE}" for m in log.console) == 2, log.console
        # both plugins gave up before connecting: no socket was ever opened, and no token
        # was fetched
        assert log.websockets == []
        assert demo.token_requests == 0
    finally:
        await browser.close()
