"""The demo's extra routes: the page, a token endpoint, image uploads, and TinyMCE's files."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tandem.demo.page import render_page
from tandem.demo.tenant import DemoTenant

_USER = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
# Images the demo accepts (TinyMCE's images_upload_url), by their first bytes.
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
}
_UPLOAD_MAX = 5 * 1024 * 1024
_UPLOAD_NAME = re.compile(r"[0-9a-f]{32}\.(png|jpg|gif|webp)")


def _image_kind(data: bytes) -> str | None:
    for magic, kind in _IMAGE_MAGIC.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def demo_routes(
    tenant_ref: dict[str, DemoTenant], tinymce_dir: Path, upload_dir: Path | None = None
) -> list[BaseRoute]:
    """``tenant_ref['tenant']`` is filled at start-up, once the store is open. Uploaded
    images go to ``upload_dir`` (no uploads without one)."""

    async def page(request: Request) -> Response:
        """``/`` shows Alice and Bob; ``/?user=carol&role=viewer&ttl=60&doc=x`` one editor."""
        query = request.query_params
        document_id = query.get("doc", "demo-document")[:200]
        user = query.get("user")
        role = query.get("role", "editor")
        ttl = query.get("ttl", "600")
        if (
            (user is not None and not _USER.fullmatch(user))
            or role not in ("editor", "viewer")
            or not ttl.isdigit()
        ):
            return JSONResponse({"message": "invalid user, role or ttl"}, status_code=400)
        users = [user] if user else ["alice", "bob"]
        return HTMLResponse(
            render_page(
                tenant_ref["tenant"].api_key,
                document_id,
                users,
                role=role,
                ttl=max(1, min(int(ttl), 3600)),
            )
        )

    async def token(request: Request) -> Response:
        # Demo only: anyone who can reach this endpoint gets a token for any user.
        user = request.query_params.get("user", "")
        document_id = request.query_params.get("document") or None
        role = request.query_params.get("role", "editor")
        ttl = request.query_params.get("ttl", "600")
        if not _USER.fullmatch(user) or role not in ("editor", "viewer") or not ttl.isdigit():
            return JSONResponse(
                {"message": "user (1-64 of [A-Za-z0-9_.@-]), role and ttl are required"},
                status_code=400,
            )
        signed = tenant_ref["tenant"].sign(
            user, document=document_id, role=role, ttl=max(1, min(int(ttl), 3600))
        )
        return JSONResponse({"token": signed}, headers={"Cache-Control": "no-store"})

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    async def upload(request: Request) -> Response:
        # TinyMCE's images_upload_url protocol: multipart "file" in, {"location": url} out.
        # Demo only: an integrator's own back end stores images (the Tandem server never does).
        if upload_dir is None:
            return JSONResponse({"message": "uploads are off"}, status_code=404)
        if int(request.headers.get("content-length") or 0) > _UPLOAD_MAX + 4096:
            return JSONResponse({"message": "image too large (5 MB at most)"}, status_code=413)
        # `async with`: the form's spooled temporary files are closed when it ends
        async with request.form(max_files=1, max_fields=4) as form:
            file = form.get("file")
            if file is None or isinstance(file, str):
                return JSONResponse({"message": "a multipart 'file' is required"}, status_code=400)
            data = await file.read(_UPLOAD_MAX + 1)
        kind = _image_kind(data)
        if len(data) > _UPLOAD_MAX or kind is None:
            return JSONResponse({"message": "PNG, JPEG, GIF or WebP up to 5 MB"}, status_code=400)
        name = f"{hashlib.sha256(data).hexdigest()[:32]}.{kind}"
        upload_dir.mkdir(parents=True, exist_ok=True)
        (upload_dir / name).write_bytes(data)
        return JSONResponse({"location": f"/demo/uploads/{name}"})

    async def uploaded(request: Request) -> Response:
        name = request.path_params["name"]
        path = upload_dir / name if upload_dir is not None else None
        if path is None or not _UPLOAD_NAME.fullmatch(name) or not path.is_file():
            return Response(status_code=404)
        media = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}[
            name.rsplit(".", 1)[1]
        ]
        return Response(
            path.read_bytes(),
            media_type=media,
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    return [
        Route("/", page),
        Route("/favicon.ico", favicon),
        Route("/demo/token", token),
        Route("/demo/upload", upload, methods=["POST"]),
        Route("/demo/uploads/{name}", uploaded),
        Mount("/demo/tinymce", app=StaticFiles(directory=str(tinymce_dir), check_dir=False)),
    ]
