"""``mcwes ablate --table 4``: the snippet duration, one feature folder per window size, through real
submitit jobs (its local executor) on a tiny synthetic set. (Tables 1/3/5/6: tests/test_launch.py.)"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from mcwes import cli
from mcwes.ablate import table_cells

pytest.importorskip("submitit")

ITERATIONS = "3"
THREADS = str(torch.get_num_threads())  # the jobs' torch threads: those of the sequential run here


@pytest.fixture(scope="module")
def windows(tmp_path_factory):
    """Features at g = 8 (as synthesised) and at g = 16 (each pair of 8-frame snippets averaged: what a
    16-frame window sees), the annotations, and the sequential LOSO run at g = 8."""
    root = tmp_path_factory.mktemp("table4")
    assert cli.main(["synth", "--preset", "casme2", "--out", str(root / "data"), "--subjects", "2", "--feature-dim", "4",
                     "--frames", "300", "400", "--seed", "5"]) == 0
    g8, xlsx = root / "data" / "features", next((root / "data").glob("*.xlsx"))
    g16 = root / "features16"
    g16.mkdir()
    for f in sorted(g8.glob("*.npy")):
        x = np.load(f)
        n = len(x) // 2
        np.save(g16 / f.name, x[: 2 * n].reshape(n, 2, -1).mean(axis=1).astype(x.dtype))
    assert cli.main(["train", "--features", str(g8), "--annotations", str(xlsx), "--out", str(root / "sequential8"),
                     "--iterations", ITERATIONS, "--loso", "--no-progress"]) == 0
    return {8: g8, 16: g16}, xlsx, root / "sequential8"


def test_table_4_runs_one_cell_per_window_size_on_its_features(windows, tmp_path, capsys):
    folders, xlsx, sequential8 = windows
    out = tmp_path / "table4"
    args = ["ablate", "--table", "4", "--window-features", f"16={folders[16]}", f"8={folders[8]}", "--annotations",
            str(xlsx), "--out", str(out), "--seeds", "1", "--iterations", ITERATIONS, "--launcher", "local", "--jobs", "2",
            "--cpus-per-job", THREADS]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith("Table 4: snippet duration g") and "F1-ME(0.5)" in lines[1] and "F1-score" in lines[1]
    assert lines[2].startswith("8 frames") and lines[3].startswith("16 frames") and "±" in lines[2]
    table = json.loads((out / "table.json").read_text())
    assert [r["cell"] for r in table["summary"]] == ["8 frames", "16 frames"]
    assert table["features"] == {"8 frames": str(folders[8].resolve()), "16 frames": str(folders[16].resolve())}
    # Each cell trained with its own snippet size; the g = 8 cell is the sequential run on those features.
    for g in (8, 16):
        config = yaml.safe_load((out / f"{g}_frames" / "seed0" / "config.yaml").read_text())
        assert config["data"]["snippet_frames"] == g
    assert (out / "8_frames" / "seed0" / "predictions.csv").read_text() == (sequential8 / "predictions.csv").read_text()
    pooled = json.loads((sequential8 / "metrics.json").read_text())["pooled"]
    assert table["runs"]["8 frames"]["0"] == {k: pooled[k] for k in table["runs"]["8 frames"]["0"]}
    p16 = (out / "16_frames" / "seed0" / "predictions.csv").read_text()
    assert p16 != (sequential8 / "predictions.csv").read_text() and len(p16.splitlines()) > 1


def test_table_4_arguments(windows, tmp_path, capsys):
    folders, xlsx, _ = windows
    base = ["ablate", "--annotations", str(xlsx), "--out", str(tmp_path / "t"), "--seeds", "1"]
    assert cli.main([*base, "--table", "4", "--features", str(folders[8])]) == 1
    assert "table 4 (snippet duration) expected --window-features" in capsys.readouterr().err
    assert cli.main([*base, "--table", "1", "--window-features", f"8={folders[8]}"]) == 1
    assert "table 1 expected --features (--window-features is for table 4)" in capsys.readouterr().err
    assert cli.main([*base, "--table", "4", "--window-features", f"8={folders[8]}", f"8={folders[16]}"]) == 1
    assert "each window size once" in capsys.readouterr().err
    assert cli.main([*base, "--table", "4", "--window-features", f"8={tmp_path / 'missing'}"]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([*base, "--table", "4", "--window-features", "eight=feats"])
    assert "expected G=DIR" in capsys.readouterr().err
    assert [c for c, _ in table_cells(4, [16, 4, 8])] == ["4 frames", "8 frames", "16 frames"]
    with pytest.raises(ValueError, match="table 4 .* expected the window sizes"):
        table_cells(4)
    with pytest.raises(ValueError, match="belong to table 4"):
        table_cells(1, [8])
