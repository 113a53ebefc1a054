"""``tandem doc cat|append|info``: read and write documents as their key holder."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("doc", help="read and edit documents (needs the keys)")
    commands = parser.add_subparsers(dest="doc_command", metavar="ACTION")
    commands.required = True
