"""The ``tandem`` command line.

Each sub-command lives in its own module with a ``register(subparsers)`` function
that adds its parsers and sets ``func`` to an ``async def handler(args, ctx) -> int``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator, Sequence

from tandem import __version__, event_loop
from tandem.cli.context import CliContext
from tandem.errors import TandemError


def build_parser() -> argparse.ArgumentParser:
    from tandem.cli import apikey, db, demo, doc, keys, serve, token

    parser = argparse.ArgumentParser(
        prog="tandem",
        description="Self-hosted, end-to-end-encrypted real-time collaboration for TinyMCE.",
    )
    parser.add_argument("--version", action="version", version=f"tandem {__version__}")
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (serve, demo, apikey, keys, token, doc, db):
        module.register(sub)
    for leaf in _leaf_parsers(parser):
        _add_global_options(leaf, argparse.SUPPRESS)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default: object = None) -> None:
    parser.add_argument(
        "--config", metavar="FILE", default=default, help="TOML settings file (or TANDEM_CONFIG)"
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default,
        help="SQLite data directory (TANDEM_DATA_DIR; ./tandem-data)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        default=default,
        help="database URL instead of --data-dir (TANDEM_DATABASE_URL)",
    )


def _leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every sub-command parser that runs something, so that global options may
    also follow the sub-command (``tandem serve --data-dir DIR``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                if child.get_default("func") is not None:
                    yield child
                yield from _leaf_parsers(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = CliContext(args)
    try:
        # The server commands run on the loop their settings name; the others on asyncio's.
        loop = ctx.settings.loop if hasattr(args, "loop") else "asyncio"
        result = args.func(args, ctx)
        if asyncio.iscoroutine(result):
            result = event_loop.run(result, loop)
        return int(result or 0)
    except TandemError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
