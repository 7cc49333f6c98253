// CPU driver of duration_mask: one task per video, Δ computed once into a per-thread buffer.
// See mcwes/kernels/duration_mask.h for the semantics.
#include <cmath>
#include <vector>

#include "mcwes/kernels/duration_mask.h"
#include "mcwes/ops.h"
#include "parallel.h"

namespace mcwes {

void duration_mask_check(const View& a, const View& lengths, const View& out, int64_t eta, double omega_l, double omega_u) {
  const char* op = "duration_mask";
  check_float_view(a, op, "a", 2);
  check_view(lengths, op, "lengths", 1, DType::i64);
  check_size(lengths, op, "lengths", 0, a.size(0));
  check_view(out, op, "out", 2, a.dtype);
  check_size(out, op, "out", 0, a.size(0));
  check_size(out, op, "out", 1, a.size(1));
  for (const View* v : {&lengths, &out}) check_same_device(a, *v, op, "every tensor");
  MCWES_CHECK(eta >= 1, "mcwes.duration_mask: expected eta to be >= 1, got ", eta);
  MCWES_CHECK(std::isfinite(omega_l), "mcwes.duration_mask: expected omega_l to be finite, got ", omega_l);
  MCWES_CHECK(std::isfinite(omega_u), "mcwes.duration_mask: expected omega_u to be finite, got ", omega_u);
}

namespace {

template <typename T>
void fwd_impl(const View& a, const View& lengths, const View& out, int64_t eta, double wl, double wu, int nt) {
  const int64_t B = a.size(0), T_ = a.size(1);
  const auto as = a.s2<const T>();
  const auto len = lengths.s1<const int64_t>();
  const auto o = out.s2<T>();
  parallel_for(B, nt, T_ * (eta + 2), [&](int64_t b) {
    const int64_t L = len(b);
    auto row = [&](int64_t t) { return as(b, t); };
    thread_local std::vector<double> delta;
    delta.resize(static_cast<size_t>(L));
    double sum = 0.0;
    for (int64_t t = 0; t < L; ++t) {
      delta[static_cast<size_t>(t)] = duration_mask::delta(row, t, L, eta);
      sum += delta[static_cast<size_t>(t)];
    }
    const double mean = L > 0 ? sum / static_cast<double>(L) : 0.0;
    for (int64_t t = 0; t < L; ++t) o(b, t) = duration_mask::keep(delta[static_cast<size_t>(t)], mean, wl, wu) ? T(1) : T(0);
    for (int64_t t = L; t < T_; ++t) o(b, t) = T(0);
  });
}

}  // namespace

void duration_mask_fwd_cpu(const View& a, const View& lengths, const View& out, int64_t eta, double omega_l, double omega_u,
                           int num_threads) {
  duration_mask_check(a, lengths, out, eta, omega_l, omega_u);
  MCWES_CHECK(a.device == -1, "mcwes.duration_mask: expected CPU tensors for the CPU kernel, got device ", a.device);
  check_lengths_host(lengths, a.size(1), "duration_mask");
  if (out.numel() == 0) return;
  // Windows are clipped at the video's end, so any eta >= T gives the same mask; clamping keeps the
  // index and cost arithmetic (t + eta, T * eta) inside int64 for a huge eta.
  const int64_t eta_eff = eta < a.size(1) ? eta : (a.size(1) > 0 ? a.size(1) : 1);
  dispatch_float(a.dtype, "duration_mask", [&](auto tag) {
    using T = typename decltype(tag)::type;
    fwd_impl<T>(a, lengths, out, eta_eff, omega_l, omega_u, num_threads);
  });
}

}  // namespace mcwes
