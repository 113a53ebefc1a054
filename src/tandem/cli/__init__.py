"""The ``tandem`` command line.

Each sub-command lives in its own module with a ``register(subparsers)`` function
that adds its parsers and sets ``func`` to an ``async def handler(args, ctx) -> int``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from tandem import __version__
from tandem.cli.context import CliContext
from tandem.errors import TandemError


def build_parser() -> argparse.ArgumentParser:
    from tandem.cli import apikey, doc, keys, serve, token

    parser = argparse.ArgumentParser(
        prog="tandem",
        description="Self-hosted, end-to-end-encrypted real-time collaboration for TinyMCE.",
    )
    parser.add_argument("--version", action="version", version=f"tandem {__version__}")
    parser.add_argument("--config", metavar="FILE", help="TOML settings file (or TANDEM_CONFIG)")
    parser.add_argument(
        "--data-dir", metavar="DIR", help="SQLite data directory (TANDEM_DATA_DIR; ./tandem-data)"
    )
    parser.add_argument(
        "--database-url", metavar="URL", help="database URL instead of --data-dir"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (serve, apikey, keys, token, doc):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = CliContext(args)
    try:
        result = args.func(args, ctx)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except TandemError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
