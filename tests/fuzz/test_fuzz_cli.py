"""Fuzz suite of the command line: every ``mcwes`` command with bad (and good) arguments and files.

All cases run in ONE subprocess (``cli_runner.py``: ``mcwes.cli.main`` called once per case, output
captured), so a crash cannot take pytest down and the interpreter starts once. Each result is
classified:

- *clear error*: exit code 1 and exactly one ``mcwes <command>: error: …`` line on stderr, no
  traceback, naming what the case got wrong (``match``); or exit code 2 with argparse's usage message
  (a value argparse cannot convert);
- *correct result*: exit code 0, no error line, no traceback, and the case's own check of the output;
- otherwise a *failure*: a silent result (exit 0 where an error was due), a traceback, an unclear or
  multi-line error, or a crash of the runner.

Random option values are drawn from a seeded generator and judged by an oracle (what the option
accepts), so that every value is either refused clearly or used.
"""
from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest
import torch

import mcwes
from mcwes import Config, MCWES, save_checkpoint

RUNNER = Path(__file__).with_name("cli_runner.py")
D = 4  # feature width 2D = 8: tiny models, fast spotting


@dataclass
class Case:
    id: str
    argv: list
    expect: str  # "ok", "error", "warn" or "usage" (help printed, exit code 2)
    match: str = ""  # substring (case-insensitive) the error/warning line must contain
    check: Optional[Callable[[dict], Optional[str]]] = None  # extra check of a result: None or why it failed
    absent: list = field(default_factory=list)  # paths that must not exist afterwards (validated first)


def _rows(n_videos: int, rng: np.random.Generator) -> list:
    return [(f"v{i}", rng.standard_normal((int(rng.integers(16, 40)), 2 * D)).astype(np.float32)) for i in range(n_videos)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_cli")
    rng = np.random.default_rng(0)
    f: dict[str, Path] = {"root": root}
    torch.manual_seed(0)
    cfg = Config.preset("casme2", model={"feature_dim": D, "attention_hidden": 8})
    model = MCWES(cfg)
    f["ck"] = save_checkpoint(root / "ck.pt", model, cfg)
    nan_model = MCWES(cfg)
    with torch.no_grad():
        for p in nan_model.parameters():
            p.fill_(float("nan"))
    f["ck_nan"] = save_checkpoint(root / "ck_nan.pt", nan_model, cfg)
    (root / "ck_garbage.pt").write_bytes(b"not a checkpoint" * 10)
    f["ck_garbage"] = root / "ck_garbage.pt"
    feats = root / "feats"
    feats.mkdir()
    for name, x in _rows(3, rng):
        np.save(feats / f"{name}.npy", x)
    f["feats"] = feats
    for sub in ("a", "b"):
        (root / sub).mkdir()
        np.save(root / sub / "v1.npy", rng.standard_normal((20, 2 * D)).astype(np.float32))
    bad = root / "bad"
    bad.mkdir()
    np.save(bad / "complex.npy", (rng.standard_normal((20, 2 * D)) + 1j).astype(np.complex64))
    np.save(bad / "onedim.npy", rng.standard_normal(20).astype(np.float32))
    x = rng.standard_normal((20, 2 * D)).astype(np.float32)
    x[3, 1] = np.nan
    np.save(bad / "nan.npy", x)
    np.save(bad / "width.npy", rng.standard_normal((20, 6)).astype(np.float32))
    np.save(bad / "empty.npy", np.zeros((0, 2 * D), np.float32))
    np.save(bad / "strings.npy", np.array(["a", "b"]))
    (bad / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
    mixed = root / "mixed"
    mixed.mkdir()
    np.save(mixed / "m0.npy", rng.standard_normal((20, 2 * D)).astype(np.float32))
    (mixed / "sub").mkdir()
    np.savez(mixed / "m1.npz", feature=rng.standard_normal((20, D)))
    unpaired = root / "unpaired"
    unpaired.mkdir()
    for i in range(2):
        np.savez(unpaired / f"u{i}.npz", feature=rng.standard_normal((20, D)))
    (root / "emptydir").mkdir()
    (root / "blocker").write_text("a file where a folder is expected\n")
    f["bad_yaml"] = _write(root / "bad.yaml", "model: [\n")
    f["bad_fields"] = _write(root / "bad_fields.yaml", "model:\n  nonsense: 1\n")
    # ground truth (1-based CSV) and predictions (0-based) for the videos of feats/
    ann = "video,subject,onset,offset,type\nv0,s1,5,40,MaE\nv1,s1,10,14,ME\nv2,s2,1,60,MaE\n"
    f["ann"] = _write(root / "ann.csv", ann)
    f["ann_semicolon"] = _write(root / "ann_semicolon.csv", ann.replace(",", ";"))
    f["ann_huge"] = _write(root / "ann_huge.csv", ann.replace("v1,s1,10,14", "v1,s1,10,1e20"))
    f["ann_inf"] = _write(root / "ann_inf.csv", ann.replace("v1,s1,10,14", "v1,s1,inf,14"))
    preds = "video,onset,offset,score\nv0,4,39,0.9\nv1,9,13,0.5\nv2,0,20,0.3\n"
    f["preds"] = _write(root / "preds.csv", preds)
    f["preds_bom"] = _write(root / "preds_bom.csv", "\ufeff" + preds)
    f["preds_video0"] = _write(root / "preds_video0.csv", preds.replace("\nv", "\nvideo"))
    f["preds_semicolon"] = _write(root / "preds_semicolon.csv", preds.replace(",", ";"))
    f["preds_huge"] = _write(root / "preds_huge.csv", preds.replace("v1,9,13", "v1,9,1e20"))
    (root / "preds_binary.csv").write_bytes(bytes(range(256)) * 4)
    f["preds_binary"] = root / "preds_binary.csv"
    return f


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _file_has(path: Path, text: str) -> Callable[[dict], Optional[str]]:
    def check(result: dict) -> Optional[str]:
        if not path.is_file():
            return f"{path} was not written"
        return None if text in path.read_text(encoding="utf-8") else f"{path} lacks {text!r}"
    return check


def _csv_videos(path: Path, videos: set) -> Callable[[dict], Optional[str]]:
    def check(result: dict) -> Optional[str]:
        if not path.is_file():
            return f"{path} was not written"
        lines = path.read_text().splitlines()
        if not lines or not lines[0].startswith("video,onset,offset,score"):
            return f"{path}: unexpected header {lines[:1]}"
        got = {line.split(",")[0] for line in lines[1:]}
        return None if got <= videos else f"{path}: proposals for unknown videos {sorted(got - videos)}"
    return check


def _fixed_cases(f: dict) -> list:
    ck, feats, root = str(f["ck"]), f["feats"], f["root"]
    spot = ["spot", "--checkpoint", ck]
    v0, v1 = str(feats / "v0.npy"), str(feats / "v1.npy")
    ev = ["evaluate", "--predictions", str(f["preds"]), "--annotations", str(f["ann"])]
    syn = root / "syn"
    cuda = torch.cuda.is_available() and mcwes.build_info().get("gpu_usable", False)
    cases = [
        Case("info", ["info"], "ok", check=lambda r: None if '"version"' in r["stdout"] else "no JSON build info"),
        Case("no-command", [], "usage"),
        Case("unknown-option", ["info", "--no-such-option"], "error", "unrecognized"),
        # spot: good inputs
        Case("spot-files", spot + [v0, v1, "--out", str(root / "o1.csv")], "ok",
             check=_csv_videos(root / "o1.csv", {"v0", "v1"})),
        Case("spot-folder", spot + [str(feats), "--out", str(root / "o2.csv")], "ok",
             check=_csv_videos(root / "o2.csv", {"v0", "v1", "v2"})),
        Case("spot-print", spot + [v0], "ok", check=lambda r: None if "video" in r["stdout"] else "no table printed"),
        Case("spot-mixed-folder-warns", spot + [str(f["root"] / "mixed")], "warn", "ignored"),
        # spot: numbers
        Case("spot-fps-0", spot + [v0, "--fps", "0"], "error", "--fps"),
        Case("spot-fps-nan", spot + [v0, "--fps", "nan"], "error", "--fps"),
        Case("spot-fps-inf", spot + [v0, "--fps", "1e400"], "error", "--fps"),
        Case("spot-fps-negative", spot + [v0, "--fps", "-30"], "error", "--fps"),
        Case("spot-g-0", spot + [v0, "--snippet-frames", "0"], "error", "--snippet-frames"),
        Case("spot-g-int64", spot + [v0, "--snippet-frames", str(2**64)], "error", "int64"),
        Case("spot-g-frames", spot + [v0, "--snippet-frames", str(2**40)], "error", "2**31"),
        Case("spot-batch-0", spot + [v0, "--batch-size", "0"], "error", "--batch-size"),
        # spot: devices
        Case("spot-device-bogus", spot + [v0, "--device", "bogus"], "error", "--device"),
        Case("spot-device-cuda", spot + [v0, "--device", "cuda"], "ok" if cuda else "error", "" if cuda else "not available"),
        Case("spot-device-cuda99", spot + [v0, "--device", "cuda:99"], "error", "--device"),
        # spot: checkpoints
        Case("spot-ck-missing", ["spot", "--checkpoint", str(root / "nope.pt"), v0], "error", "does not exist"),
        Case("spot-ck-dir", ["spot", "--checkpoint", str(root), v0], "error", "directory"),
        Case("spot-ck-garbage", ["spot", "--checkpoint", str(f["ck_garbage"]), v0], "error", "not a readable checkpoint"),
        Case("spot-ck-nan", ["spot", "--checkpoint", str(f["ck_nan"]), v0], "error", "non-finite"),
        Case("spot-ck-under-file", ["spot", "--checkpoint", str(root / "blocker" / "ck.pt"), v0], "error", "not a directory"),
        # spot: features
        Case("spot-feat-missing", spot + [str(root / "nope.npy")], "error", "does not exist"),
        Case("spot-feat-complex", spot + [str(root / "bad" / "complex.npy")], "error", "real numbers"),
        Case("spot-feat-1d", spot + [str(root / "bad" / "onedim.npy")], "error", "shape"),
        Case("spot-feat-nan", spot + [str(root / "bad" / "nan.npy")], "error", "finite"),
        Case("spot-feat-width", spot + [str(root / "bad" / "width.npy")], "error", "8"),
        Case("spot-feat-empty", spot + [str(root / "bad" / "empty.npy")], "error", "snippet"),
        Case("spot-feat-strings", spot + [str(root / "bad" / "strings.npy")], "error", "real numbers"),
        Case("spot-feat-garbage", spot + [str(root / "bad" / "garbage.npy")], "error", "garbage.npy"),
        Case("spot-feat-same-name", spot + [str(root / "a" / "v1.npy"), str(root / "b" / "v1.npy")], "error", "two inputs"),
        Case("spot-feat-unpaired-npz", spot + [str(root / "unpaired")], "error", "holds no videos"),
        Case("spot-feat-empty-dir", spot + [str(root / "emptydir")], "error", "no videos"),
        Case("spot-feat-npz-layout", spot + [str(feats), "--layout", "npz"], "error", "holds no videos"),
        # spot: outputs
        Case("spot-out-under-file", spot + [v0, "--out", str(root / "blocker" / "x.csv")], "error", "not a directory"),
        Case("spot-out-dir", spot + [v0, "--out", str(root)], "error", "directory"),
        Case("spot-plot-file", spot + [v0, "--plot", str(root / "blocker")], "error", "--plot"),
        Case("spot-annotations-dir", spot + [v0, "--plot", str(root / "plots"), "--annotations", str(root)],
             "error", "directory"),
        Case("spot-debug-traceback", spot + [v0, "--fps", "0", "--debug"], "error", "--fps"),
        # evaluate
        Case("evaluate", ev + ["--out", str(root / "m.json")], "ok", check=_file_has(root / "m.json", '"warnings": []')),
        Case("evaluate-bom", ["evaluate", "--predictions", str(f["preds_bom"]), "--annotations", str(f["ann"])], "ok"),
        Case("evaluate-names-mismatch", ["evaluate", "--predictions", str(f["preds_video0"]), "--annotations",
                                         str(f["ann"]), "--out", str(root / "m0.json")], "warn", "ground truth",
             check=_file_has(root / "m0.json", "none of the 3 predicted videos")),
        Case("evaluate-preds-semicolon", ["evaluate", "--predictions", str(f["preds_semicolon"]), "--annotations",
                                          str(f["ann"])], "error", "comma-separated"),
        Case("evaluate-ann-semicolon", ev[:3] + ["--annotations", str(f["ann_semicolon"])], "error", "read the header"),
        Case("evaluate-ann-dir", ev[:3] + ["--annotations", str(root)], "error", "directory"),
        Case("evaluate-ann-huge", ev[:3] + ["--annotations", str(f["ann_huge"])], "error", "2**31"),
        Case("evaluate-ann-inf", ev[:3] + ["--annotations", str(f["ann_inf"])], "error", "2**31"),
        Case("evaluate-preds-huge", ["evaluate", "--predictions", str(f["preds_huge"]), "--annotations", str(f["ann"])],
             "error", "2**31"),
        Case("evaluate-preds-binary", ["evaluate", "--predictions", str(f["preds_binary"]), "--annotations",
                                       str(f["ann"])], "error", "UTF-8"),
        Case("evaluate-preds-missing", ["evaluate", "--predictions", str(root / "nope.csv"), "--annotations",
                                        str(f["ann"])], "error", "does not exist"),
        Case("evaluate-fps-0", ev + ["--fps", "0"], "error", "--fps"),
        Case("evaluate-threshold-nan", ev + ["--score-threshold", "nan"], "error", "--score-threshold"),
        Case("evaluate-out-dir", ev + ["--out", str(root)], "error", "directory"),
        # synth, train, demo: arguments are checked before anything is written
        Case("synth-dim-0", ["synth", "--out", str(root / "s0"), "--feature-dim", "0"], "error", "--feature-dim",
             absent=[root / "s0"]),
        Case("synth-subjects-0", ["synth", "--out", str(root / "s1"), "--subjects", "0"], "error", "--subjects",
             absent=[root / "s1"]),
        Case("synth-frames-reversed", ["synth", "--out", str(root / "s2"), "--frames", "50", "10"], "error", "MIN <= MAX",
             absent=[root / "s2"]),
        Case("synth-seed-negative", ["synth", "--out", str(root / "s3"), "--seed", "-1"], "error", "--seed",
             absent=[root / "s3"]),
        Case("synth-out-file", ["synth", "--out", str(root / "blocker")], "error", "--out"),
        Case("synth", ["synth", "--out", str(syn), "--feature-dim", str(D), "--subjects", "2", "--frames", "120", "200"],
             "ok", check=_file_has(syn / "videos.csv", "video,subject")),
        Case("train-videos-table", ["train", "--features", str(syn / "features"), "--annotations",
                                    str(syn / "CAS(ME)^2code_final.xlsx"), "--videos", str(syn / "videos.csv"),
                                    "--out", str(root / "run"), "--iterations", "1"], "ok",
             check=lambda r: None if (root / "run" / "checkpoint.pt").is_file() and "mcwes train: 1/1" in r["stderr"]
             else f"no checkpoint written or no progress line: {r['stderr'][-300:]!r}"),
        Case("train-iterations-0", ["train", "--features", str(syn / "features"), "--annotations",
                                    str(syn / "CAS(ME)^2code_final.xlsx"), "--out", str(root / "r0"), "--iterations", "0"],
             "error", "--iterations", absent=[root / "r0"]),
        Case("train-seed-huge", ["train", "--features", str(syn / "features"), "--annotations",
                                 str(syn / "CAS(ME)^2code_final.xlsx"), "--out", str(root / "r1"), "--seed", str(2**70)],
             "error", "--seed", absent=[root / "r1"]),
        Case("train-videos-missing", ["train", "--features", str(syn / "features"), "--annotations",
                                      str(syn / "CAS(ME)^2code_final.xlsx"), "--videos", str(root / "nope.csv"),
                                      "--out", str(root / "r2")], "error", "does not exist", absent=[root / "r2"]),
        Case("train-features-missing", ["train", "--features", str(root / "nope"), "--annotations", str(f["ann"]),
                                        "--out", str(root / "r3")], "error", "does not exist", absent=[root / "r3"]),
        Case("train-annotations-dir", ["train", "--features", str(feats), "--annotations", str(root),
                                       "--out", str(root / "r4")], "error", "directory", absent=[root / "r4"]),
        Case("train-device-bogus", ["train", "--features", str(feats), "--annotations", str(f["ann"]),
                                    "--out", str(root / "r5"), "--device", "bogus"], "error", "--device",
             absent=[root / "r5"]),
        Case("train-config-not-yaml", ["train", "--features", str(feats), "--annotations", str(f["ann"]),
                                       "--out", str(root / "r6"), "--config", str(f["bad_yaml"])], "error", "YAML",
             absent=[root / "r6"]),
        Case("train-config-unknown-field", ["train", "--features", str(feats), "--annotations", str(f["ann"]),
                                            "--out", str(root / "r7"), "--config", str(f["bad_fields"])], "error",
             "unknown fields", absent=[root / "r7"]),
        Case("train-out-file", ["train", "--features", str(feats), "--annotations", str(f["ann"]),
                                "--out", str(root / "blocker")], "error", "--out"),
        Case("demo-iterations-0", ["demo", "--out", str(root / "d0"), "--iterations", "0"], "error", "--iterations",
             absent=[root / "d0"]),
        Case("demo-device-bogus", ["demo", "--out", str(root / "d1"), "--device", "bogus"], "error", "--device",
             absent=[root / "d1"]),
        Case("demo-seed-negative", ["demo", "--out", str(root / "d2"), "--seed", "-5"], "error", "--seed",
             absent=[root / "d2"]),
    ]
    return cases


# -- random option values, judged by an oracle -------------------------------------------------------

def _token(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return rng.choice(["nan", "inf", "-inf", "1e400", "-0", "0", "", "abc", "0x10", "1_000", " 3 ", "1e3"])
    if kind == 1:
        return str(rng.choice([-1, 1]) * 2 ** rng.randrange(0, 80))
    if kind == 2:
        return str(rng.randrange(-5, 50))
    if kind == 3:
        return repr(rng.uniform(-100, 100))
    if kind == 4:
        return repr(10.0 ** rng.uniform(-320, 320))
    if kind == 5:
        return str(2**63 + rng.randrange(-2, 3))
    if kind == 6:
        return repr(rng.random())
    return str(rng.randrange(1, 9))


def _parse(token: str, kind: type) -> Optional[float]:
    try:
        return kind(token)
    except ValueError:
        return None


def _random_cases(f: dict, n: int = 12) -> list:
    rng = random.Random(17)
    v0 = str(f["feats"] / "v0.npy")
    spot = ["spot", "--checkpoint", str(f["ck"]), v0]
    ev = ["evaluate", "--predictions", str(f["preds"]), "--annotations", str(f["ann"])]
    T = int(np.load(v0, mmap_mode="r").shape[0])
    options = [
        # (argv prefix, option, argparse type, oracle: is the parsed value valid?)
        (spot, "--fps", float, lambda v: math.isfinite(v) and v > 0),
        (spot, "--snippet-frames", int, lambda v: 1 <= v and T * v <= 2**31),
        (spot, "--batch-size", int, lambda v: 1 <= v <= 2**63 - 1),
        (ev, "--fps", float, lambda v: math.isfinite(v) and v > 0),
        (ev, "--score-threshold", float, lambda v: math.isfinite(v)),
    ]
    cases = []
    for prefix, option, kind, valid in options:
        for i in range(n):
            token = _token(rng)
            value = _parse(token, kind)
            expect = "error" if value is None or not valid(value) else "ok"
            match = "" if value is None else option
            cases.append(Case(f"random{prefix[0]}{option}[{i}]={token!r}", prefix + [option, token], expect, match))
    return cases


# -- classification ----------------------------------------------------------------------------------

def classify(case: Case, result: Optional[dict]) -> Optional[str]:
    """None for a clear error or a correct result, else what is wrong."""
    if result is None:
        return "no result (the runner died while running this case)"
    if result["escaped"]:
        return f"an exception escaped mcwes.cli.main:\n{result['escaped']}"
    rc, err = result["rc"], result["stderr"]
    debug = "--debug" in case.argv
    if "Traceback" in err and not debug:
        return f"traceback on stderr:\n{err}"
    for path in case.absent:
        if Path(path).exists():
            return f"{path} was written although the arguments were refused first"
    error_lines = [line for line in err.splitlines() if ": error: " in line or line.startswith("usage:")]
    if case.expect == "usage":
        return None if rc == 2 and "usage:" in result["stdout"] + err else f"expected the usage text and exit code 2, got {rc}"
    if case.expect == "error":
        if rc == 0:
            return f"silent result: exit code 0 where an error was due (stdout {result['stdout'][-300:]!r})"
        if rc == 2 and "usage:" in err:
            return None if case.match.lower() in err.lower() else f"usage error without {case.match!r}: {err!r}"
        if rc != 1:
            return f"exit code {rc} (expected 1)"
        lines = [line for line in err.splitlines() if ": error: " in line]
        if len(lines) != 1 or not lines[0].startswith("mcwes "):
            return f"expected one 'mcwes <command>: error: ...' line, got {err!r}"
        if debug and "Traceback" not in err:
            return "--debug printed no traceback"
        if case.match.lower() not in lines[0].lower():
            return f"unclear error: {lines[0]!r} does not mention {case.match!r}"
        return None
    if rc != 0 or error_lines:
        return f"expected success, got exit code {rc}: {err[-800:]!r}"
    if case.expect == "warn":
        warns = [line for line in err.splitlines() if ": warning: " in line]
        if not any(case.match.lower() in w.lower() for w in warns):
            return f"expected a warning mentioning {case.match!r}, got stderr {err[-800:]!r}"
    if "\r" in err:
        return "carriage return on a stderr that is not a terminal"
    return case.check(result) if case.check else None


def test_every_cli_case_is_a_clear_error_or_a_correct_result(files, tmp_path):
    cases = _fixed_cases(files) + _random_cases(files)
    assert len({c.id for c in cases}) == len(cases)
    cases_path, results_path = tmp_path / "cases.json", tmp_path / "results.jsonl"
    cases_path.write_text(json.dumps([{"id": c.id, "argv": [str(a) for a in c.argv]} for c in cases]))
    proc = subprocess.run([sys.executable, str(RUNNER), str(cases_path), str(results_path)],
                          capture_output=True, text=True, timeout=600)
    results: dict[str, dict] = {}
    started: list[str] = []
    if results_path.exists():
        for line in results_path.read_text().splitlines():
            record = json.loads(line)
            if "start" in record:
                started.append(record["start"])
            else:
                results[record["id"]] = record
    if proc.returncode != 0:
        last = started[-1] if started else None
        pytest.fail(f"the CLI runner died (exit code {proc.returncode}) while running case {last!r}:\n"
                    f"{proc.stderr[-3000:]}")
    failures = {c.id: why for c in cases if (why := classify(c, results.get(c.id))) is not None}
    summary = {"cases": len(cases), "failures": len(failures)}
    assert not failures, f"{summary}\n" + "\n".join(f"- {k}: {v}" for k, v in failures.items())


def test_classifier_flags_silent_results_and_tracebacks():
    """The classifier itself: a silent success, a traceback and a vague error are failures."""
    case = Case("x", ["spot"], "error", "--fps")
    assert classify(case, {"rc": 0, "stdout": "", "stderr": "", "escaped": None}).startswith("silent")
    assert "traceback" in classify(case, {"rc": 1, "stdout": "", "stderr": "Traceback (most recent call last):\n",
                                          "escaped": None})
    assert "unclear" in classify(case, {"rc": 1, "stdout": "", "stderr": "mcwes spot: error: bad\n", "escaped": None})
    assert classify(case, {"rc": 1, "stdout": "", "stderr": "mcwes spot: error: expected --fps to be > 0\n",
                           "escaped": None}) is None
    ok = Case("y", ["info"], "ok")
    assert "carriage" in classify(ok, {"rc": 0, "stdout": "", "stderr": "a\rb", "escaped": None})
