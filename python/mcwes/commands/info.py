"""``mcwes info``: how this copy of mcwes was built and what it can use now."""
from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("info", help="print mcwes.build_info() as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._ext import build_info

    print(json.dumps(build_info(), indent=2))
    return 0
