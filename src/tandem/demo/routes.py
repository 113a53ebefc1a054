"""The demo's extra routes: the page, a token endpoint, and TinyMCE's files."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tandem.demo.page import render_page
from tandem.demo.tenant import DemoTenant

_USER = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def demo_routes(tenant_ref: dict[str, DemoTenant], tinymce_dir: Path) -> list:
    """``tenant_ref['tenant']`` is filled at start-up, once the store is open."""

    async def page(request: Request) -> Response:
        """``/`` shows Alice and Bob; ``/?user=carol&role=viewer&ttl=60&doc=x`` one editor."""
        query = request.query_params
        document_id = query.get("doc", "demo-document")[:200]
        user = query.get("user")
        role = query.get("role", "editor")
        ttl = query.get("ttl", "600")
        if (user is not None and not _USER.fullmatch(user)) or role not in (
                "editor", "viewer") or not ttl.isdigit():
            return JSONResponse({"message": "invalid user, role or ttl"}, status_code=400)
        users = [user] if user else ["alice", "bob"]
        return HTMLResponse(render_page(tenant_ref["tenant"].api_key, document_id, users,
                                        role=role, ttl=max(1, min(int(ttl), 3600))))

    async def token(request: Request) -> Response:
        # Demo only: anyone who can reach this endpoint gets a token for any user.
        user = request.query_params.get("user", "")
        document_id = request.query_params.get("document") or None
        role = request.query_params.get("role", "editor")
        ttl = request.query_params.get("ttl", "600")
        if not _USER.fullmatch(user) or role not in ("editor", "viewer") or not ttl.isdigit():
            return JSONResponse({"message": "user (1-64 of [A-Za-z0-9_.@-]), role and ttl "
                                 "are required"}, status_code=400)
        signed = tenant_ref["tenant"].sign(user, document=document_id, role=role,
                                           ttl=max(1, min(int(ttl), 3600)))
        return JSONResponse({"token": signed}, headers={"Cache-Control": "no-store"})

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    return [
        Route("/", page),
        Route("/favicon.ico", favicon),
        Route("/demo/token", token),
        Mount("/demo/tinymce", app=StaticFiles(directory=str(tinymce_dir), check_dir=False)),
    ]
