"""/healthz and /metrics report what the node is doing."""

from __future__ import annotations

import httpx

from tests.collab.helpers import RawClient, converged
from tests.conftest import close_all, new_client
from tests.support.server import free_port, serve_in_loop


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} missing from /metrics")


async def test_metrics_and_health_follow_the_traffic(tmp_path):
    port = free_port()
    async with (
        serve_in_loop(tmp_path / "data", metrics_port=port) as server,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        before = (await http.get("/metrics")).text
        assert metric(before, "tandem_connections") == 0
        a = new_client(server, "alice", "m-doc", initial_content="<p>x</p>")
        b = new_client(server, "bob", "m-doc")
        try:
            await a.start()
            await a.wait_synced()
            await b.start()
            await b.wait_synced()
            for i in range(5):
                a.append_paragraph(f"p{i}")
            await converged([a, b])
            text = (await http.get("/metrics")).text
            assert metric(text, "tandem_connections") == 2
            assert metric(text, "tandem_documents_open") == 1
            assert metric(text, "tandem_updates_in_total") == 5
            assert metric(text, "tandem_updates_out_total") == 5
            assert metric(text, "tandem_storage_seconds_count") == 5
            assert metric(text, "tandem_fanout_seconds_count") >= 1
            health = (await http.get("/healthz")).json()
            assert health["status"] == "ok" and health["connections"] == 2

            raw = await RawClient.connect(server)
            await raw.send("not json")
            await raw.expect_error("bad_frame")
            text = (await http.get("/metrics")).text
            assert 'tandem_errors_total{code="bad_frame"} 1' in text
        finally:
            await close_all([a, b])
