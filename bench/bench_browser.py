"""Browser benchmark (issue 4): keystroke-to-remote latency and opening a 50-page document.

Runs `tandem demo` on loopback with a fresh data dir, drives Debian's Chromium with
Playwright (never a downloaded browser), and prints a Markdown table.

    .venv/bin/python bench/bench_browser.py [--keys 200] [--pages 50]

Latency is measured on one clock: both pages live in one Chromium process and
stamp events with ``performance.timeOrigin + performance.now()`` (epoch ms).
A keydown listener in editor A's iframe stamps each keystroke; a MutationObserver
in editor B's iframe stamps each change of its text length.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_env

bench_env.ensure()

import httpx
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WORDS = [
    "tandem",
    "collaborates",
    "securely",
    "on",
    "documents",
    "while",
    "the",
    "server",
    "only",
    "ever",
    "sees",
    "ciphertext",
    "and",
    "ordering",
    "metadata",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start_demo(data_dir: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/tandem"),
            "--data-dir",
            str(data_dir),
            "demo",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("tandem demo did not start")


async def wait_synced(page, user: str) -> None:
    await page.wait_for_function(
        "(id) => { const e = window.tinymce && tinymce.get(id);"
        " return !!(e && e.plugins.rtc && e.plugins.rtc.getState && "
        "e.plugins.rtc.getState().synced); }",
        arg=f"editor-{user}",
        timeout=60000,
    )


async def keystroke_latency(browser, base: str, keys: int) -> list[float]:
    doc = f"latency-{int(time.time())}"
    pages = []
    for user in ("alice", "bob"):
        ctx = await browser.new_context()
        page = await ctx.new_page()
        await page.goto(f"{base}/?user={user}&doc={doc}")
        await wait_synced(page, user)
        pages.append(page)
    a, b = pages
    await b.evaluate("""() => {
        const body = tinymce.get('editor-bob').getBody();
        window.__seen = [];
        let last = body.textContent.length;
        new MutationObserver(() => {
          const n = body.textContent.length;
          if (n === last) return;
          last = n;
          window.__seen.push([n, performance.timeOrigin + performance.now()]);
        }).observe(body, {subtree: true, childList: true, characterData: true});
    }""")
    await a.evaluate("""() => {
        const ed = tinymce.get('editor-alice');
        window.__sent = [];
        ed.getBody().addEventListener('keydown', () =>
          window.__sent.push(performance.timeOrigin + performance.now()), true);
        ed.focus(); ed.selection.select(ed.getBody(), true); ed.selection.collapse(false);
    }""")
    start_len = await b.evaluate("() => tinymce.get('editor-bob').getBody().textContent.length")
    for i in range(keys):
        await a.keyboard.type("abcdefghij"[i % 10])
        await a.wait_for_timeout(40)  # a fast typist: 25 keys/s
    await b.wait_for_function(
        f"() => tinymce.get('editor-bob').getBody().textContent.length >= {start_len + keys}",
        timeout=30000,
    )
    sent = await a.evaluate("() => window.__sent")
    seen = await b.evaluate("() => window.__seen")
    arrival: dict[int, float] = {}
    for length, stamp in seen:
        for k in range(length - start_len):
            arrival.setdefault(k, stamp)
    return [arrival[i] - sent[i] for i in range(min(len(sent), keys)) if i in arrival]


async def typists_latency(browser, base: str, keys: int, typists: int = 3) -> list[float]:
    """Several users type at once, each in a paragraph of their own; a reader's view is
    timed: each keystroke -> the moment its paragraph in the reader's editor grows."""
    doc = f"typists-{int(time.time())}"
    users = [f"typist{i}" for i in range(typists)]
    pages = []
    for user in [*users, "reader"]:
        ctx = await browser.new_context()
        page = await ctx.new_page()
        await page.goto(f"{base}/?user={user}&doc={doc}")
        await wait_synced(page, user)
        pages.append(page)
    reader = pages[-1]
    first = pages[0]
    await first.evaluate(f"""() => {{
        const ed = tinymce.get('editor-typist0');
        ed.setContent({json.dumps("".join(f"<p>{u}: </p>" for u in users))});
    }}""")
    await reader.wait_for_function(
        f"() => tinymce.get('editor-reader').getBody().querySelectorAll('p').length >= {typists}",
        timeout=30000,
    )
    await reader.evaluate(
        """(n) => {
        const body = tinymce.get('editor-reader').getBody();
        window.__seen = [];
        const lengths = () => Array.from(body.querySelectorAll('p'), (p) => p.textContent.length);
        let last = lengths();
        new MutationObserver(() => {
          const now = lengths();
          const t = performance.timeOrigin + performance.now();
          for (let i = 0; i < n; i++) if (now[i] !== last[i]) window.__seen.push([i, now[i], t]);
          last = now;
        }).observe(body, {subtree: true, childList: true, characterData: true});
    }""",
        typists,
    )
    starts = await reader.evaluate(
        "() => Array.from(tinymce.get('editor-reader').getBody().querySelectorAll('p'),"
        " (p) => p.textContent.length)"
    )
    for i, (page, user) in enumerate(zip(pages[:-1], users, strict=True)):
        await page.evaluate(
            """([id, i]) => {
            const ed = tinymce.get(id);
            window.__sent = [];
            ed.getBody().addEventListener('keydown', () =>
              window.__sent.push(performance.timeOrigin + performance.now()), true);
            const p = ed.getBody().querySelectorAll('p')[i];
            ed.focus(); ed.selection.select(p, true); ed.selection.collapse(false);
        }""",
            [f"editor-{user}", i],
        )

    async def typist(page):
        for k in range(keys):
            await page.keyboard.type("abcdefghij"[k % 10])
            await page.wait_for_timeout(40)

    await asyncio.gather(*(typist(page) for page in pages[:-1]))
    await reader.wait_for_function(
        "([s, k]) => Array.from(tinymce.get('editor-reader').getBody().querySelectorAll('p'),"
        " (p) => p.textContent.length).every((n, i) => i >= s.length || n >= s[i] + k)",
        arg=[starts, keys],
        timeout=60000,
    )
    seen = await reader.evaluate("() => window.__seen")
    latencies: list[float] = []
    for i, page in enumerate(pages[:-1]):
        sent = await page.evaluate("() => window.__sent")
        arrival: dict[int, float] = {}
        for para, length, stamp in seen:
            if para != i:
                continue
            for k in range(length - starts[i]):
                arrival.setdefault(k, stamp)
        latencies += [arrival[k] - sent[k] for k in range(min(len(sent), keys)) if k in arrival]
    for page in pages:
        await page.context.close()
    return latencies


async def open_large_document(
    browser, base: str, data_dir: Path, port: int, pages_count: int
) -> dict:
    """Create a document of ~pages_count pages with the Python SDK, then time opening it."""
    sys.path.insert(0, str(ROOT / "src"))
    from tandem.client import DocumentClient
    from tandem.demo.page import DEMO_KEY, DEMO_KEY_HINT

    tenant = json.loads((data_dir / "demo-tenant.json").read_text())
    from tandem.demo.tenant import DemoTenant

    signer = DemoTenant(tenant["api_key"], tenant["kid"], tenant["private_pem"])
    doc = f"big-{int(time.time())}"
    paragraphs = []
    for i in range(pages_count * 12):  # ~12 paragraphs of ~45 words a page
        words = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(45))
        paragraphs.append(f"<p>{i}: {words}</p>" if i % 12 else f"<h2>Page {i // 12 + 1}</h2>")
    html = "".join(paragraphs)
    client = DocumentClient(
        f"http://127.0.0.1:{port}",
        api_key=signer.api_key,
        document_id=doc,
        token_provider=lambda _a: {"token": signer.sign("bench", document=doc)},
        encryption_provider=lambda _a: {"key": DEMO_KEY, "keyHint": DEMO_KEY_HINT},
        initial_content=html,
    )
    await client.start()
    await client.wait_synced(60)
    size = len(client.to_html())
    await client.close()
    timings = []
    for _ in range(3):
        ctx = await browser.new_context()
        page = await ctx.new_page()
        started = time.perf_counter()
        await page.goto(f"{base}/?user=reader&doc={doc}")
        await wait_synced(page, "reader")
        await page.wait_for_function(
            "(n) => tinymce.get('editor-reader').getBody().querySelectorAll('p').length >= n",
            arg=pages_count * 11,
            timeout=60000,
        )
        timings.append((time.perf_counter() - started) * 1000)
        await ctx.close()
    return {"html_bytes": size, "paragraphs": len(paragraphs), "open_ms": timings}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument(
        "--typists",
        type=int,
        default=3,
        help="users typing at once for the second latency row (0: skip)",
    )
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="tandem-bench-browser-"))
    port = free_port()
    proc = start_demo(data_dir, port)
    base = f"http://localhost:{port}"
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            latencies = await keystroke_latency(browser, base, args.keys)
            together = (
                await typists_latency(browser, base, args.keys, args.typists)
                if args.typists
                else []
            )
            big = await open_large_document(browser, base, data_dir, port, args.pages)
            version = browser.version
            await browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"# Browser benchmark ({platform.node()}, {os.cpu_count()} cores, Chromium {version})")
    print(
        f"\ncommand: .venv/bin/python bench/bench_browser.py --keys {args.keys} "
        f"--pages {args.pages} --typists {args.typists}\n"
    )
    print("| measurement | n | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    print(
        f"| keystroke in A → visible in B | {len(latencies)} | "
        f"{statistics.median(latencies):.1f} | {pct(latencies, 99):.1f} | "
        f"{max(latencies):.1f} |"
    )
    if together:
        print(
            f"| {args.typists} typists at once → visible to a reader | {len(together)} | "
            f"{statistics.median(together):.1f} | {pct(together, 99):.1f} | "
            f"{max(together):.1f} |"
        )
    opens = big["open_ms"]
    print(
        f"| open a {args.pages}-page document ({big['paragraphs']} blocks, "
        f"{big['html_bytes'] // 1024} KiB HTML) | {len(opens)} | "
        f"{statistics.median(opens):.0f} | {max(opens):.0f} | {max(opens):.0f} |"
    )


if __name__ == "__main__":
    asyncio.run(main())
