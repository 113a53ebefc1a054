"""``scripts/fuzz-browser``: run the browser fuzzer (tests/support/fuzz.py) over many seeds.

    scripts/fuzz-browser --seeds 50 [--users K] [--start S] [--actions M] [--rounds R]
    scripts/fuzz-browser --seed 1234 --users 3          # replay one seed

One demo server (a temporary data directory) and one headless Chromium serve all seeds; each
seed gets a new document and new browser contexts. Every failing seed is printed with the
command that replays it; the exit status is 1 if any seed failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.support.browser import CHROMIUM, launch_chromium, serve_demo_in_loop
from tests.support.fuzz import DEFAULT_ACTIONS, DEFAULT_ROUNDS, USERS, FuzzCase, run_case


def users_for(seed: int, users: int | None) -> int:
    """Without --users, seeds cycle through 2, 3 and 4 users."""
    return users if users is not None else 2 + seed % (len(USERS) - 1)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="scripts/fuzz-browser",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--seeds", type=int, default=10, help="how many seeds (default 10)")
    which.add_argument(
        "--seed", type=int, action="append", help="run exactly this seed (repeatable)"
    )
    p.add_argument("--start", type=int, default=1, help="first seed of --seeds (default 1)")
    p.add_argument(
        "--users",
        type=int,
        choices=range(2, len(USERS) + 1),
        help="users per seed (default: 2, 3, 4 by seed)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help=f"rounds per seed (default {DEFAULT_ROUNDS})",
    )
    p.add_argument(
        "--actions",
        type=int,
        default=DEFAULT_ACTIONS,
        help=f"actions per user in each mixed phase (default {DEFAULT_ACTIONS})",
    )
    p.add_argument("--stop", action="store_true", help="stop at the first failing seed")
    p.add_argument(
        "--strict-structure",
        action="store_true",
        help="also fail when concurrent splits/merges/list toggles of one block "
        "duplicate its text (by default a note)",
    )
    p.add_argument(
        "--full-offline",
        action="store_true",
        help="disconnect by taking the whole browser context offline (HTTP too), "
        "not only its WebSockets",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print every seed's notes and the whole action log of failures",
    )
    return p.parse_args(argv)


async def main(argv: list[str]) -> int:
    args = parse(argv)
    seeds = args.seed or list(range(args.start, args.start + args.seeds))
    cases = [FuzzCase(s, users_for(s, args.users), args.rounds, args.actions) for s in seeds]
    if not os.access(CHROMIUM, os.X_OK):
        print(f"no Chromium at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.async_api import async_playwright

    failed = []
    ran = 0
    clean_run = 0
    longest_clean = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tandem-fuzz-") as tmp:
        tmp_dir = Path(tmp)
        async with serve_demo_in_loop(tmp_dir / "data") as server, async_playwright() as pw:
            browser = await launch_chromium(pw)
            try:
                for case in cases:
                    if not browser.is_connected():  # a crash can take Chromium down
                        browser = await launch_chromium(pw)
                    result = await run_case(
                        browser,
                        server,
                        case,
                        tmp_dir,
                        strict_structure=args.strict_structure,
                        full_offline=args.full_offline,
                    )
                    ran += 1
                    if result.ok:
                        clean_run += 1
                        longest_clean = max(longest_clean, clean_run)
                        print(
                            f"ok    {result.command:60} {result.seconds:5.1f}s "
                            f"{result.keystrokes:4d} keys",
                            flush=True,
                        )
                        if args.verbose:
                            for note in result.notes:
                                print(f"      note {note}")
                    else:
                        clean_run = 0
                        failed.append(result)
                        print(f"FAIL  {result.command:60} {result.seconds:5.1f}s", flush=True)
                        print(result.report(log_lines=400 if args.verbose else 40), flush=True)
                        if args.stop:
                            break
                        # a runaway page may still be busy: start the next seed afresh
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(browser.close(), 30)
                        browser = await launch_chromium(pw)
            finally:
                with contextlib.suppress(Exception):
                    await browser.close()
    total = time.monotonic() - started
    print(
        f"\n{ran} seeds in {total:.0f}s: {ran - len(failed)} clean, {len(failed)} failed; "
        f"longest run of consecutive clean seeds: {longest_clean}"
    )
    if failed:
        print("replay the failures with:")
        for result in failed:
            first = result.failures[0].splitlines()[0] if result.failures else ""
            print(f"  {result.command}    # {first[:110]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
