"""The paper's ablation studies as grids of LOSO runs (``mcwes ablate``; docs/scale-out.md).

A table is a list of cells, each a set of config overrides; every cell × seed is one unit of work (a
whole leave-one-subject-out run, :func:`mcwes.loso`, with ``train.seed`` = the seed) run through
:mod:`mcwes.launch` (local processes or a Slurm job array). Each unit writes its LOSO run under
``<out>/<cell>/seed<k>/`` and, last, ``done.json`` with the pooled metrics; a re-run skips units that have
it. The result is the paper's columns as mean ± std over seeds, also written as ``table.csv`` and
``table.json``.

Tables (docs/method.md §2, §3, §4 for the knobs):

* 1: multi-modal fusion (Tables 1/2): ``model.fusion`` concat, ccm, cscm.
* 3: the top-K ratios h of eq. 7 (Table 3): ``train.h`` [5,5,5], [7,7,7], [9,9,9], [5,7,5], [7,7,5],
  [5,9,5], [7,9,5].
* 4: the snippet duration (Table 4): ``data.snippet_frames`` g, each cell with its own features, extracted
  with g-frame windows (``mcwes extract --window G --stride G``; ``window_features={g: folder}``).
* 5: the loss terms (Table 5): all seven terms, then each term left out in turn. The paper's sixteen
  EXP rows are combinations whose exact membership is not recoverable from its table, so this grid is
  the leave-one-term-out design instead of the paper's rows.
* 6: post-processing (Table 6): ``spot.postprocess`` multi_top vs multi_threshold.
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from ._atomic import atomic_write_json
from .config import LOSS_NAMES, Config
from .launch import LaunchOptions, Unit, UnitFailed, run_units

__all__ = ["TABLES", "COLUMNS", "AblationResult", "ablate", "table_cells"]

log = logging.getLogger(__name__)

#: The paper's columns: (key in the pooled metrics, header).
COLUMNS = (("f1_me_05", "F1-ME(0.5)"), ("f1_me_10", "F1-ME(1.0)"), ("f1_me_p", "F1-ME(p)"),
           ("recall", "Recall"), ("precision", "Precision"), ("f1", "F1-score"))


def _h(values: Sequence[int]) -> tuple[str, dict[str, Any]]:
    return "h=[" + ",".join(str(v) for v in values) + "]", {"train": {"h": tuple(float(v) for v in values)}}


def table_cells(table: int, windows: Sequence[int] = ()) -> list[tuple[str, dict[str, Any]]]:
    """The cells of a table: ``[(name, config overrides)]`` in the paper's order; for table 4 one cell per
    snippet duration in ``windows`` (frames), shortest first."""
    if table == 4:
        bad = [g for g in windows if not isinstance(g, int) or isinstance(g, bool) or g < 1]
        if not windows or bad:
            raise ValueError("mcwes.ablate: table 4 (snippet duration) expected the window sizes of the features, "
                             f"positive integers (window_features={{g: folder}}), got {list(windows)!r}")
        return [(f"{g} frames", {"data": {"snippet_frames": g}}) for g in sorted(set(windows))]
    if windows:
        raise ValueError(f"mcwes.ablate: window sizes (window_features) belong to table 4, got them for table {table}")
    if table == 1:
        return [(name, {"model": {"fusion": fusion}}) for name, fusion in
                (("Concatenate", "concat"), ("CCM", "ccm"), ("CSCM", "cscm"))]
    if table == 3:
        return [_h(h) for h in ((5, 5, 5), (7, 7, 7), (9, 9, 9), (5, 7, 5), (7, 7, 5), (5, 9, 5), (7, 9, 5))]
    if table == 5:
        return [("all", {"train": {"losses": LOSS_NAMES}})] + [
            (f"without {name}", {"train": {"losses": tuple(n for n in LOSS_NAMES if n != name)}}) for name in LOSS_NAMES]
    if table == 6:
        return [("multi-top", {"spot": {"postprocess": "multi_top"}}),
                ("multi-threshold", {"spot": {"postprocess": "multi_threshold"}})]
    raise ValueError(f"mcwes.ablate: expected table to be one of {sorted(TABLES)}, got {table!r}")


TABLES = {1: "fusion (model.fusion)", 3: "top-K ratios h (train.h)",
          4: "snippet duration g (data.snippet_frames; features per window size)", 5: "loss terms (train.losses)",
          6: "post-processing (spot.postprocess)"}


@dataclass
class AblationResult:
    """Per cell: the pooled metrics of every seed, and their mean ± std (sample std; 0 for one seed)."""

    table: int
    cells: list[str]
    seeds: list[int]
    runs: dict[str, dict[int, dict[str, float]]]

    def summary(self) -> dict[str, dict[str, tuple[float, float]]]:
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for cell in self.cells:
            out[cell] = {}
            for key, _ in COLUMNS:
                values = [self.runs[cell][s][key] for s in self.seeds]
                mean = sum(values) / len(values)
                std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
                out[cell][key] = (mean, std)
        return out

    def text(self) -> str:
        summary = self.summary()
        width = max(12, *(len(c) for c in self.cells)) + 2
        lines = [f"Table {self.table}: {TABLES[self.table]}, mean ± std over {len(self.seeds)} seed(s)",
                 f"{'':{width}}" + "".join(f"{h:>16}" for _, h in COLUMNS)]
        for cell in self.cells:
            lines.append(f"{cell:{width}}" + "".join(f"{summary[cell][k][0]:>9.3f} ± {summary[cell][k][1]:.3f}"
                                                     for k, _ in COLUMNS))
        return "\n".join(lines)

    def to_rows(self) -> list[dict[str, Any]]:
        summary = self.summary()
        return [{"cell": cell, "seeds": len(self.seeds),
                 **{f"{k}_{stat}": summary[cell][k][i] for k, _ in COLUMNS for i, stat in enumerate(("mean", "std"))}}
                for cell in self.cells]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def _cell_unit(features: str, annotations: str, config: Config, directory: str) -> dict[str, float]:
    """One cell × seed in a job: a whole LOSO run, then ``done.json`` (written atomically) with its columns."""
    from .commands.train import open_dataset
    from .crossval import loso

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    dataset = open_dataset(Path(features), Path(annotations), config)
    result = loso(dataset, config, directory, progress=False)
    ev = result.evaluation
    o = ev.counts["overall"]
    metrics = {"f1_me_05": ev.f1_me_05, "f1_me_10": ev.f1_me_10, "f1_me_p": ev.f1_me_p, "recall": o.recall,
               "precision": o.precision, "f1": o.f1}
    atomic_write_json(Path(directory) / "done.json", metrics, indent=2)
    return metrics


def ablate(table: int, features: Union[str, Path, None], annotations: Union[str, Path], config: Config,
           out_dir: Union[str, Path], options: Optional[LaunchOptions] = None, *, seeds: int = 3,
           cells: Optional[Sequence[str]] = None,
           window_features: Optional[Mapping[int, Union[str, Path]]] = None) -> AblationResult:
    """Run a table's grid (every cell × ``seeds`` seeds, ``train.seed`` = the config's seed + 0, 1, …) and
    write ``table.csv``/``table.json`` under ``out_dir``. ``cells`` picks some of the table's cells by name.

    Table 4 takes no ``features``: ``window_features`` maps each snippet duration g (frames) to the folder
    of features extracted with g-frame windows; its cell g runs on them with ``data.snippet_frames = g``."""
    import pandas as pd

    windows = dict(window_features or {})
    all_cells = table_cells(table, list(windows))
    if table == 4:
        if features is not None:
            raise ValueError("mcwes.ablate: table 4 takes its features from window_features (--window-features), "
                             f"expected no features, got {features}")
        cell_features = {f"{g} frames": Path(d) for g, d in windows.items()}
    elif features is None:
        raise ValueError(f"mcwes.ablate: expected the features folder for table {table}, got None")
    else:
        cell_features = {c: Path(features) for c, _ in all_cells}
    if cells is not None:
        names = [c for c, _ in all_cells]
        unknown = [c for c in cells if c not in names]
        if unknown:
            raise ValueError(f"mcwes.ablate: expected cells among {names}, got {unknown}")
        all_cells = [c for c in all_cells if c[0] in cells]
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"mcwes.ablate: expected seeds to be an integer >= 1, got {seeds!r}")
    options = options or LaunchOptions()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    seed_values = [config.train.seed + k for k in range(seeds)]
    runs: dict[str, dict[int, dict[str, float]]] = {c: {} for c, _ in all_cells}
    units, where = [], {}
    for cell, overrides in all_cells:
        for seed in seed_values:
            cfg = config.replace(**overrides).replace(train={"seed": seed})
            directory = out / _slug(cell) / f"seed{seed}"
            done = directory / "done.json"
            if done.exists():
                runs[cell][seed] = json.loads(done.read_text())
                continue
            name = f"{cell} seed {seed}"
            where[name] = (cell, seed)
            units.append(Unit(name, _cell_unit, (str(cell_features[cell].resolve()), str(Path(annotations).resolve()),
                                                 cfg, str(directory))))
    log.info("mcwes.ablate: table %d, %d cell(s) x %d seed(s), %d unit(s) to run", table, len(all_cells), seeds,
             len(units))
    try:
        ran = run_units(units, options, options.log_dir or out / "jobs")
    except UnitFailed as exc:
        raise UnitFailed(exc.failures, "the other units are done and kept; run the same command again to retry "
                                       "the failed ones alone") from None
    for name, metrics in ran.items():
        cell, seed = where[name]
        runs[cell][seed] = metrics
    result = AblationResult(table, [c for c, _ in all_cells], seed_values, runs)
    rows = result.to_rows()
    pd.DataFrame(rows).to_csv(out / "table.csv", index=False)
    (out / "table.json").write_text(json.dumps({"table": table, "what": TABLES[table], "seeds": seed_values,
                                                "features": {c: str(cell_features[c].resolve()) for c in result.cells},
                                                "summary": rows,
                                                "runs": {c: {str(s): m for s, m in r.items()} for c, r in runs.items()}},
                                               indent=2))
    return result
