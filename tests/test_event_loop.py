"""The server's event loop (``loop`` setting, ``--loop``, ``TANDEM_LOOP``): uvloop by
default where it is installed, asyncio's own on request, and the whole protocol on both."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import warnings

import pycrdt
import pytest
import websockets

from tandem import event_loop
from tandem.client import websocket_url
from tandem.event_loop import loop_factory, loop_name, run, running_loop_name
from tandem.settings import SettingsError, load_settings
from tests.collab.helpers import RawClient, converged
from tests.conftest import close_all, new_client
from tests.support.server import RunningServer, free_port, make_tenant, start_subprocess

UVLOOP = importlib.util.find_spec("uvloop") is not None
needs_uvloop = pytest.mark.skipif(
    not UVLOOP and os.environ.get("CI") != "true",
    reason="uvloop is not installed (a dependency on CPython outside Windows)",
)


def test_the_default_is_auto_and_auto_takes_uvloop_when_installed(monkeypatch):
    assert load_settings().loop == "auto"
    monkeypatch.setattr(event_loop, "uvloop_available", lambda: False)
    assert loop_name("auto") == "asyncio"
    assert loop_factory("auto") is None
    monkeypatch.setattr(event_loop, "uvloop_available", lambda: True)
    assert loop_name("auto") == "uvloop"


@needs_uvloop
def test_uvloop_is_installed_with_tandem():
    # pyproject makes it a dependency here (CPython, Linux): auto must mean uvloop.
    assert loop_name("auto") == "uvloop"


def test_an_unknown_loop_is_a_settings_error_naming_the_choices():
    with pytest.raises(SettingsError) as info:
        loop_name("uvlop")
    assert info.value.message == "invalid value for loop: 'uvlop' (auto, uvloop or asyncio)"


def test_insisting_on_uvloop_without_it_says_how_to_fix_it(monkeypatch):
    monkeypatch.setattr(event_loop, "uvloop_available", lambda: False)
    with pytest.raises(SettingsError) as info:
        loop_name("uvloop")
    assert info.value.message == (
        "loop = uvloop, but uvloop is not installed (pip install uvloop, or use loop = auto)"
    )


@pytest.mark.parametrize("choice", ["asyncio", pytest.param("uvloop", marks=needs_uvloop)])
def test_run_runs_the_coroutine_on_the_chosen_loop(choice):
    async def which() -> tuple[str, int]:
        await asyncio.sleep(0)
        return running_loop_name(), 42

    assert run(which(), choice) == (choice, 42)


def test_a_refused_choice_does_not_leave_a_coroutine_unawaited():
    async def never() -> None:  # pragma: no cover - must not run
        raise AssertionError("ran")

    coro = never()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would be raised
        with pytest.raises(SettingsError):
            run(coro, "bogus")
        assert coro.cr_frame is None  # closed
        del coro
        gc.collect()


_TANDEM = (sys.executable, "-m", "tandem")


@pytest.fixture
def server_log(tmp_path):
    """A file for a ``tandem serve`` process's log (``start_subprocess(log=…)``)."""
    with (tmp_path / "server.log").open("w+b") as log:
        yield log


def _read(log) -> str:
    log.seek(0)
    return log.read().decode()


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        pytest.param([], {}, "uvloop", marks=needs_uvloop, id="default"),
        pytest.param(["--loop", "asyncio"], {}, "asyncio", id="flag-asyncio"),
        pytest.param([], {"TANDEM_LOOP": "asyncio"}, "asyncio", id="env-asyncio"),
        pytest.param(["--loop", "uvloop"], {}, "uvloop", marks=needs_uvloop, id="flag-uvloop"),
    ],
)
async def test_tandem_serve_runs_the_protocol_on_the_loop_it_names(
    tmp_path, server_log, args, env, expected
):
    """Two editors on one document through a ``tandem serve`` process on that loop: the
    log names the loop, and both end with the same whole document and version."""
    data = tmp_path / "data"
    data.mkdir()
    tenant = await make_tenant(data / "tandem.sqlite3")
    port = free_port()
    proc = await asyncio.to_thread(
        start_subprocess, data, port, "--log-level", "info", *args, log=server_log, env=env
    )
    clients = []
    try:
        server = RunningServer(f"http://127.0.0.1:{port}", data, tenant, process=proc)
        a = new_client(server, "alice", "loop-doc", initial_content="<p>one</p>")
        clients.append(a)
        await a.start()
        await a.wait_synced()
        b = new_client(server, "bob", "loop-doc")
        clients.append(b)
        await b.start()
        await b.wait_synced()
        for writer, numbers in ((a, range(10)), (b, range(10, 20))):
            for n in numbers:
                writer.append_paragraph(f"p{n}")
            html = await converged([a, b])
        assert html.split("\n") == ["<p>one</p>"] + [f"<p>p{n}</p>" for n in range(20)]
        assert a.version == b.version == 20
    finally:
        await close_all(clients)
        proc.terminate()
        proc.wait(15)
    text = _read(server_log)
    assert f"tandem.server: event loop: {expected}" in text
    assert text.count("event loop:") == 1


def test_a_misspelt_loop_in_the_environment_stops_tandem_serve_with_the_message(tmp_path):
    result = subprocess.run(
        [*_TANDEM, "--data-dir", str(tmp_path), "serve", "--port", str(free_port())],
        env=dict(os.environ, TANDEM_LOOP="uvlop"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: invalid value for loop: 'uvlop' (auto, uvloop or asyncio)"
    )
    assert "never awaited" not in result.stderr


def test_a_misspelt_loop_flag_is_a_usage_error(tmp_path):
    result = subprocess.run(
        [*_TANDEM, "--data-dir", str(tmp_path), "serve", "--loop", "uv"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "invalid choice: 'uv'" in result.stderr


async def test_the_test_suite_runs_on_the_servers_loop():
    """conftest's loop factory: in-process servers of the suite run where production does."""
    expected = "asyncio" if os.environ.get("TANDEM_TEST_LOOP") == "asyncio" else loop_name("auto")
    assert running_loop_name() == expected


@pytest.mark.parametrize("loop", ["asyncio", pytest.param("uvloop", marks=needs_uvloop)])
async def test_sigterm_with_a_client_that_stopped_reading_exits_promptly(
    tmp_path, server_log, loop
):
    """A reader that stops reading leaves unsent bytes in the server's socket buffer;
    shutting down must not wait for them (uvloop's loop.close() waits for open handles)."""
    data = tmp_path / "data"
    data.mkdir()
    tenant = await make_tenant(data / "tandem.sqlite3")
    port = free_port()
    proc = await asyncio.to_thread(
        start_subprocess,
        data,
        port,
        "--log-level",
        "info",
        "--loop",
        loop,
        log=server_log,
        env={"TANDEM_DOCUMENT_BYTES_PER_MINUTE": "0"},
    )
    a = None
    try:
        server = RunningServer(f"http://127.0.0.1:{port}", data, tenant, process=proc)
        a = new_client(server, "alice", "stuck-doc", initial_content="<p>start</p>")
        await a.start()
        await a.wait_synced()
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ws = await websockets.connect(websocket_url(server.url), sock=sock, max_size=None)
        slow = RawClient(ws)
        await slow.send(slow.hello_frame(tenant, "stuck-doc", user="slow"))
        await slow.recv_type("synced")
        ws.transport.pause_reading()
        for i in range(12):  # ~2 MiB the reader never takes: more than the socket buffers hold
            a.doc["blob" + str(i % 4)] = pycrdt.Text(os.urandom(96 * 1024).hex())
            await a.flush(30)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
        took = time.monotonic() - started
        ws.transport.abort()
    finally:
        if a is not None:
            await a.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = _read(server_log)
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert code == -signal.SIGTERM
    assert "Finished server process" in text
    assert took < 15  # uvicorn's graceful shutdown gives connections 5 s
