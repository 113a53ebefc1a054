"""What every CLI handler gets: the settings and a way to open the store."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

from tandem.settings import Settings, load_settings
from tandem.storage.base import Store
from tandem.storage.factory import make_store


class CliContext:
    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            overrides = {k: v for k, v in vars(self._args).items() if k != "config"}
            self._settings = load_settings(getattr(self._args, "config", None), **overrides)
        return self._settings

    @contextlib.asynccontextmanager
    async def store(self) -> AsyncIterator[Store]:
        store = make_store(self.settings)
        await store.open()
        try:
            yield store
        finally:
            await store.close()
