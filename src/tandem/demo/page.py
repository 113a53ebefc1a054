"""The demo page: two TinyMCE editors, two users, one document."""

from __future__ import annotations

import html
import json

DEMO_KEY = "tandem-demo-key (demo only: real integrators keep keys in their back end)"
DEMO_KEY_HINT = "demo-1"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tandem demo — collaborative TinyMCE</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body {{ font-family: system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #222; }}
  header {{ padding: 14px 24px; background: #1f2937; color: #fff; }}
  header h1 {{ font-size: 18px; margin: 0; }}
  header p {{ margin: 4px 0 0; font-size: 13px; color: #cbd5e1; }}
  main {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr));
          gap: 18px; padding: 18px 24px; }}
  section {{ background: #fff; border-radius: 8px; padding: 12px;
             box-shadow: 0 1px 3px rgba(0,0,0,.12); }}
  section h2 {{ font-size: 15px; margin: 0 0 8px; }}
  .status {{ font-size: 12px; color: #555; margin-top: 6px; font-family: monospace; }}
  #history {{ width: min(920px, 92vw); border: 0; border-radius: 8px; padding: 0;
              box-shadow: 0 8px 30px rgba(0,0,0,.3); }}
  #history header {{ display: flex; justify-content: space-between; align-items: center; }}
  #history .body {{ display: grid; grid-template-columns: 300px 1fr; min-height: 380px; }}
  #history ol {{ list-style: none; margin: 0; padding: 0; overflow-y: auto; max-height: 420px;
                 border-right: 1px solid #e5e7eb; }}
  #history li button {{ width: 100%; text-align: left; border: 0; background: none;
                        padding: 8px 12px; font: inherit; font-size: 13px; cursor: pointer; }}
  #history li button[aria-selected="true"] {{ background: #e0e7ff; }}
  #history li small {{ display: block; color: #666; }}
  #history iframe {{ width: 100%; height: 100%; min-height: 380px; border: 0; }}
  #history footer {{ display: flex; gap: 8px; justify-content: flex-end; padding: 10px 14px;
                     border-top: 1px solid #e5e7eb; }}
</style>
<script src="/demo/tinymce/tinymce.min.js"></script>
</head>
<body>
<header>
  <h1>Tandem — end-to-end-encrypted collaboration for TinyMCE</h1>
  <p>Two users edit document <code>{document}</code> live. The server relays and stores
     only ciphertext. Open this page in another window to add more collaborators.</p>
</header>
<main>
{sections}
</main>
<dialog id="history" aria-label="Version history">
  <header><h1>Version history</h1><span id="history-status"></span></header>
  <div class="body">
    <ol id="history-list"></ol>
    <!-- the preview: canonical HTML of the version, checked by the content model, in a
         sandbox that runs nothing -->
    <iframe id="history-preview" sandbox="" title="Preview of the selected version"></iframe>
  </div>
  <footer>
    <button id="history-save">Save current as version…</button>
    <button id="history-restore" disabled>Restore this version</button>
    <button id="history-close">Close</button>
  </footer>
</dialog>
<script>
const DOCUMENT_ID = {document_json};
const API_KEY = {api_key_json};
const ROLE = {role_json};
const TTL = {ttl_json};
const here = {{}};
// The version-history dialog (editor.plugins.rtc.versions / openVersion / restoreVersion).
const historyState = {{ editor: null, selected: null }};
function historyStatus(text) {{
  document.getElementById('history-status').textContent = text;
}}
async function previewVersion(number) {{
  const rtc = historyState.editor.plugins.rtc;
  historyState.selected = number;
  for (const b of document.querySelectorAll('#history-list button')) {{
    b.setAttribute('aria-selected', String(Number(b.dataset.number) === number));
  }}
  document.getElementById('history-restore').disabled = true;
  const html = await rtc.openVersion(number);
  document.getElementById('history-preview').srcdoc = html;
  document.getElementById('history-restore').disabled = rtc.getState().role === 'viewer';
}}
async function openHistory(editor) {{
  historyState.editor = editor;
  const dialog = document.getElementById('history');
  const list = document.getElementById('history-list');
  list.replaceChildren();
  document.getElementById('history-preview').srcdoc = '';
  if (!dialog.open) dialog.showModal();
  historyStatus('loading…');
  const versions = await editor.plugins.rtc.versions({{ limit: 200 }});
  for (const v of versions) {{
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.dataset.number = String(v.number);
    button.textContent = '#' + v.number + ' ' + (v.name || v.kind);
    const meta = document.createElement('small');
    meta.textContent = new Date(v.createdAt * 1000).toLocaleString() + ' · ' +
      (v.editors.length ? v.editors.join(', ') : 'no edits') + ' · ' + v.size + ' bytes';
    button.append(meta);
    button.addEventListener('click', () => previewVersion(v.number));
    item.append(button);
    list.append(item);
  }}
  historyStatus(versions.length + ' versions');
}}
document.getElementById('history-close').addEventListener('click', () =>
  document.getElementById('history').close());
document.getElementById('history-restore').addEventListener('click', async () => {{
  const n = historyState.selected;
  if (n === null) return;
  historyStatus('restoring…');
  const made = await historyState.editor.plugins.rtc.restoreVersion(n);
  historyStatus('restored version ' + n + ' as version ' + made);
  await openHistory(historyState.editor);
}});
document.getElementById('history-save').addEventListener('click', async () => {{
  const name = prompt('Name of the version');
  if (name === null) return;
  const made = await historyState.editor.plugins.rtc.createVersion(name);
  historyStatus('saved version ' + made);
  await openHistory(historyState.editor);
}});
function showHere(user) {{
  const names = [...here[user].values()];
  document.getElementById('here-' + user).textContent =
    'also here: ' + (names.length ? names.join(', ') : 'nobody');
}}
function startEditor(user) {{
  here[user] = new Map();
  return tinymce.init({{
    selector: '#editor-' + user,
    license_key: 'gpl',
    model: 'dom',
    height: 460,
    promotion: false,
    // Every open-source TinyMCE plugin that edits content: all of it collaborates.
    plugins: 'lists advlist link autolink image table anchor codesample media pagebreak ' +
             'nonbreaking accordion directionality charmap emoticons insertdatetime ' +
             'searchreplace visualblocks code quickbars importcss',
    menubar: 'edit insert format table tools',
    toolbar: 'undo redo | blocks fontfamily fontsize lineheight | bold italic underline ' +
             'strikethrough forecolor backcolor | alignleft aligncenter alignright | ' +
             'bullist numlist outdent indent | link image media table codesample accordion | ' +
             'anchor pagebreak nonbreaking charmap emoticons insertdatetime | ltr rtl | ' +
             'searchreplace visualblocks code | history',
    quickbars_insert_toolbar: false,
    // Images are uploaded to the demo server; the uploaded URL replaces the local blob: URL
    // in the shared document.
    automatic_uploads: true,
    images_upload_url: '/demo/upload',
    external_plugins: {{ rtc: '/plugins/rtc/plugin.min.js' }},
    rtc_document_id: DOCUMENT_ID,
    rtc_api_key: API_KEY,
    rtc_server_url: window.location.origin,
    rtc_client_info: {{ demo: true }},
    rtc_token_provider: async ({{ documentId }}) => {{
      const url = '/demo/token?user=' + encodeURIComponent(user) +
                  '&document=' + encodeURIComponent(documentId) +
                  '&role=' + ROLE + '&ttl=' + TTL;
      const response = await fetch(url);
      if (!response.ok) throw new Error('token endpoint: ' + response.status);
      return response.json();
    }},
    rtc_encryption_provider: ({{ keyHint }}) =>
      ({{ key: {key_json}, keyHint: keyHint ?? {key_hint_json} }}),
    rtc_initial_content_provider: () => ({{ content:
      '<h2>Welcome to Tandem</h2><p>Type in either editor: the other follows live.</p>' }}),
    rtc_user_details_provider: ({{ userId }}) =>
      ({{ fullName: userId.charAt(0).toUpperCase() + userId.slice(1) }}),
    // Who is here: the plugin reports each collaborator with their user details.
    rtc_client_connected: ({{ clientId, userDetails, caretNumber }}) => {{
      here[user].set(clientId, userDetails.fullName + ' (caret ' + caretNumber + ')');
      showHere(user);
    }},
    rtc_client_disconnected: ({{ clientId }}) => {{
      here[user].delete(clientId);
      showHere(user);
    }},
    // Where an integrator would save HTML: the server cannot read the document.
    rtc_snapshot: ({{ version, getContent }}) => {{
      const html = getContent();
      document.getElementById('saved-' + user).textContent =
        'rtc_snapshot: version ' + version + ', ' + html.length + ' characters of HTML';
    }},
    setup: (editor) => {{
      editor.ui.registry.addButton('history', {{
        text: 'History', tooltip: 'Version history',
        onAction: () => openHistory(editor).catch((e) => historyStatus(e.message)),
      }});
      document.getElementById('history-' + user).addEventListener('click', () =>
        openHistory(editor).catch((e) => historyStatus(e.message)));
      const status = document.getElementById('status-' + user);
      setInterval(() => {{
        const rtc = editor.plugins.rtc;
        if (!rtc || !rtc.getState) return;
        const s = rtc.getState();
        status.textContent = (s.connected ? 'connected' : 'offline') +
          (s.synced ? ', synced' : '') + ' · version ' + s.version +
          ' · ' + Object.keys(s.clients || {{}}).length + ' other client(s)';
      }}, 500);
    }},
  }});
}}
{starts}
</script>
</body>
</html>
"""


SECTION = """  <section><h2>{name}</h2><textarea id="editor-{user}"></textarea>
    <div class="status" id="status-{user}">connecting…</div>
    <div class="status" id="here-{user}">also here: nobody</div>
    <div class="status" id="saved-{user}"></div>
    <button id="history-{user}" class="status">Version history…</button></section>"""


def render_page(
    api_key: str, document_id: str, users: list[str], *, role: str = "editor", ttl: int = 600
) -> str:
    """One editor per user (``users`` are already validated identifiers)."""
    sections = "\n".join(SECTION.format(name=html.escape(u.capitalize()), user=u) for u in users)
    starts = "\n".join(f"startEditor({json.dumps(u)});" for u in users)
    return PAGE.format(
        document=html.escape(document_id),
        document_json=json.dumps(document_id),
        api_key_json=json.dumps(api_key),
        role_json=json.dumps(role),
        ttl_json=json.dumps(ttl),
        key_json=json.dumps(DEMO_KEY),
        key_hint_json=json.dumps(DEMO_KEY_HINT),
        sections=sections,
        starts=starts,
    )
