// CUDA driver of outer_inner_scores: one thread per (proposal, class), direct sums in double over
// the inner and outer windows (no prefix-sum buffer; O(len + 2r) per thread, NaN/inf as direct
// summation). Indices are bounds-checked again here (Python validated them): an invalid row is
// written as NaN, never read out of bounds. See mcwes/kernels/outer_inner_scores.h.
#include "cuda_common.cuh"
#include "mcwes/kernels/outer_inner_scores.h"
#include "mcwes/ops.h"

namespace mcwes {
namespace {

template <typename T>
__device__ double range_sum(const Strided3<const T>& x, int64_t b, int64_t c, int64_t lo, int64_t hi) {
  double s = 0.0;
  for (int64_t t = lo; t <= hi; ++t) s += static_cast<double>(x(b, t, c));
  return s;
}

template <typename T>
__global__ void outer_inner_scores_fwd_kernel(Strided3<const T> x, Strided1<const int64_t> lengths, int64_t B, int64_t T_,
                                              int64_t C, Strided1<const int64_t> bi, Strided1<const int64_t> st,
                                              Strided1<const int64_t> en, Strided2<const T> p, int64_t P, double psi,
                                              double varsigma, Strided2<T> out) {
  const int64_t n = P * C;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t q = i / C, c = i % C;
    const int64_t b = bi(q), s = st(q), e = en(q);
    const int64_t L = (b >= 0 && b < B) ? lengths(b) : -1;
    if (b < 0 || b >= B || L < 1 || L > T_ || s < 0 || s > e || e >= L) {
      out(q, c) = static_cast<T>(NAN);
      continue;
    }
    const int64_t r = outer_inner_scores::margin(e - s + 1, psi, L);
    const auto o = outer_inner_scores::outer_region(s, e, r, L);
    const double inner = range_sum(x, b, c, s, e);
    const double outer = range_sum(x, b, c, o.lo1, o.hi1) + range_sum(x, b, c, o.lo2, o.hi2);
    const int64_t outer_count = (o.hi1 - o.lo1 + 1) + (o.hi2 - o.lo2 + 1);
    out(q, c) =
        static_cast<T>(outer_inner_scores::score(inner, e - s + 1, outer, outer_count, static_cast<double>(p(b, c)), varsigma));
  }
}

}  // namespace

void outer_inner_scores_fwd_cuda(const View& x, const View& lengths, const View& batch_idx, const View& start, const View& end,
                                 const View& video_scores, const View& out, double psi, double varsigma, uintptr_t stream) {
  outer_inner_scores_check(x, lengths, batch_idx, start, end, video_scores, out, psi, varsigma);
  MCWES_CHECK(x.device >= 0, "mcwes.outer_inner_scores: expected CUDA tensors for the CUDA kernel, got CPU tensors");
  const int64_t B = x.size(0), T_ = x.size(1), C = x.size(2), P = batch_idx.size(0);
  if (P * C == 0) return;
  DeviceGuard guard(x.device, "outer_inner_scores");
  dispatch_float(x.dtype, "outer_inner_scores", [&](auto tag) {
    using T = typename decltype(tag)::type;
    outer_inner_scores_fwd_kernel<T><<<grid_for(P * C, 256), 256, 0, as_stream(stream)>>>(
        x.s3<const T>(), lengths.s1<const int64_t>(), B, T_, C, batch_idx.s1<const int64_t>(), start.s1<const int64_t>(),
        end.s1<const int64_t>(), video_scores.s2<const T>(), P, psi, varsigma, out.s2<T>());
  });
  MCWES_CUDA_CHECK_LAUNCH("outer_inner_scores");
}

}  // namespace mcwes
