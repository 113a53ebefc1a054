"""The Dockerfile and deploy/ (compose + nginx) agree with the package they ship.

No container runtime runs on the project's machines, so nothing here builds an image:
these checks catch the drift that would break one (a renamed entry point, sub-command,
setting, extra, port or path). The compose file is parsed as YAML where PyYAML is
installed (it is not a project dependency); the line checks run everywhere.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from tandem.cli import build_parser
from tandem.server.app import COLLAB_PATH, create_app
from tandem.settings import Settings, load_settings
from tests.quickstart.markdown import blocks, section

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETTING_NAMES = {f"TANDEM_{f.name.upper()}" for f in fields(Settings)}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line, continuations joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def instructions(keyword: str) -> list[str]:
    return [rest for kw, rest in dockerfile() if kw == keyword]


def env_of_image() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in instructions("ENV"):
        for item in shlex.split(rest):
            name, _, value = item.partition("=")
            env[name] = value
    return env


def test_image_is_built_from_this_package():
    bases = instructions("FROM")
    assert len(bases) == 2 and all(b.startswith("python:3.11-slim") for b in bases)
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    copies = [shlex.split(rest) for rest in instructions("COPY") if "--from" not in rest]
    sources = [src for args in copies for src in args[:-1]]
    assert sorted(sources) == ["README.md", "pyproject.toml", "src"]
    assert PYPROJECT["project"]["readme"] == "README.md"
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    (build,) = [r for r in instructions("RUN") if "pip wheel" in r]
    assert "'.[postgres]'" in build
    (install,) = [r for r in instructions("RUN") if "pip install" in r]
    assert f"'{PYPROJECT['project']['name']}[postgres]'" in install
    assert "postgres" in PYPROJECT["project"]["optional-dependencies"]
    # The plugin bundle the server serves, and the content model's vocabulary, are package
    # data, so the wheel carries them.
    data = PYPROJECT["tool"]["setuptools"]["package-data"]["tandem"]
    assert "static/**/*" in data and "client/content/*.json" in data
    assert (ROOT / "src/tandem/static/rtc/plugin.min.js").is_file()
    assert (ROOT / "src/tandem/client/content/schema.json").is_file()


def test_entrypoint_and_command_are_the_cli():
    assert json.loads(instructions("ENTRYPOINT")[0]) == ["tandem"]
    assert PYPROJECT["project"]["scripts"]["tandem"] == "tandem.cli:main"
    command = json.loads(instructions("CMD")[0])
    assert command == ["serve"]
    args = build_parser().parse_args(command)
    from tandem.cli.serve import serve

    assert args.func is serve
    assert instructions("USER") == ["tandem"]


def test_settings_port_volume_and_health_check(tmp_path):
    env = env_of_image()
    tandem_env = {k for k in env if k.startswith("TANDEM_")}
    assert tandem_env == {"TANDEM_HOST", "TANDEM_PORT", "TANDEM_DATA_DIR"}
    assert tandem_env <= SETTING_NAMES
    assert env["TANDEM_HOST"] == "0.0.0.0"
    assert instructions("EXPOSE") == [env["TANDEM_PORT"]]
    assert json.loads(instructions("VOLUME")[0]) == [env["TANDEM_DATA_DIR"]]
    (health,) = instructions("HEALTHCHECK")
    assert f"http://127.0.0.1:{env['TANDEM_PORT']}/healthz" in health
    app = create_app(load_settings(data_dir=str(tmp_path)))
    assert "/healthz" in {route.path for route in app.routes}


COMPOSE = ROOT / "deploy" / "compose.yaml"
NGINX = ROOT / "deploy" / "nginx.conf"


def test_compose_file_lines():
    text = COMPOSE.read_text()
    services = re.findall(
        r"^  (\w+):$", text.split("\nservices:\n")[1].split("\nvolumes:\n")[0], re.MULTILINE
    )
    assert services == ["db", "tandem", "nginx"]
    assert re.search(r"^    build:\n      context: \.\.$", text, re.MULTILINE)
    assert (COMPOSE.parent / ".." / "Dockerfile").is_file()
    assert set(re.findall(r"^\s+(TANDEM_\w+):", text, re.MULTILINE)) == {"TANDEM_DATABASE_URL"}
    assert "- ./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in text


def test_compose_file_parses_and_agrees_with_the_image():
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (not a dependency)")
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"db", "tandem", "nginx"}
    tandem = services["tandem"]
    assert (COMPOSE.parent / tandem["build"]["context"] / "Dockerfile").is_file()
    assert set(tandem["environment"]) <= SETTING_NAMES
    url = tandem["environment"]["TANDEM_DATABASE_URL"]
    db = services["db"]["environment"]
    match = re.fullmatch(r"postgresql://(\w+):\$\{POSTGRES_PASSWORD:\?[^}]*\}@db:5432/(\w+)", url)
    assert match and match.groups() == (db["POSTGRES_USER"], db["POSTGRES_DB"])
    assert tandem["depends_on"]["db"]["condition"] == "service_healthy"
    assert tandem["expose"] == [env_of_image()["TANDEM_PORT"]]
    for volume in services["nginx"]["volumes"]:
        source = volume.split(":")[0]
        assert source in ("./nginx.conf", "./certs")
    assert (COMPOSE.parent / "nginx.conf").is_file()


def test_nginx_proxies_what_the_server_serves():
    text = NGINX.read_text()
    port = env_of_image()["TANDEM_PORT"]
    assert f"location {COLLAB_PATH} {{" in text
    upstreams = set(re.findall(r"proxy_pass (\S+);", text))
    assert upstreams == {f"http://tandem:{port}"}  # the compose service and the image's port
    assert 'proxy_set_header Connection "upgrade";' in text
    certs = re.findall(r"ssl_certificate(?:_key)?\s+(\S+);", text)
    assert certs == ["/etc/nginx/certs/fullchain.pem", "/etc/nginx/certs/privkey.pem"]
    assert "- ./certs:/etc/nginx/certs:ro" in COMPOSE.read_text()
    assert "location = /metrics {\n        deny all;" in text


def test_deploy_doc_shows_the_files_exactly():
    doc = section((ROOT / "docs" / "deploy.md").read_text(), "## Containers (Docker, Compose)")
    shown = {b.lang: b.code for b in blocks(doc) if b.lang in ("yaml", "nginx")}
    assert shown == {"yaml": COMPOSE.read_text(), "nginx": NGINX.read_text()}
    assert "docker build -t tandem-rtc ." in doc
