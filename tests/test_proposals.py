"""Proposal records, CSV round-trips, snippet → frame conversion and duration labels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mcwes.proposals import (
    Proposal,
    Proposals,
    duration_label,
    me_max_frames,
    proposals_to_dataframe,
    read_proposals_csv,
    snippets_to_frames,
    write_proposals_csv,
)


def test_duration_label_at_the_paper_frame_rates():
    assert me_max_frames(30) == 15 and me_max_frames(200) == 100 and me_max_frames(30, 1.0) == 30
    assert duration_label(0, 14, 30) == "ME" and duration_label(0, 15, 30) == "MaE"
    assert duration_label(10, 109, 200) == "ME" and duration_label(10, 110, 200) == "MaE"
    assert duration_label(np.array([0, 0]), np.array([14, 15]), 30).tolist() == ["ME", "MaE"]
    assert duration_label(0, 13, 29.97) == "ME" and duration_label(0, 14, 29.97) == "MaE"  # floor(14.985)


def test_snippets_to_frames_follows_spec():
    # g = 8: snippet i covers [8i, 8i + 7]; the last offset is clipped to the video's last frame.
    onset, offset = snippets_to_frames(np.array([0, 2, 5]), np.array([0, 3, 6]), 8, n_frames=50)
    assert onset.tolist() == [0, 16, 40] and offset.tolist() == [7, 31, 49]
    onset, offset = snippets_to_frames(torch.tensor([1]), torch.tensor([1]), 32, n_frames=np.array([1000]))
    assert (onset.tolist(), offset.tolist()) == ([32], [63])
    onset, offset = snippets_to_frames(3, 4, 8)
    assert (int(onset), int(offset)) == (24, 39)
    empty = snippets_to_frames(np.zeros(0, np.int64), np.zeros(0, np.int64), 8, 10)
    assert empty[0].shape == (0,) and empty[0].dtype == np.int64


@pytest.mark.parametrize(
    "args, match",
    [
        (([1], [0], 8, 100), "start to be <= end"),
        (([-1], [0], 8, 100), "start to be >= 0"),
        (([0], [0], 0, 100), "snippet_frames"),
        (([20], [21], 8, 100), "n_frames"),
    ],
)
def test_snippets_to_frames_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        snippets_to_frames(*args)


def test_proposal_validates_and_derives_label():
    p = Proposal.from_frames("s15_0101", 10, 24, 0.7, "ME", fps=30)
    assert p.label == "ME" and p.length == 15 and isinstance(p.onset, int)
    assert Proposal.from_frames("v", 10, 25, 0.7, "ME", fps=30).label == "MaE"
    with pytest.raises(ValueError, match="onset to be <= offset"):
        Proposal("v", 5, 4, 0.1, "ME", "ME")
    with pytest.raises(ValueError, match="score"):
        Proposal("v", 0, 4, float("nan"), "ME", "ME")
    with pytest.raises(ValueError, match="label"):
        Proposal("v", 0, 4, 0.1, "micro", "ME")
    with pytest.raises(ValueError, match="integer"):
        Proposal("v", 0.5, 4, 0.1, "ME", "ME")


def test_csv_round_trip(tmp_path):
    props = Proposals([
        Proposal.from_frames("a", 0, 9, 0.123456789012345, "ME", 30),
        Proposal.from_frames("b,c", 100, 300, -0.5, "MaE", 30),  # a comma in the name is quoted
    ])
    path = tmp_path / "p.csv"
    props.to_csv(path)
    assert path.read_text().splitlines()[0] == "video,onset,offset,score,label,model_label"
    back = read_proposals_csv(path)
    assert back == props and isinstance(back, Proposals)
    frame = proposals_to_dataframe(props)
    assert list(frame.columns) == ["video", "onset", "offset", "score", "label", "model_label"]
    assert frame["onset"].tolist() == [0, 100] and Proposals.from_dataframe(frame) == props
    assert len(proposals_to_dataframe([])) == 0


def test_csv_without_labels_needs_fps(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("video,onset,offset,score\nv,0,9,0.5\nv,0,99,0.25\n")
    got = read_proposals_csv(path, fps=30)
    assert [p.label for p in got] == ["ME", "MaE"] and [p.model_label for p in got] == ["ME", "MaE"]
    with pytest.raises(ValueError, match="fps"):
        read_proposals_csv(path)


@pytest.mark.parametrize(
    "text, match",
    [
        ("video,onset,offset\nv,0,9\n", "have columns video, onset, offset, score"),
        ("video,onset,offset,score\nv,0,9,0.5\nv,zero,9,0.5\n", r"p.csv line 3 onset"),
        ("video,onset,offset,score\nv,0,9,abc\n", r"line 2 score"),
        ("video,onset,offset,score\nv,9,0,0.5\n", r"line 2.*onset to be <= offset"),
        ("video,onset,offset,score,label\nv,0,9,0.5,xx\n", r"line 2.*label"),
        ("video,onset,offset,score\nv,0,9\n", r"line 2 to have 4 fields"),
        ("", "empty file"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path, text, match):
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_proposals_csv(path, fps=30)


def test_write_accepts_a_plain_list(tmp_path):
    path = tmp_path / "p.csv"
    write_proposals_csv(path, [Proposal("v", 1, 2, 3.0, "ME", "MaE")])
    assert read_proposals_csv(path)[0] == Proposal("v", 1, 2, 3.0, "ME", "MaE")
