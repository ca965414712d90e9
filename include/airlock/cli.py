"""The `airlock` command line: a thin dispatcher over include/airlock/commands/*.

Each command module defines `register(subparsers)`, which adds its parser and sets `func`
(called with the parsed args, returning an exit code). Errors the kit anticipates
(AirlockError) print one clear line and exit 2: never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from airlock import __version__, commands
from airlock.errors import AirlockError


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `command` alone when it names one.

    Why `command`: each command module imports what it runs (boto3, Airflow's client, ...), about a
    second for all of them; `airlock status` should not pay for `airlock reprocess`'s imports.
    """
    parser = argparse.ArgumentParser(
        prog="airlock",
        description="Multi-tenant, event-driven dbt pipelines on Apache Airflow 3.",
    )
    parser.add_argument("--version", action="version", version=f"airlock {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__))
    for name in [command] if command in names else names:  # each module registers the command it is named for
        importlib.import_module(f"airlock.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AirlockError as exc:
        print(f"airlock {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
