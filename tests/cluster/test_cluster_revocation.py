"""Revocation reaches every node: removing the key closes the connections it
authenticated on all nodes sharing the database (issue 11, case 9)."""

from __future__ import annotations

from tandem.storage.postgres import PostgresStore
from tests.collab.helpers import converged, wait_until
from tests.conftest import close_all, new_client
from tests.support.cluster import pg_cluster


async def test_removing_a_key_closes_its_connections_on_every_node():
    async with pg_cluster(2, revocation_check_interval=1.0) as cluster:
        a = new_client(cluster.nodes[0], "alice", "revoked", initial_content="<p>x</p>")
        b = new_client(cluster.nodes[1], "bob", "revoked")
        try:
            for client in (a, b):
                await client.start()
                await client.wait_synced()
            a.append_paragraph("before")
            await converged([a, b])
            store = PostgresStore(cluster.database_url)
            await store.open()
            try:
                assert await store.remove_public_key(
                    cluster.tenant.api_key, cluster.tenant.signer.kid
                )
            finally:
                await store.close()
            await wait_until(
                lambda: a.error is not None and b.error is not None,
                20,
                "the connections on both nodes to be closed",
            )
            assert a.error.code == "jwt" and b.error.code == "jwt"
        finally:
            await close_all([a, b])
