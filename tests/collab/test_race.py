"""Invariant 3: 20 clients create the same new document at once; exactly one wins."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tests.collab.helpers import converged, storage_info
from tests.conftest import close_all, new_client

CLIENTS = 20


class RacingKeys:
    """Encryption providers for N clients: client i proposes key-i under hint h-i and
    resolves any hint h-j to key-j (same hint, same key). Every call is recorded."""

    def __init__(self, n: int, rng: random.Random | None, barrier: bool) -> None:
        self.calls: dict[int, list[str | None]] = {i: [] for i in range(n)}
        self.rng = rng
        self.n = n
        self._no_hint = 0
        self._all_asked = asyncio.Event()
        self.barrier = barrier

    def provider(self, i: int):
        async def provide(arg: dict[str, Any]) -> dict[str, str]:
            hint = arg["keyHint"]
            self.calls[i].append(hint)
            if hint is None:
                if self.barrier:
                    # Hold every creator until all 20 have been told "no session":
                    # all of them then race their create_session requests.
                    self._no_hint += 1
                    if self._no_hint == self.n:
                        self._all_asked.set()
                    await asyncio.wait_for(self._all_asked.wait(), 20)
                if self.rng is not None:
                    await asyncio.sleep(self.rng.uniform(0, 0.02))
                return {"key": f"key-{i}", "keyHint": f"h-{i}"}
            j = int(hint.removeprefix("h-"))
            return {"key": f"key-{j}", "keyHint": hint}

        return provide


async def run_race(server, doc_id: str, *, rng: random.Random | None, barrier: bool) -> None:
    keys = RacingKeys(CLIENTS, rng, barrier)
    clients = [
        new_client(
            server,
            f"user{i}",
            doc_id,
            encryption_provider=keys.provider(i),
            initial_content=f"<p>initial content of client {i}</p>",
        )
        for i in range(CLIENTS)
    ]

    async def start(client) -> None:
        if rng is not None:
            await asyncio.sleep(rng.uniform(0, 0.05))
        await client.start()

    try:
        await asyncio.gather(*(start(c) for c in clients))
        await asyncio.gather(*(c.wait_synced(30) for c in clients))

        info = await storage_info(server, doc_id)
        assert info is not None
        assert info.session_count == 1, "more than one session was created"
        winner_hint = info.active_session.key_hint
        winner = int(winner_hint.removeprefix("h-"))

        # Exactly the winner's initial content, everywhere.
        expected = f"<p>initial content of client {winner}</p>"
        for client in clients:
            assert client.key_hint == winner_hint
            assert client.session["session_id"] == info.active_session.session_id
        assert await converged(clients) == expected

        # The providers: the winner asked once without a hint; every loser asked
        # without a hint first (when racing), then with the winner's hint.
        assert keys.calls[winner] == [None]
        for i in range(CLIENTS):
            if i == winner:
                continue
            if barrier:
                assert keys.calls[i] == [None, winner_hint], (i, keys.calls[i])
            else:  # a late joiner sees the session in its welcome and never races
                assert keys.calls[i] in ([None, winner_hint], [winner_hint]), keys.calls[i]

        # Nothing lost: every client appends its own paragraph after the sync.
        for i, client in enumerate(clients):
            client.append_paragraph(f"paragraph from client {i}")
        html = await converged(clients)
        for i in range(CLIENTS):
            assert f"<p>paragraph from client {i}</p>" in html
            if i != winner:
                assert f"initial content of client {i}<" not in html
        assert html.startswith(expected)
        assert html.count("<p>") == CLIENTS + 1

        info = await storage_info(server, doc_id)
        assert info.session_count == 1
        assert info.version == CLIENTS
        assert {c.version for c in clients} == {CLIENTS}
    finally:
        await close_all(clients)


async def test_twenty_simultaneous_creators_one_winner(server):
    await run_race(server, "race-simultaneous", rng=None, barrier=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
async def test_race_with_random_timing(server, seed):
    rng = random.Random(seed)
    # Odd seeds: free-running random start times; even seeds: everyone races, random delays.
    await run_race(server, f"race-random-{seed}", rng=rng, barrier=seed % 2 == 0)
