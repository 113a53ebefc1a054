"""``tandem doc versions|cat --version|restore`` against a real server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json

from tandem.cli import main
from tests.collab.helpers import converged
from tests.conftest import KEY, KEY_HINT


async def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(list(args))

    code = await asyncio.to_thread(run)
    return code, out.getvalue(), err.getvalue()


async def test_cli_lists_prints_and_restores_versions(server, make_client, tmp_path):
    alice = make_client(server, "alice", "doc", initial_content="<p>one</p>")
    await alice.start()
    await alice.wait_synced()
    alice.append_paragraph("two")
    assert await alice.create_version("Draft") == 2
    alice.append_paragraph("three")
    await alice.flush()
    keyring = tmp_path / "keyring.json"
    keyring.write_text(json.dumps({KEY_HINT: KEY}))
    common = ["--server", server.url, "--api-key", server.tenant.api_key]
    viewer = server.tenant.token("victor", role="viewer")
    editor = server.tenant.token("carol")

    # versions: no keyring needed (names stay sealed), a viewer token is enough
    code, out, err = await run_cli("doc", "versions", *common, "--token", viewer, "--json", "doc")
    assert (code, err) == (0, "")
    listed = json.loads(out)
    assert [
        (v["number"], v["seq"], v["kind"], v["name"], v["name_sealed"], v["editors"])
        for v in listed
    ] == [(2, 1, "named", None, True, ["alice"]), (1, 0, "session", None, False, [])]
    code, out, _ = await run_cli(
        "doc", "versions", *common, "--token", viewer, "--keyring", str(keyring), "doc"
    )
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:5] == ["N", "seq", "created", "(UTC)", "kind"]
    assert lines[1].split()[0:2] == ["2", "1"] and lines[1].endswith("alice  Draft")
    assert "session" in lines[2]

    code, out, _ = await run_cli(
        "doc", "cat", *common, "--keyring", str(keyring), "--token", viewer, "--version", "2", "doc"
    )
    assert (code, out) == (0, "<p>one</p>\n<p>two</p>\n")

    code, out, _ = await run_cli(
        "doc",
        "restore",
        *common,
        "--keyring",
        str(keyring),
        "--token",
        editor,
        "--version",
        "1",
        "doc",
    )
    assert code == 0 and out.startswith("restored version 1 as version 4 (document version")
    assert await converged([alice]) == "<p>one</p>"
    # a viewer cannot restore; an unknown version is a clear error
    code, _, err = await run_cli(
        "doc",
        "restore",
        *common,
        "--keyring",
        str(keyring),
        "--token",
        viewer,
        "--version",
        "1",
        "doc",
    )
    assert code == 1 and "viewer cannot restore" in err
    code, _, err = await run_cli(
        "doc",
        "cat",
        *common,
        "--keyring",
        str(keyring),
        "--token",
        editor,
        "--version",
        "77",
        "doc",
    )
    assert code == 1 and "version 77 does not exist" in err
    code, _, err = await run_cli("doc", "versions", *common, "--token", editor, "nope")
    assert code == 1 and "does not exist" in err
