"""mcwes.evaluate: hand-worked MEGC / one-to-one cases, the threshold sweep against a slow loop over
thresholds, AP on a tiny example, and bad inputs."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mcwes
from mcwes import EvaluationResult, Proposal, evaluate


def P(video, onset, offset, score, fps=30.0, model_label="ME"):
    return Proposal.from_frames(video, onset, offset, score, model_label, fps)


def counts(result: EvaluationResult, name: str) -> tuple[int, int, int]:
    c = result.counts[name]
    return c.tp, c.fp, c.fn


# ---------------------------------------------------------------------------------------------
# Hand-worked cases (fps 30: ME = at most 15 frames)


def test_duplicates_on_one_gt_count_once():
    gt = [("v", 10, 19, "ME")]
    preds = [P("v", 10, 19, 0.9), P("v", 11, 19, 0.8), P("v", 10, 18, 0.7)]  # IoU 1, 0.9, 0.9
    for matching in ("megc", "one_to_one"):
        r = evaluate(preds, gt, fps=30, matching=matching)
        assert counts(r, "ME") == (1, 2, 0)
        assert r.counts["ME"].precision == pytest.approx(1 / 3)
        assert r.f1 == pytest.approx(0.5)  # P = 1/3, R = 1
        # At θ = 0.9 only the exact prediction is left: F1 = 1.
        assert r.best_threshold == 0.9 and r.f1_me_p == 1.0 and r.f1_me_05 == 1.0


def test_one_prediction_spanning_two_gts():
    # [0, 9] against [0, 4] and [5, 9]: inter 5, union 10 -> IoU 0.5 with both (inclusive).
    gt = [("v", 0, 4, "ME"), ("v", 5, 9, "ME")]
    preds = [P("v", 0, 9, 0.9)]
    megc = evaluate(preds, gt, fps=30)
    assert counts(megc, "ME") == (2, 0, 0)  # FP = max(0, 1 - 2)
    assert counts(evaluate(preds, gt, fps=30, matching="one_to_one"), "ME") == (1, 0, 1)


def test_touching_intervals_do_not_hit_each_other():
    gt = [("v", 0, 9, "ME"), ("v", 10, 19, "ME")]
    # The third prediction straddles both: IoU 5/15 with each.
    preds = [P("v", 0, 9, 0.5), P("v", 10, 19, 0.6), P("v", 5, 14, 0.7)]
    for matching in ("megc", "one_to_one"):
        assert counts(evaluate(preds, gt, fps=30, matching=matching), "ME") == (2, 1, 0)


def test_iou_exactly_half_is_a_hit_and_just_below_is_not():
    # fps 20: ME <= 10 frames, so 15- and 16-frame predictions are MaE like the 32-frame GT.
    gt = [("v", 0, 31, "MaE")]
    assert counts(evaluate([P("v", 0, 15, 1.0, fps=20)], gt, fps=20), "MaE") == (1, 0, 0)  # 16/32 = 0.5
    assert counts(evaluate([P("v", 0, 14, 1.0, fps=20)], gt, fps=20), "MaE") == (0, 1, 1)  # 15/32 < 0.5
    # Inclusive frames: [0, 4] covers 5 of the 10 frames of [0, 9] (an exclusive-end IoU would say 4/9).
    assert counts(evaluate([P("v", 0, 4, 1.0)], [("v", 0, 9, "ME")], fps=30), "ME") == (1, 0, 0)


def test_video_without_gt_counts_predictions_as_fp():
    gt = [("v", 0, 9, "ME")]
    preds = [P("v", 0, 9, 0.5), P("w", 0, 9, 0.9)]
    r = evaluate(preds, gt, fps=30)
    assert counts(r, "ME") == (1, 1, 0)
    assert r.f1 == pytest.approx(2 / 3)
    # θ = 0.9 keeps only the FP (F1 0); θ = 0.5 gives 2/3.
    assert r.best_threshold == 0.5 and r.f1_me_p == pytest.approx(2 / 3)


def test_one_frame_intervals():
    gt = [("v", 5, 5, "ME")]
    assert counts(evaluate([P("v", 5, 5, 1.0)], gt, fps=30), "ME") == (1, 0, 0)
    assert counts(evaluate([P("v", 6, 6, 1.0)], gt, fps=30), "ME") == (0, 1, 1)
    assert counts(evaluate([P("v", 5, 6, 1.0)], gt, fps=30), "ME") == (1, 0, 0)  # 1/2


def test_class_is_by_duration_and_f1_me_1s_widens_it():
    gt = [("v", 0, 19, "ME")]  # a 20-frame ME at 30 fps
    r = evaluate([P("v", 0, 19, 1.0)], gt, fps=30)  # 20 > 15 frames: labelled MaE
    assert counts(r, "ME") == (0, 0, 1) and counts(r, "MaE") == (0, 1, 0)
    assert r.f1_me_05 == 0.0 and r.f1_me_10 == 1.0  # 20 <= floor(30) frames


def test_greedy_one_to_one_prefers_higher_score_then_iou():
    gt = [("v", 0, 9, "ME"), ("v", 2, 11, "ME")]
    # a hits both (IoU 1 and 8/12), b only the first (7/10; 5/12 with the second): a takes the first.
    preds = [P("v", 0, 9, 0.9), P("v", 0, 6, 0.5)]
    r = evaluate(preds, gt, fps=30, matching="one_to_one")
    assert counts(r, "ME") == (1, 1, 1)
    # With b first in score order, b takes [0, 9] and a the second one.
    preds = [P("v", 0, 9, 0.4), P("v", 0, 6, 0.5)]
    assert counts(evaluate(preds, gt, fps=30, matching="one_to_one"), "ME") == (2, 0, 0)


def test_score_threshold_drops_low_scores_and_overall_sums_classes():
    gt = [("v", 0, 9, "ME"), ("v", 100, 199, "MaE")]
    preds = [P("v", 0, 9, 0.05), P("v", 100, 199, 0.5), P("v", 300, 399, 0.2)]
    r = evaluate(preds, gt, fps=30, score_threshold=0.1)
    assert r.n_predictions == 2
    assert counts(r, "ME") == (0, 0, 1) and counts(r, "MaE") == (1, 1, 0)
    assert counts(r, "overall") == (1, 1, 1)


def test_dataframe_inputs_and_label_from_duration():
    gt = pd.DataFrame({"video": ["v", "v"], "subject": ["s1", "s1"], "onset": [0, 100],
                       "offset": [9, 199], "type": ["ME", "MaE"]})
    preds = pd.DataFrame({"video": ["v", "v"], "onset": [0, 100], "offset": [9, 199], "score": [0.3, 0.4]})
    r = evaluate(preds, gt, fps=30)
    assert counts(r, "overall") == (2, 0, 0)
    tuples = list(gt[["video", "onset", "offset", "type"]].itertuples(index=False, name=None))
    assert evaluate(preds, tuples, fps=30).to_dict() == r.to_dict()


def test_no_predictions():
    r = evaluate([], [("v", 0, 9, "ME")], fps=30)
    assert counts(r, "ME") == (0, 0, 1) and r.best_threshold is None and r.f1_me_p == 0.0
    assert r.ap["ME"][0.5] == 0.0 and math.isnan(r.ap["MaE"][0.5])


# ---------------------------------------------------------------------------------------------
# AP


def test_ap_worked_example():
    # ME GT [0, 9], [20, 29]; ranked predictions: TP (IoU 1), FP, TP with IoU 8/12 = 0.667.
    gt = [("v", 0, 9, "ME"), ("v", 20, 29, "ME")]
    preds = [P("v", 0, 9, 0.9), P("v", 40, 49, 0.8), P("v", 22, 31, 0.7)]
    r = evaluate(preds, gt, fps=30)
    # tIoU <= 0.6: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> envelope 1, 2/3, 2/3 -> AP 5/6.
    for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        assert r.ap["ME"][t] == pytest.approx(5 / 6)
    assert r.ap["ME"][0.7] == pytest.approx(0.5)  # only the first TP: recall 1/2 at precision 1
    assert math.isnan(r.ap["MaE"][0.5])  # no MaE GT: left out of the mAP
    assert r.map == pytest.approx((6 * 5 / 6 + 0.5) / 7)
    assert r.map_per_tiou[0.7] == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------
# Sweep against a slow loop over thresholds


def _iou(a, b):
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]) + 1)
    return inter / ((a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter)


def _slow_counts(preds, gt, matching):
    """Per class (tp, fp, fn) of (video, onset, offset, score, cls) preds against (video, on, off, cls) GT."""
    out = {}
    for cls in ("MaE", "ME"):
        tp = fp = fn = 0
        videos = {p[0] for p in preds} | {g[0] for g in gt}
        for v in sorted(videos):
            ps = [p for p in preds if p[0] == v and p[4] == cls]
            gs = [g for g in gt if g[0] == v and g[3] == cls]
            if matching == "megc":
                hit = sum(any(_iou(p[1:3], g[1:3]) >= 0.5 for p in ps) for g in gs)
                tp += hit
                fp += max(0, len(ps) - hit)
                fn += len(gs) - hit
            else:
                free = list(range(len(gs)))
                n = 0
                for p in sorted(ps, key=lambda p: (-p[3], p[1], p[2])):
                    cands = [(-_iou(p[1:3], gs[j][1:3]), gs[j][1], j) for j in free if _iou(p[1:3], gs[j][1:3]) >= 0.5]
                    if cands:
                        free.remove(min(cands)[2])
                        n += 1
                tp += n
                fp += len(ps) - n
                fn += len(gs) - n
        out[cls] = (tp, fp, fn)
    return out


def _f1(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def _slow_evaluate(preds, gt, fps, matching):
    """The paper's three ME F1-scores by looping over every distinct score."""
    thetas = sorted({p[3] for p in preds})
    best = (-1.0, None, None)
    f05 = f10 = 0.0
    for theta in thetas:  # ascending: on ties the first (smallest) θ stays best
        kept = [p for p in preds if p[3] >= theta]
        labelled = [(v, s, e, sc, "ME" if e - s + 1 <= math.floor(0.5 * fps) else "MaE") for v, s, e, sc in kept]
        c = _slow_counts(labelled, gt, matching)
        overall = _f1(*(c["MaE"][i] + c["ME"][i] for i in range(3)))
        if overall > best[0]:
            best = (overall, theta, _f1(*c["ME"]))
        for limit, name in ((math.floor(0.5 * fps), "05"), (math.floor(fps), "10")):
            me = [(v, s, e, sc, "ME") for v, s, e, sc in kept if e - s + 1 <= limit]
            f = _f1(*_slow_counts(me, [g for g in gt if g[3] == "ME"], matching)["ME"])
            if name == "05":
                f05 = max(f05, f)
            else:
                f10 = max(f10, f)
    return best, f05, f10


@st.composite
def _cases(draw):
    videos = ["a", "b", "c"]
    n_gt = draw(st.integers(0, 6))
    gt = []
    for _ in range(n_gt):
        s = draw(st.integers(0, 40))
        gt.append((draw(st.sampled_from(videos[:2])), s, s + draw(st.integers(0, 24)), draw(st.sampled_from(["MaE", "ME"]))))
    n_p = draw(st.integers(0, 12))
    preds = []
    for _ in range(n_p):
        s = draw(st.integers(0, 40))
        preds.append((draw(st.sampled_from(videos)), s, s + draw(st.integers(0, 29)),
                      draw(st.sampled_from([0.1, 0.2, 0.3, 0.4, 0.5, 0.75]))))
    # Sometimes copy GT intervals as predictions so hits are common.
    for g in gt:
        if draw(st.booleans()):
            preds.append((g[0], g[1], g[2], draw(st.sampled_from([0.2, 0.4, 0.6]))))
    fps = draw(st.sampled_from([20.0, 30.0, 40.0]))
    return preds, gt, fps


@pytest.mark.parametrize("matching", ["megc", "one_to_one"])
@given(case=_cases())
def test_sweep_matches_slow_loop(matching, case):
    preds, gt, fps = case
    proposals = [P(v, s, e, sc, fps=fps) for v, s, e, sc in preds]
    r = evaluate(proposals, gt, fps=fps, matching=matching, ap=False)
    (best_f1, best_theta, f1_me_p), f05, f10 = _slow_evaluate(preds, gt, fps, matching)
    assert r.f1_me_05 == pytest.approx(f05)
    assert r.f1_me_10 == pytest.approx(f10)
    assert r.f1_me_p == pytest.approx(f1_me_p if best_theta is not None else 0.0)
    assert r.best_threshold == best_theta
    if preds:
        assert r.best_counts["overall"].f1 == pytest.approx(best_f1)
    labelled = [(v, s, e, sc, "ME" if e - s + 1 <= math.floor(0.5 * fps) else "MaE") for v, s, e, sc in preds]
    slow = _slow_counts(labelled, gt, matching)
    for cls in ("MaE", "ME"):
        assert counts(r, cls) == slow[cls]


# ---------------------------------------------------------------------------------------------
# Output and bad input


def test_table_and_json_state_the_convention(tmp_path):
    r = evaluate([P("v", 0, 9, 0.9)], [("v", 0, 9, "ME")], fps=30, matching="one_to_one")
    text = r.table()
    for column in ("F1-ME(0.5)", "F1-ME(1.0)", "F1-ME(p)", "Recall", "Precision", "F1-score"):
        assert column in text
    assert "one-to-one" in text and "IoU >= 0.5 inclusive" in text and "pooled" in text
    r.to_json(tmp_path / "m.json")
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["matching"] == "one_to_one" and data["counts"]["ME"]["tp"] == 1
    assert data["ap"]["MaE"]["0.5"] is None  # NaN -> null


@pytest.mark.parametrize("fps", [0, -30, float("nan"), float("inf")])
def test_bad_fps(fps):
    with pytest.raises(ValueError, match="mcwes.evaluate: expected fps"):
        evaluate([], [], fps=fps)


def test_bad_inputs_name_the_problem():
    gt = [("v", 0, 9, "ME")]
    frame = pd.DataFrame({"video": ["v"], "onset": [0], "offset": [9], "score": [float("nan")]})
    with pytest.raises(ValueError, match="NaN in row 0"):
        evaluate(frame, gt, fps=30)
    with pytest.raises(ValueError, match="onset <= offset"):
        evaluate(frame.assign(score=1.0, onset=10), gt, fps=30)
    with pytest.raises(ValueError, match="integer frame indices >= 0"):
        evaluate(frame.assign(score=1.0, onset=-1), gt, fps=30)
    with pytest.raises(ValueError, match="type to be one of"):
        evaluate([], [("v", 0, 9, "micro")], fps=30)
    with pytest.raises(ValueError, match="have columns video, onset, offset, score"):
        evaluate(frame.drop(columns="score"), gt, fps=30)
    with pytest.raises(ValueError, match="matching"):
        evaluate([], gt, fps=30, matching="greedy")
    with pytest.raises(ValueError, match=r"ground_truth row 0"):
        evaluate([], [("v", 0, 9)], fps=30)


def test_exported_from_package():
    assert mcwes.evaluate is evaluate and mcwes.Proposal is Proposal and mcwes.EvaluationResult is EvaluationResult


# ---------------------------------------------------------------------------------------------
# Command line


def test_evaluate_command_prints_table_and_writes_json(tmp_path, capsys):
    from mcwes.cli import main

    ann = tmp_path / "ann.csv"
    ann.write_text("video,subject,onset,offset,type\nv1,s1,10,19,ME\nv1,s1,100,199,MaE\nv2,s2,50,59,ME\n")
    preds = tmp_path / "preds.csv"
    mcwes.proposals.write_proposals_csv(preds, [P("v1", 10, 19, 0.9), P("v1", 300, 399, 0.4, model_label="MaE")])
    out = tmp_path / "m" / "metrics.json"
    assert main(["evaluate", "--predictions", str(preds), "--annotations", str(ann), "--fps", "30",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "F1-ME(p)" in text and "convention:" in text
    data = json.loads(out.read_text())
    assert data["counts"]["ME"] == {"tp": 1, "fp": 0, "fn": 1, "precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3)}
    assert data["counts"]["MaE"]["fp"] == 1 and data["counts"]["MaE"]["fn"] == 1


def test_evaluate_command_reports_bad_csv(tmp_path, capsys):
    from mcwes.cli import main

    ann = tmp_path / "ann.csv"
    ann.write_text("video,subject,onset,offset,type\nv1,s1,10,19,ME\n")
    preds = tmp_path / "preds.csv"
    preds.write_text("video,onset,offset,score\nv1,10,19,high\n")
    assert main(["evaluate", "--predictions", str(preds), "--annotations", str(ann)]) == 1
    assert "preds.csv line 2 score" in capsys.readouterr().err


def test_evaluate_command_takes_the_frame_rate_from_the_annotation_format(tmp_path, capsys):
    """A SAMM-LV spreadsheet means 200 fps: a 40-frame prediction is then a micro-expression."""
    import pandas as pd

    from mcwes.cli import main

    rows = [["description"] + [None] * 9 for _ in range(9)]
    rows.append(["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
                 "Action Units", "Notes"])
    rows.append([6, "006_1_1", 1, 101, 120, 140, 40, "Micro - 1/2", "AU4", ""])
    ann = tmp_path / "SAMM_LongVideos_V3_Release.xlsx"
    pd.DataFrame(rows).to_excel(ann, sheet_name="FACS_Movement_Only", header=False, index=False)
    preds = tmp_path / "preds.csv"
    preds.write_text("video,onset,offset,score\n006_1,100,139,0.9\n")
    assert main(["evaluate", "--predictions", str(preds), "--annotations", str(ann), "--no-ap"]) == 0
    out = capsys.readouterr().out
    assert "ME <= 100 frames at 200 fps" in out
