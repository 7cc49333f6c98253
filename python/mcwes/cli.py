"""The ``mcwes`` command line. Every module in :mod:`mcwes.commands` adds its own subcommand through
``register(subparsers)``, so commands live next to the code they drive.

Errors: whatever a command raises becomes one line on stderr (``mcwes <command>: error: …``) and exit
code 1; ``--debug`` prints the traceback instead. Warnings (:class:`mcwes.checks.MCWESWarning` and any
other) become one line each (``mcwes <command>: warning: …``). Usage errors (an unknown option, a
value argparse cannot convert) keep argparse's usage message and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import traceback
import warnings
from collections.abc import Sequence

from . import commands as _commands
from ._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcwes", description="MC-WES weakly-supervised facial micro- and macro-expression spotting."
    )
    parser.add_argument("--version", action="version", version=f"mcwes {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="on an error, print the Python traceback")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{_commands.__name__}.{info.name}").register(subparsers)
    for sub in subparsers.choices.values():  # `mcwes spot … --debug` works as well as `mcwes --debug spot …`
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="on an error, print the Python traceback")
    return parser


def error_line(exc: BaseException) -> str:
    """One line that says what went wrong: the message (lines joined), prefixed with the exception's
    type where the message alone would not say it (an OSError from the system, an unexpected type)."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    if isinstance(exc, KeyError) and len(exc.args) == 1 and type(exc).__str__ is KeyError.__str__:
        text = f"missing key {exc.args[0]!r}"
    if not text.startswith("mcwes") and not isinstance(exc, (ValueError, TypeError)):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    name = f"mcwes {args.command}"

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split("\n"))
        print(f"{name}: warning: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        try:
            return int(args.func(args) or 0)
        except KeyboardInterrupt:
            print(f"{name}: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # every error: one line and exit code 1 (--debug: the traceback)
            if args.debug:
                traceback.print_exc()
            text = error_line(exc)
            text = text[len(name) + 2:] if text.startswith(f"{name}: ") else text  # no "mcwes spot: " twice
            print(f"{name}: error: {text}", file=sys.stderr)
            return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
