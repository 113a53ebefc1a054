"""examples/README.md's "Set up (once)" block runs verbatim in an empty directory, and what
it makes is what the examples need: the Python example, started as python/README.md says,
signs tokens that ``tandem token check`` accepts for the API key the block created."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from tests.examples.harness import EXAMPLES, Integration, start_backend
from tests.quickstart.markdown import blocks, section
from tests.quickstart.test_readme import clean_env


def test_set_up_block_runs_verbatim_and_feeds_the_examples(tmp_path, backends):
    (setup,) = [
        b
        for b in blocks(section((EXAMPLES / "README.md").read_text(), "## Set up (once)"))
        if b.lang == "sh"
    ]
    work = tmp_path / "backend"
    work.mkdir()
    env = clean_env(TANDEM_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", setup.code + '\necho "$KEY"'],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    api_key = result.stdout.splitlines()[-1]
    assert api_key.startswith("tk_")
    secrets = json.loads((work / "key-secrets.json").read_text())
    assert secrets["current"] == "2026-01" and len(secrets["secrets"]["2026-01"]) == 43
    integration = Integration(
        work, tmp_path / "data", api_key, work / "acme.private.pem", "", work / "key-secrets.json"
    )
    backend = start_backend("python", integration)
    backends.append(backend)
    token = httpx.get(
        f"{backend.url}/jwt", params={"documentId": "doc-42"}, cookies={"session": "alice-session"}
    ).json()["token"]
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "tandem",
            "token",
            "check",
            "--api-key",
            api_key,
            "--document",
            "doc-42",
            token,
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["user_id"] == "alice"
