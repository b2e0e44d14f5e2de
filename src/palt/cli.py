"""The ``palt`` command. Each subcommand lives in ``palt/commands/<name>.py`` and exposes
``add_parser(subparsers)`` (which sets ``func``) — add one module and one line to ``COMMANDS``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from palt import __version__

#: subcommand modules, in the order ``palt --help`` lists them
COMMANDS: list[str] = [
    "compare",
    "build",
    "stats",
    "extract",
    "train",
    "evaluate",
    "predict",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="palt",
        description="palt: multi-label learning with partial annotations and long tails.",
    )
    parser.add_argument("--version", action="version", version=f"palt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"palt.commands.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, PermissionError, OSError) as err:
        print(f"palt {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
