"""``tandem serve``: run the collaboration server."""

from __future__ import annotations

import argparse

from tandem.cli.context import CliContext
from tandem.event_loop import LOOPS


def add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (TANDEM_HOST; 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (TANDEM_PORT; 8000)")
    parser.add_argument("--tls-cert", metavar="PEM", help="TLS certificate chain (with --tls-key)")
    parser.add_argument("--tls-key", metavar="PEM", help="TLS private key (with --tls-cert)")
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve /metrics and /healthz on a separate listener (TANDEM_METRICS_PORT; off)",
    )
    parser.add_argument(
        "--metrics-host",
        metavar="HOST",
        help="address of the metrics listener (TANDEM_METRICS_HOST; 127.0.0.1)",
    )
    parser.add_argument(
        "--loop",
        choices=LOOPS,
        help="event loop (TANDEM_LOOP; auto: uvloop when installed, else asyncio's)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the collaboration server")
    add_server_options(parser)
    parser.set_defaults(func=serve)


async def serve(args: argparse.Namespace, ctx: CliContext) -> int:
    from tandem.server.app import create_app
    from tandem.server.runner import serve as run

    settings = ctx.settings
    await run(create_app(settings), settings, log_level=args.log_level)
    return 0
