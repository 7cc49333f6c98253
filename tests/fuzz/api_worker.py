"""Hypothesis fuzzing of the public Python entry points, run as a subprocess by ``test_fuzz_api.py``
(the compiled kernels run in here, so a crash cannot take pytest down).

Every property draws inputs together with an oracle verdict (valid or not), calls the entry point and
classifies the outcome: a *clear error* (an exception of the documented kind whose message starts with
the function's name ``mcwes…``) for invalid input, a *correct result* (checked against the property's
own expectation) for valid input; anything else (a result for invalid input = a silent result, an
error for valid input, a vague or foreign exception) is a failure that Hypothesis shrinks and reports.

Usage: ``python api_worker.py [NAME ...]`` runs the named properties (default: all) and exits 1 when
any fails, printing each failure.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mcwes
from mcwes import Config, MCWES, checks
from mcwes.losses import mcwes_losses
from mcwes.model import MCWESOutput

EXAMPLES = int(os.environ.get("MCWES_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=list(HealthCheck))
CLEAR = (ValueError, TypeError, OSError, KeyError, RuntimeError)
D = 4
W = 2 * D

torch.manual_seed(0)
CONFIG = Config.preset("casme2", model={"feature_dim": D, "attention_hidden": 8})
MODEL = MCWES(CONFIG).eval()
PLAIN = MCWES(CONFIG, kernels=False).eval()
PLAIN.load_state_dict(MODEL.state_dict())


class Failure(AssertionError):
    pass


def outcome(fn, *args, **kwargs):
    """("ok", value) or ("error", exception); warnings are collected, not printed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return "ok", fn(*args, **kwargs), caught
        except CLEAR as exc:
            return "error", exc, caught
        except Exception as exc:  # a type no caller expects: a failure
            raise Failure(f"unexpected exception type {type(exc).__name__}: {exc}\n{traceback.format_exc()}") from exc


def judge(valid: bool, result, name: str, why: str = "") -> object:
    """The value of a call that had to succeed; an error for valid input or a result for invalid input fails."""
    kind, value, _ = result
    if valid and kind == "error":
        raise Failure(f"{name}: valid input ({why}) refused: {type(value).__name__}: {value}")
    if not valid and kind == "ok":
        raise Failure(f"{name}: silent result for invalid input ({why}): {str(value)[:300]}")
    if kind == "error":
        message = str(value.args[0]) if isinstance(value, KeyError) and value.args else str(value)
        if not message.startswith("mcwes"):
            raise Failure(f"{name}: unclear error (does not name the function) for {why}: "
                          f"{type(value).__name__}: {message}")
        if len(message) < 20:
            raise Failure(f"{name}: unclear error for {why}: {message!r}")
    return value


# ---------------------------------------------------------------------------------------------------
# padding: whatever a video's padding holds, its valid outputs do not change

GARBAGE = st.sampled_from([float("nan"), float("inf"), float("-inf"), 3e38, -3e38, 0.0])


@settings(FUZZ, max_examples=max(5, EXAMPLES // 2))
@given(data=st.data(), B=st.integers(1, 3), T=st.integers(1, 12), fill=GARBAGE, kernels=st.booleans())
def padding_never_changes_valid_outputs(data, B, T, fill, kernels):
    lengths = data.draw(st.lists(st.integers(0, T), min_size=B, max_size=B), label="lengths")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, W, generator=g)
    clean = x.clone()
    for b, L in enumerate(lengths):
        clean[b, L:] = 0
        x[b, L:] = fill
    net = MODEL if kernels else PLAIN
    lens = torch.tensor(lengths)
    with torch.no_grad():
        ref, out = net(clean, lens), net(x, lens)
    for b, L in enumerate(lengths):
        for key in ("S", "A", "A_rgb", "A_flow", "f"):
            r, o = getattr(ref, key)[b, :L], getattr(out, key)[b, :L]
            if not torch.equal(r, o):
                raise Failure(f"MCWES: padding {fill} changed {key} of video {b} (length {L})")
        if not torch.equal(out.S[b, L:], torch.zeros_like(out.S[b, L:])):
            raise Failure(f"MCWES: padded outputs of video {b} are not 0")
    # the losses on outputs whose padding holds garbage equal those on clean outputs
    dirty = MCWESOutput(**{k: getattr(ref, k).clone() for k in ("S", "A", "A_rgb", "A_flow", "f")}, lengths=ref.lengths)
    for b, L in enumerate(lengths):
        for key in ("S", "A", "A_rgb", "A_flow", "f"):
            getattr(dirty, key)[b, L:] = fill
    labels = torch.tensor([[1.0, float(b % 2)] for b in range(B)])
    pairs = [(0, 1)] if B > 1 else []
    if min(lengths) == 0:
        return  # the losses are defined for videos with at least one snippet
    ref_loss = mcwes_losses(ref, labels, CONFIG.train, pairs, kernels=kernels)
    dirty_loss = mcwes_losses(dirty, labels, CONFIG.train, pairs, kernels=kernels)
    for name in ref_loss:
        if not torch.equal(ref_loss[name], dirty_loss[name]) and not (
                torch.isnan(ref_loss[name]) and torch.isnan(dirty_loss[name])):
            raise Failure(f"losses: padding {fill} changed {name}: {ref_loss[name]} vs {dirty_loss[name]}")
    got = judge(True, outcome(mcwes.spot, x, net, lengths=lengths), "mcwes.spot", "padded batch")
    want = mcwes.spot(clean, net, lengths=lengths)
    if got != want:
        raise Failure(f"mcwes.spot: padding {fill} changed the proposals: {got} vs {want}")


# ---------------------------------------------------------------------------------------------------
# mcwes.spot: every argument

REAL_DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8]
BAD_DTYPES = [np.complex64, np.bool_, object]


@st.composite
def spot_inputs(draw):
    """(kwargs, valid, why) for one mcwes.spot call."""
    why = []
    kind = draw(st.sampled_from(["single", "list", "batch"]))
    bad_dtype = draw(st.booleans()) and draw(st.integers(0, 4)) == 0
    dtype = draw(st.sampled_from(BAD_DTYPES)) if bad_dtype else draw(st.sampled_from(REAL_DTYPES))
    as_tensor = draw(st.booleans()) and dtype is not object
    valid = not bad_dtype
    if bad_dtype:
        why.append(f"dtype {dtype}")
    width = W if draw(st.integers(0, 6)) else draw(st.sampled_from([0, 1, W - 2, W + 2]))
    if width != W:
        valid = False
        why.append(f"width {width}")
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    nonfinite = draw(st.integers(0, 8)) == 0

    def make(T):
        a = rng.standard_normal((T, width)) * 3
        return a.astype(dtype) if dtype is not object else a.astype(object)

    kwargs: dict = {}
    lengths_valid_T = []
    if kind == "single":
        T = draw(st.integers(0, 10))
        feats = make(T)
        lengths_valid_T = [T]
        if draw(st.integers(0, 8)) == 0:
            kwargs["lengths"] = [T]
            valid = False
            why.append("lengths with one video")
        n_videos = 1
    elif kind == "list":
        Ts = draw(st.lists(st.integers(0, 10), min_size=0, max_size=3))
        feats = [make(T) for T in Ts]
        if not Ts:
            valid = False
            why.append("empty list")
        lengths_valid_T = Ts
        n_videos = len(Ts)
        if draw(st.integers(0, 6)) == 0 and feats:
            feats[0] = feats[0][None]
            valid = False
            why.append("a 3-D video in a list")
    else:
        B, T = draw(st.integers(0, 3)), draw(st.integers(0, 10))
        feats = rng.standard_normal((B, T, width)) * 3
        feats = feats.astype(dtype) if dtype is not object else feats.astype(object)
        n_videos = B
        if B == 0:
            valid = False
            why.append("batch of 0")
        choice = draw(st.integers(0, 5))
        if choice == 0:
            lengths = None
            lengths_valid_T = [T] * B
        elif choice == 1:
            lengths = draw(st.lists(st.integers(-2**64, 2**64), min_size=B, max_size=B))
            if any(not 0 <= L <= T for L in lengths):
                valid = False
                why.append(f"lengths {lengths}")
            lengths_valid_T = lengths
        elif choice == 2:
            lengths = [float(v) for v in draw(st.lists(st.integers(0, T), min_size=B, max_size=B))]
            if B:
                valid = False
                why.append("float lengths")
            lengths_valid_T = [0] * B
        elif choice == 3:
            lengths = draw(st.lists(st.integers(0, T), min_size=0, max_size=4))
            if len(lengths) != B:
                valid = False
                why.append(f"{len(lengths)} lengths for {B} videos")
            lengths_valid_T = lengths
        else:
            lengths = torch.tensor(draw(st.lists(st.integers(0, T), min_size=B, max_size=B)), dtype=torch.int64)
            lengths_valid_T = lengths.tolist()
        kwargs["lengths"] = lengths
    if as_tensor:
        tdtype = {np.float32: torch.float32, np.float64: torch.float64, np.float16: torch.float16,
                  np.int32: torch.int32, np.int64: torch.int64, np.uint8: torch.uint8,
                  np.complex64: torch.complex64, np.bool_: torch.bool}[dtype]
        conv = (lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(tdtype))
        feats = [conv(a) for a in feats] if isinstance(feats, list) else conv(feats)
    if nonfinite and valid and width == W and np.dtype(dtype).kind == "f":
        arr = feats[0] if isinstance(feats, list) and feats else feats
        if isinstance(arr, (np.ndarray, torch.Tensor)) and arr.ndim >= 2 and arr.shape[-2] > 0 and arr.shape[0] > 0:
            if arr.ndim == 3:
                L = lengths_valid_T[0] if lengths_valid_T else 0
                if L > 0 and (kwargs.get("lengths") is None or 0 <= L <= arr.shape[1]):
                    arr[0, L - 1, 0] = float("nan")
                    valid = False
                    why.append("NaN in a valid snippet")
            else:
                arr[-1, 0] = float("inf")
                valid = False
                why.append("inf in a valid snippet")
    fps = draw(st.one_of(st.none(), st.sampled_from([30, 30.0, 200.0, np.float32(25.0), 0, -1.0, float("nan"),
                                                       float("inf"), True, "30"])))
    if fps is not None and (isinstance(fps, (bool, str)) or not (math.isfinite(float(fps)) and float(fps) > 0)):
        valid = False
        why.append(f"fps {fps!r}")
    g = draw(st.one_of(st.none(), st.sampled_from([1, 8, np.int64(4), 0, -3, 2.0, True, 2**40, 2**64])))
    if g is not None and (isinstance(g, (bool, float)) or not 1 <= int(g) <= 2**63 - 1):
        valid = False
        why.append(f"snippet_frames {g!r}")
    elif g is not None and max(lengths_valid_T + [0]) * int(g) > 2**31 and max(
            [a.shape[-2] for a in (feats if isinstance(feats, list) else [feats]) if hasattr(a, "shape") and a.ndim >= 2]
            + [0]) * int(g) > 2**31:
        valid = False
        why.append(f"snippet_frames {g} overflows frame numbers")
    if fps is not None:
        kwargs["fps"] = fps
    if g is not None:
        kwargs["snippet_frames"] = g
    names_kind = draw(st.integers(0, 4))
    if names_kind == 1:
        kwargs["names"] = [f"clip{i}" for i in range(n_videos)]
    elif names_kind == 2 and n_videos >= 2:
        kwargs["names"] = ["same"] * n_videos
        valid = False
        why.append("duplicate names")
    elif names_kind == 3:
        kwargs["names"] = [f"clip{i}" for i in range(n_videos + 1)]
        valid = False
        why.append("one name too many")
    return feats, kwargs, valid, "; ".join(why) or "valid"


@FUZZ
@given(case=spot_inputs())
def spot_arguments(case):
    feats, kwargs, valid, why = case
    result = outcome(mcwes.spot, feats, MODEL, **kwargs)
    value = judge(valid, result, "mcwes.spot", why)
    if result[0] != "ok":
        return
    per_video = [value] if not isinstance(value, list) or (value and isinstance(value[0], mcwes.Proposal)) or (
        isinstance(value, mcwes.Proposals)) else value
    g = int(kwargs.get("snippet_frames") or CONFIG.data.snippet_frames)
    for i, props in enumerate(per_video):
        for p in props:
            if not 0 <= p.onset <= p.offset or not math.isfinite(p.score) and not math.isinf(p.score):
                raise Failure(f"mcwes.spot: bad proposal {p} ({why})")
            if "names" in kwargs and p.video != kwargs["names"][i]:
                raise Failure(f"mcwes.spot: proposal named {p.video!r}, expected {kwargs['names'][i]!r}")
            if p.onset % g:
                raise Failure(f"mcwes.spot: onset {p.onset} is not a snippet boundary (g = {g})")


# ---------------------------------------------------------------------------------------------------
# mcwes.ops.topk_k

@FUZZ
@given(lengths=st.lists(st.one_of(st.integers(-3, 100), st.integers(2**62, 2**64)), min_size=0, max_size=4),
       h=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e-300, 5e-324, 7.0])),
                  min_size=0, max_size=3))
def topk_k_values(lengths, h):
    valid = all(0 <= L <= 2**63 - 1 for L in lengths) and bool(h) and all(math.isfinite(v) and v > 0 for v in h)
    k = judge(valid, outcome(mcwes.ops.topk_k, lengths, h), "mcwes.ops.topk_k", f"lengths={lengths}, h={h}")
    if not valid:
        return
    for b, L in enumerate(lengths):
        for c, hc in enumerate(h):
            q = float(L) / hc
            want = 2**62 if not math.isfinite(q) else min(max(math.floor(q), 1), 2**62)
            if int(k[b, c]) != want:
                raise Failure(f"mcwes.ops.topk_k: k[{b},{c}] = {int(k[b, c])} for L={L}, h={hc}; expected {want}")


# ---------------------------------------------------------------------------------------------------
# checkpoints

_TMP = Path(tempfile.mkdtemp(prefix="mcwes_fuzz_"))
_GOOD = mcwes.save_checkpoint(_TMP / "good.pt", MODEL, CONFIG)
_PAYLOAD = torch.load(_GOOD, weights_only=True)
_WEIGHTS = sorted(_PAYLOAD["model"])


@FUZZ
@given(mutation=st.sampled_from(["none", "nan", "inf", "shape", "int", "missing", "extra", "marker", "version",
                                 "config", "truncate", "directory", "device"]),
       index=st.integers(0, len(_WEIGHTS) - 1), cut=st.floats(0.0, 0.99), device=st.sampled_from(
           ["cpu", "bogus", "cuda:7", "", "cpu:0"]))
def checkpoint_mutations(mutation, index, cut, device):
    import copy

    payload = copy.deepcopy(_PAYLOAD)
    name = _WEIGHTS[index]
    path = _TMP / f"mut_{mutation}.pt"
    map_location = "cpu"
    if mutation == "nan":
        weight = payload["model"][name].clone()
        weight.view(-1)[0] = float("nan")
        payload["model"][name] = weight
    elif mutation == "inf":
        payload["model"][name] = torch.full_like(payload["model"][name], float("inf"))
    elif mutation == "shape":
        payload["model"][name] = torch.zeros(payload["model"][name].numel() + 1)
    elif mutation == "int":
        payload["model"][name] = payload["model"][name].to(torch.int64)
    elif mutation == "missing":
        del payload["model"][name]
    elif mutation == "extra":
        payload["model"]["extra.weight"] = torch.zeros(2)
    elif mutation == "marker":
        payload["format"] = "something-else"
    elif mutation == "version":
        payload["format_version"] = 99
    elif mutation == "config":
        payload["config"]["train"]["eta"] = 0
    elif mutation == "device":
        map_location = device
    if mutation == "directory":
        path = _TMP / "a_directory.pt"
        path.mkdir(exist_ok=True)
    else:
        torch.save(payload, path)
    if mutation == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * cut)])
    valid = mutation == "none" or (mutation == "device" and device in ("cpu", "cpu:0")) or (
        mutation == "int" and False)
    result = outcome(mcwes.load_checkpoint, path, map_location=map_location)
    value = judge(valid, result, "mcwes.load_checkpoint", mutation)
    if valid:
        model = value[0]
        x = torch.randn(1, 9, W, generator=torch.Generator().manual_seed(1))
        if mcwes.spot(x[0], model) != mcwes.spot(x[0], MODEL):
            raise Failure("mcwes.load_checkpoint: the loaded model spots differently from the saved one")
    try:
        judge(valid, outcome(mcwes.load, path, device=map_location), "mcwes.load", mutation)
    finally:
        mcwes.inference.set_default_model(None)


# ---------------------------------------------------------------------------------------------------
# text inputs: predictions CSV and annotation CSV

FIELD = {
    "int": st.integers(0, 5000).map(str),
    "neg": st.integers(-50, -1).map(str),
    "huge": st.sampled_from(["1e20", "2147483648", "9223372036854775808", "inf", "-inf", "nan"]),
    "float": st.floats(0, 100, allow_nan=False).map(repr),
    "text": st.sampled_from(["", "abc", " ", "1,5", "0x10"]),
}


@st.composite
def prediction_rows(draw):
    rows, valid, why = [], True, []
    for i in range(draw(st.integers(0, 5))):
        onset_kind = draw(st.sampled_from(["int"] * 6 + ["neg", "huge", "text"]))
        onset = draw(FIELD[onset_kind])
        length = draw(st.integers(0, 40))
        offset = str(int(onset) + length) if onset_kind == "int" else draw(FIELD["int"])
        score_kind = draw(st.sampled_from(["float"] * 6 + ["huge", "text"]))
        score = draw(FIELD[score_kind])
        label = draw(st.sampled_from(["MaE", "ME", "", "me", "bad"]))
        rows.append(f"v{i % 3},{onset},{offset},{score},{label}")
        if onset_kind != "int":
            valid = False
            why.append(f"onset {onset!r}")
        if score_kind == "text" or score in ("nan",):
            valid = False
            why.append(f"score {score!r}")
        if label in ("me", "bad"):
            valid = False
            why.append(f"label {label!r}")
        if label == "":
            why.append("blank label")
    return rows, valid, why


@FUZZ
@given(rows=prediction_rows(), header=st.sampled_from(["video,onset,offset,score,label", "\ufeffvideo,onset,offset,score,label",
                                                       "video;onset;offset;score;label", "video,onset,score,label",
                                                       " video , onset , offset , score , label "]),
       sep=st.sampled_from([",", ";"]), binary=st.booleans(), fps=st.sampled_from([None, 30.0, 0.0, float("nan")]))
def predictions_csv(rows, header, sep, binary, fps):
    lines, valid, why = rows
    valid = valid and "offset" in header and ";" not in header
    if sep == ";" and lines:
        lines = [line.replace(",", ";") for line in lines]
        valid = False
        why = why + ["semicolons in rows"]
    if fps is not None and not fps > 0:
        valid = False
        why = why + [f"fps {fps}"]
    if fps is None and "blank label" in why and "label" in header:
        valid = False  # a blank label is derived from the duration, which needs fps
    path = _TMP / "preds.csv"
    data = ("\n".join([header] + lines) + "\n").encode("utf-8")
    if binary:
        data = b"\xff\xfe\x00garbage" + data
        valid = False
    path.write_bytes(data)
    result = outcome(mcwes.proposals.read_proposals_csv, path, fps=fps)
    value = judge(valid, result, "mcwes.read_proposals_csv", f"{header!r} {why}")
    if valid and len(value) != len(lines):
        raise Failure(f"mcwes.read_proposals_csv: {len(lines)} rows, {len(value)} proposals (rows lost silently)")


@st.composite
def annotation_rows(draw):
    rows, valid, why = [], True, []
    for i in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["int"] * 8 + ["neg", "huge", "text", "float"]))
        onset = draw(FIELD[kind])
        offset = draw(FIELD["int"]) if draw(st.booleans()) else (str(int(onset) + 10) if kind == "int" else "20")
        etype = draw(st.sampled_from(["MaE", "ME", "macro-expression", "unknown", ""]))
        rows.append(f"v{i % 3},s{i % 2},{onset},{offset},{etype}")
        if kind == "huge" or (kind == "text" and onset.strip() not in ("",)):
            valid = False
            why.append(f"onset {onset!r}")
    return rows, valid, why


@FUZZ
@given(rows=annotation_rows(), header=st.sampled_from(["video,subject,onset,offset,type", "\ufeffvideo,subject,onset,offset,type",
                                                       "video;subject;onset;offset;type", "video,onset,offset,type"]))
def annotations_csv(rows, header):
    lines, valid, why = rows
    valid = valid and "subject" in header and ";" not in header
    path = _TMP / "ann.csv"
    path.write_text("\n".join([header] + lines) + "\n", encoding="utf-8")
    result = outcome(mcwes.data.read_annotations, path, fps=30.0)
    value = judge(valid, result, "mcwes.data.read_annotations", f"{header!r} {why}")
    if result[0] != "ok":
        return
    table, report = value
    dropped = len(report.dropped)
    if report.rows_read != len(lines) or len(table) + dropped != report.rows_read:
        raise Failure(f"mcwes.data.read_annotations: {len(lines)} rows, {report.rows_read} read, {len(table)} kept, "
                      f"{dropped} dropped: rows lost without a report entry")
    if dropped and not any(issubclass(w.category, checks.MCWESWarning) for w in result[2]):
        raise Failure("mcwes.data.read_annotations: rows dropped without a warning")
    if len(table) and not ((table["onset"] >= 0) & (table["offset"] < 2**31)).all():
        raise Failure(f"mcwes.data.read_annotations: frames out of range:\n{table}")


# ---------------------------------------------------------------------------------------------------
# open_features: nothing in a folder disappears without a word

@FUZZ
@given(entries=st.lists(st.sampled_from(["npy", "complex_npy", "subdir", "npz_single", "npz_rgb", "npz_pair", "txt",
                                         "hidden"]), min_size=0, max_size=6))
def open_features_reports_what_it_ignores(entries):
    folder = Path(tempfile.mkdtemp(dir=_TMP))
    rng = np.random.default_rng(len(entries))
    videos, complex_videos = set(), set()
    for i, kind in enumerate(entries):
        if kind == "npy":
            np.save(folder / f"n{i}.npy", rng.standard_normal((5, W)).astype(np.float32))
            videos.add(f"n{i}")
        elif kind == "complex_npy":
            np.save(folder / f"c{i}.npy", rng.standard_normal((5, W)) + 1j)
            videos.add(f"c{i}")
            complex_videos.add(f"c{i}")
        elif kind == "subdir":
            (folder / f"d{i}").mkdir()
        elif kind == "npz_single":
            np.savez(folder / f"z{i}.npz", feature=rng.standard_normal((5, D)))
        elif kind == "npz_rgb":
            np.savez(folder / f"p{i}-rgb.npz", feature=rng.standard_normal((5, D)))
        elif kind == "npz_pair":
            for s in ("rgb", "flow"):
                np.savez(folder / f"q{i}-{s}.npz", feature=rng.standard_normal((5, D)))
        elif kind == "txt":
            (folder / f"t{i}.txt").write_text("x")
        else:
            (folder / f".h{i}").write_text("x")
    npz_layout = any(k in ("npz_rgb", "npz_pair") for k in entries)
    if npz_layout:
        videos = {f"q{i}" for i, k in enumerate(entries) if k == "npz_pair"}
        complex_videos = set()
    visible = [e for e in folder.iterdir() if not e.name.startswith(".")]
    valid = bool(videos) or not visible
    result = outcome(mcwes.data.open_features, folder)
    store = judge(valid, result, "mcwes.data.open_features", f"entries {entries}")
    if not valid:
        return
    if set(store) != videos:
        raise Failure(f"open_features: videos {sorted(store)}, expected {sorted(videos)} from {entries}")
    used = {p.name for v in store for p in store._files[v]}
    unused = {e.name for e in visible} - used
    reported = set(store.ignored) | {f"{v}-rgb.npz" for v in store.incomplete} | {f"{v}-flow.npz" for v in store.incomplete}
    if not unused <= reported:
        raise Failure(f"open_features: {sorted(unused - reported)} ignored without a report entry")
    if unused and not any(issubclass(w.category, checks.MCWESWarning) for w in result[2]):
        raise Failure(f"open_features: {sorted(unused)} ignored without a warning")
    for v in complex_videos:
        judge(False, outcome(store.__getitem__, v), "FeatureStore[video]", "complex .npy")


# ---------------------------------------------------------------------------------------------------
# evaluate: predictions for videos the ground truth lacks are reported

@FUZZ
@given(pred_videos=st.lists(st.sampled_from(["a", "b", "video0", "video1"]), min_size=0, max_size=5),
       gt_videos=st.lists(st.sampled_from(["a", "b", "c"]), min_size=0, max_size=4))
def evaluate_reports_unknown_videos(pred_videos, gt_videos):
    import pandas as pd

    preds = [mcwes.Proposal(v, 10 * i, 10 * i + 5, 0.5, "ME", "ME") for i, v in enumerate(pred_videos)]
    gt = pd.DataFrame({"video": gt_videos, "onset": [3] * len(gt_videos), "offset": [9] * len(gt_videos),
                       "type": ["ME"] * len(gt_videos)})
    result = outcome(mcwes.evaluate, preds, gt, fps=30)
    res = judge(True, result, "mcwes.evaluate", "valid tables")
    unknown = set(pred_videos) - set(gt_videos)
    warned = [w for w in result[2] if issubclass(w.category, checks.MCWESWarning)]
    if bool(unknown) != bool(res.report) or bool(unknown) != bool(warned):
        raise Failure(f"mcwes.evaluate: predicted videos {sorted(unknown)} not in the ground truth, but report "
                      f"{res.report} and {len(warned)} warnings")
    if unknown and not all(v in res.report[0] for v in sorted(unknown)[:5]):
        raise Failure(f"mcwes.evaluate: the report does not name {sorted(unknown)}: {res.report}")


# ---------------------------------------------------------------------------------------------------
# the rest of the public API: fixed bad calls (each must be a clear error)

def fixed_bad_calls():
    x = np.random.default_rng(0).standard_normal((10, W)).astype(np.float32)
    item = mcwes.VideoItem(x, [1, 0], "s1", "v")
    calls = [
        ("Trainer no items", lambda: mcwes.Trainer(CONFIG, [])),
        ("Trainer bad config", lambda: mcwes.Trainer({"a": 1}, [item])),
        ("Trainer NaN features", lambda: mcwes.Trainer(CONFIG, [mcwes.VideoItem(x * np.nan, [1, 0], "s", "v")])),
        ("Trainer wrong width", lambda: mcwes.Trainer(CONFIG, [mcwes.VideoItem(x[:, :6], [1, 0], "s", "v")])),
        ("MCWES lengths float", lambda: MODEL(torch.zeros(1, 3, W), torch.tensor([1.5]))),
        ("MCWES lengths huge", lambda: MODEL(torch.zeros(1, 3, W), [2**63 - 1])),
        ("MCWES complex", lambda: MODEL(torch.zeros(1, 3, W, dtype=torch.complex64))),
        ("save_checkpoint bad config", lambda: mcwes.save_checkpoint(_TMP / "x.pt", MODEL, {"x": 1})),
        ("save_checkpoint into a file", lambda: mcwes.save_checkpoint(_GOOD / "x.pt", MODEL, CONFIG)),
        ("evaluate fps 0", lambda: mcwes.evaluate([], [], fps=0)),
        ("evaluate bad matching", lambda: mcwes.evaluate([], [], fps=30, matching="x")),
        ("Proposal huge onset", lambda: mcwes.Proposal("v", 2**40, 2**40, 0.5, "ME", "ME")),
        ("Proposal NaN score", lambda: mcwes.Proposal("v", 1, 2, float("nan"), "ME", "ME")),
        ("Config negative seed", lambda: Config.preset("casme2", train={"seed": -1})),
        ("Config huge seed", lambda: Config.preset("casme2", train={"seed": 2**64})),
        ("read_annotations directory", lambda: mcwes.data.read_annotations(_TMP)),
        ("read_annotations fps inf", lambda: mcwes.data.read_annotations(_TMP / "ann.csv", fps=float("inf"))),
        ("open_features missing", lambda: mcwes.data.open_features(_TMP / "nope")),
        ("spot no model", lambda: mcwes.spot(x)),
        ("spot bad model", lambda: mcwes.spot(x, model=3)),
        ("spot unknown option", lambda: mcwes.spot(x, MODEL, nonsense=1)),
        ("spot n_frames too small", lambda: mcwes.spot(x, MODEL, n_frames=3)),
        ("spot n_frames float", lambda: mcwes.spot(x, MODEL, n_frames=100.0)),
        ("spot n_frames huge", lambda: mcwes.spot(x, MODEL, n_frames=2**64)),
        ("curves complex", lambda: mcwes.inference.curves(x.astype(np.complex64), MODEL)),
        ("loso unknown fold", lambda: mcwes.loso(_tiny_dataset(), CONFIG, _TMP / "loso", folds=["nobody"])),
        ("SpottingDataset bad video table", lambda: mcwes.data.SpottingDataset(
            {"v": x}, _ann_table(), fps=30, snippet_frames=8, videos=_TMP / "preds.csv")),
    ]
    os.environ.pop(mcwes.inference.CHECKPOINT_ENV, None)
    failures = []
    for name, call in calls:
        try:
            judge(False, outcome(call), name, name)
        except Failure as exc:
            failures.append(str(exc))
    if failures:
        raise Failure("\n".join(failures))


def _ann_table():
    import pandas as pd

    return pd.DataFrame({"video": ["v"], "subject": ["s1"], "onset": [1], "offset": [5], "type": ["ME"]})


def _tiny_dataset():
    rng = np.random.default_rng(0)
    feats = {f"v{i}": rng.standard_normal((12, W)).astype(np.float32) for i in range(2)}
    import pandas as pd

    ann = pd.DataFrame({"video": ["v0", "v1"], "subject": ["s1", "s2"], "onset": [1, 2], "offset": [5, 6],
                        "type": ["ME", "MaE"]})
    return mcwes.data.SpottingDataset(feats, ann, fps=30, snippet_frames=8)


PROPERTIES = {f.__name__: f for f in (
    padding_never_changes_valid_outputs, spot_arguments, topk_k_values, checkpoint_mutations, predictions_csv,
    annotations_csv, open_features_reports_what_it_ignores, evaluate_reports_unknown_videos, fixed_bad_calls)}


def main(names: list[str]) -> int:
    failed = 0
    import time

    for name in names or list(PROPERTIES):
        start = time.perf_counter()
        try:
            PROPERTIES[name]()
            print(f"PASS {name} ({time.perf_counter() - start:.1f} s)", flush=True)
        except Exception:  # noqa: BLE001 - report every property's failure, then exit 1
            failed += 1
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
