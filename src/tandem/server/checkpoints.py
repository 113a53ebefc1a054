"""CheckpointScheduler: asks the editors of open documents for checkpoints over time.

Besides the log-length trigger (``snapshot_threshold``), every open document that was
edited since its latest checkpoint gets a ``snapshot_request`` after ``checkpoint_idle``
quiet seconds, and at least every ``checkpoint_interval`` seconds while it is being
edited. Each stored snapshot is a version of the document's history.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tandem.server.state import ServerState

log = logging.getLogger("tandem.server")


class CheckpointScheduler:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        settings = state.settings
        self.idle = settings.checkpoint_idle
        self.interval = settings.checkpoint_interval
        self.period = max(0.2, min(15.0, min(self.idle, self.interval) / 4))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self.idle > 0 and self.interval > 0:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # wait() neither raises the task's outcome nor hides a cancellation of stop()
            await asyncio.wait([self._task])
            if not self._task.cancelled() and self._task.exception() is not None:
                log.warning("the checkpoint scheduler had failed: %r", self._task.exception())
            self._task = None

    def tick(self, now: float | None = None) -> int:
        """Ask where a checkpoint is due; returns how many documents were asked."""
        now = time.monotonic() if now is None else now
        return sum(
            hub.ask_for_checkpoint(now, self.idle, self.interval)
            for hub in list(self.state.hubs.hubs.values())
        )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                self.tick()
            except Exception:  # never let the scheduler die silently
                log.exception("checkpoint scheduling failed")
