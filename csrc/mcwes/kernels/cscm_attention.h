// cscm_attention — the CSCM self-attention, softmax_rows(s · Q Qᵀ) Q per video (docs/method.md §2 eq. 3, §6).
//
//   q       [B, T, D] float32/float64, any strides; Q, K and V are all q
//   lengths [B] int64 in [0, T]; keys and queries t >= lengths[b] are padding
//   scale   s, a finite float (the paper's default 1.0, no 1/√D)
//   out     [B, T, D]  out[b,i] = Σ_{j<L} softmax_j(s q_i·q_j) q_j for i < L = lengths[b]; 0 for i >= L
//   lse     [B, T, 2]  the row's logsumexp as (m, log Σ_{j<L} exp(s q_i·q_j − m)), m = max_j s q_i·q_j,
//                      for i < L; (0, 0) for i >= L. Saved for the backward, which forms
//                      P = exp((s q_i·q_j − m) − log sum): one rounded lse near 1000 would lose
//                      float32 digits the split keeps.
//
// Fused (flash-attention style): score tiles are computed block by block with a streaming
// (online) softmax, so no [T, T] tensor exists; the largest buffer is one tile per thread. The
// score matrix is symmetric, S_ij = S_ji, and the CPU driver computes each off-diagonal tile once
// and uses it for both row blocks (3·L²·D flops forward instead of 4, 7 instead of 10 backward).
// Stable for logits of any finite size: every exponent is (score − running row max) <= 0.
//
// Backward (P = exp(S − lse), recomputed tile by tile; Dv_i = Σ_d dO_id O_id):
//   dS_ij = P_ij (dO_i·q_j − Dv_i)
//   dq_i  = s Σ_j (dS_ij + dS_ji) q_j + Σ_j P_ji dO_j        (q as query + key, and as value)
//
// Edge cases: a video of length 0 gives zero rows (and lse (0, 0)); D = 0 gives an empty output with
// lse = log L. Non-finite q (or logits that overflow the dtype) give NaN/inf in the affected rows,
// never a crash. Accumulation is in the input dtype (float32 tiles, as in flash attention).
// Determinism: the CPU forward and backward sum in an order fixed by the shapes and the thread
// count (tile rows are dealt round-robin; per-thread partial sums are merged in thread order), so
// results differ between thread counts only by rounding. CUDA forward and backward are
// deterministic (no atomics: one block owns each output tile).
#pragma once

#include <cmath>

#include "mcwes/common.h"

namespace mcwes {
namespace cscm_attention {

// The probability of key j for row i from the saved (max, log sum) pair of row i.
template <typename T>
MCWES_HD T prob(T logit, T row_max, T row_log_sum) {
#if defined(__CUDA_ARCH__)
  return exp((logit - row_max) - row_log_sum);
#else
  return std::exp((logit - row_max) - row_log_sum);
#endif
}

// One entry of the backward for the pair (i, j), from logit = s·q_i·q_j, a = dO_i·q_j,
// x = q_i·dO_j = dO_j·q_i and the rows' saved (m, ll) and Dv. Returns E_ij = s (dS_ij + dS_ji)
// and sets *p_ji = P_ji, the weight of dO_j in dq_i (q as value).
template <typename T>
MCWES_HD T grad_entry(T logit, T a, T x, T m_i, T ll_i, T dv_i, T m_j, T ll_j, T dv_j, T scale, T* p_ij, T* p_ji) {
  *p_ij = prob(logit, m_i, ll_i);
  *p_ji = prob(logit, m_j, ll_j);
  return scale * (*p_ij * (a - dv_i) + *p_ji * (x - dv_j));
}

}  // namespace cscm_attention
}  // namespace mcwes
