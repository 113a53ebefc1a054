"""Raw relay: the least a Python WebSocket broadcast server can do, as a yardstick.

One room per URL path; every frame a client sends is written verbatim to every other
client of the room (``websockets.broadcast``: no task per receiver, no parsing, no
storage, no authentication). The only message it reads is the y-websocket sync step 1
(``[0, 0, …]``), answered with a sync step 2 holding an empty Yjs update, so that the
benchmark's y-websocket client (``ypeers.YClient``, pycrdt flavour) can drive it
unchanged. Same Python, same ``websockets`` library and event loop as Tandem's stack.

    .venv/bin/python server.py PORT
"""

from __future__ import annotations

import asyncio
import signal
import sys

from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed

EMPTY_STEP2 = bytes([0, 1, 2, 0, 0])  # Sync, step 2, varUint8Array(len 2): empty update
rooms: dict[str, set] = {}


async def handler(ws) -> None:
    room = rooms.setdefault(ws.request.path, set())
    room.add(ws)
    try:
        async for message in ws:
            if message[:2] == b"\x00\x00":  # sync step 1: nothing to send back but "empty"
                await ws.send(EMPTY_STEP2)
                continue
            broadcast([peer for peer in room if peer is not ws], message)
    except ConnectionClosed:
        pass
    finally:
        room.discard(ws)
        if not room:
            rooms.pop(ws.request.path, None)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        handler,
        "127.0.0.1",
        port,
        max_size=None,
        compression=None,
        ping_interval=20,
        ping_timeout=20,
    ):
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
