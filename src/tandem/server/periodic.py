"""A background check that runs every ``interval`` seconds until stopped (the revocation
and deletion watchers). A failing pass is logged and the next one runs."""

from __future__ import annotations

import asyncio
import logging

from tandem.storage import StorageError

log = logging.getLogger("tandem.server")


class PeriodicCheck:
    #: what the log calls it ("revocation check")
    name = "periodic check"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def enabled(self) -> bool:
        return self.interval > 0

    def start(self) -> None:
        if self._task is None and self.enabled():
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # wait() neither raises the task's outcome nor hides a cancellation of stop()
            await asyncio.wait([self._task])
            if not self._task.cancelled() and self._task.exception() is not None:
                log.warning("the %s had failed: %r", self.name, self._task.exception())
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except StorageError as exc:  # the database is away: try again next time
                log.warning("%s skipped: %s", self.name, exc.message)

    async def check(self) -> int:
        """One pass; returns how many connections it closed."""
        raise NotImplementedError
