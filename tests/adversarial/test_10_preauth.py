"""Case 10: rejecting bad tokens is cheap and rate-limited per source: a flood of
forged hellos from one address is turned away before any signature is checked."""

from __future__ import annotations

import asyncio
import collections

import websockets

from tests.adversarial.helpers import closed_with, raw_hello

DOC = "preauth-doc"


def forged(server) -> str:
    good = server.tenant.token("alice")
    header, payload, signature = good.split(".")
    return f"{header}.{payload}.{signature[:-4]}AAAA"  # a valid shape, a bad signature


async def test_forged_token_flood_is_rate_limited_per_source(server, make_client):
    codes: collections.Counter[str] = collections.Counter()
    verifier = server.app.state.tandem.verifier
    for i in range(60):
        try:
            raw = await raw_hello(server, DOC, token=forged(server) if i % 2 else "x.y.z")
        except websockets.InvalidStatus as refused:  # refused at the handshake: cheapest
            assert refused.response.status_code == 429
            assert int(refused.response.headers["Retry-After"]) >= 1
            codes["rate_limited"] += 1
            continue
        reply = await raw.recv_type("error")
        codes[reply["code"]] += 1
        await closed_with(raw, 2)
    assert codes["rate_limited"] >= 30, codes
    assert codes["jwt"] <= 25, codes
    # The limit is per source and recovers: after the pause a real client gets in.
    await asyncio.sleep(3)
    client = make_client(server, "alice", DOC, initial_content="<p>start</p>")
    await client.start()
    await client.wait_synced(30)
    assert verifier is not None
