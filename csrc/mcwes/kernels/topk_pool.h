// topk_pool — class-wise top-K mean over the valid time steps (paper eqs. 7–8, docs/method.md §3, §6).
//
//   x       [B, T, C] float32/float64, any strides
//   k       [C] or [B, C] int64, every entry >= 1 (k per class, or per video and class)
//   lengths [B] int64 in [0, T]; positions t >= lengths[b] are padding and never read
//   out     [B, C]   out[b,c] = mean of the k_eff largest x[b, t, c], t < lengths[b],
//                    k_eff = min(k, lengths[b])
//   weights [B, T, C] x's dtype: 1 / k_eff at the selected positions, 0 elsewhere (padding included):
//                    out[b,c] = Σ_t weights[b,t,c] · x[b,t,c], saved for the backward
//
// Order: larger values first; NaN ranks above every number (as torch.topk/torch.sort do), so a NaN
// among the valid steps is selected and propagates into out; ties (equal values, or two NaNs) go
// to the lower time index. A video of length 0 has k_eff = 0: out = 0, nothing selected, zero
// gradient (defined, NaN-free). Sums accumulate in double.
//
// Backward: grad_x = weights · grad_out[:, None, :] — one broadcast multiply, done by torch (so it is
// deterministic, and differentiable again); no backward kernel.
#pragma once

#include "mcwes/common.h"

namespace mcwes {
namespace topk_pool {

// True when (a, ia) ranks strictly before (b, ib) in the selection order.
template <typename T>
MCWES_HD bool before(T a, int64_t ia, T b, int64_t ib) {
  const bool na = is_nan(a), nb = is_nan(b);
  if (na != nb) return na;
  if (!na && a != b) return a > b;
  return ia < ib;
}

MCWES_HD int64_t effective_k(int64_t k, int64_t length) {
  return k < length ? k : length;
}

// The k of video b and class c from a [C] (k_per_video == false) or [B, C] table.
MCWES_HD int64_t k_of(const Strided2<const int64_t>& k, bool k_per_video, int64_t b, int64_t c) {
  return k_per_video ? k(b, c) : k(0, c);
}

// The [C] or [B, C] k view as a 2-d table (row stride 0 for a per-class k).
inline Strided2<const int64_t> k_table(const View& k) {
  if (k.ndim() == 2) return k.s2<const int64_t>();
  return {k.data<const int64_t>(), 0, k.stride(0)};
}

// The weight of a selected position: 1 / k_eff, rounded once (in double) to the storage type.
template <typename T>
MCWES_HD T selection_weight(int64_t k_eff) {
  return static_cast<T>(1.0 / static_cast<double>(k_eff));
}

}  // namespace topk_pool
}  // namespace mcwes
