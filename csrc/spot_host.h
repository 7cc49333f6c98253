// spot_host.h — the per-video host routines behind multi_top_proposals, outer_inner_scores, nms_1d
// and spot_postprocess (CPU drivers; the CUDA nms_1d/spot_postprocess reuse them on the host). The
// math lives in mcwes/kernels/*.h; these are the loops and buffers around it. Nothing here throws:
// the drivers validate before calling.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "mcwes/kernels/spot_postprocess.h"

namespace mcwes {
namespace spot_host {

struct Run {
  int64_t start, end;
};

// Buffers reused across the videos a thread handles.
struct Scratch {
  std::vector<int64_t> ks, order, rank;
  std::vector<double> values;
};

// The distinct k(L, m) > 0 in ascending order (multi_top_proposals::distinct_ks, shared with CUDA).
inline void distinct_ks(int64_t length, const std::vector<int64_t>& m_values, std::vector<int64_t>& ks) {
  ks.resize(m_values.size());
  const int64_t n = multi_top_proposals::distinct_ks(length, m_values.data(), static_cast<int64_t>(m_values.size()), ks.data());
  ks.resize(static_cast<size_t>(n));
}

// Candidate runs of one video, ordered by (start, end) and deduplicated. `a(t)` reads step t < L.
template <typename T, typename A>
void video_runs(const A& a, int64_t length, const std::vector<int64_t>& m_values, Scratch& sc, std::vector<Run>& runs) {
  runs.clear();
  distinct_ks(length, m_values, sc.ks);
  if (sc.ks.empty()) return;
  const int64_t kmax = sc.ks.back();
  const size_t L = static_cast<size_t>(length);
  std::vector<double>& vals = sc.values;  // float32 -> double keeps the order and NaN
  vals.resize(L);
  for (size_t t = 0; t < L; ++t) vals[t] = static_cast<double>(a(static_cast<int64_t>(t)));
  sc.order.resize(L);
  std::iota(sc.order.begin(), sc.order.end(), int64_t{0});
  auto cmp = [&](int64_t i, int64_t j) {
    return multi_top_proposals::before<double>(vals[static_cast<size_t>(i)], i, vals[static_cast<size_t>(j)], j);
  };
  // Only the top kmax need an exact rank; every other step ranks "kmax" (never selected).
  if (kmax < length) std::nth_element(sc.order.begin(), sc.order.begin() + (kmax - 1), sc.order.end(), cmp);
  std::sort(sc.order.begin(), sc.order.begin() + kmax, cmp);
  sc.rank.assign(L, kmax);
  for (int64_t i = 0; i < kmax; ++i) sc.rank[static_cast<size_t>(sc.order[static_cast<size_t>(i)])] = i;
  const int64_t* rank = sc.rank.data();
  const int64_t nk = static_cast<int64_t>(sc.ks.size());
  for (int64_t s = 0; s < length; ++s) {
    if (rank[s] >= kmax) continue;
    multi_top_proposals::runs_from(rank, s, length, sc.ks.data(), nk, [&](int64_t st, int64_t en) { runs.push_back({st, en}); });
  }
}

// A window sum with the counts of non-finite values (outer_inner_scores.h).
struct Window {
  double sum = 0.0;
  int64_t nans = 0, pinfs = 0, ninfs = 0, count = 0;
  void add(const Window& w) {
    sum += w.sum;
    nans += w.nans;
    pinfs += w.pinfs;
    ninfs += w.ninfs;
    count += w.count;
  }
  double value() const { return outer_inner_scores::window_sum(sum, nans, pinfs, ninfs); }
};

// Prefix sums of one (video, class) column in double over its finite values, plus running counts of
// NaN/+inf/-inf (kept only when the column has any).
class ColumnPrefix {
 public:
  template <typename F>
  void build(const F& x, int64_t length) {
    const size_t n = static_cast<size_t>(length) + 1;
    sum_.resize(n);
    sum_[0] = 0.0;
    finite_ = true;
    double acc = 0.0;
    for (int64_t t = 0; t < length; ++t) {
      const double v = static_cast<double>(x(t));
      if (std::isfinite(v)) acc += v;
      else finite_ = false;
      sum_[static_cast<size_t>(t) + 1] = acc;
    }
    if (!finite_) build_counts(x, length);
  }
  // Inclusive [lo, hi]; an empty window when lo > hi.
  Window range(int64_t lo, int64_t hi) const {
    Window w;
    if (lo > hi) return w;
    const size_t l = static_cast<size_t>(lo), h = static_cast<size_t>(hi) + 1;
    w.sum = sum_[h] - sum_[l];
    w.count = hi - lo + 1;
    if (!finite_) {
      w.nans = nan_[h] - nan_[l];
      w.pinfs = pinf_[h] - pinf_[l];
      w.ninfs = ninf_[h] - ninf_[l];
    }
    return w;
  }

 private:
  template <typename F>
  void build_counts(const F& x, int64_t length) {
    const size_t n = static_cast<size_t>(length) + 1;
    nan_.assign(n, 0);
    pinf_.assign(n, 0);
    ninf_.assign(n, 0);
    for (int64_t t = 0; t < length; ++t) {
      const double v = static_cast<double>(x(t));
      const size_t i = static_cast<size_t>(t);
      nan_[i + 1] = nan_[i] + (std::isnan(v) ? 1 : 0);
      pinf_[i + 1] = pinf_[i] + (v == INFINITY ? 1 : 0);
      ninf_[i + 1] = ninf_[i] + (v == -INFINITY ? 1 : 0);
    }
  }
  std::vector<double> sum_;
  std::vector<int64_t> nan_, pinf_, ninf_;
  bool finite_ = true;
};

// φ of candidate [s, e] in a video of length L for one class column (eqs. 23–25, docs/method.md §4.3).
inline double phi(const ColumnPrefix& col, int64_t s, int64_t e, int64_t length, double psi, double p, double varsigma) {
  const int64_t r = outer_inner_scores::margin(e - s + 1, psi, length);
  const auto o = outer_inner_scores::outer_region(s, e, r, length);
  const Window inner = col.range(s, e);
  Window outer = col.range(o.lo1, o.hi1);
  outer.add(col.range(o.lo2, o.hi2));
  return outer_inner_scores::score(inner.value(), inner.count, outer.value(), outer.count, p, varsigma);
}

// One proposal in NMS: `tie` breaks the last tie (input index or class), `id` says where it came from.
struct Cand {
  double score;
  int64_t start, end, tie, id;
};

// Greedy NMS over one video's proposals: sorts `c` into visiting order and appends the positions
// (into the sorted `c`) of the kept ones to `kept`. With `truncate`, stops at the first score that
// is not >= score_threshold (NaN included).
inline void greedy_nms(std::vector<Cand>& c, double iou_threshold, bool truncate, double score_threshold,
                       std::vector<int64_t>& kept) {
  std::sort(c.begin(), c.end(), [](const Cand& x, const Cand& y) {
    return nms_1d::before<double>(x.score, x.start, x.end, x.tie, y.score, y.start, y.end, y.tie);
  });
  const size_t first = kept.size();
  for (size_t i = 0; i < c.size(); ++i) {
    if (truncate && !(c[i].score >= score_threshold)) break;
    bool keep = true;
    for (size_t j = first; j < kept.size() && keep; ++j) {
      const Cand& k = c[static_cast<size_t>(kept[j])];
      keep = !nms_1d::suppresses(k.start, k.end, c[i].start, c[i].end, iou_threshold);
    }
    if (keep) kept.push_back(static_cast<int64_t>(i));
  }
}

}  // namespace spot_host
}  // namespace mcwes
