"""``tandem demo``: the server on SQLite with a generated tenant and a two-editor page."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

import tandem
from tandem.cli.context import CliContext
from tandem.cli.serve import add_server_options
from tandem.errors import TandemError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.applications import Starlette


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo", help="the server plus a page with two live TinyMCE editors (not for production)"
    )
    add_server_options(parser)
    parser.add_argument(
        "--tinymce-dir",
        metavar="DIR",
        help="TinyMCE's files (TANDEM_TINYMCE_DIR; default: the checkout's "
        "clients/tinymce/node_modules/tinymce)",
    )
    parser.set_defaults(func=demo)


def find_tinymce(explicit: str | None) -> Path:
    candidates = [explicit, os.environ.get("TANDEM_TINYMCE_DIR")]
    checkout = Path(tandem.__file__).resolve().parents[2]
    candidates += [
        str(checkout / "clients/tinymce/node_modules/tinymce"),
        "clients/tinymce/node_modules/tinymce",
        "node_modules/tinymce",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "tinymce.min.js").is_file():
            return Path(candidate)
    raise TandemError(
        "TinyMCE not found: run `npm install` in clients/tinymce, or pass "
        "--tinymce-dir DIR (a directory holding tinymce.min.js)"
    )


async def demo(args: argparse.Namespace, ctx: CliContext) -> int:
    import contextlib

    from tandem.demo.routes import demo_routes
    from tandem.demo.tenant import DemoTenant, ensure_demo_tenant
    from tandem.server.app import create_app
    from tandem.server.runner import serve as run
    from tandem.storage.factory import make_store

    settings = ctx.settings
    tinymce_dir = find_tinymce(args.tinymce_dir)
    store = make_store(settings)
    tenant_ref: dict[str, DemoTenant] = {}
    uploads = Path(settings.data_dir) / "demo-uploads"
    app = create_app(
        settings, store, extra_routes=demo_routes(tenant_ref, tinymce_dir, upload_dir=uploads)
    )

    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Starlette) -> AsyncIterator[None]:
        async with original(app_):
            tenant_ref["tenant"] = await ensure_demo_tenant(store, Path(settings.data_dir))
            host = "localhost" if settings.host in ("127.0.0.1", "::1") else settings.host
            scheme = "https" if settings.tls_cert else "http"
            print(
                f"Tandem demo: open {scheme}://{host}:{settings.port}/ "
                f"(API key {tenant_ref['tenant'].api_key})",
                flush=True,
            )
            yield

    app.router.lifespan_context = lifespan
    await run(app, settings, log_level=args.log_level)
    return 0
