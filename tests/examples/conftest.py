"""Fixtures for the back-end examples: an integration set up with the ``tandem`` CLI, and
example processes that are stopped after each test (helpers in harness.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.examples.harness import Backend, Integration, new_secret, tandem


@pytest.fixture
def integration(tmp_path: Path) -> Integration:
    work, data = tmp_path / "backend", tmp_path / "data"
    work.mkdir()
    tandem("keys", "generate", "--alg", "RS256", "--out", "acme", cwd=work, data_dir=data)
    api_key = tandem(
        "apikey", "create", "--name", "acme", "--quiet", cwd=work, data_dir=data
    ).strip()
    added = tandem("keys", "add", "--api-key", api_key, "acme.public.pem", cwd=work, data_dir=data)
    kid = json.loads((work / "acme.public.jwk.json").read_text())["kid"]
    assert kid in added
    found = Integration(
        work, data, api_key, work / "acme.private.pem", kid, work / "key-secrets.json"
    )
    found.write_secrets("2026-01", {"2026-01": new_secret()})
    return found


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    """Every backend a test starts (``backends.append(start_backend(...))``) is stopped."""
    started: list[Backend] = []
    yield started
    for backend in started:
        backend.stop()
