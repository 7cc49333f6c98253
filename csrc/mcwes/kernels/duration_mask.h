// duration_mask — the label-level duration mask (paper eqs. 9–10, docs/method.md §3, §6).
//
//   a       [B, T] float32/float64, any strides: mean attention A
//   lengths [B] int64 in [0, T]; steps t >= lengths[b] are padding and never read
//   out     [B, T] of a's dtype: M in {0, 1} on valid steps, 0 on padding
//   eta >= 1 (window length), omega_l, omega_u finite
//
// Per video of length L: Q_t = mean(a[t .. min(t+eta, L) - 1]) (the window is clipped at the end);
// Δ_t = |Q_{t+1} - Q_t| for t < L-1, Δ_{L-1} = 0; Δ̄ = mean over the L values of Δ. M_t = 0 when
// omega_l·Δ̄ < Δ_t < omega_u·Δ̄ (strictly), else 1; Δ̄ = 0 gives all ones (L = 1 included).
// Arithmetic is in double, summed left to right (as the reference does), so float64 inputs give the
// reference's mask bit for bit. NaN/inf in a video's valid attention make Δ̄ NaN: no comparison holds,
// so that video's mask is all ones (documented, no error). Not differentiable; deterministic.
#pragma once

#include "mcwes/common.h"

namespace mcwes {
namespace duration_mask {

// Q_t: the mean of a(t) .. a(min(t + eta, L) - 1), summed left to right in double.
template <typename A>
MCWES_HD double window_mean(const A& a, int64_t t, int64_t length, int64_t eta) {
  const int64_t stop = (length - t) < eta ? length : t + eta;
  double s = 0.0;
  for (int64_t i = t; i < stop; ++i) s += static_cast<double>(a(i));
  return s / static_cast<double>(stop - t);
}

// Δ_t of eq. 9 (0 at the last valid step).
template <typename A>
MCWES_HD double delta(const A& a, int64_t t, int64_t length, int64_t eta) {
  if (t + 1 >= length) return 0.0;
  const double d = window_mean(a, t + 1, length, eta) - window_mean(a, t, length, eta);
  return d < 0 ? -d : d;
}

// M_t of eq. 10 from Δ_t and Δ̄.
MCWES_HD bool keep(double d, double mean, double omega_l, double omega_u) {
  if (mean == 0.0) return true;
  return !(omega_l * mean < d && d < omega_u * mean);
}

}  // namespace duration_mask
}  // namespace mcwes
