"""Runs many ``mcwes`` command lines in one interpreter (the fuzz suite starts it as a subprocess, so a
crash takes down this process, not pytest) and records what each did.

Usage: ``python cli_runner.py CASES.json RESULTS.jsonl``. CASES is a list of ``{"id", "argv"}``. For
every case the runner appends ``{"start": id}`` to RESULTS before it runs it (so a crash can be
blamed on the case that was running) and ``{"id", "rc", "stdout", "stderr", "escaped"}`` after it:
``rc`` is what ``mcwes.cli.main`` returned (or the ``SystemExit`` code argparse raised), ``escaped``
the traceback of an exception that got out of ``main`` (a failure: the CLI must catch everything).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import traceback
import warnings


def run_case(argv: list[str]) -> dict:
    from mcwes.cli import main

    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    for handler in list(root.handlers):  # basicConfig in main() binds the current sys.stderr
        root.removeHandler(handler)
    escaped = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.resetwarnings()  # every case sees its warnings, even if an earlier case had them
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse usage errors, --help, --version
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except BaseException:  # noqa: BLE001 - anything that escapes main is a failure to report
            rc = None
            escaped = traceback.format_exc()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    return {"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue(), "escaped": escaped}


def main() -> int:
    cases_path, results_path = sys.argv[1], sys.argv[2]
    with open(cases_path) as fh:
        cases = json.load(fh)
    with open(results_path, "a", buffering=1) as log:
        for case in cases:
            log.write(json.dumps({"start": case["id"]}) + "\n")
            log.flush()
            result = run_case(case["argv"])
            result["id"] = case["id"]
            log.write(json.dumps(result) + "\n")
            log.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
