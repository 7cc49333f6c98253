// CPU driver of nms_1d: one stable grouping of the proposals by video (sort by video, then visiting
// order), greedy suppression per video (in parallel), then the kept ones sorted once more into the
// global visiting order. See mcwes/kernels/nms_1d.h for the semantics.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "mcwes/ops.h"
#include "parallel.h"
#include "spot_host.h"

namespace mcwes {

void nms_1d_check(const View& batch_idx, const View& start, const View& end, const View& scores, const View& keep,
                  double iou_threshold) {
  const char* op = "nms_1d";
  const int64_t P = check_interval_views(batch_idx, start, end, op);
  check_float_view(scores, op, "scores", 1);
  check_size(scores, op, "scores", 0, P);
  check_view(keep, op, "keep", 1, DType::i64);
  check_size(keep, op, "keep", 0, P);
  for (const View* v : {&start, &end, &scores, &keep}) check_same_device(batch_idx, *v, op, "every tensor");
  MCWES_CHECK(iou_threshold >= 0.0 && iou_threshold <= 1.0, "mcwes.nms_1d: expected iou_threshold to lie in [0, 1], got ",
              iou_threshold);
}

namespace {

template <typename T>
int64_t fwd_impl(const View& batch_idx, const View& start, const View& end, const View& scores, const View& keep, double thr,
                 int nt) {
  const int64_t P = batch_idx.size(0);
  const auto bi = batch_idx.s1<const int64_t>(), st = start.s1<const int64_t>(), en = end.s1<const int64_t>();
  const auto sc = scores.s1<const T>();
  std::vector<spot_host::Cand> cands(static_cast<size_t>(P));
  for (int64_t i = 0; i < P; ++i) cands[static_cast<size_t>(i)] = {static_cast<double>(sc(i)), st(i), en(i), i, bi(i)};
  // Group by video (the id field holds the video here); greedy_nms sorts each group itself.
  std::stable_sort(cands.begin(), cands.end(), [](const spot_host::Cand& x, const spot_host::Cand& y) { return x.id < y.id; });
  std::vector<size_t> group_begin;
  for (size_t i = 0; i < cands.size(); ++i)
    if (i == 0 || cands[i].id != cands[i - 1].id) group_begin.push_back(i);
  group_begin.push_back(cands.size());
  const int64_t G = static_cast<int64_t>(group_begin.size()) - 1;
  std::vector<std::vector<int64_t>> kept(static_cast<size_t>(G > 0 ? G : 0));
  parallel_for(G, nt, P / (G > 0 ? G : 1) * 8, [&](int64_t g) {
    std::vector<spot_host::Cand> group(cands.begin() + static_cast<int64_t>(group_begin[static_cast<size_t>(g)]),
                                       cands.begin() + static_cast<int64_t>(group_begin[static_cast<size_t>(g) + 1]));
    std::vector<int64_t> pos;
    spot_host::greedy_nms(group, thr, false, 0.0, pos);
    auto& out = kept[static_cast<size_t>(g)];
    for (int64_t p : pos) out.push_back(group[static_cast<size_t>(p)].tie);
  });
  std::vector<int64_t> all;
  for (const auto& k : kept) all.insert(all.end(), k.begin(), k.end());
  std::sort(all.begin(), all.end(), [&](int64_t x, int64_t y) {
    return nms_1d::before<double>(static_cast<double>(sc(x)), st(x), en(x), x, static_cast<double>(sc(y)), st(y), en(y), y);
  });
  const auto ks = keep.s1<int64_t>();
  for (size_t i = 0; i < all.size(); ++i) ks(static_cast<int64_t>(i)) = all[i];
  return static_cast<int64_t>(all.size());
}

}  // namespace

int64_t nms_1d_fwd_cpu(const View& batch_idx, const View& start, const View& end, const View& scores, const View& keep,
                       double iou_threshold, int num_threads) {
  nms_1d_check(batch_idx, start, end, scores, keep, iou_threshold);
  MCWES_CHECK(batch_idx.device == -1, "mcwes.nms_1d: expected CPU tensors for the CPU kernel, got device ", batch_idx.device);
  check_proposals_host(batch_idx, start, end, "nms_1d");
  if (batch_idx.size(0) == 0) return 0;
  int64_t n = 0;
  dispatch_float(scores.dtype, "nms_1d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    n = fwd_impl<T>(batch_idx, start, end, scores, keep, iou_threshold, num_threads);
  });
  return n;
}

}  // namespace mcwes
