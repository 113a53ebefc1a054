"""What every connection of one server process shares."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tandem.auth import TokenVerifier
from tandem.server.admission import RejectedTokens, SourceLimiter, UserConnections
from tandem.server.hub import HubRegistry, MembershipLimits
from tandem.server.metrics import ServerMetrics
from tandem.server.quotas import ByteRate, StoredBytes, WriteLimits
from tandem.settings import Settings
from tandem.storage import Store

if TYPE_CHECKING:
    from tandem.server.cluster import ClusterRelay


@dataclass
class ServerState:
    settings: Settings
    store: Store
    verifier: TokenVerifier
    hubs: HubRegistry
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    # Built from the settings (and, for the relay, from this state) in __post_init__, so
    # always set: not Optional, and not constructor arguments.
    cluster: ClusterRelay = field(init=False)
    sources: SourceLimiter = field(init=False)
    rejected_tokens: RejectedTokens = field(default_factory=RejectedTokens)
    user_connections: UserConnections = field(init=False)
    stored_bytes: StoredBytes = field(default_factory=StoredBytes)
    # open connections by API key (revocation closes them); values are CollabConnections
    connections: dict[str, set[Any]] = field(default_factory=lambda: defaultdict(set))
    _api_key_rates: dict[str, ByteRate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from tandem.server.cluster import ClusterRelay  # (it imports this module)

        s = self.settings
        self.sources = SourceLimiter(s.auth_failures_per_second, s.auth_failure_burst)
        self.user_connections = UserConnections(s.max_user_connections)
        self.hubs.new_write_rate = self._document_rate
        self.membership = MembershipLimits(
            s.max_connections_per_document, s.max_connections_per_user
        )
        self.write_limits = WriteLimits(
            s.max_document_bytes, s.max_api_key_bytes, s.max_log_updates
        )
        self.cluster = ClusterRelay(self)

    def _document_rate(self) -> ByteRate | None:
        per_minute = self.settings.document_bytes_per_minute
        return ByteRate(per_minute, floor=2 * self.settings.max_frame_bytes) if per_minute else None

    def api_key_rate(self, api_key: str) -> ByteRate | None:
        per_minute = self.settings.api_key_bytes_per_minute
        if not per_minute:
            return None
        rate = self._api_key_rates.get(api_key)
        if rate is None:
            rate = ByteRate(per_minute, floor=2 * self.settings.max_frame_bytes)
            self._api_key_rates[api_key] = rate
        return rate
