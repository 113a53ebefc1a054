"""What every connection of one server process shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tandem.auth import TokenVerifier
from tandem.server.hub import HubRegistry
from tandem.server.metrics import ServerMetrics
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
    cluster: ClusterRelay | None = None
