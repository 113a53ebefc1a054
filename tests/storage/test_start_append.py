"""``Store.start_append_updates``: appends queued at once, their results handed to
``on_stored`` in the event-loop turn the commit is reported in (before any task awaiting
them resumes), the callable it returns run once after every append of that wake-up, and
failures left to the awaiting task. Run against every engine and the default
implementation (a task around ``append_updates``)."""

from __future__ import annotations

import asyncio

import pytest

from tandem.storage import StaleSession, Store
from tandem.storage.sqlite import SQLiteStore
from tests.storage.test_store import (  # noqa: F401  (fixtures)
    SEALED,
    api_key,
    engine,
    new_doc,
    store,
)


class _DefaultStartStore(SQLiteStore):
    """SQLite with the base class's start_append_updates (no write-queue shortcut)."""

    start_append_updates = Store.start_append_updates


@pytest.fixture(params=["engine", "default"])
async def any_store(request, store, tmp_path):  # noqa: F811
    if request.param == "engine":
        yield store
        return
    plain = _DefaultStartStore(tmp_path / "default" / "tandem.sqlite3")
    await plain.open()
    try:
        yield plain
    finally:
        await plain.close()


async def _doc(s: Store) -> tuple[str, str]:
    key = (await s.create_api_key("tenant")).key
    record = await new_doc(s, key)
    return key, record.session_id


async def test_results_reach_on_stored_before_any_waiter_resumes(any_store):
    key, sid = await _doc(any_store)
    events: list[tuple[str, str]] = []

    def stored(client: str):
        def on_stored(results):
            events.append(("stored", client))
            seen[client] = [r.seq for r in results]
            return flush

        return on_stored

    def flush() -> None:
        events.append(("after", ""))

    seen: dict[str, list[int]] = {}
    futures = {
        client: any_store.start_append_updates(
            key, "doc", sid, client, f"user-{client}", [(1, SEALED), (2, SEALED)], stored(client)
        )
        for client in ("a", "b", "c")
    }

    async def wait(client: str) -> list[int]:
        results = await futures[client]
        events.append(("resumed", client))
        return [r.seq for r in results]

    got = await asyncio.gather(*(wait(c) for c in futures))
    # Queued in call order: consecutive seqs per client, in that order.
    assert got == [[1, 2], [3, 4], [5, 6]]
    assert seen == {"a": [1, 2], "b": [3, 4], "c": [5, 6]}
    kinds = [kind for kind, _ in events]
    assert kinds.count("stored") == 3 and kinds.count("resumed") == 3
    # Every on_stored ran before the task awaiting it resumed, and the returned
    # callable ran once per wake-up, after the on_stored calls of that wake-up.
    for client in futures:
        assert events.index(("stored", client)) < events.index(("resumed", client))
    afters = [i for i, (kind, _) in enumerate(events) if kind == "after"]
    assert 1 <= len(afters) <= 3
    assert afters[-1] > max(i for i, (kind, _) in enumerate(events) if kind == "stored")
    for i in afters:
        assert events[i - 1][0] == "stored"  # straight after a settle, no waiter between
    stored_log = await any_store.updates_after(key, "doc", 0)
    assert [u.seq for u in stored_log] == [1, 2, 3, 4, 5, 6]
    assert [(u.client_id, u.counter) for u in stored_log] == [
        ("a", 1),
        ("a", 2),
        ("b", 1),
        ("b", 2),
        ("c", 1),
        ("c", 2),
    ]


async def test_a_failed_append_does_not_call_on_stored(any_store):
    key, _sid = await _doc(any_store)
    called: list[object] = []
    future = any_store.start_append_updates(
        key, "doc", "session-not-active", "a", "user-a", [(1, SEALED)], called.append
    )
    with pytest.raises(StaleSession):
        await future
    assert called == []
    assert await any_store.updates_after(key, "doc", 0) == []


async def test_an_on_stored_error_fails_only_its_own_append(any_store):
    key, sid = await _doc(any_store)

    def broken(_results):
        raise RuntimeError("relay bug")

    relayed: list[list[int]] = []
    first = any_store.start_append_updates(key, "doc", sid, "a", "user-a", [(1, SEALED)], broken)
    second = any_store.start_append_updates(
        key, "doc", sid, "b", "user-b", [(1, SEALED)], lambda r: relayed.append([x.seq for x in r])
    )
    with pytest.raises(RuntimeError, match="relay bug"):
        await first
    assert [r.seq for r in await second] == [2]
    assert relayed == [[2]]
    # Durable all the same: the error is the caller's, after the commit.
    assert [u.seq for u in await any_store.updates_after(key, "doc", 0)] == [1, 2]


async def test_a_duplicate_is_reported_to_on_stored_with_its_first_seq(any_store):
    key, sid = await _doc(any_store)
    got: list[list[tuple[int, bool]]] = []

    def note(results):
        got.append([(r.seq, r.duplicate) for r in results])

    await any_store.start_append_updates(key, "doc", sid, "a", "user-a", [(1, SEALED)], note)
    await any_store.start_append_updates(
        key, "doc", sid, "a", "user-a", [(1, SEALED), (2, SEALED)], note
    )
    assert got == [[(1, False)], [(1, True), (2, False)]]
