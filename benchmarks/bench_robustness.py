"""Robustness matrix: does MC-WES learn on data it was not tuned on?

The synthetic generator (``mcwes.data.synthetic``) under settings that a real dataset may have, each
trained on 16 subjects and tested on the 6 held-out ones (a subject-disjoint split), for several
seeds. Per cell: MC-WES's attention AUC (MaE / ME snippets vs background; training and held-out
videos) and overall F1 on the held-out videos, the multiple-instance probe's AUC (``mcwes.probe``:
is the data learnable from video-level labels?) and the feature-energy baseline's F1.

    python benchmarks/bench_robustness.py                      # every cell, seeds 0 1, 300 iterations
    python benchmarks/bench_robustness.py --cells default,scale_5 --seeds 0 --iterations 200
    python benchmarks/bench_robustness.py --jobs 2             # cells in parallel processes

Acceptance (where the probe localises MaE, held-out AUC ≥ 0.75): MC-WES's held-out MaE AUC ≥ 0.75,
its training MaE AUC ≥ 0.8 and its overall F1 ≥ 2× the energy baseline's. Prints a markdown table
(``benchmarks/RESULTS.md`` keeps the latest) and writes every number to ``--out`` (JSON lines).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import types
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

#: Each cell: SynthParams overrides, plus "_subjects" (how many subjects the set has; 6 are held out).
CELLS: dict[str, dict[str, Any]] = {
    "default": {},
    "scale_0.05": {"feature_scale": 0.05},
    "scale_5": {"feature_scale": 5.0},
    "offsets_small": {"subject_offset": 0.2},
    "offsets_x4": {"subject_offset": 4.0},
    "me_independent": {"me_shared_with_mae": 0.0},
    "no_neutral_videos": {"neutral_videos": 0},
    "few_videos": {"_subjects": 12},
    "noisy": {"mae_amplitude": (0.4, 0.9), "me_amplitude": (0.35, 0.8)},
    "post_relu": {"activation": "relu"},
}
#: The base of every cell: CAS(ME)^2-shaped, two expression-free videos per subject (see docs).
BASE = {"neutral_videos": 2}
HELD_OUT = 6


def _items(synth: Any) -> list[Any]:
    items = []
    for p in synth.plans:
        ex = [e for e in p.events if e.kind in ("MaE", "ME")]
        kinds = {e.kind for e in ex}
        items.append(types.SimpleNamespace(
            video=p.video, subject=p.subject, features=synth.features(p.video), n_frames=p.n_frames,
            labels=np.array([int("MaE" in kinds), int("ME" in kinds)], dtype=np.float32),
            intervals=np.array([[e.onset, e.offset] for e in ex], dtype=np.int64).reshape(-1, 2),
            interval_labels=np.array([0 if e.kind == "MaE" else 1 for e in ex], dtype=np.int64)))
    return items


def _gt(items: list[Any]) -> Any:
    import pandas as pd

    rows = [(it.video, it.subject, int(a), int(b), "MaE" if c == 0 else "ME")
            for it in items for (a, b), c in zip(it.intervals, it.interval_labels)]
    return pd.DataFrame(rows, columns=["video", "subject", "onset", "offset", "type"])


def run_cell(name: str, seed: int, iterations: int, feature_dim: int, threads: int,
             attention_hidden: int = 512) -> dict[str, Any]:
    import torch

    import mcwes
    from mcwes.data import synthetic
    from mcwes.spotting import energy_proposals
    from mcwes.health import attention_auc, attention_summary, snippet_labels
    from mcwes.inference import curves, spot
    from mcwes.metrics import evaluate
    from mcwes.probe import fit_probe
    from mcwes.train import Trainer

    torch.set_num_threads(threads)
    start = time.perf_counter()
    overrides = {**BASE, **CELLS[name]}
    n_subjects = overrides.pop("_subjects", None)
    params = replace(synthetic.SynthParams(), **overrides)
    synth = synthetic.generate("casme2", seed=seed, feature_dim=feature_dim, frames_range=(1000, 2000),
                               subjects=n_subjects, params=params)
    items = _items(synth)
    subjects = sorted({it.subject for it in items})
    test_subjects = set(np.random.default_rng(seed).choice(subjects, HELD_OUT, replace=False))
    train = [it for it in items if it.subject not in test_subjects]
    test = [it for it in items if it.subject in test_subjects]
    g, fps = synth.snippet_frames, synth.fps

    def labels(its: list[Any], scores: list[np.ndarray]) -> list[np.ndarray]:
        return [snippet_labels(len(s), it.intervals, it.interval_labels, g) for s, it in zip(scores, its)]

    row: dict[str, Any] = {"cell": name, "seed": seed, "train_videos": len(train), "test_videos": len(test)}
    probe = fit_probe(train, seed=seed)
    for split, its in (("train", train), ("test", test)):
        s = probe.scores([it.features for it in its], cls=0)
        row[f"probe_{split}_MaE"] = attention_auc(s, labels(its, s))["MaE"]

    config = mcwes.Config.preset("casme2", model={"feature_dim": feature_dim, "attention_hidden": attention_hidden},
                                 data={"train_snippets": 200},
                                 train={"iterations": iterations, "seed": seed})
    trainer = Trainer(config, train, progress=False)
    model = trainer.fit()
    for split, its in (("train", train), ("test", test)):
        att = [a for a, _ in curves([it.features for it in its], model)]
        auc = attention_auc(att, labels(its, att))
        row[f"mcwes_{split}_MaE"], row[f"mcwes_{split}_ME"] = auc["MaE"], auc["ME"]
        row[f"attention_{split}"] = attention_summary(att)
    props = spot([it.features for it in test], model, fps=fps, snippet_frames=g,
                 n_frames=[it.n_frames for it in test], names=[it.video for it in test])
    preds = mcwes.proposals.Proposals(p for ps in props for p in ps)
    gt = _gt(test)
    row["mcwes_f1"] = evaluate(preds, gt, fps=fps).counts["overall"].f1
    baseline = mcwes.proposals.Proposals()
    for it in test:
        baseline.extend(energy_proposals(it.features, n_frames=it.n_frames, snippet_frames=g, fps=fps, video=it.video))
    row["baseline_f1"] = evaluate(baseline, gt, fps=fps).counts["overall"].f1
    first = trainer.history[: max(1, iterations // 10)]
    last = trainer.history[-max(1, iterations // 10):]
    row["dc1_first"] = float(np.mean([r["dc1"] for r in first]))
    row["dc1_last"] = float(np.mean([r["dc1"] for r in last]))
    row["seconds"] = time.perf_counter() - start
    return row


def passes(r: dict[str, Any]) -> str:
    if r["probe_test_MaE"] < 0.75:
        return "n/a (probe < 0.75)"
    ok = r["mcwes_test_MaE"] >= 0.75 and r["mcwes_train_MaE"] >= 0.8 and r["mcwes_f1"] >= 2 * r["baseline_f1"]
    return "yes" if ok else "NO"


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| cell | seed | probe AUC MaE train / test | MC-WES AUC MaE train / test | MC-WES AUC ME test "
            "| A mean (train) | F1 MC-WES | F1 energy | L_dc1 first→last | passes |")
    lines = [head, "|" + "|".join("---" for _ in range(10)) + "|"]
    for r in rows:
        lines.append(
            f"| {r['cell']} | {r['seed']} | {r['probe_train_MaE']:.2f} / {r['probe_test_MaE']:.2f} "
            f"| {r['mcwes_train_MaE']:.2f} / {r['mcwes_test_MaE']:.2f} | {r['mcwes_test_ME']:.2f} "
            f"| {r['attention_train']['mean']:.2f} | {r['mcwes_f1']:.3f} | {r['baseline_f1']:.3f} "
            f"| {r['dc1_first']:.2f}→{r['dc1_last']:.2f} | {passes(r)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", default=",".join(CELLS), help=f"comma-separated, from {', '.join(CELLS)}")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--feature-dim", type=int, default=64)
    ap.add_argument("--attention-hidden", type=int, default=512,
                    help="hidden channels of the attention generators (the paper: 512; 128 for a quick matrix)")
    ap.add_argument("--jobs", type=int, default=1, help="cells run in this many processes")
    ap.add_argument("--out", type=Path, default=Path("bench_out/robustness.jsonl"))
    args = ap.parse_args(argv)
    cells = [c for c in args.cells.split(",") if c]
    unknown = [c for c in cells if c not in CELLS]
    if unknown:
        ap.error(f"unknown cells {unknown}; expected some of {list(CELLS)}")
    jobs = [(c, s) for c in cells for s in args.seeds]
    threads = max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {args.jobs} job(s) × {threads} thread(s); "
          f"D = {args.feature_dim}, attention hidden {args.attention_hidden}, {args.iterations} iterations", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_cell, c, s, args.iterations, args.feature_dim, threads, args.attention_hidden)
                   for c, s in jobs]
        for f in futures:
            r = f.result()
            rows.append(r)
            with open(args.out, "a") as fh:
                fh.write(json.dumps(r) + "\n")
            print(f"{r['cell']} seed {r['seed']}: MC-WES AUC {r['mcwes_train_MaE']:.2f}/{r['mcwes_test_MaE']:.2f} "
                  f"F1 {r['mcwes_f1']:.3f} vs energy {r['baseline_f1']:.3f}, probe {r['probe_test_MaE']:.2f} "
                  f"({r['seconds']:.0f} s)", flush=True)
    print()
    print(table(rows))
    failed = [r for r in rows if passes(r) == "NO"]
    failing = f"; failing: {[(r['cell'], r['seed']) for r in failed]}" if failed else ""
    print(f"\n{len(rows) - len(failed)} of {len(rows)} runs pass{failing}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
