// CPU driver of outer_inner_scores: prefix sums per (video, class) column, then one O(1) lookup per
// (proposal, class). See mcwes/kernels/outer_inner_scores.h for the semantics.
#include <cmath>
#include <vector>

#include "mcwes/ops.h"
#include "parallel.h"
#include "spot_host.h"

namespace mcwes {

void outer_inner_scores_check(const View& x, const View& lengths, const View& batch_idx, const View& start, const View& end,
                              const View& video_scores, const View& out, double psi, double varsigma) {
  const char* op = "outer_inner_scores";
  check_float_view(x, op, "x", 3);
  const int64_t B = x.size(0), C = x.size(2);
  check_view(lengths, op, "lengths", 1, DType::i64);
  check_size(lengths, op, "lengths", 0, B);
  const int64_t P = check_interval_views(batch_idx, start, end, op);
  check_view(video_scores, op, "video_scores", 2, x.dtype);
  check_size(video_scores, op, "video_scores", 0, B);
  check_size(video_scores, op, "video_scores", 1, C);
  check_view(out, op, "out", 2, x.dtype);
  check_size(out, op, "out", 0, P);
  check_size(out, op, "out", 1, C);
  for (const View* v : {&lengths, &batch_idx, &start, &end, &video_scores, &out}) check_same_device(x, *v, op, "every tensor");
  MCWES_CHECK(std::isfinite(psi) && psi >= 0, "mcwes.outer_inner_scores: expected psi to be finite and >= 0, got ", psi);
  MCWES_CHECK(std::isfinite(varsigma), "mcwes.outer_inner_scores: expected varsigma to be finite, got ", varsigma);
}

namespace {

template <typename T>
void fwd_impl(const View& x, const View& lengths, const View& batch_idx, const View& start, const View& end,
              const View& video_scores, const View& out, double psi, double varsigma, int nt) {
  const int64_t B = x.size(0), T_ = x.size(1), C = x.size(2), P = batch_idx.size(0);
  const auto xs = x.s3<const T>();
  const auto len = lengths.s1<const int64_t>();
  const auto ps = video_scores.s2<const T>();
  const auto bi = batch_idx.s1<const int64_t>(), st = start.s1<const int64_t>(), en = end.s1<const int64_t>();
  const auto o = out.s2<T>();
  std::vector<spot_host::ColumnPrefix> prefix(static_cast<size_t>(B * C));
  parallel_for(B * C, nt, T_, [&](int64_t task) {
    const int64_t b = task / C, c = task % C;
    prefix[static_cast<size_t>(task)].build([&](int64_t t) { return xs(b, t, c); }, len(b));
  });
  parallel_for(P, nt, 16 * C, [&](int64_t i) {
    const int64_t b = bi(i);
    for (int64_t c = 0; c < C; ++c) {
      const double v = spot_host::phi(prefix[static_cast<size_t>(b * C + c)], st(i), en(i), len(b), psi,
                                      static_cast<double>(ps(b, c)), varsigma);
      o(i, c) = static_cast<T>(v);
    }
  });
}

}  // namespace

void outer_inner_scores_fwd_cpu(const View& x, const View& lengths, const View& batch_idx, const View& start, const View& end,
                                const View& video_scores, const View& out, double psi, double varsigma, int num_threads) {
  outer_inner_scores_check(x, lengths, batch_idx, start, end, video_scores, out, psi, varsigma);
  MCWES_CHECK(x.device == -1, "mcwes.outer_inner_scores: expected CPU tensors for the CPU kernel, got device ", x.device);
  check_lengths_host(lengths, x.size(1), "outer_inner_scores");
  check_intervals_host(lengths, batch_idx, start, end, "outer_inner_scores");
  if (out.numel() == 0) return;
  dispatch_float(x.dtype, "outer_inner_scores", [&](auto tag) {
    using T = typename decltype(tag)::type;
    fwd_impl<T>(x, lengths, batch_idx, start, end, video_scores, out, psi, varsigma, num_threads);
  });
}

}  // namespace mcwes
