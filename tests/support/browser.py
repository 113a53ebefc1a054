"""Real Chromium (Debian's, through Playwright) against the demo app served in the test's loop.

``serve_demo_in_loop`` builds exactly what ``tandem demo`` runs (create_app with the demo
routes, the demo tenant made in the lifespan) under uvicorn on a loopback port. Pages are
loaded as ``http://localhost:PORT`` so they are a secure context (WebCrypto).

Never download a browser: Chromium comes from the system (``/usr/bin/chromium``). Without
it the browser tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tandem.cli.demo import find_tinymce
from tandem.demo.page import DEMO_KEY, DEMO_KEY_HINT
from tandem.demo.routes import demo_routes
from tandem.demo.tenant import DemoTenant, ensure_demo_tenant
from tandem.server.app import create_app
from tandem.server.runner import uvicorn_config
from tandem.settings import load_settings
from tandem.storage.factory import make_store
from tests.support.server import free_port

CHROMIUM = os.environ.get("TANDEM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def require_chromium() -> None:
    """Skip (or, with CI=true, fail) when Playwright or Chromium is missing."""
    problem = None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        problem = "the Python package playwright is not installed"
    if problem is None and not os.access(CHROMIUM, os.X_OK):
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if problem is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests need Chromium: {problem}", pytrace=False)
    pytest.skip(problem)


async def launch_chromium(playwright: Any, *extra_args: str) -> Any:
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args]
    )


# -- the demo server --------------------------------------------------------------------------


@dataclass
class DemoServer:
    """The demo app under uvicorn in this event loop; ``stop()`` and ``start()`` again keep
    the port and the data directory (a server restart as clients see it)."""

    data_dir: Path
    port: int
    settings: dict[str, Any] = field(default_factory=dict)
    tenant: DemoTenant | None = None
    app: Any = None
    _server: uvicorn.Server | None = None
    _task: asyncio.Task | None = None
    token_requests: int = 0

    @property
    def url(self) -> str:
        """The page origin: ``localhost`` is a secure context, ``127.0.0.1`` is where we bind."""
        return f"http://localhost:{self.port}"

    @property
    def direct_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        config = load_settings(
            data_dir=str(self.data_dir), host="127.0.0.1", port=self.port, **self.settings
        )
        store = make_store(config)
        tenant_ref: dict[str, DemoTenant] = {}
        app = create_app(
            config,
            store,
            extra_routes=demo_routes(
                tenant_ref, find_tinymce(None), upload_dir=self.data_dir / "demo-uploads"
            ),
        )
        original = app.router.lifespan_context
        outer = self

        @contextlib.asynccontextmanager
        async def lifespan(app_: Any) -> AsyncIterator[None]:
            async with original(app_):
                tenant_ref["tenant"] = await ensure_demo_tenant(store, self.data_dir)
                outer.tenant = tenant_ref["tenant"]
                yield

        app.router.lifespan_context = lifespan

        async def counting(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/demo/token":
                outer.token_requests += 1
            await app(scope, receive, send)

        self.app = app
        server = uvicorn.Server(uvicorn_config(counting, config, log_level="warning"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the demo server exited during start-up")
            await asyncio.sleep(0.01)
        self._server, self._task = server, task

    async def stop(self) -> None:
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.should_exit = True
        await asyncio.wait_for(task, 20)

    def sign(self, user: str, document: str | None = None, **kw: Any) -> str:
        assert self.tenant is not None, "the server is not running"
        return self.tenant.sign(user, document=document, **kw)

    def page_url(self, **query: str) -> str:
        from urllib.parse import urlencode

        return f"{self.url}/?{urlencode(query)}" if query else f"{self.url}/"


@contextlib.asynccontextmanager
async def serve_demo_in_loop(data_dir: Path, **settings: Any) -> AsyncIterator[DemoServer]:
    """``tandem demo`` in this event loop: yields a DemoServer (``url``, ``tenant`` with
    ``api_key``/``sign()``, ``data_dir``). ``port`` may be given; other keywords are settings."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = int(settings.pop("port", 0)) or free_port()
    server = DemoServer(data_dir, port, settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# -- reading a document as its key holder --------------------------------------------------------


def demo_encryption(arg: dict[str, Any]) -> dict[str, str]:
    return {"key": DEMO_KEY, "keyHint": DEMO_KEY_HINT}


def sdk_client(server: DemoServer, doc: str, user: str = "py-bot", **kw: Any) -> Any:
    """A Python SDK DocumentClient on the demo tenant (demo key, default iterations)."""
    from tandem.client import DocumentClient

    kw.setdefault("encryption_provider", demo_encryption)
    return DocumentClient(
        server.direct_url,
        api_key=server.tenant.api_key,
        document_id=doc,
        token_provider=lambda _arg: {"token": server.sign(user, document=doc)},
        max_backoff=1.0,
        **kw,
    )


async def doc_cat(server: DemoServer, doc: str, tmp_dir: Path) -> str:
    """What ``tandem doc cat`` prints for ``doc`` (run as a subprocess; this loop keeps
    serving meanwhile)."""
    keyring = tmp_dir / "demo-keyring.json"
    keyring.write_text(json.dumps({DEMO_KEY_HINT: DEMO_KEY}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tandem",
        "doc",
        "cat",
        "--server",
        server.direct_url,
        "--api-key",
        server.tenant.api_key,
        "--keyring",
        str(keyring),
        "--token",
        server.sign("cat", document=doc),
        doc,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, f"tandem doc cat failed: {err.decode()[-2000:]}"
    return out.decode().removesuffix("\n")


# -- pages -------------------------------------------------------------------------------------


def editor_js(user: str) -> str:
    """A JS expression for the TinyMCE editor of ``user`` on a demo page."""
    return f"tinymce.get({json.dumps('editor-' + user)})"


SYNCED = """(id) => {
  const ed = window.tinymce && tinymce.get(id);
  const rtc = ed && ed.plugins && ed.plugins.rtc;
  if (!rtc || !rtc.getState) return false;
  const s = rtc.getState();
  return s.connected && s.synced && (s.role === 'viewer' || s.editable);
}"""


async def wait_synced(page: Any, user: str, timeout: float = 20_000) -> None:
    await page.wait_for_function(SYNCED, arg=f"editor-{user}", timeout=timeout)


async def rtc_state(page: Any, user: str) -> dict[str, Any]:
    return await page.evaluate("(id) => tinymce.get(id).plugins.rtc.getState()", f"editor-{user}")


async def canonical(page: Any, user: str, *, flush: bool = True) -> str:
    """The editor's shared document as canonical HTML (after its local changes are acked)."""
    return await page.evaluate(
        """async ([id, flush]) => {
             const rtc = tinymce.get(id).plugins.rtc;
             if (flush) await rtc.flush();
             return rtc.getCanonicalContent();
           }""",
        [f"editor-{user}", flush],
    )


async def editor_html(page: Any, user: str) -> str:
    return await page.evaluate("(id) => tinymce.get(id).getContent()", f"editor-{user}")


async def converge(pages: Iterable[tuple[Any, str]], timeout: float = 30.0) -> str:
    """Poll every editor (flushing its local changes) until all canonical HTML is equal
    twice in a row; return it. Fails with every editor's content otherwise."""
    pages = list(pages)
    deadline = asyncio.get_running_loop().time() + timeout
    previous: list[str] | None = None
    while True:
        contents = [await canonical(page, user) for page, user in pages]
        if len(set(contents)) == 1 and contents == previous:
            return contents[0]
        previous = contents
        if asyncio.get_running_loop().time() > deadline:
            detail = "\n".join(
                f"{user}: {html}" for (_, user), html in zip(pages, contents, strict=True)
            )
            raise AssertionError(f"editors did not converge within {timeout}s:\n{detail}")
        await asyncio.sleep(0.1)


async def focus_end(page: Any, user: str) -> None:
    """Focus the editor with the caret at the end of its content."""
    await page.evaluate(
        """(id) => {
             const ed = tinymce.get(id);
             ed.focus();
             ed.selection.select(ed.getBody(), true);
             ed.selection.collapse(false);
           }""",
        f"editor-{user}",
    )


class PageLog:
    """Console messages and uncaught page errors of one page."""

    def __init__(self, page: Any) -> None:
        self.console: list[str] = []
        self.errors: list[str] = []
        self.websockets: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("websocket", lambda ws: self.websockets.append(ws.url))

    @property
    def console_errors(self) -> list[str]:
        return [m for m in self.console if m.startswith("error:")]


async def open_editor(
    context: Any, server: DemoServer, user: str, doc: str, *, wait: bool = True, **query: str
) -> Any:
    """A new page in ``context`` on ``/?user=USER&doc=DOC&...``, synced unless ``wait=False``.
    The page's PageLog is ``page.rtc_log``."""
    page = await context.new_page()
    page.rtc_log = PageLog(page)
    await page.goto(server.page_url(user=user, doc=doc, **query))
    if wait:
        await wait_synced(page, user)
    return page
