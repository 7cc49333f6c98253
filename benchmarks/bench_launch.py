"""Wall time of a small LOSO run: sequential (``mcwes.loso`` in this process) against the submitit local
launcher (``mcwes.launch.loso``) with 1 and 2 jobs at a time, all in the same run.

Every contender trains the same folds with the same seeds; the launched runs' pooled predictions are
checked to be those of the sequential run before any time is reported. Each job of the launched runs
pays for a fresh interpreter (torch import, dataset read) on top of its fold.

    python benchmarks/bench_launch.py [--subjects 4] [--feature-dim 64] [--iterations 40] [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

import mcwes
from mcwes import launch
from mcwes.commands.train import fit_feature_dim, open_dataset
from mcwes.config import Config
from mcwes.data import synthetic

from _common import describe, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--feature-dim", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="2 subjects, 10 iterations")
    parser.add_argument("--isa", default="native", help="read by _common (ISA caps for every benchmark)")
    args = parser.parse_args()
    if args.quick:
        args.subjects, args.iterations = 2, 10
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = synthetic.write(synthetic.generate("casme2", seed=0, feature_dim=args.feature_dim, subjects=args.subjects,
                                                  frames_range=(300, 500)), root / "data")
        features, xlsx = data / "features", next(data.glob("*.xlsx"))
        config = Config.preset("casme2", train={"iterations": args.iterations})
        dataset = open_dataset(features, xlsx, config)
        config = fit_feature_dim(config, [dataset[0]])
        rows = []
        torch.set_num_threads(cores)
        start = time.perf_counter()
        reference = mcwes.loso(dataset, config, root / "sequential", progress=False)
        rows.append(("sequential (in process)", f"{cores} threads", time.perf_counter() - start))
        for jobs in (1, 2):
            options = launch.LaunchOptions(launcher="local", jobs=jobs, cpus_per_job=max(1, cores // jobs))
            start = time.perf_counter()
            launch.loso(features, xlsx, config, root / f"local{jobs}", options)
            rows.append((f"local launcher, {jobs} job(s)", f"{options.cpus_per_job} threads each",
                         time.perf_counter() - start))
            # Bitwise equal at the same thread count; with fewer threads per job, torch's reductions may
            # round differently in the last bits, so compare the pooled proposals to 1e-4.
            import pandas as pd

            a = pd.read_csv(root / f"local{jobs}" / "predictions.csv")
            b = pd.read_csv(root / "sequential" / "predictions.csv")
            if a.shape != b.shape or not ((a.drop(columns="score") == b.drop(columns="score")).all().all()
                                          and (a["score"] - b["score"]).abs().max() < 1e-4):
                raise SystemExit(f"bench_launch: the {jobs}-job run's predictions differ from the sequential run's")
        base = rows[0][2]
        print(f"LOSO: {len(reference.folds)} folds, {args.subjects} subjects, D = {args.feature_dim}, "
              f"{args.iterations} iterations; {describe()}")
        print(f"{'contender':28s} {'threads':18s} {'wall s':>8s} {'vs sequential':>14s}")
        for name, threads, seconds in rows:
            print(f"{name:28s} {threads:18s} {seconds:8.1f} {base / seconds:13.2f}x")
        out = Path("bench_out")
        out.mkdir(exist_ok=True)
        with open(out / "launch.jsonl", "a") as f:
            for name, threads, seconds in rows:
                f.write(json.dumps({"bench": "launch", "contender": name, "threads": threads, "seconds": seconds,
                                    "subjects": args.subjects, "feature_dim": args.feature_dim,
                                    "iterations": args.iterations, **machine()}) + "\n")


if __name__ == "__main__":
    main()
