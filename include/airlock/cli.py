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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airlock",
        description="Multi-tenant, event-driven dbt pipelines on Apache Airflow 3.",
    )
    parser.add_argument("--version", action="version", version=f"airlock {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"airlock.commands.{module.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
