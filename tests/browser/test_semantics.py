"""Tiny's RTC semantics where the plugin must behave like it (issue 10 item 5): getContent /
setContent / insertContent go through the shared document, rtc_server_disconnected replaces
the default notice, a non-string initial content fails with reason `content`, caret colours
come from CSS classes, IME composition never syncs half-composed text, and an uploaded image
replaces its blob: URL in the shared document.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support.browser import canonical, converge, focus_end, open_editor, wait_synced
from tests.support.custom_editor import custom_editor

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

NOTICES = """() => Array.from(document.querySelectorAll('.tox-notification__body'),
                             (n) => n.textContent)"""
WRONG_KEY = "({ keyHint }) => ({ key: 'not the key', keyHint: keyHint ?? 'demo-1' })"
LOG = "() => window.__rtcLog"


async def test_set_and_insert_content_are_shared_and_get_content_is_the_shared_document(
    demo, contexts
):
    doc = "set-insert-get"
    alice = await open_editor(await contexts(), demo, "alice", doc)
    bob = await open_editor(await contexts(), demo, "bob", doc)
    pages = [(alice, "alice"), (bob, "bob")]
    await alice.evaluate("""() => {
        const ed = tinymce.get('editor-alice');
        ed.setContent('<p>one <b>two</b></p><p onclick="alert(1)">three</p>');
        ed.selection.select(ed.getBody().lastChild, true);
        ed.selection.collapse(false);
        ed.insertContent(' four<iframe src="https://evil.example/"></iframe>');
    }""")
    html = await converge(pages)
    assert html == "<p>one <strong>two</strong></p>\n<p>three four</p>"
    for page, user in pages:
        content = await page.evaluate(f"() => tinymce.get('editor-{user}').getContent()")
        assert content == "<p>one <strong>two</strong></p>\n<p>three four</p>"
    # alice's own view lost what nobody else can see (the event handler, the iframe)
    body = await alice.evaluate("() => tinymce.get('editor-alice').getBody().innerHTML")
    assert "onclick" not in body and "iframe" not in body
    notices = await alice.evaluate(NOTICES)
    assert any("cannot be shared" in n for n in notices), notices


async def test_server_disconnected_callback_replaces_the_default_notice(demo, contexts):
    doc = "disconnected-callback"
    await open_editor(await contexts(), demo, "alice", doc)  # the document exists
    wrong_key = f"""{{
        rtc_encryption_provider: {WRONG_KEY},
        rtc_server_disconnected: (e) => log.push(e),
    }}"""
    page = await custom_editor(await contexts(), demo, "mallory", doc, wrong_key, wait=False)
    await page.wait_for_function("() => window.__rtcLog.length > 0", timeout=20_000)
    log = await page.evaluate(LOG)
    assert [e["reason"] for e in log] == ["encryption"]
    assert await page.evaluate(NOTICES) == []
    # without the callback the editor says it itself
    plain = await custom_editor(
        await contexts(),
        demo,
        "eve",
        doc,
        f"{{ rtc_encryption_provider: {WRONG_KEY} }}",
        wait=False,
    )
    await plain.wait_for_function(
        "() => document.querySelectorAll('.tox-notification__body').length > 0", timeout=20_000
    )
    notices = await plain.evaluate(NOTICES)
    assert any("(encryption)" in n for n in notices), notices


async def test_non_string_initial_content_is_reason_content(demo, contexts):
    page = await custom_editor(
        await contexts(),
        demo,
        "alice",
        "initial-not-a-string",
        """{
        rtc_initial_content_provider: () => ({ content: 42 }),
        rtc_server_disconnected: (e) => log.push(e),
    }""",
        wait=False,
    )
    await page.wait_for_function("() => window.__rtcLog.length > 0", timeout=20_000)
    log = await page.evaluate(LOG)
    assert [e["reason"] for e in log] == ["content"]
    assert "{content: string}" in log[0]["message"]
    state = await page.evaluate("() => tinymce.get('editor-alice').plugins.rtc.getState()")
    assert state["error"]["reason"] == "content" and not state["editable"]


async def test_caret_colours_come_from_css_classes(demo, contexts):
    doc = "caret-classes"
    alice = await open_editor(await contexts(), demo, "alice", doc)
    bob = await open_editor(await contexts(), demo, "bob", doc)
    await focus_end(bob, "bob")
    await bob.keyboard.type("x")
    caret = """() => {
        const doc = tinymce.get('editor-alice').getDoc();
        const c = doc.querySelector('[data-rtc-overlay] .rtc-caret');
        return c && { cls: c.className, bg: doc.defaultView.getComputedStyle(c).backgroundColor };
    }"""
    await alice.wait_for_function(caret, timeout=10_000)
    first = await alice.evaluate(caret)
    n = int(first["cls"].split("rtc-caret-")[1].split()[0])
    assert 1 <= n <= 8 and first["bg"].startswith("rgb(")
    # a skin (or content_style) overrides the colour of a caret number
    await alice.evaluate(f"""() => {{
        const doc = tinymce.get('editor-alice').getDoc();
        const s = doc.createElement('style');
        s.textContent = '.rtc-caret-{n} {{ --rtc-caret-color: rgb(1, 2, 3); }}';
        doc.head.appendChild(s);
    }}""")
    assert (await alice.evaluate(caret))["bg"] == "rgb(1, 2, 3)"


async def test_ime_composition_never_syncs_half_composed_text(demo, contexts):
    doc = "ime"
    alice = await open_editor(await contexts(), demo, "alice", doc)
    bob = await open_editor(await contexts(), demo, "bob", doc)
    pages = [(alice, "alice"), (bob, "bob")]
    await converge(pages)
    await focus_end(alice, "alice")
    cdp = await alice.context.new_cdp_session(alice)
    await cdp.send(
        "Input.imeSetComposition", {"text": "にほ", "selectionStart": 2, "selectionEnd": 2}
    )
    await cdp.send(
        "Input.imeSetComposition", {"text": "にほん", "selectionStart": 3, "selectionEnd": 3}
    )
    # bob types meanwhile, in the same paragraph
    await focus_end(bob, "bob")
    await bob.keyboard.type(" bob")
    await asyncio.sleep(1.0)
    seen = await canonical(bob, "bob")
    assert "にほ" not in seen, "half-composed text reached a collaborator"
    await cdp.send("Input.insertText", {"text": "日本"})
    html = await converge(pages)
    assert html.count("日本") == 1 and "にほ" not in html and html.count(" bob") == 1, html
    assert (
        await alice.evaluate("() => tinymce.get('editor-alice').plugins.rtc.getStats().incidents")
        == 0
    )


async def test_uploaded_image_replaces_its_blob_url_in_the_shared_document(demo, contexts):
    doc = "upload"
    alice = await open_editor(await contexts(), demo, "alice", doc)
    bob = await open_editor(await contexts(), demo, "bob", doc)
    await bob.evaluate("""() => {
        window.__srcs = new Set();
        const ed = tinymce.get('editor-bob');
        setInterval(() => {
            for (const m of ed.plugins.rtc.getCanonicalContent().matchAll(/src="([^"]+)"/g))
                window.__srcs.add(m[1].slice(0, 11));
        }, 20);
    }""")
    # a pasted image: TinyMCE keeps it as a blob: URL until it has uploaded it
    await alice.evaluate("""async () => {
        const ed = tinymce.get('editor-alice');
        const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ' +
                    'DwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
        const blob = await (await fetch('data:image/png;base64,' + png)).blob();
        const info = ed.editorUpload.blobCache.create('pasted', blob, png);
        ed.editorUpload.blobCache.add(info);
        ed.focus();
        ed.insertContent('<img src="' + info.blobUri() + '" alt="pasted">');
        await ed.uploadImages();
    }""")
    await bob.wait_for_function(
        """() => tinymce.get('editor-bob').plugins.rtc.getCanonicalContent()
                   .includes('demo/uploads/')""",
        timeout=15_000,
    )
    srcs = await bob.evaluate("() => [...window.__srcs]")
    assert not any(s.startswith("blob:") for s in srcs), srcs
    html = await canonical(alice, "alice")
    assert "blob:" not in html and "demo/uploads/" in html
    # the image loads in bob's browser
    await bob.wait_for_function(
        """() => {
        const img = tinymce.get('editor-bob').getBody().querySelector('img');
        return img && img.complete && img.naturalWidth === 1; }""",
        timeout=10_000,
    )
    await wait_synced(alice, "alice")
