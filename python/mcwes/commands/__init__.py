"""Subcommands of the ``mcwes`` command line: each module defines ``register(subparsers)`` and sets
``func`` on its parser; :mod:`mcwes.cli` finds them all."""
