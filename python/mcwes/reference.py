"""Naive twins of every compiled op, written from the paper's equations and docs/method.md, not from the C++.

Plain Python loops in float64, readable line by line; slow on purpose. Tests compare the kernels
against these; the twins take and return torch tensors so that gradients flow through them too.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def _rank_key(value: float, t: int) -> tuple[int, float, int]:
    # Larger first, NaN above every number, ties to the lower index.
    if math.isnan(value):
        return (0, 0.0, t)
    return (1, -value, t)


def topk_pool(
    x: torch.Tensor, k: int | Sequence[int] | torch.Tensor, lengths: Sequence[int] | torch.Tensor | None = None
) -> torch.Tensor:
    """Twin of :func:`mcwes.ops.topk_pool`, in float64; differentiable through indexing."""
    B, T, C = x.shape
    x64 = x.to(torch.float64)
    k_t = torch.as_tensor(k, dtype=torch.int64)
    k_tab = k_t.reshape(1, 1).expand(B, C) if k_t.dim() == 0 else (k_t.expand(B, C) if k_t.dim() == 1 else k_t)
    lens = [T] * B if lengths is None else [int(v) for v in torch.as_tensor(lengths).tolist()]
    rows = []
    for b in range(B):
        cols = []
        for c in range(C):
            L = lens[b]
            k_eff = min(int(k_tab[b, c]), L)
            if k_eff == 0:
                cols.append(x64[b, :0, c].sum())  # empty sum: 0, still on the graph
                continue
            values = [float(v) for v in x64[b, :L, c].detach()]
            chosen = sorted(range(L), key=lambda t: _rank_key(values[t], t))[:k_eff]
            cols.append(x64[b, sorted(chosen), c].sum() / k_eff)
        rows.append(torch.stack(cols) if cols else x64.new_zeros((0,)))
    return torch.stack(rows) if rows else x64.sum(dim=1)  # B = 0: [0, C], still on the graph


def topk_k(lengths: Sequence[int], h: Sequence[float]) -> list[list[int]]:
    """Paper eq. 7: ``k(T, h) = max(1, floor(T / h))`` per video and ratio."""
    return [[max(1, math.floor(int(T) / float(hc))) for hc in h] for T in lengths]


def duration_mask(
    a: torch.Tensor,
    lengths: Sequence[int] | torch.Tensor | None = None,
    *,
    eta: int = 2,
    omega_l: float = 1.2,
    omega_u: float = 1.4,
) -> torch.Tensor:
    """Twin of the duration mask (paper eqs. 9–10, docs/method.md §3), in float64 loops. ``a: [B, T]``.

    For valid ``t``: ``Q_t`` = mean of ``a[t .. min(t+eta, L)-1]``; ``Δ_t = |Q_{t+1} - Q_t|``
    (``Δ_{L-1} = 0``); ``M_t = 0`` where ``ω_l·mean(Δ) < Δ_t < ω_u·mean(Δ)``, else 1; all ones when
    ``mean(Δ) = 0``; padding positions 0.
    """
    B, T = a.shape
    lens = [T] * B if lengths is None else [int(v) for v in torch.as_tensor(lengths).tolist()]
    out = torch.zeros((B, T), dtype=torch.float64)
    for b in range(B):
        L = lens[b]
        vals = [float(v) for v in a[b, :L].detach().to(torch.float64)]
        q = [sum(vals[t:min(t + eta, L)]) / len(vals[t:min(t + eta, L)]) for t in range(L)]
        delta = [abs(q[t + 1] - q[t]) for t in range(L - 1)] + ([0.0] if L else [])
        mean_delta = sum(delta) / L if L else 0.0
        for t in range(L):
            inside = omega_l * mean_delta < delta[t] < omega_u * mean_delta
            out[b, t] = 1.0 if mean_delta == 0 or not inside else 0.0
    return out


def cscm_attention(q: torch.Tensor, lengths: Sequence[int] | torch.Tensor | None = None, scale: float = 1.0) -> torch.Tensor:
    """Twin of :func:`mcwes.ops.cscm_attention` (docs/method.md §2 eq. 3), float64, materialising ``q qᵀ``.

    Per video: ``softmax_rows(scale · Q Qᵀ) Q`` over its valid rows and keys; padded rows are zero.
    Differentiable (plain torch ops, one video at a time).
    """
    B, T, D = q.shape
    q64 = q.to(torch.float64)
    lens = [T] * B if lengths is None else [int(v) for v in torch.as_tensor(lengths).tolist()]
    rows = []
    for b in range(B):
        L = lens[b]
        qb = q64[b, :L]
        weights = torch.softmax(scale * (qb @ qb.T), dim=1) if L else qb.new_zeros((0, 0))
        valid = weights @ qb
        rows.append(torch.cat([valid, q64.new_zeros((T - L, D))], dim=0))
    return torch.stack(rows) if rows else q64 * 0.0  # empty batch, still on the autograd graph


def _lengths_list(lengths: Sequence[int] | torch.Tensor | None, batch: int, steps: int) -> list[int]:
    return [steps] * batch if lengths is None else [int(v) for v in torch.as_tensor(lengths).tolist()]


def multi_top_proposals(
    a: torch.Tensor, lengths: Sequence[int] | torch.Tensor | None, m_values: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Twin of :func:`mcwes.ops.multi_top_proposals` (paper §3.5, docs/method.md §4 step 2). ``a: [B, T]``.

    For each video and each m: the ``k = min(L, max(1, floor(L/m)))`` steps with the largest
    attention (NaN first, ties to the lower index) are selected; every maximal run of consecutive
    selected steps is a candidate. Candidates of all m, deduplicated, ordered by (video, start, end).
    """
    B, T = a.shape
    lens = _lengths_list(lengths, B, T)
    rows: list[tuple[int, int, int]] = []
    for b in range(B):
        L = lens[b]
        values = [float(v) for v in a[b, :L].detach().to(torch.float64)]
        order = sorted(range(L), key=lambda t: _rank_key(values[t], t))
        found: set[tuple[int, int]] = set()
        for m in m_values:
            if L == 0:
                continue
            k = min(L, max(1, L // int(m)))
            chosen = set(order[:k])
            t = 0
            while t < L:
                if t in chosen:
                    s = t
                    while t + 1 < L and (t + 1) in chosen:
                        t += 1
                    found.add((s, t))
                t += 1
        rows.extend((b, s, e) for s, e in sorted(found))
    cols = list(zip(*rows)) if rows else [(), (), ()]
    return tuple(torch.tensor(list(c), dtype=torch.int64) for c in cols)  # type: ignore[return-value]


def outer_inner_scores(
    x: torch.Tensor,
    lengths: Sequence[int] | torch.Tensor | None,
    batch_idx: Sequence[int] | torch.Tensor,
    start: Sequence[int] | torch.Tensor,
    end: Sequence[int] | torch.Tensor,
    video_scores: torch.Tensor,
    *,
    psi: float,
    varsigma: float,
) -> torch.Tensor:
    """Twin of :func:`mcwes.ops.outer_inner_scores` (paper eqs. 23–25, docs/method.md §4 step 3), float64.

    ``φ = inner - outer + varsigma·p``: inner = mean of x over ``[s, e]``; outer = mean over
    ``[s-r, s-1] ∪ [e+1, e+r]`` clipped to the video, ``r = max(1, floor(psi·(e-s+1) + 0.5))``, 0 when
    the outer region is empty. Direct sums, no prefix sums.
    """
    B, T, C = x.shape
    lens = _lengths_list(lengths, B, T)
    x64 = x.detach().to(torch.float64)
    p64 = video_scores.detach().to(torch.float64)
    bs, ss, es = ([int(v) for v in torch.as_tensor(t).tolist()] for t in (batch_idx, start, end))
    out = torch.zeros((len(bs), C), dtype=torch.float64)
    for i, (b, s, e) in enumerate(zip(bs, ss, es)):
        L, n = lens[b], e - s + 1
        r = max(1, math.floor(psi * n + 0.5))
        outer_steps = list(range(max(0, s - r), s)) + list(range(e + 1, min(L - 1, e + r) + 1))
        for j in range(C):
            col = [float(v) for v in x64[b, :L, j]]
            inner = sum(col[s:e + 1]) / n
            outer = sum(col[t] for t in outer_steps) / len(outer_steps) if outer_steps else 0.0
            out[i, j] = inner - outer + varsigma * float(p64[b, j])
    return out


def _iou(s1: int, e1: int, s2: int, e2: int) -> float:
    inter = max(0, min(e1, e2) - max(s1, s2) + 1)
    return inter / ((e1 - s1 + 1) + (e2 - s2 + 1) - inter)


def nms_1d(
    batch_idx: Sequence[int] | torch.Tensor,
    start: Sequence[int] | torch.Tensor,
    end: Sequence[int] | torch.Tensor,
    scores: Sequence[float] | torch.Tensor,
    iou_threshold: float,
) -> torch.Tensor:
    """Twin of :func:`mcwes.ops.nms_1d` (docs/method.md §4 step 4): per-video greedy NMS, inclusive IoU.

    Visiting order over the whole batch: larger score first (NaN after every number), then lower
    start, lower end, lower index; a proposal is kept unless its IoU with a kept one of the same video
    is > iou_threshold. Returns the kept indices in visiting order.
    """
    bs, ss, es = ([int(v) for v in torch.as_tensor(t).tolist()] for t in (batch_idx, start, end))
    sc = [float(v) for v in torch.as_tensor(scores, dtype=torch.float64).tolist()]

    def key(i: int) -> tuple[int, float, int, int, int]:
        nan = math.isnan(sc[i])
        return (1 if nan else 0, 0.0 if nan else -sc[i], ss[i], es[i], i)

    kept: list[int] = []
    for i in sorted(range(len(bs)), key=key):
        if all(bs[k] != bs[i] or _iou(ss[k], es[k], ss[i], es[i]) <= iou_threshold for k in kept):
            kept.append(i)
    return torch.tensor(kept, dtype=torch.int64)


def spot_postprocess(
    attention: torch.Tensor,
    suppressed_cas: torch.Tensor,
    video_scores: torch.Tensor,
    lengths: Sequence[int] | torch.Tensor | None = None,
    *,
    m_values: Sequence[int],
    psi: float,
    varsigma: float,
    nms_threshold: float = 0.01,
    score_threshold: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Twin of :func:`mcwes.ops.spot_postprocess` (docs/method.md §4 steps 2–5), composed from the twins above.

    Each candidate yields one proposal per class j, listed by (video, start, end, j) so that nms_1d's
    last tie-break (the index) is the class; NMS; drop ``φ < score_threshold`` (NaN too); order by
    (video, descending score). Returns ``(batch_idx, start, end, label, score)``, score in float64.
    """
    bi, st, en = multi_top_proposals(attention, lengths, m_values)
    phi = outer_inner_scores(suppressed_cas, lengths, bi, st, en, video_scores, psi=psi, varsigma=varsigma)
    C = suppressed_cas.shape[2]
    props = [(int(bi[i]), int(st[i]), int(en[i]), j, float(phi[i, j])) for i in range(len(bi)) for j in range(C)]
    keep = nms_1d([p[0] for p in props], [p[1] for p in props], [p[2] for p in props], [p[4] for p in props],
                  nms_threshold).tolist()
    keep = [i for i in keep if props[i][4] >= score_threshold]
    keep.sort(key=lambda i: props[i][0])  # stable: (video, descending score)
    ints = [torch.tensor([props[i][f] for i in keep], dtype=torch.int64) for f in range(4)]
    return (*ints, torch.tensor([props[i][4] for i in keep], dtype=torch.float64))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------------
# TV-L1 optical flow (twin of mcwes.ops.tvl1_flow; the choices are documented in
# csrc/mcwes/kernels/tvl1_flow.h). NumPy float64, whole-image array operations, small images only.

_TVL1_MIN_LEVEL = 16  # a pyramid level narrower or lower than this is not used


def _tvl1_resize(img, out_h: int, out_w: int, scale_y: float, scale_x: float):
    """Bilinear resize, pixel centres aligned: output pixel d samples the input at
    (d + 0.5)·scale − 0.5, clamped to the image (edge pixels repeat)."""
    import numpy as np

    in_h, in_w = img.shape
    sy = np.clip((np.arange(out_h) + 0.5) * scale_y - 0.5, 0.0, in_h - 1)
    sx = np.clip((np.arange(out_w) + 0.5) * scale_x - 0.5, 0.0, in_w - 1)
    y0 = np.floor(sy).astype(np.int64)
    x0 = np.floor(sx).astype(np.int64)
    wy = (sy - y0)[:, None]
    wx = (sx - x0)[None, :]
    y1 = np.minimum(y0 + 1, in_h - 1)
    x1 = np.minimum(x0 + 1, in_w - 1)
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def _tvl1_cubic_weights(t):
    """Keys cubic convolution weights (a = −0.75) of the four taps at offsets −1, 0, 1, 2."""
    a = -0.75
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    w3 = 1 - w0 - w1 - w2
    return (w0, w1, w2, w3)


def _tvl1_warp(img, map_x, map_y):
    """img sampled at (map_x, map_y) by bicubic interpolation; taps outside the image count as 0."""
    import numpy as np

    h, w = img.shape
    ix = np.floor(map_x).astype(np.int64)
    iy = np.floor(map_y).astype(np.int64)
    wx = _tvl1_cubic_weights(map_x - ix)
    wy = _tvl1_cubic_weights(map_y - iy)
    out = np.zeros_like(img)
    for j in range(4):
        yy = iy - 1 + j
        y_in = (yy >= 0) & (yy < h)
        for i in range(4):
            xx = ix - 1 + i
            inside = y_in & (xx >= 0) & (xx < w)
            tap = img[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
            out += np.where(inside, tap, 0.0) * wy[j] * wx[i]
    return out


def _tvl1_centered_gradient(img):
    """Central differences, (I[x+1] − I[x−1]) / 2, with indices clamped to the image."""
    import numpy as np

    h, w = img.shape
    xs, ys = np.arange(w), np.arange(h)
    dx = 0.5 * (img[:, np.minimum(xs + 1, w - 1)] - img[:, np.maximum(xs - 1, 0)])
    dy = 0.5 * (img[np.minimum(ys + 1, h - 1), :] - img[np.maximum(ys - 1, 0), :])
    return dx, dy


def _tvl1_forward_gradient(u):
    """Forward differences; 0 in the last column (x) and the last row (y)."""
    import numpy as np

    dx = np.zeros_like(u)
    dy = np.zeros_like(u)
    dx[:, :-1] = u[:, 1:] - u[:, :-1]
    dy[:-1, :] = u[1:, :] - u[:-1, :]
    return dx, dy


def _tvl1_divergence(p1, p2):
    """Backward differences with p = 0 before the first column/row (minus the adjoint of the forward
    gradient)."""

    div = p1.copy()
    div[:, 1:] -= p1[:, :-1]
    div += p2
    div[1:, :] -= p2[:-1, :]
    return div


def _tvl1_median(u, k: int):
    """k×k median filter, edge pixels repeated outside the image."""
    import numpy as np

    r = k // 2
    padded = np.pad(u, r, mode="edge")
    h, w = u.shape
    stack = [padded[dy:dy + h, dx:dx + w] for dy in range(k) for dx in range(k)]
    return np.median(np.stack(stack), axis=0)


def tvl1_flow(
    prev,
    next,
    *,
    tau: float = 0.25,
    lambda_: float = 0.15,
    theta: float = 0.3,
    nscales: int = 5,
    warps: int = 5,
    epsilon: float = 0.01,
    inner_iterations: int = 30,
    outer_iterations: int = 10,
    scale_step: float = 0.8,
    gamma: float = 0.0,
    median_filtering: int = 5,
):
    """Twin of :func:`mcwes.ops.tvl1_flow` for one pair ``[H, W]`` (intensities on the 0–255 scale):
    the flow ``[2, H, W]`` (u, v) in float64 NumPy."""
    import numpy as np

    I0 = np.asarray(prev, dtype=np.float64)
    I1 = np.asarray(next, dtype=np.float64)
    # The pyramid: each level is the previous one scaled by scale_step (sizes rounded to nearest);
    # a level below 16 pixels in either dimension ends it.
    I0s, I1s = [I0], [I1]
    for _ in range(1, nscales):
        h, w = I0s[-1].shape
        nh, nw = int(np.rint(h * scale_step)), int(np.rint(w * scale_step))
        if nh < _TVL1_MIN_LEVEL or nw < _TVL1_MIN_LEVEL:
            break
        I0s.append(_tvl1_resize(I0s[-1], nh, nw, 1 / scale_step, 1 / scale_step))
        I1s.append(_tvl1_resize(I1s[-1], nh, nw, 1 / scale_step, 1 / scale_step))

    l_t = lambda_ * theta
    taut = tau / theta
    use_gamma = gamma != 0
    h, w = I0s[-1].shape
    u1, u2, u3 = np.zeros((h, w)), np.zeros((h, w)), np.zeros((h, w))
    for s in range(len(I0s) - 1, -1, -1):
        J0, J1 = I0s[s], I1s[s]
        h, w = J0.shape
        if u1.shape != (h, w):  # from the coarser level: bilinear zoom, flow divided by scale_step
            ph, pw = u1.shape
            u1 = _tvl1_resize(u1, h, w, ph / h, pw / w) / scale_step
            u2 = _tvl1_resize(u2, h, w, ph / h, pw / w) / scale_step
            u3 = _tvl1_resize(u3, h, w, ph / h, pw / w)  # the illumination term is not scaled
        eps_scaled = epsilon * epsilon * h * w
        J1x, J1y = _tvl1_centered_gradient(J1)
        p11, p12, p21, p22, p31, p32 = (np.zeros((h, w)) for _ in range(6))
        xs = np.arange(w)[None, :].astype(np.float64)
        ys = np.arange(h)[:, None].astype(np.float64)
        for _warp in range(warps):
            # Linearise the data term around the current flow u0.
            map_x, map_y = xs + u1, ys + u2
            J1w = _tvl1_warp(J1, map_x, map_y)
            J1wx = _tvl1_warp(J1x, map_x, map_y)
            J1wy = _tvl1_warp(J1y, map_x, map_y)
            grad = J1wx * J1wx + J1wy * J1wy
            rho_c = J1w - J1wx * u1 - J1wy * u2 - J0
            error = math.inf
            n_outer = 0
            while error > eps_scaled and n_outer < outer_iterations:
                if median_filtering > 1:
                    u1 = _tvl1_median(u1, median_filtering)
                    u2 = _tvl1_median(u2, median_filtering)
                n_inner = 0
                while error > eps_scaled and n_inner < inner_iterations:
                    # v: pointwise thresholding of the linearised data term.
                    rho = rho_c + J1wx * u1 + J1wy * u2 + (gamma * u3 if use_gamma else 0.0)
                    lower = rho < -l_t * grad
                    upper = rho > l_t * grad
                    safe = np.where(grad > _FLT_EPSILON, grad, 1.0)
                    fi = np.where(lower, l_t, np.where(upper, -l_t, np.where(grad > _FLT_EPSILON, -rho / safe, 0.0)))
                    v1 = u1 + fi * J1wx
                    v2 = u2 + fi * J1wy
                    # fi * gamma is the step of u3 when the middle case uses -rho/grad, as the others
                    v3 = u3 + fi * gamma
                    # u: v plus theta times the divergence of the dual variable.
                    new1 = v1 + theta * _tvl1_divergence(p11, p12)
                    new2 = v2 + theta * _tvl1_divergence(p21, p22)
                    error = float(np.sum((new1 - u1) ** 2) + np.sum((new2 - u2) ** 2))
                    u1, u2 = new1, new2
                    if use_gamma:
                        new3 = v3 + theta * _tvl1_divergence(p31, p32)
                        error += float(np.sum((new3 - u3) ** 2))
                        u3 = new3
                    # p: projected gradient ascent step on the dual variable.
                    for (pa, pb), u in (((p11, p12), u1), ((p21, p22), u2)) + ((((p31, p32), u3),) if use_gamma else ()):
                        ux, uy = _tvl1_forward_gradient(u)
                        ng = 1.0 + taut * np.sqrt(ux * ux + uy * uy)
                        pa[...] = (pa + taut * ux) / ng
                        pb[...] = (pb + taut * uy) / ng
                    n_inner += 1
                n_outer += 1
    return np.stack([u1, u2])


_FLT_EPSILON = 1.1920928955078125e-07  # float32 machine epsilon: below it |∇I1|² counts as 0
