"""Many nodes on one PostgreSQL database: cross-node fan-out, one winner per race,
node death, and a PostgreSQL restart under load. Each test has its own database."""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import time

import asyncpg
import pytest

from tandem.client.richtext import append_paragraph, insert_text
from tandem.storage.postgres import PostgresStore
from tests.collab.helpers import converged, paragraph_texts, wait_until
from tests.conftest import close_all, new_client
from tests.support.cluster import Balancer, pg_cluster
from tests.support.postgres import create_database, drop_database
from tests.support.server import (
    RunningServer,
    free_port,
    kill_hard,
    make_tenant,
    start_subprocess,
)


async def stored(url: str, api_key: str, doc: str):
    store = PostgresStore(url)
    await store.open()
    try:
        info = await store.document_info(api_key, doc)
        seqs = [u.seq for u in await store.updates_after(api_key, doc, 0)]
        return info, seqs
    finally:
        await store.close()


def assert_contiguous(info, seqs: list[int]) -> None:
    """The stored log is contiguous up to the document's version and reaches back at least
    to its latest checkpoint (history keeps the updates a checkpoint covers)."""
    assert seqs, "no updates stored"
    assert seqs == list(range(seqs[0], info.version + 1))
    assert seqs[0] <= (info.snapshot_seq or 0) + 1


@pytest.mark.parametrize("seed", [1, 2])
async def test_clients_on_three_nodes_converge_with_contiguous_seqs(seed):
    rng = random.Random(seed)
    async with pg_cluster(3) as cluster:
        clients = [
            new_client(node, f"user{i}-{n}", "shared-doc", initial_content="<p>start</p>")
            for n, node in enumerate(cluster.nodes)
            for i in range(2)
        ]
        try:
            await clients[0].start()
            await clients[0].wait_synced()
            for c in clients[1:]:
                await c.start()
            await asyncio.gather(*(c.wait_synced() for c in clients))

            async def edit(client, i):
                for n in range(15):
                    if rng.random() < 0.5:
                        client.append_paragraph(f"c{i}-{n}")
                    else:
                        insert_text(client.fragment, 0, rng.randint(0, 5), f"[{i}.{n}]")
                    await asyncio.sleep(rng.uniform(0, 0.02))

            await asyncio.gather(*(edit(c, i) for i, c in enumerate(clients)))
            html = await converged(clients, timeout=30)
            for i in range(len(clients)):
                assert f"c{i}-" in html or f"[{i}." in html
            info, seqs = await stored(cluster.database_url, cluster.tenant.api_key, "shared-doc")
            assert_contiguous(info, seqs)
            assert {c.version for c in clients} == {info.version}
            assert info.version == 6 * 15
        finally:
            await close_all(clients)


async def test_cross_node_presence_and_joins():
    async with pg_cluster(2) as cluster:
        a = new_client(cluster.nodes[0], "alice", "pdoc", initial_content="<p>x</p>")
        b = new_client(cluster.nodes[1], "bob", "pdoc")
        seen: list[tuple[str, dict]] = []
        a.on(lambda kind, info: seen.append((kind, info)))
        try:
            await a.start()
            await a.wait_synced()
            await b.start()
            await b.wait_synced()
            await wait_until(lambda: b.client_id in a.clients, what="remote join")
            assert a.client_id in b.clients or b.clients  # b learnt a via welcome or join
            await wait_until(lambda: a.client_id in b.clients, what="b sees a")
            await b.set_presence({"caret": 3})
            await wait_until(
                lambda: any(k == "presence" and i["state"] == {"caret": 3} for k, i in seen),
                what="remote presence",
            )
            await b.close()
            await wait_until(lambda: b.client_id not in a.clients, what="remote leave")
        finally:
            await close_all([a, b])


@pytest.mark.parametrize("round_", range(3))
async def test_twenty_creators_across_three_nodes_one_session(round_):
    rng = random.Random(round_)
    async with pg_cluster(3) as cluster:
        hints_seen: list[list] = [[] for _ in range(20)]

        def provider(i):
            async def provide(arg):
                hints_seen[i].append(arg["keyHint"])
                await asyncio.sleep(rng.uniform(0, 0.05))
                return {"key": "shared-secret", "keyHint": arg["keyHint"] or f"hint-{i}"}

            return provide

        clients = [
            new_client(
                cluster.nodes[i % 3],
                f"u{i}",
                "race-doc",
                initial_content=f"<p>initial {i}</p>",
                encryption_provider=provider(i),
            )
            for i in range(20)
        ]
        try:

            async def start(c):
                await asyncio.sleep(rng.uniform(0, 0.05))
                await c.start()

            await asyncio.gather(*(start(c) for c in clients))
            await asyncio.gather(*(c.wait_synced(30) for c in clients))
            info, _ = await stored(cluster.database_url, cluster.tenant.api_key, "race-doc")
            assert info.session_count == 1
            winner_hint = info.active_session.key_hint
            assert {c.key_hint for c in clients} == {winner_hint}
            for hints in hints_seen:
                assert hints[-1] in (None, winner_hint)
                assert set(hints) <= {None, winner_hint}
            for i, c in enumerate(clients):
                c.append_paragraph(f"from {i}")
            html = await converged(clients, timeout=30)
            assert html.count("<p>initial ") == 1
            for i in range(20):
                assert f"<p>from {i}</p>" in html
        finally:
            await close_all(clients)


@pytest.mark.slow
async def test_killed_node_clients_move_to_the_others_and_nothing_acked_is_lost(tmp_path):
    url = await create_database()
    procs: list[subprocess.Popen] = []
    balancer = None
    clients = []
    try:
        tenant = await make_tenant(url)
        ports = [free_port() for _ in range(3)]
        procs = [await asyncio.to_thread(start_subprocess, url, p) for p in ports]
        balancer = await Balancer(ports).start()
        front = RunningServer(balancer.url, None, tenant)
        clients = [
            new_client(front, f"w{i}", "kill-doc", initial_content="<p>base</p>") for i in range(6)
        ]
        await clients[0].start()
        await clients[0].wait_synced()
        for c in clients[1:]:
            await c.start()
        await asyncio.gather(*(c.wait_synced() for c in clients))
        acked: list[str] = []
        unacked: list[str] = []
        stop = asyncio.Event()

        async def write(i, client):
            n = 0
            while not stop.is_set() and n < 400:
                text = f"w{i}-{n}"
                append_paragraph(client.fragment, text)  # works offline too
                unacked.append(text)
                await client.flush(60)
                acked.append(text)
                n += 1
                await asyncio.sleep(0.005)

        writers = [asyncio.create_task(write(i, c)) for i, c in enumerate(clients)]
        await asyncio.sleep(1.5)
        kill_hard(procs[0])
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.gather(*writers)
        html = await converged(clients, timeout=60)
        texts = paragraph_texts(clients[0])
        for text in unacked:  # every edit, acknowledged or not, made it
            assert texts.count(text) == 1, text
        assert len(acked) > 20
        info, seqs = await stored(url, tenant.api_key, "kill-doc")
        assert_contiguous(info, seqs)
        assert "<p>base</p>" in html
    finally:
        await close_all(clients)
        if balancer is not None:
            await balancer.stop()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(Exception):
                    proc.wait(10)
        await drop_database(url)


def _restart_postgres() -> None:
    version = subprocess.run(
        ["ls", "/etc/postgresql"], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=60,
    )


async def _postgres_up() -> bool:
    try:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=2)
    except Exception:
        return False
    await conn.close()
    return True


@pytest.mark.slow
async def test_postgres_restart_under_load_nodes_recover_without_restart():
    async with pg_cluster(2) as cluster:
        clients = [
            new_client(cluster.nodes[i % 2], f"w{i}", "pg-restart", initial_content="<p>base</p>")
            for i in range(4)
        ]
        try:
            await clients[0].start()
            await clients[0].wait_synced()
            for c in clients[1:]:
                await c.start()
            await asyncio.gather(*(c.wait_synced() for c in clients))
            written: list[str] = []
            stop = asyncio.Event()
            errors: list[str] = []
            for c in clients:
                c.on(
                    lambda kind, info: (
                        errors.append(info.get("code")) if kind == "disconnected" else None
                    )
                )

            async def write(i, client):
                n = 0
                while not stop.is_set() and n < 500:
                    text = f"w{i}-{n}"
                    append_paragraph(client.fragment, text)
                    written.append(text)
                    with contextlib.suppress(TimeoutError):
                        await client.flush(1)
                    n += 1
                    await asyncio.sleep(0.01)

            writers = [asyncio.create_task(write(i, c)) for i, c in enumerate(clients)]
            await asyncio.sleep(1.0)
            await asyncio.to_thread(_restart_postgres)
            await wait_until(_postgres_up, timeout=60, what="PostgreSQL back")
            restarted = time.monotonic()
            await asyncio.sleep(2.0)
            stop.set()
            await asyncio.gather(*writers)
            html = await converged(clients, timeout=90)
            texts = paragraph_texts(clients[0])
            for text in written:
                assert texts.count(text) == 1, text
            assert "<p>base</p>" in html
            assert errors, "the restart was not noticed by any client"
            # The nodes themselves kept running and serve new clients.
            late = new_client(cluster.nodes[1], "late", "pg-restart")
            await late.start()
            await late.wait_synced(30)
            assert late.to_html() == html
            await late.close()
            assert time.monotonic() - restarted < 120
            info, seqs = await stored(cluster.database_url, cluster.tenant.api_key, "pg-restart")
            assert_contiguous(info, seqs)
        finally:
            await close_all(clients)
