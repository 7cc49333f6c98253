// outer_inner_scores — class-specific confidence of a candidate (paper eqs. 23–25, docs/method.md §4.3).
//
//   x            [B, T, C'] float32/float64, any strides: suppressed T-CAM Ŝ of the C' scored classes
//   lengths      [B] int64 in [0, T]
//   batch_idx, start, end  [P] int64: 0 <= batch_idx < B, 0 <= start <= end < lengths[batch_idx]
//   video_scores [B, C'] of x's dtype: video-level probabilities p
//   psi >= 0, varsigma finite
//   out          [P, C'] of x's dtype
//
// For a candidate [s, e] of video b (length Lb) and class j: len = e - s + 1,
// r = max(1, floor(psi·len + 0.5)) (symmetric margin, half rounds up), inner = mean x[b, s..e, j],
// outer = mean of x[b, t, j] over t in [s-r, s-1] ∪ [e+1, e+r] clipped to [0, Lb-1] (0 when empty),
// out = inner - outer + varsigma·p[b, j].
//
// Sums come from per-(video, class) prefix sums in double over the finite values, with running
// counts of NaN, +inf and -inf, so a window sum is exactly what direct summation gives for
// non-finite values (NaN if it holds a NaN or both infinities, ±inf if it holds one kind) and a NaN
// elsewhere in the video does not leak into windows that do not contain it. O(T + P) per video.
// Deterministic; not differentiable.
#pragma once

#include <cmath>

#include "mcwes/common.h"

namespace mcwes {
namespace outer_inner_scores {

// r = max(1, floor(psi·len + 0.5)), capped at `cap` (the video's length: a larger margin is clipped
// anyway) so a huge psi cannot overflow the integer conversion.
MCWES_HD int64_t margin(int64_t len, double psi, int64_t cap) {
  const double r = floor(psi * static_cast<double>(len) + 0.5);
  if (!(r < static_cast<double>(cap))) return cap < 1 ? 1 : cap;
  return r < 1.0 ? 1 : static_cast<int64_t>(r);
}

// A window sum from finite-value prefix sums and the counts of NaN, +inf and -inf in the window.
MCWES_HD double window_sum(double finite_sum, int64_t nans, int64_t pinfs, int64_t ninfs) {
  if (nans > 0 || (pinfs > 0 && ninfs > 0)) return NAN;
  if (pinfs > 0) return INFINITY;
  if (ninfs > 0) return -INFINITY;
  return finite_sum;
}

// φ = inner - outer + varsigma·p from the window sums and counts (outer_count may be 0).
MCWES_HD double score(double inner_sum, int64_t inner_count, double outer_sum, int64_t outer_count, double p, double varsigma) {
  const double inner = inner_sum / static_cast<double>(inner_count);
  const double outer = outer_count > 0 ? outer_sum / static_cast<double>(outer_count) : 0.0;
  return inner - outer + varsigma * p;
}

// The outer region of [s, e] with margin r in a video of length L: [lo1, s-1] and [e+1, hi2].
struct Outer {
  int64_t lo1, hi1, lo2, hi2;
};
MCWES_HD Outer outer_region(int64_t s, int64_t e, int64_t r, int64_t length) {
  Outer o;
  o.lo1 = s - r < 0 ? 0 : s - r;
  o.hi1 = s - 1;
  o.lo2 = e + 1;
  o.hi2 = e + r > length - 1 ? length - 1 : e + r;
  return o;
}

}  // namespace outer_inner_scores
}  // namespace mcwes
