"""The compiled kernels as differentiable torch ops (``torch.ops.mcwes.*``), CPU and CUDA.

Each op validates its arguments here, allocates its outputs, and calls the torch-free compiled core
(``mcwes._C``); the naive twins live in :mod:`mcwes.reference`. ``cscm_attention``, ``topk_pool`` and
``duration_mask`` also have a plain-PyTorch fallback beside them (``<op>_torch`` in the op's module),
chosen by one switch: :func:`set_backend` / :func:`use_backend` ("compiled", the default, or "torch").
"""
from ._backend import backend_for, get_backend, set_backend, use_backend
from .topk_pool import topk_k, topk_pool
from .cscm_attention import cscm_attention, cscm_attention_path, get_cscm_attention_path, set_cscm_attention_path
from .duration_mask import duration_mask
from .multi_top_proposals import multi_top_proposals
from .outer_inner_scores import outer_inner_scores
from .nms_1d import nms_1d
from .spot_postprocess import SpotProposals, spot_postprocess
from .tvl1_flow import tvl1_flow

__all__ = [
    "topk_pool", "topk_k", "cscm_attention", "duration_mask", "multi_top_proposals", "outer_inner_scores",
    "nms_1d", "spot_postprocess", "SpotProposals", "set_backend", "get_backend", "use_backend", "backend_for",
    "tvl1_flow", "cscm_attention_path", "set_cscm_attention_path", "get_cscm_attention_path",
]
