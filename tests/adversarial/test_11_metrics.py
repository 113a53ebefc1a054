"""Case 11: /metrics is not public: it needs the metrics token or the separate
metrics listener; /healthz says only whether the node is up; docs/deploy.md's nginx
example does not expose /metrics."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support.server import free_port, serve_in_loop

DEPLOY = (Path(__file__).parents[2] / "docs" / "deploy.md").read_text()


async def test_metrics_are_not_public_by_default(server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/metrics")).status_code == 404
        health = (await http.get("/healthz")).json()
        assert health["status"] == "ok"
        assert "connections" not in health and "documents_open" not in health


async def test_metrics_with_a_token(tmp_path):
    async with (
        serve_in_loop(tmp_path / "data", metrics_token="s3cret-metrics") as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        assert (await http.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.get("/metrics", headers=wrong)).status_code == 401
        right = {"Authorization": "Bearer s3cret-metrics"}
        response = await http.get("/metrics", headers=right)
        assert response.status_code == 200 and "tandem_connections" in response.text


async def test_metrics_on_a_separate_listener(tmp_path):
    port = free_port()
    async with (
        serve_in_loop(tmp_path / "data", metrics_port=port) as server,
        httpx.AsyncClient() as http,
    ):
        assert (await http.get(server.url + "/metrics")).status_code == 404
        private = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert private.status_code == 200 and "tandem_connections" in private.text
        health = (await http.get(f"http://127.0.0.1:{port}/healthz")).json()
        assert health["connections"] == 0


def test_the_nginx_examples_do_not_proxy_metrics():
    blocks = re.findall(r"```nginx\n(.*?)```", DEPLOY, re.S)
    assert blocks
    for block in blocks:
        block = re.sub(r"#[^\n]*", "", block)  # comments
        locations = re.findall(r"location\s+([^{]*)\{", block)
        # A catch-all "location /" forwards /metrics; only explicit paths may be proxied.
        assert all(loc.split()[-1] != "/" for loc in locations), locations
        assert "/metrics" not in block or "deny all" in block
