"""The event loop the server runs on.

``auto`` (the default) takes uvloop, libuv's loop, when it is installed (it is a
dependency on CPython outside Windows): a loop turn, a socket write and a wake-up from
the storage writer's thread cost a fraction of what they cost on asyncio's own loop,
and a relay's latency is a chain of such steps (bench/README-collab.md, round 5).
``asyncio`` keeps the standard library's loop; ``uvloop`` insists on uvloop.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from tandem.settings import SettingsError

LOOPS = ("auto", "uvloop", "asyncio")

T = TypeVar("T")


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def loop_name(choice: str) -> str:
    """The loop ``choice`` (one of ``LOOPS``) runs on: ``uvloop`` or ``asyncio``."""
    if choice not in LOOPS:
        raise SettingsError(f"invalid value for loop: {choice!r} (auto, uvloop or asyncio)")
    if choice == "auto":
        return "uvloop" if uvloop_available() else "asyncio"
    if choice == "uvloop" and not uvloop_available():
        raise SettingsError(
            "loop = uvloop, but uvloop is not installed (pip install uvloop, or use loop = auto)"
        )
    return choice


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """A factory for ``asyncio.Runner``; None means asyncio's default loop."""
    if loop_name(choice) == "asyncio":
        return None
    import uvloop

    return uvloop.new_event_loop


def run(coro: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """``asyncio.run`` on the chosen loop."""
    try:
        factory = loop_factory(choice)
    except SettingsError:
        coro.close()  # never awaited: no "coroutine was never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def running_loop_name() -> str:
    """``uvloop`` or ``asyncio``: what the running loop is (for the log)."""
    loop = asyncio.get_running_loop()
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
