"""The demo's own tenant: an API key and an ES256 signing key, kept in the data dir."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import ECKey

from tandem.auth import DOCUMENT_CLAIM, ROLE_CLAIM, generate_keypair
from tandem.storage import Store

DEMO_FILE = "demo-tenant.json"


@dataclass(frozen=True)
class DemoTenant:
    api_key: str
    kid: str
    private_pem: str

    def sign(
        self, user: str, *, document: str | None = None, role: str = "editor", ttl: int = 600
    ) -> str:
        now = int(time.time())
        claims: dict[str, object] = {"sub": user, "iat": now, "exp": now + ttl, ROLE_CLAIM: role}
        if document:
            claims[DOCUMENT_CLAIM] = document
        key = ECKey.import_key(self.private_pem)
        return jwt.encode({"alg": "ES256", "kid": self.kid, "typ": "JWT"}, claims, key)


async def ensure_demo_tenant(store: Store, data_dir: Path) -> DemoTenant:
    """Reuse the demo tenant saved in the data dir, or create one."""
    path = data_dir / DEMO_FILE
    if path.exists():
        saved = json.loads(path.read_text())
        if await store.get_api_key(saved["api_key"]) is not None:
            return DemoTenant(saved["api_key"], saved["kid"], saved["private_pem"])
    record = await store.create_api_key("demo")
    pair = generate_keypair("ES256")
    await store.add_public_keys(record.key, [pair.public_jwk])
    tenant = DemoTenant(record.key, pair.public_jwk["kid"], pair.private_pem.decode("ascii"))
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(
            {"api_key": tenant.api_key, "kid": tenant.kid, "private_pem": tenant.private_pem}, fh
        )
    return tenant
