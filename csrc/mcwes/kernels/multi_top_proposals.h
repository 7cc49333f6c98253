// multi_top_proposals — candidate intervals from the attention (paper §3.5 "multi-top", docs/method.md §4.2).
//
//   a        [B, T] float32/float64, any strides: mean attention A
//   lengths  [B] int64 in [0, T]; steps t >= lengths[b] are padding and never read
//   m_values M integers >= 1 (the set M'; any order, repeats allowed)
//   out      batch_idx, start, end: int64 [P], inclusive snippet intervals
//
// Per video of length L and every m: select the k = min(L, max(1, floor(L/m))) steps with the largest
// a (ties to the lower index; NaN ranks above every number, as in topk_pool and torch.sort); every
// maximal run [s, e] of consecutive selected steps is a candidate. Candidates of all m are merged,
// deduplicated per video and ordered by (video, start, end). L = 0 gives no candidate.
//
// Algorithm: rank every step once (rank = position in the selection order, only the top
// max(k) steps need an exact rank); the selected set at level k is {t : rank[t] < k}, nested in k.
// Step s starts a run at level k iff rank[s] < k <= rank[s-1] (or s = 0), and for one s the run's end
// grows with k, so walking the distinct k in ascending order per s yields (start, end) already sorted
// and deduplicated. O(L log L + M·L) per video. Deterministic.
//
// Ragged output: at level k a video has at most min(k, ceil(L/2)) runs, so
// capacity(T) = sum over m of min(k(T, m), ceil(T/2)) bounds one video's candidates (k is monotone in
// L); callers allocate B·capacity(T) and the drivers return the number written.
#pragma once

#include "mcwes/common.h"
#include "mcwes/kernels/topk_pool.h"

namespace mcwes {
namespace multi_top_proposals {

// k(L, m) = max(1, floor(L / m)) clamped to L (0 for an empty video); m >= 1.
MCWES_HD int64_t k_of(int64_t length, int64_t m) {
  if (length <= 0) return 0;
  const int64_t k = length / m;
  return k < 1 ? 1 : (k > length ? length : k);
}

// The distinct k(L, m) > 0 over the M values m[0..M), ascending, into ks[0..n); returns n (ks needs
// room for min(M, 2·sqrt(L) + 1) values). m < 1 reads as 1: the drivers reject it, and the clamp keeps
// a device kernel from dividing by zero whatever it is given. Insertion into the sorted prefix:
// O(M · n), n being at most ~2·sqrt(L) distinct values. The one way CPU and CUDA compute the levels.
MCWES_HD int64_t distinct_ks(int64_t length, const int64_t* m, int64_t M, int64_t* ks) {
  int64_t n = 0;
  for (int64_t i = 0; i < M; ++i) {
    const int64_t k = k_of(length, m[i] < 1 ? 1 : m[i]);
    if (k <= 0) continue;
    int64_t j = n;
    while (j > 0 && ks[j - 1] > k) --j;     // first position whose predecessor is <= k
    if (j > 0 && ks[j - 1] == k) continue;  // already there
    for (int64_t q = n; q > j; --q) ks[q] = ks[q - 1];
    ks[j] = k;
    ++n;
  }
  return n;
}

// Upper bound on the runs one video of length <= T has at the level of m.
MCWES_HD int64_t run_bound(int64_t T, int64_t m) {
  const int64_t k = k_of(T, m), half = (T + 1) / 2;
  return k < half ? k : half;
}

// Selection order of the attention: larger first, NaN first, ties to the lower index.
template <typename T>
MCWES_HD bool before(T a, int64_t ia, T b, int64_t ib) {
  return topk_pool::before(a, ia, b, ib);
}

// Whether step s starts a run at level k, given the ranks of s and s - 1 (s - 1 < 0: pass -1).
MCWES_HD bool starts_run(int64_t rank_s, int64_t rank_prev, bool first, int64_t k) {
  return rank_s < k && (first || rank_prev >= k);
}

// Calls emit(s, e) for every distinct run starting at step s, in ascending e, and returns how many.
// rank[t] is the selection rank of step t (any value >= max k for steps never selected); ks holds
// the distinct k in ascending order. s starts a run at k iff rank[s] < k <= rank[s-1]; once
// rank[s-1] < k the step lies inside an earlier run for this k and every larger one.
template <typename Emit>
MCWES_HD int64_t runs_from(const int64_t* rank, int64_t s, int64_t length, const int64_t* ks, int64_t nk, Emit&& emit) {
  int64_t e = s, last = -1, n = 0;
  for (int64_t i = 0; i < nk; ++i) {
    const int64_t k = ks[i];
    if (rank[s] >= k) continue;
    if (s > 0 && rank[s - 1] < k) break;
    while (e + 1 < length && rank[e + 1] < k) ++e;
    if (e != last) {
      emit(s, e);
      last = e;
      ++n;
    }
  }
  return n;
}

}  // namespace multi_top_proposals
}  // namespace mcwes
