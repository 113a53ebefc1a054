"""Fixtures for the browser suite: one Chromium per module, a demo server per test.

Every async test and fixture here runs in the module's event loop (Playwright's objects
belong to the loop that started them); test modules set
``pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.support.browser import DemoServer, launch_chromium, require_chromium, serve_demo_in_loop


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def playwright() -> AsyncIterator[Any]:
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        yield pw


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(playwright: Any) -> AsyncIterator[Any]:
    """Debian's Chromium, headless, launched once per module."""
    chromium = await launch_chromium(playwright)
    try:
        yield chromium
    finally:
        await chromium.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "demo_settings(**settings): server settings for the demo fixture"
    )


@pytest_asyncio.fixture(loop_scope="module")
async def demo(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[DemoServer]:
    """The demo app (as ``tandem demo`` builds it) on a fresh data directory; settings from
    ``@pytest.mark.demo_settings(...)``."""
    marker = request.node.get_closest_marker("demo_settings")
    settings = dict(marker.kwargs) if marker else {}
    async with serve_demo_in_loop(tmp_path / "data", **settings) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def contexts(browser: Any, demo: DemoServer) -> AsyncIterator[Any]:
    """``await contexts()`` makes a new browser context (a separate user); all are closed at
    teardown, before the demo server stops."""
    made: list[Any] = []

    async def make(**kw: Any) -> Any:
        context = await browser.new_context(**kw)
        made.append(context)
        return context

    yield make
    for context in made:
        await context.close()
