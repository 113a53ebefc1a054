"""pycrdt-websocket peer for the Tandem benchmark.

The documented ``WebsocketServer`` (pycrdt.websocket) behind a ``websockets`` server, one
``YRoom`` per URL path, each with a ``SQLiteYStore`` (pycrdt.store) in one SQLite file:
every update the room's document produces is appended as a row (``ystore.write``),
scheduled right after the broadcast to the clients (so relaying does not wait for it),
and a room created for a path loads its history from the store first. Defaults
otherwise (checkpoint every 100 updates, no history squashing).

    bench/.venv-peers/bin/python server.py PORT SQLITE_FILE
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import ClassVar

from pycrdt.store import SQLiteYStore
from pycrdt.websocket import WebsocketServer, YRoom
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


class Channel:
    """pycrdt's Channel over a ``websockets`` server connection."""

    def __init__(self, ws) -> None:
        self._ws = ws
        self._path = ws.request.path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except Exception:
            raise StopAsyncIteration from None

    async def send(self, message: bytes) -> None:
        # A broadcast to a client that just left must not raise: in the room's task
        # group that would stop the room (and the server) for everyone.
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(message)

    async def recv(self) -> bytes:
        message = await self._ws.recv()
        return message if isinstance(message, bytes) else message.encode()


def make_server(db_path: str) -> WebsocketServer:
    class Store(SQLiteYStore):
        pass

    Store.db_path = db_path

    class PersistentServer(WebsocketServer):
        """One YRoom per path with its SQLiteYStore; a new room loads its stored history
        before any client is served (concurrent first clients wait for it)."""

        _loading: ClassVar[dict[str, asyncio.Future]] = {}

        async def get_room(self, name: str) -> YRoom:
            if name not in self.rooms:
                loading = self._loading.get(name)
                if loading is not None:
                    await asyncio.shield(loading)
                else:
                    loading = self._loading[name] = asyncio.get_running_loop().create_future()
                    try:
                        ystore = Store(path=name)
                        room = YRoom(
                            ready=False,
                            ystore=ystore,
                            log=self.log,
                            exception_handler=self.exception_handler,
                        )
                        await self.start_room(room)  # starts the ystore too
                        await ystore.started.wait()
                        with contextlib.suppress(Exception):  # YDocNotFound: a new doc
                            await ystore.apply_updates(room.ydoc)
                        room.ready = True
                        self.rooms[name] = room
                    finally:
                        loading.set_result(None)
                        del self._loading[name]
            room = self.rooms[name]
            await self.start_room(room)
            return room

    return PersistentServer(auto_clean_rooms=False)


async def main(port: int, db_path: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with make_server(db_path) as ws_server:

        async def handler(ws) -> None:
            await ws_server.serve(Channel(ws))

        async with serve(handler, "127.0.0.1", port, max_size=None, compression=None):
            print(f"pycrdt-websocket listening on 127.0.0.1:{port} (sqlite {db_path})", flush=True)
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "ystore.db"))
