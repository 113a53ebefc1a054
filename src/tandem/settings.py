"""One settings object, filled from defaults, an optional TOML file, ``TANDEM_*``
environment variables and command-line flags (later sources win)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from tandem.errors import TandemError


class SettingsError(TandemError):
    code = "settings"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: str = "./tandem-data"
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    tls_cert: str | None = None
    tls_key: str | None = None
    loop: str = "auto"  # event loop: auto (uvloop when installed), uvloop or asyncio
    # token verification
    leeway: float = 30.0
    max_token_lifetime: float = 24 * 3600.0  # exp at most this far ahead (seconds)
    revocation_check_interval: float = 5.0  # re-read keys of open connections (seconds)
    auth_failures_per_second: float = 2.0  # per source address, before it is refused
    auth_failure_burst: int = 10
    # protocol limits (docs/protocol.md, "Limits")
    max_frame_bytes: int = 4 * 1024 * 1024
    max_hello_bytes: int = 32 * 1024
    max_presence_bytes: int = 8 * 1024
    max_connections_per_document: int = 250
    max_connections_per_user: int = 8  # per document
    max_user_connections: int = 100  # per user (and API key) on one node, all documents
    messages_per_second: float = 100.0
    message_burst: int = 200
    presence_per_second: float = 20.0
    send_queue_limit: int = 4096  # frames
    send_queue_bytes: int = 16 * 1024 * 1024
    hello_timeout: float = 10.0
    snapshot_threshold: int = 500
    max_log_updates: int = 5000  # updates since the last snapshot, then writes wait for one
    retain_updates: int = 0  # deprecated and ignored: history_days keeps the whole log
    # version history (docs/protocol.md, "Version history")
    history_days: float = 30.0  # retention window; 0 keeps history forever
    checkpoint_idle: float = 60.0  # ask for a checkpoint after this many idle seconds...
    checkpoint_interval: float = 3600.0  # ... and at least this often while edited
    pbkdf2_min_iterations: int = 10_000
    # storage quotas (0 = unlimited)
    document_bytes_per_minute: int = 64 * 1024 * 1024
    api_key_bytes_per_minute: int = 512 * 1024 * 1024
    max_document_bytes: int = 512 * 1024 * 1024
    max_api_key_bytes: int = 0
    # sockets and descriptors
    header_timeout: float = 10.0  # a new TCP connection must finish its request headers
    max_connections: int = 0  # open sockets; 0 = the descriptor limit minus fd_reserve
    fd_reserve: int = 100
    # monitoring: /metrics needs this bearer token, or the separate metrics listener
    metrics_token: str | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    # operations: DELETE /v1/documents/{id} needs this bearer token (off without it)
    admin_token: str | None = None
    # demo-only: never set by ``tandem serve``
    demo: bool = False

    @property
    def sqlite_path(self) -> Path:
        return Path(self.data_dir) / "tandem.sqlite3"


_ENV_PREFIX = "TANDEM_"


def _coerce(name: str, raw: Any) -> Any:
    field = next(f for f in fields(Settings) if f.name == name)
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("bool"):
            if isinstance(raw, bool):
                return raw
            return str(raw).strip().lower() in {"1", "true", "yes", "on"}
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"invalid value for {name}: {raw!r}") from exc
    return None if raw in (None, "") else str(raw)


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Build settings: defaults < TOML file < environment < explicit overrides.

    ``overrides`` whose value is None are ignored, so argparse namespaces can be
    passed straight through.
    """
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    path = config_file or os.environ.get("TANDEM_CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read config file {path}: {exc}") from exc
        for key, value in data.items():
            key = key.replace("-", "_")
            if key not in names:
                raise SettingsError(f"unknown setting in {path}: {key}")
            values[key] = _coerce(key, value)
    for name in names:
        env = os.environ.get(_ENV_PREFIX + name.upper())
        if env is not None:
            values[name] = _coerce(name, env)
    for key, value in overrides.items():
        if key in names and value is not None:
            values[key] = _coerce(key, value)
    return replace(Settings(), **values)
