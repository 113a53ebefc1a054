"""Every TinyMCE feature collaborates (issue 10): each action of TinyMCE's open-source plugins,
applied by one user while a second is open, and seen by a third who joins afterwards.

For every action: all three editors give the same getContent(), their own DOMs read as that
same document (nothing was dropped for one of them), every editor stays editable, and no
page raised an error.
"""

from __future__ import annotations

import json

import pytest

from tests.support.browser import open_editor, wait_synced
from tests.support.features import FEATURE_START, FEATURES, PRELUDE

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

STATE = """async (user) => {
  const ed = tinymce.get('editor-' + user);
  const rtc = ed.plugins.rtc;
  await rtc.flush();
  return {
    content: ed.getContent(),
    canonical: rtc.getCanonicalContent(),
    // what this editor's own DOM holds, read as the shared document would keep it
    local: rtc.readLocal(),
    editable: rtc.getState().editable && !ed.mode.isReadOnly(),
    stats: rtc.getStats(),
  };
}"""


def plugin_errors(page) -> list[str]:
    """Page errors, and console errors other than a resource the page could not load."""
    log = page.rtc_log
    return log.errors + [m for m in log.console_errors if "Failed to load resource" not in m]


@pytest.mark.parametrize("feature", list(FEATURES))
async def test_feature_collaborates(demo, contexts, feature):
    doc = "feature-" + feature.replace(" ", "-").replace(",", "")
    alice = await open_editor(await contexts(), demo, "alice", doc)
    start = json.dumps(FEATURE_START)
    await alice.evaluate(f"() => tinymce.get('editor-alice').setContent({start})")
    bob = await open_editor(await contexts(), demo, "bob", doc)
    _, script = FEATURES[feature]
    await alice.evaluate(
        f"() => {{ const ed = tinymce.get('editor-alice'); {PRELUDE}\n{script}\n}}"
    )
    # bob has everything alice did once her changes are acknowledged and his view settled
    await alice.evaluate("() => tinymce.get('editor-alice').plugins.rtc.flush()")
    version = await alice.evaluate(
        "() => tinymce.get('editor-alice').plugins.rtc.getState().version"
    )
    await bob.wait_for_function(
        "([v]) => tinymce.get('editor-bob').plugins.rtc.getState().version >= v", arg=[version]
    )
    carol = await open_editor(await contexts(), demo, "carol", doc)
    await wait_synced(carol, "carol")

    states = {
        user: await page.evaluate(STATE, user)
        for page, user in ((alice, "alice"), (bob, "bob"), (carol, "carol"))
    }
    first = states["alice"]
    unchanged = FEATURE_START.replace("</p><p>", "</p>\n<p>")
    if feature not in ("visual blocks", "clear formatting"):  # these end where they began
        assert first["canonical"] != unchanged, f"{feature}: the action changed nothing"
    for user, state in states.items():
        assert state["canonical"] == first["canonical"], f"{user} has another document"
        assert state["content"] == first["content"], f"{user}'s getContent() differs"
        assert state["local"] == first["canonical"], (
            f"{user}'s editor shows something else than the shared document:\n"
            f"{state['local']}\n{first['canonical']}"
        )
        assert state["editable"], f"{user}'s editor is read-only"
        assert state["stats"]["incidents"] == 0, f"{user}: the loop guard tripped"
    for page in (alice, bob, carol):
        assert plugin_errors(page) == []
