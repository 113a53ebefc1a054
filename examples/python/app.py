"""Tandem back-end example (Python, Starlette + joserfc): the two endpoints that TinyMCE's
rtc_token_provider and rtc_encryption_provider call.

    GET /jwt?documentId=DOC                 -> {"token": "<JWT>"}          (rtc_token_provider)
    GET /rtc-key?documentId=DOC[&keyHint=H] -> {"key": "...", "keyHint": "..."}
                                                                       (rtc_encryption_provider)

Both answer only a logged-in user who may open the document (401 / 403 otherwise).
Run:  pip install -r requirements.txt && TANDEM_PRIVATE_KEY_FILE=acme.private.pem python app.py
Settings (environment): PORT (3000), HOST (127.0.0.1), TANDEM_PRIVATE_KEY_FILE (private.pem),
TANDEM_JWT_ALG (RS256), TANDEM_KEY_ID (default: the key's RFC 7638 thumbprint, the kid
`tandem keys add` gives it), TANDEM_KEY_SECRETS_FILE (key-secrets.json).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.jwk import import_key
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ALG = os.environ.get("TANDEM_JWT_ALG", "RS256")
TOKEN_TTL_SECONDS = 600
MAX_DOCUMENT_ID = 512  # Tandem's limit
DOCUMENT_CLAIM = "https://claims.tiny.cloud/rtc/document"
ROLE_CLAIM = "https://claims.tiny.cloud/rtc/role"

# --- Stand-ins for your application's own login and permissions: replace these. ----------
# A real app reads its session cookie and asks its database who may open which document.
SESSIONS = {"alice-session": "alice", "bob-session": "bob", "eve-session": "eve"}
ROLES = {"alice": "editor", "bob": "viewer"}  # every document; eve may open none


def current_user(request: Request) -> str | None:
    return SESSIONS.get(request.cookies.get("session", ""))


def role_for(user: str, document_id: str) -> str | None:
    return ROLES.get(user)  # "editor", "viewer" or None (no access)


# -------------------------------------------------------------------------------------------

# The private key signs identity tokens; Tandem holds only the public key (`tandem keys add`).
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
PRIVATE_KEY = import_key(
    Path(os.environ.get("TANDEM_PRIVATE_KEY_FILE", "private.pem")).read_text(), KEY_TYPES[ALG[:2]]
)
KID = os.environ.get("TANDEM_KEY_ID") or PRIVATE_KEY.thumbprint()

# Per-document keys: HKDF-SHA256 of the secret named by the key hint (see examples/README.md).
# key-secrets.json: {"current": "2026-01", "secrets": {"2026-01": "<base64url, 32 random bytes>"}}
KEY_SECRETS = json.loads(
    Path(os.environ.get("TANDEM_KEY_SECRETS_FILE", "key-secrets.json")).read_text()
)
if KEY_SECRETS["current"] not in KEY_SECRETS["secrets"]:
    raise SystemExit('key-secrets.json: "current" must name one of "secrets"')
KEY_INFO_LABEL = b"tandem-example/document-key/v1:"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def document_key(key_hint: str, document_id: str) -> str:
    encoded = KEY_SECRETS["secrets"][key_hint]
    secret = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    info = KEY_INFO_LABEL + hashlib.sha256(document_id.encode("utf-8")).digest()
    return b64url(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret))


def authorize(request: Request) -> tuple[str, str, str] | JSONResponse:
    """(user, role, document id) for ?documentId=, or the 400/401/403 answer."""
    document_id = request.query_params.get("documentId", "")
    if not document_id or len(document_id) > MAX_DOCUMENT_ID:
        return JSONResponse({"message": "documentId is required"}, status_code=400)
    user = current_user(request)
    if user is None:
        return JSONResponse({"message": "not logged in"}, status_code=401)
    role = role_for(user, document_id)
    if role is None:
        return JSONResponse({"message": "no access to this document"}, status_code=403)
    return user, role, document_id


NO_STORE = {"Cache-Control": "no-store"}


async def token_endpoint(request: Request) -> JSONResponse:
    who = authorize(request)
    if isinstance(who, JSONResponse):
        return who
    user, role, document_id = who
    now = int(time.time())
    claims = {
        "sub": user,
        "iat": now,
        "exp": now + TOKEN_TTL_SECONDS,
        DOCUMENT_CLAIM: document_id,
        ROLE_CLAIM: role,
    }
    token = jwt.encode(
        {"alg": ALG, "kid": KID, "typ": "JWT"}, claims, PRIVATE_KEY, algorithms=[ALG]
    )
    return JSONResponse({"token": token}, headers=NO_STORE)


async def key_endpoint(request: Request) -> JSONResponse:
    who = authorize(request)
    if isinstance(who, JSONResponse):
        return who
    _user, _role, document_id = who
    # No keyHint: a new document (or a key rotation) - hand out the current hint.
    key_hint = request.query_params.get("keyHint", KEY_SECRETS["current"])
    if key_hint not in KEY_SECRETS["secrets"]:
        return JSONResponse({"message": "unknown key hint"}, status_code=404)
    return JSONResponse(
        {"key": document_key(key_hint, document_id), "keyHint": key_hint}, headers=NO_STORE
    )


app = Starlette(routes=[Route("/jwt", token_endpoint), Route("/rtc-key", key_endpoint)])

if __name__ == "__main__":
    import uvicorn

    port = int(os.environ.get("PORT", "3000"))
    host = os.environ.get("HOST", "127.0.0.1")
    print(
        f"token endpoint and key service on http://{host}:{port} (alg {ALG}, kid {KID})", flush=True
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
