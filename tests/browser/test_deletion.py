"""A document deleted on the server (issue 12, item 3): the editor shows why and turns
read-only, does not reconnect, and erases its copy on the device (IndexedDB), so a
reload cannot bring the deleted content back."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx
import pytest

from tests.support.browser import focus_end, open_editor, rtc_state

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

ADMIN = "browser-admin-token-0123456789abcdef"

DEVICE_KEYS = """(doc) => new Promise((resolve, reject) => {
  const req = indexedDB.open('tandem-rtc', 1);
  req.onerror = () => reject(req.error);
  req.onsuccess = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains('documents')) { db.close(); resolve([]); return; }
    const keys = db.transaction('documents').objectStore('documents').getAllKeys();
    keys.onsuccess = () => {
      db.close();
      resolve(keys.result.filter((k) => k.endsWith('|' + doc)));
    };
    keys.onerror = () => reject(keys.error);
  };
})"""
DELETED_NOTICE = """() => Array.from(document.querySelectorAll('.tox-notification__body'))
                  .some((n) => n.textContent.includes('the document was deleted'))"""


@pytest.mark.demo_settings(admin_token=ADMIN)
async def test_a_deleted_document_closes_the_editor_and_erases_the_device_copy(demo, contexts):
    doc = "to-be-erased"
    page = await open_editor(await contexts(), demo, "alice", doc)
    await focus_end(page, "alice")
    await page.keyboard.type(" personal data")
    await page.evaluate("() => tinymce.get('editor-alice').plugins.rtc.flush()")
    await page.evaluate("() => tinymce.get('editor-alice').plugins.rtc.saveLocal()")
    assert await page.evaluate(DEVICE_KEYS, doc) != []

    response = await asyncio.to_thread(
        httpx.delete,
        f"{demo.direct_url}/v1/documents/{quote(doc, safe='')}",
        headers={"Authorization": f"Bearer {ADMIN}", "Tandem-Api-Key": demo.tenant.api_key},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["closed_connections"] == 1

    await page.wait_for_function(DELETED_NOTICE, timeout=10_000)
    state = await rtc_state(page, "alice")
    assert state["error"] == {"reason": "general", "message": "the document was deleted"}
    assert not state["editable"] and not state["connected"]
    for _ in range(50):
        if await page.evaluate(DEVICE_KEYS, doc) == []:
            break
        await asyncio.sleep(0.1)
    assert await page.evaluate(DEVICE_KEYS, doc) == []
    # No reconnect: the page opened exactly one collaboration socket.
    await asyncio.sleep(1.5)
    assert len([u for u in page.rtc_log.websockets if "/v1/collab" in u]) == 1

    # A reload opens the id as a new document: nothing of the deleted one comes back.
    await page.reload()
    await page.wait_for_function(
        "() => tinymce.get('editor-alice') && tinymce.get('editor-alice').plugins.rtc"
        ".getState().synced",
        timeout=20_000,
    )
    body = await page.evaluate("() => tinymce.get('editor-alice').getBody().textContent")
    assert "personal data" not in body
