"""Naive twins of every compiled op, written from the paper's equations and SPEC, not from the C++.

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


def topk_pool(x: torch.Tensor, k: int | Sequence[int] | torch.Tensor, lengths: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
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
    return torch.stack(rows) if rows else x64.new_zeros((0, C))


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
    """Twin of the duration mask (paper eqs. 9–10, SPEC §3), in float64 loops. ``a: [B, T]``.

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
    """Twin of :func:`mcwes.ops.cscm_attention` (SPEC §2 eq. 3), float64, materialising ``q qᵀ``.

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
