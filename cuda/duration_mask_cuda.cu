// CUDA driver of duration_mask: one block per video. Thread 0 sums Δ sequentially (left to right,
// as the CPU driver and the reference do, so the masks agree bit for bit); then every thread writes
// its steps. O(L·eta) per video, trivial at spotting lengths. See mcwes/kernels/duration_mask.h.
#include "cuda_common.cuh"
#include "mcwes/kernels/duration_mask.h"
#include "mcwes/ops.h"

namespace mcwes {
namespace {

constexpr int kThreads = 256;

template <typename T>
struct Row {
  Strided2<const T> a;
  int64_t b;
  MCWES_HD T operator()(int64_t t) const { return a(b, t); }
};

template <typename T>
__global__ void duration_mask_fwd_kernel(Strided2<const T> a, Strided1<const int64_t> lengths, int64_t T_, int64_t eta,
                                         double omega_l, double omega_u, Strided2<T> out) {
  __shared__ double mean;
  const int64_t b = blockIdx.x;
  int64_t L = lengths(b);
  L = L < 0 ? 0 : (L > T_ ? T_ : L);  // Python validated; clamp so a bad value cannot read outside
  const Row<T> row{a, b};
  if (threadIdx.x == 0) {
    double sum = 0.0;
    for (int64_t t = 0; t < L; ++t) sum += duration_mask::delta(row, t, L, eta);
    mean = L > 0 ? sum / static_cast<double>(L) : 0.0;
  }
  __syncthreads();
  for (int64_t t = threadIdx.x; t < T_; t += kThreads) {
    const bool keep = t < L && duration_mask::keep(duration_mask::delta(row, t, L, eta), mean, omega_l, omega_u);
    out(b, t) = keep ? T(1) : T(0);
  }
}

}  // namespace

void duration_mask_fwd_cuda(const View& a, const View& lengths, const View& out, int64_t eta, double omega_l, double omega_u,
                            uintptr_t stream) {
  duration_mask_check(a, lengths, out, eta, omega_l, omega_u);
  MCWES_CHECK(a.device >= 0, "mcwes.duration_mask: expected CUDA tensors for the CUDA kernel, got CPU tensors");
  const int64_t B = a.size(0), T_ = a.size(1);
  if (B == 0 || T_ == 0) return;
  MCWES_CHECK(B <= 2147483647LL, "mcwes.duration_mask: expected B to fit a CUDA grid, got ", B);
  DeviceGuard guard(a.device, "duration_mask");
  dispatch_float(a.dtype, "duration_mask", [&](auto tag) {
    using T = typename decltype(tag)::type;
    duration_mask_fwd_kernel<T><<<static_cast<unsigned>(B), kThreads, 0, as_stream(stream)>>>(
        a.s2<const T>(), lengths.s1<const int64_t>(), T_, eta, omega_l, omega_u, out.s2<T>());
  });
  MCWES_CUDA_CHECK_LAUNCH("duration_mask");
}

}  // namespace mcwes
