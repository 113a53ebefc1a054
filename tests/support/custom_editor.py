"""A TinyMCE editor with options of the test's choosing, on a demo page (which serves TinyMCE,
the plugin, tokens and the demo key)."""

from __future__ import annotations

import json
from typing import Any

from tandem.demo.page import DEMO_KEY, DEMO_KEY_HINT
from tests.support.browser import DemoServer, PageLog

# `options` is a JavaScript expression for extra init options; it may use `log` (an array on
# window.__rtcLog the test reads back).
INIT = """async ([user, doc, extra]) => {
  window.__rtcLog = window.__rtcLog || [];
  const log = window.__rtcLog;
  for (const ed of tinymce.get()) ed.remove();
  document.body.innerHTML = '<textarea id="editor-' + user + '"></textarea>';
  const options = Object.assign({
    selector: '#editor-' + user,
    license_key: 'gpl',
    model: 'dom',
    plugins: 'lists link table image',
    external_plugins: { rtc: '/plugins/rtc/plugin.min.js' },
    rtc_document_id: doc,
    rtc_api_key: %(api_key)s,
    rtc_server_url: window.location.origin,
    rtc_token_provider: async ({ documentId }) => {
      const query = 'user=' + user + '&document=' + encodeURIComponent(documentId);
      const r = await fetch('/demo/token?' + query);
      return r.json();
    },
    rtc_encryption_provider: ({ keyHint }) => ({ key: %(key)s, keyHint: keyHint ?? %(hint)s }),
  }, (new Function('log', 'return (' + extra + ');'))(log));
  await tinymce.init(options);
}"""


async def custom_editor(
    context: Any, server: DemoServer, user: str, doc: str, options: str = "{}", *, wait: bool = True
) -> Any:
    """A page with one editor ``editor-USER`` made with ``options`` (JavaScript) on top of
    the demo's rtc options."""
    page = await context.new_page()
    page.rtc_log = PageLog(page)
    await page.goto(server.page_url(user="setup", doc="unused-" + doc))
    await page.wait_for_function("() => window.tinymce && tinymce.get().length > 0")
    script = INIT % {
        "api_key": json.dumps(server.tenant.api_key),
        "key": json.dumps(DEMO_KEY),
        "hint": json.dumps(DEMO_KEY_HINT),
    }
    await page.evaluate(script, [user, doc, options])
    if wait:
        await page.wait_for_function(
            """(id) => { const r = tinymce.get(id).plugins.rtc;
                         return r.getState().synced && r.getState().editable; }""",
            arg=f"editor-{user}",
            timeout=20_000,
        )
    return page
