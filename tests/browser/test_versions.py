"""Version history in the editor (issue 12): editor.plugins.rtc.versions(), openVersion(n),
restoreVersion(n), createVersion(name), the demo's history dialog, and the fall-back to an
older checkpoint when the latest one cannot be decrypted — across the plugin and the SDK."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import pytest
import websockets

from tandem.client import websocket_url
from tests.support.browser import canonical, converge, open_editor, rtc_state, sdk_client

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

RTC = "tinymce.get('editor-alice').plugins.rtc"


def mallory_hello(demo, doc: str) -> str:
    """The hello of "mallory", an editor who then writes raw frames to ``doc``."""
    return json.dumps(
        {
            "type": "hello",
            "protocol": 1,
            "api_key": demo.tenant.api_key,
            "document_id": doc,
            "token": demo.sign("mallory", document=doc),
            "client_id": "mallory-client",
            "client_info": {},
        }
    )


async def test_versions_open_restore_across_plugin_and_sdk(demo, contexts):
    doc = "history-doc"
    alice = await open_editor(await contexts(), demo, "alice", doc)
    bot = sdk_client(demo, doc)
    await bot.start()
    await bot.wait_synced()
    try:
        welcome = await converge([(alice, "alice")])
        assert welcome.startswith("<h2>Welcome to Tandem</h2>")
        bot.append_paragraph("from python")
        await bot.flush()
        first = await bot.create_version("Python draft")
        await alice.wait_for_function(f"() => {RTC}.getCanonicalContent().includes('from python')")
        await alice.evaluate(
            f"() => tinymce.get('editor-alice').setContent("
            f"{RTC}.getCanonicalContent() + '<p>from the browser</p>')"
        )
        second = await alice.evaluate(f"() => {RTC}.createVersion('Browser draft')")
        assert second == first + 1
        versions = await alice.evaluate(f"() => {RTC}.versions()")
        assert [(v["number"], v["kind"], v["name"]) for v in versions] == [
            (second, "named", "Browser draft"),
            (first, "named", "Python draft"),
            (1, "session", None),
        ]
        assert versions[0]["editors"] == ["alice"] and versions[1]["editors"] == ["py-bot"]
        # the SDK reads the name the browser sealed, and the same content
        assert [v["name"] for v in await bot.versions()][:2] == ["Browser draft", "Python draft"]
        html_first = await alice.evaluate(f"(n) => {RTC}.openVersion(n)", first)
        assert html_first == welcome + "\n<p>from python</p>"
        assert html_first == await bot.state_at(first)
        assert await alice.evaluate(f"(n) => {RTC}.openVersion(n)", second) == (
            await bot.state_at(second)
        )

        restored = await alice.evaluate(f"(n) => {RTC}.restoreVersion(n)", first)
        assert restored == second + 2  # "before restoring", then the restore itself
        after = await converge([(alice, "alice")])
        assert after == html_first
        await bot.flush()
        for _ in range(100):
            if bot.to_html() == after:
                break
            await alice.wait_for_timeout(50)
        assert bot.to_html() == after
        kinds = [(v["kind"], v["name"]) for v in await bot.versions(limit=2)]
        assert kinds == [
            ("restore", f"Restored version {first}"),
            ("named", f"Before restoring version {first}"),
        ]
        assert await bot.state_at(second + 1) == await bot.state_at(second)
    finally:
        await bot.close()


async def test_demo_history_dialog_lists_previews_and_restores(demo, contexts):
    doc = "history-dialog"
    page = await open_editor(await contexts(), demo, "alice", doc)
    welcome = await canonical(page, "alice")
    await page.evaluate(f"() => {RTC}.createVersion('First')")
    await page.evaluate("() => tinymce.get('editor-alice').setContent('<p>replaced</p>')")
    await canonical(page, "alice")
    assert await page.evaluate(
        "() => 'history' in tinymce.get('editor-alice').ui.registry.getAll().buttons"
    )
    await page.click("#history-alice")
    await page.wait_for_selector("#history[open] #history-list button")
    labels = await page.locator("#history-list button").all_inner_texts()
    assert labels[0].startswith("#2 First") and labels[1].startswith("#1 session")
    await page.click("#history-list button[data-number='2']")
    frame = page.frame_locator("#history-preview")
    assert await frame.locator("body").inner_html() == welcome
    await page.wait_for_selector("#history-restore:not([disabled])")
    await page.click("#history-restore")
    await page.wait_for_function(
        "() => document.getElementById('history-status').textContent.startsWith('4 versions')"
    )
    assert await canonical(page, "alice") == welcome


async def test_plugin_falls_back_when_the_latest_checkpoint_is_garbage(demo, contexts):
    doc = "garbage-checkpoint"
    bot = sdk_client(demo, doc, initial_content="<p>one</p>")
    await bot.start()
    await bot.wait_synced()
    try:
        await bot.create_version("good")
        bot.append_paragraph("two")
        bot.append_paragraph("three")
        await bot.flush()
        expected = bot.to_html()
        # an editor token sends 28 random bytes as the snapshot at the document's version
        async with websockets.connect(websocket_url(demo.direct_url)) as ws:
            await ws.send(mallory_hello(demo, doc))
            welcome = json.loads(await ws.recv())
            await ws.send(
                json.dumps(
                    {
                        "type": "snapshot",
                        "session_id": welcome["session"]["session_id"],
                        "seq": bot.version,
                        "data": base64.b64encode(os.urandom(28)).decode(),
                    }
                )
            )
            while (frame := json.loads(await ws.recv()))["type"] != "snapshot_ack":
                pass
            assert frame["accepted"]
        alice = await open_editor(await contexts(), demo, "alice", doc)
        await alice.wait_for_function(
            f"() => {RTC}.getState().historyIncidents.length > 0", timeout=15_000
        )
        assert await canonical(alice, "alice") == expected
        (incident,) = (await rtc_state(alice, "alice"))["historyIncidents"]
        assert (incident["code"], incident["recovered"]) == ("snapshot_unreadable", True)
        # the browser repairs the checkpoint: it uploads it after reporting the incident,
        # so wait for it (a later automatic checkpoint may follow it)
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            kinds = [v["kind"] for v in await bot.versions(limit=5)]
            if "repair" in kinds or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
        assert "repair" in kinds, kinds
    finally:
        await bot.close()


async def test_plugin_reads_history_when_a_rotation_key_does_not_open(demo, contexts):
    doc = "garbage-rotation"
    bot = sdk_client(demo, doc, initial_content="<p>one</p>")
    await bot.start()
    await bot.wait_synced()
    try:
        bot.append_paragraph("two")
        await bot.flush()
        expected = bot.to_html()
        async with websockets.connect(websocket_url(demo.direct_url)) as ws:
            await ws.send(mallory_hello(demo, doc))
            welcome = json.loads(await ws.recv())
            await ws.send(
                json.dumps(
                    {
                        "type": "create_session",
                        "session_id": "mallory-session-000001",
                        "key_hint": "demo-1",
                        "salt": base64.b64encode(os.urandom(32)).decode(),
                        "iterations": 10_000,
                        "wrapped_key": base64.b64encode(os.urandom(60)).decode(),
                        "snapshot": base64.b64encode(os.urandom(60)).decode(),
                        "replaces": welcome["session"]["session_id"],
                        "seq": bot.version,
                    }
                )
            )
            while json.loads(await ws.recv())["type"] != "session_created":
                pass
        alice = await open_editor(await contexts(), demo, "alice", doc, wait=False)
        await alice.wait_for_function(
            f"() => {RTC} && {RTC}.getState && {RTC}.getState().historyIncidents.length > 0",
            timeout=20_000,
        )
        state = await rtc_state(alice, "alice")
        assert [(i["code"], i["recovered"]) for i in state["historyIncidents"]] == [
            ("session_key_unusable", True)
        ]
        assert not state["editable"]  # nothing could be sent under that session
        assert await canonical(alice, "alice", flush=False) == expected
        # an editor with the right key repairs the document: alice can edit again
        await bot.wait_synced()
        await bot.rotate_key()
        await alice.wait_for_function(f"() => {RTC}.getState().editable", timeout=20_000)
        assert await canonical(alice, "alice") == expected
    finally:
        await bot.close()
