"""Counters and histograms for /metrics (Prometheus text format)."""

from __future__ import annotations

import bisect
from collections import Counter

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(_BUCKETS) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(_BUCKETS, value)] += 1
        self.total += value
        self.n += 1

    def render(self, name: str) -> list[str]:
        lines, running = [], 0
        for bound, count in zip(_BUCKETS, self.counts, strict=False):
            running += count
            lines.append(f'{name}_bucket{{le="{bound}"}} {running}')
        lines.append(f'{name}_bucket{{le="+Inf"}} {self.n}')
        lines.append(f"{name}_sum {self.total:.6f}")
        lines.append(f"{name}_count {self.n}")
        return lines


class ServerMetrics:
    def __init__(self) -> None:
        self.connections = 0
        self.updates_in = 0
        self.updates_out = 0
        self.errors: Counter[str] = Counter()
        self.storage = Histogram()
        self.fanout_latency = Histogram()

    def error(self, code: str) -> None:
        self.errors[code] += 1

    def storage_latency(self, seconds: float) -> None:
        self.storage.observe(seconds)

    def fanout(self, seconds: float) -> None:
        """Time from an update's commit (on any node) to its release to members here."""
        self.fanout_latency.observe(seconds)

    def render(self, documents_open: int) -> str:
        lines = [
            "# TYPE tandem_connections gauge",
            f"tandem_connections {self.connections}",
            "# TYPE tandem_documents_open gauge",
            f"tandem_documents_open {documents_open}",
            "# TYPE tandem_updates_in_total counter",
            f"tandem_updates_in_total {self.updates_in}",
            "# TYPE tandem_updates_out_total counter",
            f"tandem_updates_out_total {self.updates_out}",
            "# TYPE tandem_errors_total counter",
        ]
        lines += [f'tandem_errors_total{{code="{c}"}} {n}' for c, n in sorted(self.errors.items())]
        lines.append("# TYPE tandem_storage_seconds histogram")
        lines += self.storage.render("tandem_storage_seconds")
        lines.append("# TYPE tandem_fanout_seconds histogram")
        lines += self.fanout_latency.render("tandem_fanout_seconds")
        return "\n".join(lines) + "\n"
