"""Hypothesis strategies shared by the spotting-op tests: batches with ragged lengths, value kinds
that stress ties and non-finite values, and strided copies."""
from __future__ import annotations

import torch
from hypothesis import strategies as st

KINDS = ("float", "grid", "coarse", "constant", "nan")


def values(seed: int, shape: tuple[int, ...], kind: str, dtype: torch.dtype) -> torch.Tensor:
    """Random values of one kind: float (normal), grid (multiples of 1/64 in [-4, 4], exact sums),
    coarse (5 levels: many ties), constant, nan (grid with NaN and ±inf sprinkled in)."""
    g = torch.Generator().manual_seed(seed)
    if kind == "float":
        t = torch.randn(shape, generator=g, dtype=torch.float64)
    elif kind == "constant":
        t = torch.full(shape, 0.375, dtype=torch.float64)
    elif kind == "coarse":
        t = torch.randint(0, 5, shape, generator=g).to(torch.float64) / 4
    else:
        t = torch.randint(-256, 257, shape, generator=g).to(torch.float64) / 64
    if kind == "nan" and t.numel():
        pick = torch.rand(shape, generator=g)
        t[pick < 0.08] = float("nan")
        t[(pick >= 0.08) & (pick < 0.1)] = float("inf")
        t[(pick >= 0.1) & (pick < 0.12)] = -float("inf")
    return t.to(dtype)


def strided(t: torch.Tensor) -> torch.Tensor:
    """The same values in a non-contiguous view (every other element of a wider buffer)."""
    big = torch.full(t.shape + (2,), float("nan") if t.dtype.is_floating_point else -7, dtype=t.dtype)
    big[..., 0] = t
    return big[..., 0]


@st.composite
def ragged(draw, max_b: int = 4, max_t: int = 48) -> tuple[int, int, torch.Tensor]:
    """(B, T, lengths) with int64 lengths in [0, T], T = 0 and B = 0 included."""
    B = draw(st.integers(0, max_b))
    T = draw(st.integers(0, max_t))
    lengths = [draw(st.integers(0, T)) for _ in range(B)]
    if B and draw(st.booleans()):
        lengths[0] = T
    return B, T, torch.tensor(lengths, dtype=torch.int64)


m_lists = st.one_of(
    st.just(list(range(8, 23))),
    st.lists(st.integers(1, 60), min_size=0, max_size=6),
)
