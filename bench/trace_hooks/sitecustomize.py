"""Time stamps along one update's path through the server (``bench/trace_relay.py``).

Loaded only by the traced server process (``bench/trace_relay.py`` puts this
directory first on its ``PYTHONPATH``); it wraps a few methods at their boundaries,
never changes what they do, and writes the stamps to ``$TANDEM_RELAY_TRACE.<pid>`` on
SIGUSR1. Nothing in ``src/`` knows about it.
"""

from __future__ import annotations

import functools
import os
import signal
import time

_STAMPS: dict[str, list[int]] = {}


def _mark(name: str) -> None:
    _STAMPS.setdefault(name, []).append(time.perf_counter_ns())  # list.append: GIL-atomic


def _dump(*_args: object) -> None:
    with open(f"{os.environ['TANDEM_RELAY_TRACE']}.{os.getpid()}", "w") as f:
        for name, stamps in _STAMPS.items():
            f.write(name + " " + " ".join(map(str, stamps)) + "\n")


def _around(cls: type, name: str, before: str, after: str | None = None) -> None:
    original = getattr(cls, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        _mark(before)
        try:
            return original(*args, **kwargs)
        finally:
            if after:
                _mark(after)

    setattr(
        cls,
        name,
        staticmethod(wrapper) if isinstance(cls.__dict__.get(name), staticmethod) else wrapper,
    )


def _around_async(cls: type, name: str, before: str, after: str) -> None:
    original = getattr(cls, name)

    @functools.wraps(original)
    async def wrapper(*args, **kwargs):
        _mark(before)
        try:
            return await original(*args, **kwargs)
        finally:
            _mark(after)

    setattr(cls, name, wrapper)


def _install() -> None:
    from tandem.protocol.server_connection import ServerConnection
    from tandem.server.connection import CollabConnection
    from tandem.server.transport import WebSocketProtocol
    from tandem.storage import sqlite
    from tandem.storage.sqlite import SQLiteStore, _Writer

    _around(WebSocketProtocol, "data_received", "in", "in_done")
    _around(ServerConnection, "receive_frame", "received", "parsed")
    _around(CollabConnection, "_on_update", "on_update")
    if "start_append_updates" in SQLiteStore.__dict__:  # relayed in the commit's turn
        _around(SQLiteStore, "start_append_updates", "append")
        _around(CollabConnection, "_stored", "appended")
    else:  # before commit 2026-12-01: a store task awaits the append
        _around_async(SQLiteStore, "append_updates", "append", "appended")
    _around(_Writer, "_run_batch", "w_begin", "w_end")
    # Runs in the event loop once the batch is committed; the writer looks it up by name
    # in the sqlite module at each call (``_settle_all`` before 2026-12-01).
    name = "_settle_all" if hasattr(sqlite, "_settle_all") else "settle_writes"
    settle = getattr(sqlite, name)

    def settle_all(*args: object) -> None:
        _mark("settled")
        settle(*args)  # type: ignore[arg-type]

    setattr(sqlite, name, settle_all)
    _around(WebSocketProtocol, "_send_frames", "out")
    signal.signal(signal.SIGUSR1, _dump)


if os.environ.get("TANDEM_RELAY_TRACE"):
    _install()
