// CPU driver of multi_top_proposals: one task per video into a per-video run list, then one
// sequential copy into the caller's worst-case buffers (in video order). See
// mcwes/kernels/multi_top_proposals.h for the semantics and the capacity bound.
#include <vector>

#include "mcwes/ops.h"
#include "parallel.h"
#include "spot_host.h"

namespace mcwes {

void multi_top_proposals_check(const View& a, const View& lengths, const std::vector<int64_t>& m_values, const View& batch_idx,
                               const View& start, const View& end) {
  const char* op = "multi_top_proposals";
  check_float_view(a, op, "a", 2);
  check_view(lengths, op, "lengths", 1, DType::i64);
  check_size(lengths, op, "lengths", 0, a.size(0));
  check_interval_views(batch_idx, start, end, op);
  for (const View* v : {&lengths, &batch_idx, &start, &end}) check_same_device(a, *v, op, "every tensor");
  for (int64_t m : m_values) MCWES_CHECK(m >= 1, "mcwes.multi_top_proposals: expected every m to be >= 1, got ", m);
}

int64_t multi_top_proposals_capacity(int64_t steps, const std::vector<int64_t>& m_values) {
  int64_t cap = 0;
  for (int64_t m : m_values) cap += multi_top_proposals::run_bound(steps, m > 0 ? m : 1);
  return cap;
}

namespace {

template <typename T>
void runs_impl(const View& a, const View& lengths, const std::vector<int64_t>& m_values,
               std::vector<std::vector<spot_host::Run>>& runs, int nt) {
  const int64_t B = a.size(0), T_ = a.size(1);
  const auto as = a.s2<const T>();
  const auto len = lengths.s1<const int64_t>();
  parallel_for(B, nt, T_ * 16, [&](int64_t b) {
    thread_local spot_host::Scratch sc;
    spot_host::video_runs<T>([&](int64_t t) { return as(b, t); }, len(b), m_values, sc, runs[static_cast<size_t>(b)]);
  });
}

}  // namespace

int64_t multi_top_proposals_fwd_cpu(const View& a, const View& lengths, const std::vector<int64_t>& m_values,
                                    const View& batch_idx, const View& start, const View& end, int num_threads) {
  multi_top_proposals_check(a, lengths, m_values, batch_idx, start, end);
  MCWES_CHECK(a.device == -1, "mcwes.multi_top_proposals: expected CPU tensors for the CPU kernel, got device ", a.device);
  check_lengths_host(lengths, a.size(1), "multi_top_proposals");
  const int64_t B = a.size(0);
  std::vector<std::vector<spot_host::Run>> runs(static_cast<size_t>(B));
  dispatch_float(a.dtype, "multi_top_proposals", [&](auto tag) {
    using T = typename decltype(tag)::type;
    runs_impl<T>(a, lengths, m_values, runs, num_threads);
  });
  int64_t total = 0;
  for (const auto& r : runs) total += static_cast<int64_t>(r.size());
  MCWES_CHECK(total <= batch_idx.size(0), "mcwes.multi_top_proposals: expected the output buffers to hold ", total,
              " candidates, got room for ", batch_idx.size(0));
  const auto bi = batch_idx.s1<int64_t>(), st = start.s1<int64_t>(), en = end.s1<int64_t>();
  int64_t i = 0;
  for (int64_t b = 0; b < B; ++b)
    for (const auto& r : runs[static_cast<size_t>(b)]) {
      bi(i) = b;
      st(i) = r.start;
      en(i) = r.end;
      ++i;
    }
  return total;
}

}  // namespace mcwes
