"""Subcommands of the `airlock` CLI, one module each, each with `register(subparsers)`."""
