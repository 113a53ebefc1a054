"""Several Tandem nodes sharing one PostgreSQL database, and a TCP load balancer."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn

from tandem.server.app import create_app
from tandem.server.runner import uvicorn_config
from tandem.settings import load_settings
from tests.support.postgres import create_database, drop_database
from tests.support.server import RunningServer, Tenant, free_port, make_tenant


@dataclass
class Cluster:
    database_url: str
    tenant: Tenant
    nodes: list[RunningServer] = field(default_factory=list)
    servers: list[uvicorn.Server] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]


@contextlib.asynccontextmanager
async def pg_cluster(count: int = 3, **settings: object) -> AsyncIterator[Cluster]:
    """``count`` nodes in this event loop, each with its own store, pool and hubs."""
    url = await create_database()
    try:
        tenant = await make_tenant(url)
        cluster = Cluster(url, tenant)
        for _ in range(count):
            port = free_port()
            config = load_settings(database_url=url, port=port, **settings)
            server = uvicorn.Server(uvicorn_config(create_app(config), config, log_level="warning"))
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            cluster.servers.append(server)
            cluster.tasks.append(task)
            cluster.nodes.append(RunningServer(f"http://127.0.0.1:{port}", None, tenant))
        try:
            yield cluster
        finally:
            for server in cluster.servers:
                server.should_exit = True
            await asyncio.wait_for(asyncio.gather(*cluster.tasks, return_exceptions=True), 20)
    finally:
        await drop_database(url)


class Balancer:
    """A round-robin TCP proxy on loopback that skips backends refusing connections."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self._cycle = itertools.cycle(range(len(backends)))
        self._server: asyncio.base_events.Server | None = None
        self._pipes: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Balancer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(len(self.backends)):
            port = self.backends[next(self._cycle)]
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            for src, dst in ((reader, up_writer), (up_reader, writer)):
                task = asyncio.create_task(self._pipe(src, dst))
                self._pipes.add(task)
                task.add_done_callback(self._pipes.discard)
            return
        writer.close()

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                dst.close()
