"""``mcwes evaluate``: score a predictions CSV against annotations, print the paper's table, write JSON."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..data.facts import DATASETS

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="MEGC evaluation of spotted intervals (F1-ME, P/R/F1, AP/mAP)",
        description="Evaluate a predictions CSV (video,onset,offset,score[,label,model_label]; 0-based "
                    "inclusive frames) against an annotation file (CAS(ME)^2/SAMM-LV/CAS(ME)^3 sheets or a "
                    "plain CSV video,subject,onset,offset,type).",
    )
    p.add_argument("--predictions", required=True, type=Path, help="predictions CSV")
    p.add_argument("--annotations", required=True, type=Path, help="annotation file")
    p.add_argument("--fps", type=float, default=None,
                   help="frames per second (default: from the annotation format, else 30)")
    p.add_argument("--matching", choices=("megc", "one_to_one"), default="megc",
                   help="megc: the organisers' counting (default); one_to_one: greedy by score")
    p.add_argument("--score-threshold", type=float, default=None,
                   help="drop predictions scoring below this first (default: keep all)")
    p.add_argument("--no-ap", action="store_true", help="skip AP/mAP")
    p.add_argument("--out", type=Path, default=None, help="write the metrics as JSON here")
    p.set_defaults(func=run)


def _load_ground_truth(path: Path, fps: float | None) -> tuple[Any, float | None]:
    """Ground truth as a table (video, onset, offset, type; 0-based inclusive) and the dataset's fps."""
    from ..data import read_annotations

    table, report = read_annotations(path, format="auto", fps=fps, offset_policy="lgsnet")
    if report.entries:
        log.info("%s", report)
    return table, report.fps


def run(args: argparse.Namespace) -> int:
    from .. import checks
    from ..metrics import evaluate
    from ..proposals import read_proposals_csv

    if args.fps is not None:
        checks.positive_number(args.fps, "mcwes evaluate", "--fps")
    checks.optional_number(args.score_threshold, "mcwes evaluate", "--score-threshold")
    checks.existing_file(args.predictions, "mcwes evaluate", "--predictions")
    checks.existing_file(args.annotations, "mcwes evaluate", "--annotations")
    if args.out is not None:
        checks.output_file(args.out, "mcwes evaluate", "--out")
    ground_truth, implied_fps = _load_ground_truth(args.annotations, args.fps)
    default_fps = DATASETS["casme2"].fps
    fps = args.fps if args.fps is not None else implied_fps if implied_fps is not None else default_fps
    if args.fps is None and implied_fps is None:
        log.info("no --fps given and none implied by the annotations: using %g (CAS(ME)^2's)", default_fps)
    predictions = read_proposals_csv(args.predictions, fps=fps)
    result = evaluate(predictions, ground_truth, fps=fps, matching=args.matching,
                      score_threshold=args.score_threshold, ap=not args.no_ap)
    print(result.table())
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result.to_json(args.out)
        log.info("wrote %s", args.out)
    return 0
