"""Closing connections whose keys were revoked, on every node.

``tandem keys remove`` and ``tandem apikey delete`` change the database, not the
server. Every ``revocation_check_interval`` seconds each node reads, for each API key
it has connections for, the API key record and its stored public keys. When that
changed since the last look (or the API key is new to this check), the node
re-verifies the current token of each of its connections for that API key and
closes those that no longer verify (``jwt``, "Unable to retrieve JWK set" when the
key or the API key is gone). A node that shares PostgreSQL with others does the same
on its own, so revocation reaches every node within one interval.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING

from tandem.protocol.errors import ProtocolError
from tandem.server.periodic import PeriodicCheck

if TYPE_CHECKING:
    from tandem.server.state import ServerState

log = logging.getLogger("tandem.server")


class RevocationWatcher(PeriodicCheck):
    name = "revocation check"

    def __init__(self, state: ServerState, interval: float) -> None:
        super().__init__(interval)
        self.state = state
        self._fingerprints: dict[str, str | None] = {}

    async def fingerprint(self, api_key: str) -> str | None:
        """A digest of what verifies the API key's tokens; None when it is deleted."""
        store = self.state.store
        record = await store.get_api_key(api_key)
        if record is None:
            return None
        keys = await store.list_public_keys(api_key)
        material = json.dumps(
            [record.jwks_url, sorted(keys, key=lambda k: json.dumps(k, sort_keys=True))],
            sort_keys=True,
        )
        return hashlib.sha256(material.encode()).hexdigest()

    async def check(self) -> int:
        """One pass; returns how many connections were closed."""
        closed = 0
        open_keys = list(self.state.connections)
        for api_key in list(self._fingerprints):
            if api_key not in self.state.connections:
                del self._fingerprints[api_key]
        for api_key in open_keys:
            current = await self.fingerprint(api_key)
            known = api_key in self._fingerprints
            previous = self._fingerprints.get(api_key)
            self._fingerprints[api_key] = current
            if known and current == previous:
                continue
            for connection in list(self.state.connections.get(api_key, ())):
                if current is None:
                    connection.fail(
                        ProtocolError(
                            "jwt", "Unable to retrieve JWK set", detail="jwks_unavailable"
                        )
                    )
                else:
                    await connection.reverify()
                if connection.protocol.is_closed:
                    closed += 1
        if closed:
            log.info("closed %d connection(s) whose keys were revoked", closed)
        return closed
