"""``mcwes demo``: synthetic CAS(ME)^2-shaped data → training on some subjects → spotting held-out ones →
MEGC table vs baseline."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run the whole method on a small synthetic set (a few minutes on a laptop)")
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (data, model(s), metrics, plots)")
    p.add_argument("--full", action="store_true", help="the paper-sized configuration (hours on a CPU)")
    p.add_argument("--seed", type=int, help="seed of the data and of training")
    p.add_argument("--iterations", type=int, help="training iterations per model")
    p.add_argument("--device", help="torch device (default: CUDA when available)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG per test video")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import checks
    from ..demo import FULL, QUICK, run_demo, with_overrides

    where = "mcwes demo"
    checks.training_arguments(args, where)
    checks.output_dir(args.out, where, "--out")

    recipe = with_overrides(FULL if args.full else QUICK, seed=args.seed, iterations=args.iterations)
    result = run_demo(args.out, recipe=recipe, device=args.device, progress=not args.no_progress,
                      plots=not args.no_plots)
    print()
    how = ("leave-one-subject-out over" if result.mode == "loso"
           else "one model trained on the other subjects, tested on")
    print(f"MC-WES, {how} held-out subjects {', '.join(result.folds)}, "
          f"against the raw feature-energy threshold baseline on the same videos:")
    print()
    print(result.table())
    print()
    for h in result.health:
        auc, probe = h.get("auc", {}), h.get("probe_auc") or {}
        for split in ("train", "test"):
            if split in auc:
                mine = ", ".join(f"{k} {v:.2f}" for k, v in auc[split].items() if v is not None)
                ref = ", ".join(f"{k} {v:.2f}" for k, v in probe.get(split, {}).items() if v is not None)
                print(f"attention AUC vs background on {split} videos: {mine}" + (f" (MIL probe: {ref})" if ref else ""))
        for w in h.get("warnings", []):
            print(f"WARNING: {w}")
    print()
    print("MC-WES in detail:")
    print(result.mcwes.table())
    print()
    print(f"metrics: {result.out_dir / 'metrics.json'}; predictions: {result.out_dir / result.mode / 'predictions.csv'}; "
          f"plots: {result.out_dir / 'plots'}")
    print(f"demo finished in {result.seconds:.0f} s")
    return 0
