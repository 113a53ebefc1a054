"""Helpers for running the back-end examples under ``examples/`` as real processes next
to a real Tandem server: an API key and key pair made with the ``tandem`` CLI, the
example's own endpoints for tokens and keys, and Python SDK clients that connect with
what those endpoints return.

``examples/node`` needs Node.js and its locked packages: ``npm ci`` runs here when they are
missing (idempotent). Without Node.js the Node tests skip, except under ``CI=true``, where
they fail.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(problem: str) -> None:
    """Skip because something is not installed; under CI=true, fail instead."""
    if IN_CI:
        pytest.fail(f"CI must install this: {problem}", pytrace=False)
    pytest.skip(problem)


def tandem(*args: str, cwd: Path, data_dir: Path) -> str:
    """Run the ``tandem`` CLI as a user would; returns stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "--data-dir", str(data_dir), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def new_secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


@dataclass
class Integration:
    """What an integrator has after the set-up in examples/README.md."""

    workdir: Path
    data_dir: Path
    api_key: str
    private_key: Path
    kid: str
    key_secrets: Path

    def write_secrets(self, current: str, secrets_by_hint: dict[str, str]) -> None:
        self.key_secrets.write_text(json.dumps({"current": current, "secrets": secrets_by_hint}))


def node_ready() -> str:
    """The node binary, with examples/node's packages installed from its lock file."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing("Node.js and npm are needed for examples/node (apt-get install nodejs npm)")
    project = EXAMPLES / "node"
    stamp = project / "node_modules" / ".package-lock.json"
    lock = project / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci in examples/node failed: {result.stderr[-2000:]}", pytrace=False)
    return node


def backend_command(kind: str) -> list[str]:
    if kind == "node":
        return [node_ready(), str(EXAMPLES / "node" / "server.js")]
    return [sys.executable, str(EXAMPLES / "python" / "app.py")]


@dataclass
class Backend:
    kind: str
    url: str
    process: subprocess.Popen

    def client(self, user: str | None) -> httpx.AsyncClient:
        """An HTTP client logged in as ``user`` (the examples' stand-in session cookie)."""
        cookies = {"session": f"{user}-session"} if user else {}
        return httpx.AsyncClient(base_url=self.url, cookies=cookies, timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()  # an unclosed pipe is a ResourceWarning (an error under -W error)


def start_backend(kind: str, integration: Integration, **env: str) -> Backend:
    """Start examples/<kind> on a free loopback port; wait until it answers."""
    port = free_port()
    environ = dict(
        os.environ,
        PORT=str(port),
        HOST="127.0.0.1",
        TANDEM_PRIVATE_KEY_FILE=str(integration.private_key),
        TANDEM_KEY_SECRETS_FILE=str(integration.key_secrets),
        **env,
    )
    process = subprocess.Popen(
        backend_command(kind),
        cwd=integration.workdir,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    backend = Backend(kind, f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"examples/{kind} exited: {process.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"{backend.url}/jwt", timeout=1).status_code == 400:
                return backend
        except httpx.HTTPError:
            time.sleep(0.05)
    backend.stop()
    raise RuntimeError(f"examples/{kind} did not start")
