"""The one switch between the compiled kernels and their plain-PyTorch fallbacks.

Three ops have a plain-PyTorch version beside them, in the op's own module: ``cscm_attention``
(``cscm_attention_torch``: softmax(s·QQᵀ)Q with the whole ``[B, T, T]`` score tensor), ``topk_pool``
(``topk_pool_torch``: a stable sort per column) and ``duration_mask`` (``duration_mask_torch``:
cumulative sums). They are the model's plain path, the baseline of the training-step benchmark, and a
second, vectorised statement of the semantics; :mod:`mcwes.reference` stays the test oracle. The
other ops have no fallback and always run compiled.

::

    mcwes.ops.set_backend("torch")         # every op with a fallback uses it from now on
    with mcwes.ops.use_backend("torch"):   # only until the block ends (then the previous one)
        model(x, lengths)
    mcwes.ops.get_backend()                # "compiled" (the default) or "torch"

The switch is one process-wide value (a module global), also inside ``use_backend``: another thread
running at the same time sees the block's backend too. A plain global is what ``torch.compile`` can
read while tracing (``fullgraph=True`` works); a context variable would break the graph. A compiled
function keeps the backend it was traced with unless torch recompiles it.

``MCWES(config, kernels=False)`` (and the ``kernels=`` argument of the losses and the Trainer) pins one
model or call to a backend; ``kernels=None`` (the default) follows this switch.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["BACKENDS", "set_backend", "get_backend", "use_backend", "backend_for"]

BACKENDS = ("compiled", "torch")
_current = "compiled"


def _check(name: object) -> str:
    if name not in BACKENDS:
        raise ValueError(f"mcwes.ops.set_backend: expected backend to be one of {BACKENDS}, got {name!r}")
    return str(name)


def set_backend(name: str) -> None:
    """Use ``name`` ("compiled" or "torch") for every op that has a fallback, process-wide."""
    global _current
    _current = _check(name)


def get_backend() -> str:
    """The backend in force: "compiled" (the default) or "torch"."""
    return _current


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Use ``name`` inside the ``with`` block, then go back to the backend before it (process-wide)."""
    global _current
    previous, _current = _current, _check(name)
    try:
        yield
    finally:
        _current = previous


def backend_for(kernels: bool | None) -> contextlib.AbstractContextManager[None]:
    """The context of a ``kernels=`` argument: None follows the switch, True/False force compiled/torch."""
    if kernels is None:
        return contextlib.nullcontext()
    return use_backend("compiled" if kernels else "torch")
