"""Edge cases for every compiled op: whatever a caller can construct, an op either gives the
documented result or raises ValueError/TypeError naming it — never a crash, never an out-of-bounds
access. Run under ASan+UBSan with the `edge` Hypothesis profile by tools/run_sanitized_tests.sh.

Every Hypothesis case draws the inputs in one of several memory layouts (contiguous, transposed,
stepped, expanded stride-0, offset by one element, odd storage offset via as_strided), with values
that include NaN/±inf and huge magnitudes, and arguments that may be invalid (lengths of the wrong
shape or out of range, k and m beyond T, negative or out-of-range proposal indices, mismatched
lengths, wrong dtypes). A valid case is compared with the float64 reference twin; an invalid one must
raise an error that names the op. The raw `mcwes._C` entry points are called with inconsistent views
at the end.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, strategies as st
from spot_cases import values

from conftest import assert_close
from mcwes import ops, reference
from mcwes._ext import _C
from mcwes.ops._util import view

LAYOUTS = ("contiguous", "transposed", "stepped", "expanded", "offset", "odd_offset")
INDEX_LAYOUTS = tuple(k for k in LAYOUTS if k != "expanded")  # expanding would change which index is bad
VALUE_KINDS = ("float", "coarse", "nan", "huge")
DTYPES = (torch.float32, torch.float64)
HUGE_INT = 2**70  # beyond int64


def make_values(seed: int, shape: tuple[int, ...], kind: str, dtype: torch.dtype) -> torch.Tensor:
    if kind == "huge":  # near the dtype's largest finite value: sums and logits overflow to inf
        big = torch.finfo(dtype).max / 4
        return (values(seed, shape, "coarse", torch.float64).clamp(-1, 1) * big).to(dtype)
    return values(seed, shape, kind, dtype)


def lay_out(t: torch.Tensor, kind: str) -> torch.Tensor:
    """A view of `t`'s values (for "expanded": of its first slice along the last dim, broadcast)."""
    if kind == "contiguous" or t.dim() == 0:
        return t.contiguous()
    fill = float("nan") if t.dtype.is_floating_point else -7
    if kind == "transposed":
        return t.transpose(0, -1).contiguous().transpose(0, -1)
    if kind == "stepped":
        big = torch.full((*t.shape[:-1], 2 * t.shape[-1] + 1), fill, dtype=t.dtype)
        big[..., 1::2] = t
        return big[..., 1::2]
    if kind == "expanded":
        return t[..., :1].expand(t.shape) if t.shape[-1] else t
    n = t.numel()
    if kind == "offset":  # data pointer one element past the allocation's start
        buf = torch.full((n + 1,), fill, dtype=t.dtype)
        out = buf[1:].view(t.shape)
        out.copy_(t)
        return out
    # odd storage offset and permuted (column-major) strides, built with as_strided
    strides, acc = [], 1
    for s in t.shape:
        strides.append(acc)
        acc *= max(s, 1)
    buf = torch.full((2 * n + 3,), fill, dtype=t.dtype)
    out = buf.as_strided(t.shape, strides, storage_offset=3)
    out.copy_(t)
    return out


@st.composite
def float_input(draw, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> torch.Tensor:
    dtype = dtype or draw(st.sampled_from(DTYPES))
    t = make_values(draw(st.integers(0, 2**31)), shape, draw(st.sampled_from(VALUE_KINDS)), dtype)
    return lay_out(t, draw(st.sampled_from(LAYOUTS)))


@st.composite
def lengths_arg(draw, B: int, T: int) -> tuple[object, bool]:
    """(lengths, valid): None, a valid list/tensor, or one of the bad kinds."""
    kind = draw(st.sampled_from(("none", "list", "tensor", "tensor", "long", "short", "above", "negative",
                                 "float", "2d", "int32", "huge")))
    good = [draw(st.integers(0, T)) for _ in range(B)]
    if kind == "none":
        return None, True
    if kind == "list":
        return good, True
    if kind == "tensor":
        return lay_out(torch.tensor(good, dtype=torch.int64), draw(st.sampled_from(LAYOUTS))), True
    if kind == "int32":
        return torch.tensor(good, dtype=torch.int32), True
    if kind == "long":
        return good + [0], False
    if kind == "short":
        return good[:-1], B == 0
    if kind == "2d":
        return torch.tensor(good, dtype=torch.int64).view(1, B), False
    if kind == "float":
        return torch.tensor(good, dtype=torch.float32), False
    if B == 0:
        return good, True
    bad = {"above": T + 1 + draw(st.integers(0, 5)), "negative": -draw(st.integers(1, 5)), "huge": HUGE_INT}[kind]
    good[draw(st.integers(0, B - 1))] = bad
    return good, False


def lengths_list(lengths: object, B: int, T: int) -> list[int]:
    return [T] * B if lengths is None else [int(v) for v in torch.as_tensor(lengths).tolist()]


def outcome(op: str, valid: bool, fn):  # type: ignore[no-untyped-def]
    """fn()'s result for a valid case; for an invalid one, the check that it raises naming the op."""
    if valid:
        return fn()
    with pytest.raises((ValueError, TypeError), match=rf"mcwes\.{op}\b"):
        fn()
    return None


shapes3 = st.tuples(st.integers(0, 3), st.integers(0, 20), st.integers(0, 3))
shapes2 = st.tuples(st.integers(0, 3), st.integers(0, 24))


# ---------------------------------------------------------------------------------------- topk_pool


@st.composite
def k_arg(draw, B: int, C: int, T: int) -> tuple[object, bool]:
    kind = draw(st.sampled_from(("int", "beyond", "per_class", "per_video", "zero", "negative", "huge",
                                 "bad_shape", "float", "bool")))
    if kind == "int":
        return draw(st.integers(1, max(T, 1))), True
    if kind == "beyond":
        return draw(st.sampled_from((T + 1, 3 * T + 7, 2**62, HUGE_INT))), True
    if kind in ("per_class", "per_video"):
        shape = (C,) if kind == "per_class" else (B, C)
        k = torch.randint(1, 2 * T + 3, shape, generator=torch.Generator().manual_seed(draw(st.integers(0, 99))))
        return lay_out(k, draw(st.sampled_from(LAYOUTS))), True
    if kind == "zero":
        return 0, False
    if kind == "negative":
        return draw(st.sampled_from((-1, -(2**62), -HUGE_INT))), False
    if kind == "huge":
        return [HUGE_INT] * C, C == 0  # an empty k list is fine when there is no class
    if kind == "bad_shape":
        return torch.ones(C + 1, dtype=torch.int64), False
    if kind == "float":
        return torch.ones(C, dtype=torch.float32), False
    return True, False


@given(st.data())
def test_topk_pool_edges(data):
    B, T, C = data.draw(shapes3)
    x = data.draw(float_input((B, T, C)))
    k, k_ok = data.draw(k_arg(B, C, T))
    lengths, len_ok = data.draw(lengths_arg(B, T))
    valid = k_ok and len_ok
    if valid and isinstance(k, torch.Tensor) and bool((k < 1).any()):
        valid = False
    xg = x.detach().clone().requires_grad_() if x.dtype == torch.float64 else x
    out = outcome("topk_pool", valid, lambda: ops.topk_pool(xg, k, lengths))
    if out is None:
        return
    k_ref = min(k, 2**62) if isinstance(k, int) else k
    assert_close(out, reference.topk_pool(x.to(torch.float64), k_ref, lengths), x.dtype)
    if xg.requires_grad:
        (grad,) = torch.autograd.grad(out.sum(), xg)
        xr = x.detach().clone().requires_grad_()
        ref = reference.topk_pool(xr, k_ref, lengths).sum()
        expected = torch.autograd.grad(ref, xr)[0] if ref.requires_grad else torch.zeros_like(xr)  # C = 0: no graph
        if not bool(torch.isnan(x).any()):  # NaN ties make the selected set implementation-defined
            assert_close(grad, expected)


@given(st.data())
def test_topk_k_edges(data):
    B = data.draw(st.integers(0, 4))
    lengths = [data.draw(st.integers(0, 10**6)) for _ in range(B)]
    kind = data.draw(st.sampled_from(("ok", "ok", "zero", "negative", "nan", "inf", "empty", "2d")))
    h = {"ok": [data.draw(st.floats(0.01, 1e6))], "zero": [0.0], "negative": [-1.0], "nan": [float("nan")],
         "inf": [float("inf")], "empty": [], "2d": [[1.0]]}[kind]
    k = outcome("topk_k", kind == "ok", lambda: ops.topk_k(lengths, h))
    if k is not None:
        assert k.tolist() == reference.topk_k(lengths, h)


# ----------------------------------------------------------------------------------- cscm_attention


@given(st.data())
def test_cscm_attention_edges(data):
    B, T, D = data.draw(st.tuples(st.integers(0, 3), st.integers(0, 12), st.integers(0, 4)))
    q = data.draw(float_input((B, T, D)))
    lengths, valid = data.draw(lengths_arg(B, T))
    scale = data.draw(st.sampled_from((1.0, 0.25, 0.0, -3.0, 1e30, float("nan"), float("inf"), "1")))
    valid = valid and isinstance(scale, float) and abs(scale) != float("inf") and scale == scale
    qg = q.detach().clone().requires_grad_()
    out = outcome("cscm_attention", valid, lambda: ops.cscm_attention(qg, lengths, scale))
    if out is None:
        return
    finite = bool(torch.isfinite(q).all()) and abs(scale) < 1e3 and q.abs().max().item() < 1e3 if q.numel() else True
    expected = reference.cscm_attention(q.detach().to(torch.float64), lengths, scale)
    if finite:
        assert_close(out, expected, q.dtype, rtol=1e-4, atol=1e-4)
    rows = torch.arange(T).unsqueeze(0) < torch.tensor(lengths_list(lengths, B, T)).view(B, 1)
    assert bool((out[~rows] == 0).all())  # padded rows are zero whatever the values
    (grad,) = torch.autograd.grad(out, qg, torch.ones_like(out))
    assert grad.shape == q.shape and bool((grad[~rows] == 0).all())


# ------------------------------------------------------------------------------------ duration_mask


@given(st.data())
def test_duration_mask_edges(data):
    B, T = data.draw(shapes2)
    a = data.draw(float_input((B, T)))
    lengths, valid = data.draw(lengths_arg(B, T))
    eta = data.draw(st.one_of(st.integers(1, 3 * T + 3), st.sampled_from((2**62, 2**63 - 1, HUGE_INT, 0, -5, 2.0))))
    omega_l = data.draw(st.sampled_from((1.2, -1.0, float("nan"), float("inf"))))
    valid = valid and isinstance(eta, int) and eta >= 1 and omega_l in (1.2, -1.0)
    out = outcome("duration_mask", valid, lambda: ops.duration_mask(a, lengths, eta=eta, omega_l=omega_l, omega_u=1.4))
    if out is not None:
        expected = reference.duration_mask(a.to(torch.float64), lengths, eta=min(eta, T + 1), omega_l=omega_l,
                                           omega_u=1.4)
        assert_close(out, expected, a.dtype)


# ------------------------------------------------------------------------------ multi_top_proposals

m_args = st.one_of(
    st.lists(st.integers(1, 40), max_size=5).map(lambda m: (m, True)),
    st.sampled_from((([2**62, 1], True), ([HUGE_INT], True), ([0], False), ([3, -2], False), ([1.5], False),
                     ("3", False), (torch.tensor([2.0]), False))),
)


@given(st.data())
def test_multi_top_proposals_edges(data):
    B, T = data.draw(shapes2)
    a = data.draw(float_input((B, T)))
    lengths, len_ok = data.draw(lengths_arg(B, T))
    m_values, m_ok = data.draw(m_args)
    got = outcome("multi_top_proposals", len_ok and m_ok, lambda: ops.multi_top_proposals(a, lengths, m_values))
    if got is not None:
        m_ref = [min(m, 2**62) for m in m_values]
        for g, e in zip(got, reference.multi_top_proposals(a.to(torch.float64), lengths, m_ref)):
            assert g.tolist() == torch.as_tensor(e).tolist()


# ----------------------------------------------------------------------- proposals (outer_inner, nms)


@st.composite
def proposals(draw, B: int, lens: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """(batch_idx, start, end, valid) with valid intervals, possibly corrupted in one place."""
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        videos = [b for b in range(B) if lens[b] > 0]
        if not videos:
            break
        b = draw(st.sampled_from(videos))
        s = draw(st.integers(0, lens[b] - 1))
        rows.append((b, s, draw(st.integers(s, lens[b] - 1))))
    bi, s, e = (torch.tensor([r[i] for r in rows], dtype=torch.int64) for i in range(3))
    kind = draw(st.sampled_from(("ok", "ok", "ok", "neg_batch", "big_batch", "neg_start", "swapped", "past_end",
                                 "mismatch", "int32", "2d")))
    if kind == "ok" or (not rows and kind not in ("mismatch", "int32", "2d")):
        return bi, s, e, True
    i = draw(st.integers(0, max(len(rows) - 1, 0)))
    if kind == "neg_batch":
        bi[i] = -1 - draw(st.integers(0, 2**62))
    elif kind == "big_batch":
        bi[i] = B + draw(st.integers(0, 2**62))
    elif kind == "neg_start":
        s[i] = -draw(st.integers(1, 2**62))
    elif kind == "swapped":
        lo, hi = int(s[i]), int(e[i])
        s[i], e[i] = hi + 1, lo
    elif kind == "past_end":
        e[i] = max(lens) + draw(st.integers(0, 2**62))
    elif kind == "mismatch":
        e = torch.cat([e, e[:1] + 0 if len(e) else torch.zeros(1, dtype=torch.int64)])
    elif kind == "int32":
        bi = bi.int()
    else:
        bi = bi.view(1, -1)
    return bi, s, e, False


@given(st.data())
def test_outer_inner_scores_edges(data):
    B, T, C = data.draw(st.tuples(st.integers(0, 3), st.integers(0, 20), st.integers(0, 3)))
    x = data.draw(float_input((B, T, C)))
    lengths, len_ok = data.draw(lengths_arg(B, T))
    lens = lengths_list(lengths, B, T) if len_ok else [T] * B
    bi, s, e, p_ok = data.draw(proposals(B, lens))
    bi, s, e = (lay_out(t, data.draw(st.sampled_from(INDEX_LAYOUTS))) if t.dim() == 1 else t for t in (bi, s, e))
    p = data.draw(float_input((B, C), x.dtype))
    psi = data.draw(st.sampled_from((0.0, 0.5, 1e300, -0.1, float("nan"))))
    valid = len_ok and p_ok and psi >= 0
    out = outcome("outer_inner_scores", valid,
                  lambda: ops.outer_inner_scores(x, lengths, bi, s, e, p, psi=psi, varsigma=0.5))
    if out is not None:
        expected = reference.outer_inner_scores(x.to(torch.float64), lengths, bi, s, e, p.to(torch.float64),
                                                psi=min(psi, 1e9), varsigma=0.5)
        assert_close(out, expected, x.dtype, rtol=1e-4, atol=1e-4)


@given(st.data())
def test_nms_1d_edges(data):
    B = data.draw(st.integers(1, 4))
    lens = [data.draw(st.integers(1, 30)) for _ in range(B)]
    bi, s, e, valid = data.draw(proposals(B, lens))
    if valid and bi.numel() and data.draw(st.booleans()):
        bi = bi + 2**62 - B  # video ids need not be small or dense
    scores = data.draw(float_input((bi.shape[-1],)))
    thr = data.draw(st.sampled_from((0.0, 0.3, 1.0, -0.01, 1.5, float("nan"))))
    valid = valid and 0 <= thr <= 1
    if valid and bool((bi >= B).any()):
        pass  # nms_1d only needs batch_idx >= 0
    elif valid is False and bi.dim() == 1 and bi.dtype == torch.int64 and len(bi) == len(e) and 0 <= thr <= 1:
        valid = bool((bi >= 0).all() and (s >= 0).all() and (s <= e).all())  # past_end/big_batch are fine here
    keep = outcome("nms_1d", valid, lambda: ops.nms_1d(bi, s, e, scores, thr))
    if keep is not None:
        assert keep.tolist() == reference.nms_1d(bi, s, e, scores.to(torch.float64), thr).tolist()


@given(st.data())
def test_spot_postprocess_edges(data):
    B, T, C = data.draw(st.tuples(st.integers(0, 3), st.integers(0, 24), st.integers(0, 3)))
    dtype = data.draw(st.sampled_from(DTYPES))
    att = data.draw(float_input((B, T), dtype))
    cas = data.draw(float_input((B, T, C), dtype))
    p = data.draw(float_input((B, C), dtype))
    lengths, len_ok = data.draw(lengths_arg(B, T))
    m_values, m_ok = data.draw(m_args)
    thr = data.draw(st.sampled_from((0.1, -float("inf"), float("nan"), 2.0)))
    shape_bad = data.draw(st.sampled_from((None, None, None, "cas_T", "p_C", "dtype")))
    if shape_bad == "cas_T":
        cas = torch.zeros(B, T + 1, C, dtype=dtype)
    elif shape_bad == "p_C":
        p = torch.zeros(B, C + 1, dtype=dtype)
    elif shape_bad == "dtype":
        p = p.to(torch.float32 if dtype == torch.float64 else torch.float64)
    valid = len_ok and m_ok and thr == thr and shape_bad is None
    kw = dict(m_values=m_values, psi=0.5, varsigma=0.3, nms_threshold=0.2, score_threshold=thr)
    got = outcome("spot_postprocess", valid, lambda: ops.spot_postprocess(att, cas, p, lengths, **kw))
    if got is not None:
        kw["m_values"] = [min(m, 2**62) for m in m_values]
        expected = ops.spot_postprocess(att.contiguous(), cas.contiguous(), p.contiguous(), lengths, **kw)
        for g, x in zip(got, expected):
            assert_close(g, x) if g.dtype.is_floating_point else torch.testing.assert_close(g, x)


# ------------------------------------------------------------------------- huge and degenerate sizes


def test_huge_lengths_cheap_ops():
    """T = 10^5 with B = 1 (and B = 10^5 with T = 0): a few MB each, linear-time kernels."""
    T = 100_000
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, T, 2, generator=g)
    assert_close(ops.topk_pool(x, 10**9), x.mean(1))
    a = x[..., 0]
    mask = ops.duration_mask(a, eta=3, omega_l=1.2, omega_u=1.4)
    assert bool(((mask == 0) | (mask == 1)).all()) and 0 < mask.sum() < T
    short = a[:, :2000]  # eta beyond T costs O(T^2): windows run to the video's end
    huge = ops.duration_mask(short, eta=2**62, omega_l=1.2, omega_u=1.4)
    torch.testing.assert_close(huge, ops.duration_mask(short, eta=2000, omega_l=1.2, omega_u=1.4))
    bi, s, e = ops.multi_top_proposals(a, None, [1, 2, 50_000, 10**9])
    assert bi.numel() > 0 and bool((s <= e).all()) and int(e.max()) < T
    scores = ops.outer_inner_scores(x, None, bi, s, e, torch.rand(1, 2), psi=0.5, varsigma=0.1)
    assert bool(torch.isfinite(scores).all())
    same = torch.zeros(T, dtype=torch.int64)
    assert ops.nms_1d(same, same, same + 5, torch.rand(T, generator=g), 0.5).numel() == 1
    kept = ops.spot_postprocess(a, x, torch.rand(1, 2), m_values=range(1000, 1015), psi=0.5, varsigma=0.1)
    assert bool((kept.start <= kept.end).all()) and int(kept.end.max()) < T
    empty_videos = torch.empty(T, 0, 3)
    assert ops.topk_pool(empty_videos, 1).abs().sum() == 0
    assert ops.duration_mask(empty_videos[..., 0], eta=2, omega_l=1.2, omega_u=1.4).shape == (T, 0)


def test_cscm_attention_long_video():
    q = torch.randn(1, 2048, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    out = ops.cscm_attention(q, scale=0.5)
    out.sum().backward()
    assert bool(torch.isfinite(out).all()) and bool(torch.isfinite(q.grad).all())


@pytest.mark.parametrize("shape", [(0, 0, 0), (0, 5, 2), (3, 0, 2), (3, 4, 0)])
def test_empty_shapes_every_op(shape):
    B, T, C = shape
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    out = ops.topk_pool(x, 3)
    out.sum().backward()
    assert out.shape == (B, C) and x.grad.shape == shape
    assert ops.cscm_attention(x).shape == shape
    a = torch.randn(B, T)
    assert ops.duration_mask(a, eta=2, omega_l=1.2, omega_u=1.4).shape == (B, T)
    bi, s, e = ops.multi_top_proposals(a, None, [1, 2])
    assert bi.numel() == (0 if B * T == 0 else bi.numel())
    none = torch.empty(0, dtype=torch.int64)
    xf = x.detach().float()
    assert ops.outer_inner_scores(xf, None, none, none, none, torch.rand(B, C), psi=0.5, varsigma=1).shape == (0, C)
    assert ops.nms_1d(none, none, none, torch.empty(0), 0.5).numel() == 0
    assert ops.spot_postprocess(a, xf, torch.rand(B, C), m_values=[1, 2], psi=0.5, varsigma=1).score.numel() == \
        (0 if B * T * C == 0 else ops.spot_postprocess(a, xf, torch.rand(B, C), m_values=[1, 2], psi=0.5,
                                                         varsigma=1).score.numel())


# ------------------------------------------------------------------------- dtypes, devices, alignment


def test_wrong_dtypes_and_devices_name_the_op():
    x = torch.randn(2, 5, 3)
    for bad in (x.half(), x.to(torch.int64), x.to(torch.complex64)):
        with pytest.raises(TypeError, match=r"mcwes\.topk_pool: expected x to have dtype"):
            ops.topk_pool(bad, 1)
        with pytest.raises(TypeError, match=r"mcwes\.cscm_attention: expected q to have dtype"):
            ops.cscm_attention(bad)
    with pytest.raises(TypeError, match=r"mcwes\.nms_1d: expected scores to be a torch.Tensor"):
        ops.nms_1d(torch.zeros(1, dtype=torch.int64), torch.zeros(1, dtype=torch.int64),
                   torch.zeros(1, dtype=torch.int64), [0.5], 0.5)
    meta = torch.empty(2, 5, device="meta")
    with pytest.raises(ValueError, match=r"mcwes\.outer_inner_scores: expected video_scores to be on cpu"):
        ops.outer_inner_scores(x, None, *(torch.zeros(1, dtype=torch.int64),) * 3, meta, psi=0.5, varsigma=1)


def misaligned(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A tensor whose data pointer is not a multiple of its element size (torch.frombuffer allows it)."""
    n, size = int(torch.Size(shape).numel()), torch.empty(0, dtype=dtype).element_size()
    buf = bytearray(n * size + 1)
    t = torch.frombuffer(buf, dtype=dtype, offset=1, count=n).view(shape)
    t._buf = buf  # keep the bytes alive with the tensor
    return t


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_misaligned_data_pointers_are_rejected(dtype):
    x = misaligned((2, 5, 3), dtype)
    assert x.data_ptr() % x.element_size() != 0
    calls = {
        "topk_pool": lambda: ops.topk_pool(x, 2),
        "cscm_attention": lambda: ops.cscm_attention(x),
        "duration_mask": lambda: ops.duration_mask(x[..., 0], eta=2, omega_l=1.2, omega_u=1.4),
        "multi_top_proposals": lambda: ops.multi_top_proposals(x[..., 0], None, [2]),
        "spot_postprocess": lambda: ops.spot_postprocess(x[..., 0], torch.randn(2, 5, 3, dtype=dtype),
                                                         torch.rand(2, 3, dtype=dtype), m_values=[2], psi=0.5,
                                                         varsigma=1),
    }
    for op, call in calls.items():
        with pytest.raises(ValueError, match=rf"mcwes\.{op}: expected .* aligned"):
            call()
    lengths = misaligned((2,), torch.int64)
    lengths.copy_(torch.tensor([5, 3]))
    with pytest.raises(ValueError, match=r"mcwes\.topk_pool: expected lengths .* aligned"):
        ops.topk_pool(torch.randn(2, 5, 3), 2, lengths)


def test_nan_scalars_and_huge_ints_name_the_op():
    a = torch.randn(2, 6)
    with pytest.raises(ValueError, match=r"mcwes\.topk_pool: expected lengths"):
        ops.topk_pool(a.unsqueeze(-1), 1, [HUGE_INT, 1])
    with pytest.raises(ValueError, match=r"mcwes\.topk_pool: expected k .* >= 1, got -1180591620717411303424"):
        ops.topk_pool(a.unsqueeze(-1), -HUGE_INT)
    with pytest.raises(ValueError, match=r"mcwes\.nms_1d: expected iou_threshold"):
        ops.nms_1d(*(torch.zeros(1, dtype=torch.int64),) * 3, torch.zeros(1), float("nan"))


# --------------------------------------------------------------------- the compiled core on its own


class Views:
    """Tensors kept alive next to their views (a _C.View holds a raw pointer, not the tensor)."""

    def __init__(self) -> None:
        self.keep: list[torch.Tensor] = []

    def __call__(self, t: torch.Tensor):  # type: ignore[no-untyped-def]
        self.keep.append(t)
        return view(t)


def null_view(shape: tuple[int, ...], code: int = 0):  # type: ignore[no-untyped-def]
    strides, acc = [], 1
    for s in reversed(shape):
        strides.insert(0, acc)
        acc *= s
    return _C.View(0, code, list(shape), strides, -1)


def test_view_constructor_rejects_impossible_views():
    with pytest.raises(ValueError, match="unknown dtype code 9"):
        _C.View(0, 9, [1], [1], -1)
    with pytest.raises(ValueError, match="as many strides as sizes"):
        _C.View(0, 0, [1, 2], [1], -1)
    with pytest.raises(ValueError, match="negative size"):
        _C.View(0, 0, [-1], [1], -1)
    with pytest.raises(ValueError, match="more elements than int64"):
        _C.View(64, 0, [2**62, 8], [8, 1], -1)
    with pytest.raises(ValueError, match="aligned"):
        _C.View(64 + 1, 1, [2], [1], -1)
    _C.View(0, 0, [0, 5], [5, 1], -1)  # an empty view may have a null pointer


@pytest.mark.parametrize("entry", ["topk_pool", "duration_mask", "cscm_attention", "multi_top_proposals",
                                   "outer_inner_scores", "nms_1d", "spot_postprocess"])
def test_compiled_core_rejects_inconsistent_views(entry):
    """Every _C entry point checks shapes, dtypes, nulls and values itself (see docs/robustness.md)."""
    v = Views()
    x, i64 = torch.randn(2, 4, 3), torch.int64
    lengths, k = torch.tensor([4, 2]), torch.ones(3, dtype=i64)
    bi, s, e = torch.tensor([0, 1]), torch.tensor([0, 0]), torch.tensor([3, 1])
    p, nt = torch.rand(2, 3), 2
    cases: list[tuple[str, object]] = []
    if entry == "topk_pool":
        out, mask = torch.empty(2, 3), torch.empty(2, 4, 3)
        call = lambda x_=v(x), k_=v(k), l_=v(lengths), o_=v(out), m_=v(mask): _C.topk_pool_fwd_cpu(x_, k_, l_, o_, m_, nt)
        cases = [
            (r"weights.shape\[1\] to be 4", lambda: call(m_=v(torch.empty(2, 5, 3)))),
            ("weights to have dtype float32, got bool", lambda: call(m_=v(torch.empty(2, 4, 3, dtype=torch.bool)))),
            ("k to have dtype int64", lambda: call(k_=v(k.int()))),
            ("out to point at data", lambda: call(o_=null_view((2, 3)))),
            ("x to have dtype float32 or float64", lambda: call(x_=v(x.to(i64)))),
            ("out to have dtype float32", lambda: call(o_=v(out.double()))),
            (r"lengths to lie in \[0, 4\], got -1", lambda: call(l_=v(torch.tensor([-1, 2])))),
            ("every k to be >= 1", lambda: call(k_=v(torch.zeros(3, dtype=i64)))),
            (r"lengths.shape\[0\] to be 2", lambda: call(l_=v(torch.tensor([4])))),
            ("device", lambda: call(o_=_C.View(out.data_ptr(), 0, [2, 3], [3, 1], 0))),
        ]
    elif entry == "duration_mask":
        out = torch.empty(2, 4)
        call = lambda a_=v(x[..., 0].contiguous()), l_=v(lengths), o_=v(out), eta=2: _C.duration_mask_fwd_cpu(
            a_, l_, o_, eta, 1.2, 1.4, nt)
        cases = [
            (r"out.shape\[1\] to be 4", lambda: call(o_=v(torch.empty(2, 3)))),
            ("eta to be >= 1", lambda: call(eta=0)),
            (r"lengths to lie in \[0, 4\], got 5", lambda: call(l_=v(torch.tensor([5, 1])))),
            ("a to point at data", lambda: call(a_=null_view((2, 4)))),
        ]
        call(eta=2**63 - 1)  # a huge eta: windows run to the video's end, as with eta = T
        huge = out.clone()
        call(eta=4)
        torch.testing.assert_close(huge, out)
    elif entry == "cscm_attention":
        out, lse = torch.empty(2, 4, 3), torch.empty(2, 4, 2)
        call = lambda q_=v(x), l_=v(lengths), o_=v(out), s_=v(lse), scale=1.0: _C.cscm_attention_fwd_cpu(
            q_, l_, scale, o_, s_, nt)
        cases = [
            (r"lse.shape\[2\] to be 2", lambda: call(s_=v(torch.empty(2, 4, 3)))),
            ("scale to be finite", lambda: call(scale=float("nan"))),
            ("lse to have dtype float32", lambda: call(s_=v(lse.double()))),
            (r"lengths to lie in \[0, 4\], got 7", lambda: call(l_=v(torch.tensor([7, 1])))),
            ("q to point at data", lambda: call(q_=null_view((2, 4, 3)))),
        ]
        g, gq = torch.ones(2, 4, 3), torch.empty(2, 4, 3)
        cases.append((r"grad_q.shape\[1\] to be 4", lambda: _C.cscm_attention_bwd_cpu(
            v(g), v(x), v(out), v(lse), v(lengths), 1.0, v(torch.empty(2, 5, 3)), nt)))
        cases.append((r"grad_out to have dtype float32", lambda: _C.cscm_attention_bwd_cpu(
            v(g.double()), v(x), v(out), v(lse), v(lengths), 1.0, v(gq), nt)))
    elif entry == "multi_top_proposals":
        a = x[..., 0].contiguous()
        outs = [torch.empty(1, dtype=i64) for _ in range(3)]
        call = lambda m=(1, 2), o=tuple(v(t) for t in outs): _C.multi_top_proposals_fwd_cpu(
            v(a), v(lengths), list(m), *o, nt)
        cases = [
            ("output buffers to hold", lambda: call()),  # room for 1 candidate only
            ("every m to be >= 1", lambda: call(m=(0,))),
            (r"end.shape\[0\] to be 1", lambda: call(o=(v(outs[0]), v(outs[1]), v(torch.empty(2, dtype=i64))))),
            ("start to point at data", lambda: call(o=(v(outs[0]), null_view((1,), 2), v(outs[2])))),
        ]
    elif entry == "outer_inner_scores":
        out = torch.empty(2, 3)
        call = lambda b_=v(bi), s_=v(s), e_=v(e), o_=v(out), psi=0.5: _C.outer_inner_scores_fwd_cpu(
            v(x), v(lengths), b_, s_, e_, v(p), o_, psi, 0.1, nt)
        cases = [
            (r"batch_idx to lie in \[0, 2\), got 2", lambda: call(b_=v(torch.tensor([0, 2])))),
            (r"end to be < lengths\[batch_idx\] = 2, got 3", lambda: call(e_=v(torch.tensor([3, 3])))),
            ("0 <= start <= end", lambda: call(s_=v(torch.tensor([-1, 0])))),
            ("psi to be finite and >= 0", lambda: call(psi=-1.0)),
            (r"start.shape\[0\] to be 2", lambda: call(s_=v(torch.tensor([0])))),
            (r"out.shape\[0\] to be 2", lambda: call(o_=v(torch.empty(3, 3)))),
        ]
    elif entry == "nms_1d":
        sc, keep = torch.rand(2), torch.empty(2, dtype=i64)
        call = lambda b_=v(bi), s_=v(s), e_=v(e), sc_=v(sc), k_=v(keep), thr=0.5: _C.nms_1d_fwd_cpu(
            b_, s_, e_, sc_, k_, thr, nt)
        cases = [
            ("batch_idx to be >= 0", lambda: call(b_=v(torch.tensor([0, -1])))),
            ("0 <= start <= end", lambda: call(s_=v(torch.tensor([0, 2])))),
            (r"keep.shape\[0\] to be 2", lambda: call(k_=v(torch.empty(1, dtype=i64)))),
            (r"iou_threshold to lie in \[0, 1\]", lambda: call(thr=float("nan"))),
            ("scores to have dtype float32 or float64", lambda: call(sc_=v(keep))),
        ]
    else:
        a = x[..., 0].contiguous()
        ints, score = torch.empty(4, 1, dtype=i64), torch.empty(1)
        call = lambda c_=v(x), i_=v(ints), s_=v(score), thr=-1e9: _C.spot_postprocess_fwd_cpu(
            v(a), c_, v(p), v(lengths), [1, 2], 0.5, 0.1, 0.3, thr, i_, s_, nt)
        cases = [
            ("output buffers to hold", lambda: call()),
            (r"suppressed_cas.shape\[1\] to be 4", lambda: call(c_=v(torch.randn(2, 5, 3)))),
            ("score_threshold to be a number", lambda: call(thr=float("nan"))),
            (r"out_score.shape\[0\] to be 1", lambda: call(s_=v(torch.empty(2)))),
            (r"out_ints.shape\[0\] to be 4", lambda: call(i_=v(torch.empty(3, 1, dtype=i64)))),
        ]
    for message, bad in cases:
        with pytest.raises(ValueError, match=message):
            bad()

