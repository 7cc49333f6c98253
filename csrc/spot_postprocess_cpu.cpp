// CPU driver of spot_postprocess: one task per video runs the whole pipeline (candidates, prefix
// sums, scores, NMS with truncation) into a per-video list; the lists are then copied in video order
// into the caller's worst-case buffers. See mcwes/kernels/spot_postprocess.h for the semantics.
#include <cmath>
#include <vector>

#include "mcwes/ops.h"
#include "parallel.h"
#include "spot_host.h"

namespace mcwes {

void spot_postprocess_check(const View& attention, const View& cas, const View& video_scores, const View& lengths,
                            const std::vector<int64_t>& m_values, double psi, double varsigma, double nms_threshold,
                            double score_threshold, const View& out_ints, const View& out_score) {
  const char* op = "spot_postprocess";
  check_float_view(attention, op, "attention", 2);
  const int64_t B = attention.size(0), T_ = attention.size(1);
  check_view(cas, op, "suppressed_cas", 3, attention.dtype);
  check_size(cas, op, "suppressed_cas", 0, B);
  check_size(cas, op, "suppressed_cas", 1, T_);
  const int64_t C = cas.size(2);
  check_view(video_scores, op, "video_scores", 2, attention.dtype);
  check_size(video_scores, op, "video_scores", 0, B);
  check_size(video_scores, op, "video_scores", 1, C);
  check_view(lengths, op, "lengths", 1, DType::i64);
  check_size(lengths, op, "lengths", 0, B);
  check_view(out_ints, op, "out_ints", 2, DType::i64);
  check_size(out_ints, op, "out_ints", 0, 4);
  check_view(out_score, op, "out_score", 1, attention.dtype);
  check_size(out_score, op, "out_score", 0, out_ints.size(1));
  for (const View* v : {&cas, &video_scores, &lengths, &out_ints, &out_score})
    check_same_device(attention, *v, op, "every tensor");
  for (int64_t m : m_values) MCWES_CHECK(m >= 1, "mcwes.spot_postprocess: expected every m to be >= 1, got ", m);
  MCWES_CHECK(std::isfinite(psi) && psi >= 0, "mcwes.spot_postprocess: expected psi to be finite and >= 0, got ", psi);
  MCWES_CHECK(std::isfinite(varsigma), "mcwes.spot_postprocess: expected varsigma to be finite, got ", varsigma);
  MCWES_CHECK(nms_threshold >= 0.0 && nms_threshold <= 1.0,
              "mcwes.spot_postprocess: expected nms_threshold to lie in [0, 1], got ", nms_threshold);
  MCWES_CHECK(!std::isnan(score_threshold), "mcwes.spot_postprocess: expected score_threshold to be a number, got nan");
}

namespace {

struct Kept {
  int64_t start, end, label;
  double score;
};

struct VideoScratch {
  spot_host::Scratch sc;
  std::vector<spot_host::Run> runs;
  std::vector<spot_host::ColumnPrefix> prefix;
  std::vector<spot_host::Cand> cands;
  std::vector<int64_t> pos;
};

template <typename T>
void video(const View& attention, const View& cas, const View& video_scores, int64_t b, int64_t L,
           const std::vector<int64_t>& m_values, double psi, double varsigma, double nms_threshold, double score_threshold,
           VideoScratch& s, std::vector<Kept>& out) {
  out.clear();
  const auto as = attention.s2<const T>();
  const auto xs = cas.s3<const T>();
  const auto ps = video_scores.s2<const T>();
  const int64_t C = cas.size(2);
  spot_host::video_runs<T>([&](int64_t t) { return as(b, t); }, L, m_values, s.sc, s.runs);
  if (s.runs.empty()) return;
  s.prefix.resize(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) s.prefix[static_cast<size_t>(c)].build([&](int64_t t) { return xs(b, t, c); }, L);
  s.cands.clear();
  for (const auto& r : s.runs)
    for (int64_t c = 0; c < C; ++c) {
      const double phi =
          spot_host::phi(s.prefix[static_cast<size_t>(c)], r.start, r.end, L, psi, static_cast<double>(ps(b, c)), varsigma);
      s.cands.push_back({phi, r.start, r.end, c, 0});
    }
  s.pos.clear();
  spot_host::greedy_nms(s.cands, nms_threshold, true, score_threshold, s.pos);
  for (int64_t p : s.pos) {
    const auto& c = s.cands[static_cast<size_t>(p)];
    out.push_back({c.start, c.end, c.tie, c.score});
  }
}

}  // namespace

int64_t spot_postprocess_fwd_cpu(const View& attention, const View& cas, const View& video_scores, const View& lengths,
                                 const std::vector<int64_t>& m_values, double psi, double varsigma, double nms_threshold,
                                 double score_threshold, const View& out_ints, const View& out_score, int num_threads) {
  spot_postprocess_check(attention, cas, video_scores, lengths, m_values, psi, varsigma, nms_threshold, score_threshold, out_ints,
                         out_score);
  MCWES_CHECK(attention.device == -1, "mcwes.spot_postprocess: expected CPU tensors for the CPU kernel, got device ",
              attention.device);
  check_lengths_host(lengths, attention.size(1), "spot_postprocess");
  const int64_t B = attention.size(0), T_ = attention.size(1);
  const auto len = lengths.s1<const int64_t>();
  std::vector<std::vector<Kept>> kept(static_cast<size_t>(B));
  dispatch_float(attention.dtype, "spot_postprocess", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for(B, num_threads, T_ * 64, [&](int64_t b) {
      thread_local VideoScratch s;
      video<T>(attention, cas, video_scores, b, len(b), m_values, psi, varsigma, nms_threshold, score_threshold, s,
               kept[static_cast<size_t>(b)]);
    });
  });
  int64_t total = 0;
  for (const auto& k : kept) total += static_cast<int64_t>(k.size());
  MCWES_CHECK(total <= out_ints.size(1), "mcwes.spot_postprocess: expected the output buffers to hold ", total,
              " proposals, got room for ", out_ints.size(1));
  const auto o = out_ints.s2<int64_t>();
  int64_t i = 0;
  dispatch_float(attention.dtype, "spot_postprocess", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto sc = out_score.s1<T>();
    for (int64_t b = 0; b < B; ++b)
      for (const auto& k : kept[static_cast<size_t>(b)]) {
        o(0, i) = b;
        o(1, i) = k.start;
        o(2, i) = k.end;
        o(3, i) = k.label;
        sc(i) = static_cast<T>(k.score);
        ++i;
      }
  });
  return total;
}

}  // namespace mcwes
