"""The compiled kernels as differentiable torch ops (``torch.ops.mcwes.*``), CPU and CUDA.

Each op validates its arguments here, allocates its outputs, and calls the torch-free compiled core
(``mcwes._C``); the naive twins live in :mod:`mcwes.reference`.
"""
from .topk_pool import topk_k, topk_pool
from .cscm_attention import cscm_attention

__all__ = ["topk_pool", "topk_k"]
__all__ += ["cscm_attention"]
