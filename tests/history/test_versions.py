"""Version history through the SDK against a real server (SQLite and PostgreSQL):
listing, opening and restoring versions, named versions, viewers, paging."""

from __future__ import annotations

import asyncio
import base64

import pytest

from tandem.client import ClientError
from tests.collab.helpers import RawClient, converged, wait_until
from tests.history.conftest import server_store


async def test_named_versions_list_open_and_restore(server, make_client):
    alice = make_client(server, "alice", "doc", initial_content="<p>one</p>")
    await alice.start()
    await alice.wait_synced()
    bob = make_client(server, "bob", "doc")
    await bob.start()
    await bob.wait_synced()
    bob.append_paragraph("two")
    await converged([alice, bob])
    assert alice.version == 1
    first = await alice.create_version("Draft 1")
    assert first == 2  # version 1 is the session's initial snapshot
    alice.append_paragraph("three")
    bob.append_paragraph("four")
    await converged([alice, bob])
    second = await bob.create_version("Draft 2")
    assert second == 3

    versions = await alice.versions()
    assert [(v["number"], v["seq"], v["kind"], v["name"], v["editors"]) for v in versions] == [
        (3, 3, "named", "Draft 2", ["alice", "bob"]),
        (2, 1, "named", "Draft 1", ["bob"]),
        (1, 0, "session", None, []),
    ]
    assert all(v["size"] > 28 and v["key_hint"] == "hint-v1" for v in versions)
    assert await alice.versions(limit=1) == versions[:1]

    assert await bob.state_at(1) == "<p>one</p>"
    assert await bob.state_at(2) == "<p>one</p>\n<p>two</p>"
    html_3 = await bob.state_at(3)
    assert html_3.startswith("<p>one</p>\n<p>two</p>\n") and "<p>three</p>" in html_3
    doc = await bob.state_at(2, format="doc")
    assert doc.get_update()  # a pycrdt Doc

    # Restore version 2: a new edit on top; the state before it is a version too.
    restored = await alice.restore(2)
    assert restored == 5
    html = await converged([alice, bob])
    assert html == "<p>one</p>\n<p>two</p>"
    versions = await bob.versions()
    assert [(v["number"], v["kind"], v["name"]) for v in versions[:2]] == [
        (5, "restore", "Restored version 2"),
        (4, "named", "Before restoring version 2"),
    ]
    assert await bob.state_at(4) == html_3  # nothing acknowledged is gone
    assert versions[0]["seq"] == versions[1]["seq"] + 1  # the restore is one update
    with pytest.raises(ClientError) as err:
        await bob.state_at(99)
    assert err.value.code == "unknown_version"


async def test_viewers_read_history_but_cannot_write_it(server, make_client):
    alice = make_client(server, "alice", "doc", initial_content="<p>hello</p>")
    await alice.start()
    await alice.wait_synced()
    await alice.create_version("v")
    viewer = make_client(server, "victor", "doc", role="viewer")
    await viewer.start()
    await viewer.wait_synced()
    assert [v["name"] for v in await viewer.versions()] == ["v", None]
    assert await viewer.state_at(2) == "<p>hello</p>"
    with pytest.raises(ClientError) as err:
        await viewer.create_version("mine")
    assert err.value.code == "read_only"
    with pytest.raises(ClientError):
        await viewer.restore(1)
    # The server refuses a viewer's named snapshot whatever the client does.
    raw = await RawClient.connect(server)
    welcome = await raw.hello(server.tenant, "doc", role="viewer")
    await raw.send(
        {
            "type": "snapshot",
            "session_id": welcome["session"]["session_id"],
            "seq": 0,
            "kind": "named",
            "data": base64.b64encode(b"x" * 40).decode(),
        }
    )
    await raw.expect_error("read_only")


async def test_history_requests_are_bounded_and_fail_softly(server, make_client):
    alice = make_client(server, "alice", "doc", initial_content="<p>a</p>")
    await alice.start()
    await alice.wait_synced()
    for i in range(5):
        alice.append_paragraph(f"p{i}")
        await alice.create_version(f"n{i}")
    raw = await RawClient.connect(server)
    await raw.hello(server.tenant, "doc", role="viewer")
    await raw.send({"type": "list_versions", "id": 7, "limit": 2})
    page = await raw.recv_type("versions")
    assert (page["id"], [v["number"] for v in page["versions"]], page["more"]) == (7, [6, 5], True)
    assert [s["session_id"] for s in page["sessions"]] == [alice.session["session_id"]]
    await raw.send({"type": "list_versions", "id": 8, "before": 2})
    page = await raw.recv_type("versions")
    assert ([v["number"] for v in page["versions"]], page["more"]) == ([1], False)
    await raw.send({"type": "get_updates", "id": 9, "after": 1, "upto": 99, "limit": 3})
    page = await raw.recv_type("history_updates")
    assert ([u["seq"] for u in page["updates"]], page["more"]) == ([2, 3, 4], True)
    assert {u["user_id"] for u in page["updates"]} == {"alice"}
    await raw.send({"type": "get_version", "id": 10, "number": 42})
    failed = await raw.recv_type("request_failed")
    assert (failed["id"], failed["code"]) == (10, "unknown_version")
    # Over the page limit is a bad frame (and closes), like any out-of-range field.
    await raw.send({"type": "list_versions", "id": 11, "limit": 101})
    await raw.expect_error("bad_frame")


async def test_the_server_asks_for_checkpoints_after_an_idle_pause(tmp_path, make_client):
    from tests.history.conftest import history_server

    async with history_server("sqlite", tmp_path, checkpoint_idle=0.5) as srv:
        alice = make_client(srv, "alice", "doc", initial_content="<p>a</p>")
        await alice.start()
        await alice.wait_synced()
        alice.append_paragraph("b")
        await alice.flush()

        async def auto_versions() -> list:
            async with server_store(srv) as store:
                return [
                    v
                    for v in await store.list_versions(srv.tenant.api_key, "doc")
                    if v.kind == "auto"
                ]

        await wait_until(auto_versions, timeout=10, what="an automatic checkpoint")
        (auto,) = await auto_versions()
        assert (auto.seq, auto.editors) == (1, ("alice",))
        assert await alice.state_at(auto.number) == "<p>a</p>\n<p>b</p>"
        await alice.close()


async def test_version_names_never_reach_storage_in_plaintext(tmp_path, make_client):
    from tests.collab.helpers import raw_bytes
    from tests.history.conftest import history_server

    async with history_server("sqlite", tmp_path) as srv:
        alice = make_client(srv, "alice", "doc", initial_content="<p>typed-text-7f3a</p>")
        await alice.start()
        await alice.wait_synced()
        number = await alice.create_version("secret-version-name-5c2e")
        assert next(v["name"] for v in await alice.versions()) == "secret-version-name-5c2e"
        await alice.close()
        data = raw_bytes(srv.data_dir)
        assert b"secret-version-name-5c2e" not in data and b"typed-text-7f3a" not in data
        assert number == 2


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_the_retention_window_prunes_old_history_only(engine, tmp_path, make_client):
    from tests.history.conftest import history_server

    # A window of about 0.4 s: every checkpoint older than that is pruned when the next
    # one is stored, except the base of the window; the document stays whole.
    async with history_server(engine, tmp_path, history_days=0.4 / 86400) as srv:
        alice = make_client(srv, "alice", "doc", initial_content="<p>a</p>")
        await alice.start()
        await alice.wait_synced()
        alice.append_paragraph("b")
        assert await alice.create_version("one") == 2
        alice.append_paragraph("c")
        await alice.flush()
        await asyncio.sleep(0.6)
        alice.append_paragraph("d")
        assert await alice.create_version("two") == 3
        # version 1 (and the updates it covered) went; 2 is the window's base
        assert [v["number"] for v in await alice.versions()] == [3, 2]
        async with server_store(srv) as store:
            seqs = [
                u.seq
                for u in await store.updates_between(srv.tenant.api_key, "doc", 0, 99, limit=99)
            ]
        assert seqs == [2, 3]  # the updates after the base stay
        assert await alice.state_at(2) == "<p>a</p>\n<p>b</p>"
        late = make_client(srv, "bob", "doc")
        await late.start()
        await late.wait_synced()
        assert late.to_html() == "<p>a</p>\n<p>b</p>\n<p>c</p>\n<p>d</p>"
