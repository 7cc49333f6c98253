// CUDA driver of topk_pool: one block per (video, class). Each thread ranks its time steps against
// every valid step of the column (tiles in shared memory): selected iff rank < k_eff. O(L^2 / threads)
// per block, which is cheap at spotting lengths (L <= a few thousand) and needs no sort buffer.
// See mcwes/kernels/topk_pool.h for the semantics.
#include "cuda_common.cuh"
#include "mcwes/kernels/topk_pool.h"
#include "mcwes/ops.h"

namespace mcwes {
namespace {

constexpr int kThreads = 256;
constexpr int kTile = 1024;

template <typename T>
__global__ void topk_pool_fwd_kernel(Strided3<const T> x, Strided2<const int64_t> k, bool k_per_video,
                                     Strided1<const int64_t> lengths, int64_t T_, int64_t C, Strided2<T> out,
                                     Strided3<T> weights) {
  __shared__ T tile[kTile];
  __shared__ double partial[kThreads];
  const int64_t b = blockIdx.x / C, c = blockIdx.x % C;
  int64_t L = lengths(b);
  L = L < 0 ? 0 : (L > T_ ? T_ : L);  // Python validated; clamp so a bad value cannot read outside
  const int64_t ke = topk_pool::effective_k(topk_pool::k_of(k, k_per_video, b, c), L);
  double acc = 0.0;
  for (int64_t t0 = 0; t0 < T_; t0 += kThreads) {
    const int64_t t = t0 + threadIdx.x;
    const bool valid = t < L;
    const T v = valid ? x(b, t, c) : T(0);
    const auto read = [&](int64_t u) { return x(b, u, c); };
    const auto before = [](T p, int64_t ip, T q, int64_t iq) { return topk_pool::before(p, ip, q, iq); };
    // t0 is the same in every thread, so the whole block skips the ranking together past L.
    const int64_t rank = t0 < L ? tile_rank<kTile, kThreads>(tile, read, L, v, t, valid, ke, before) : 0;
    if (t < T_) {
      const bool sel = valid && rank < ke;
      weights(b, t, c) = sel ? topk_pool::selection_weight<T>(ke) : T(0);
      if (sel) acc += static_cast<double>(v);
    }
  }
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out(b, c) = ke > 0 ? static_cast<T>(partial[0] / static_cast<double>(ke)) : T(0);
}

}  // namespace

void topk_pool_fwd_cuda(const View& x, const View& k, const View& lengths, const View& out, const View& weights,
                        uintptr_t stream) {
  topk_pool_check(x, k, lengths, out, weights);
  MCWES_CHECK(x.device >= 0, "mcwes.topk_pool: expected CUDA tensors for the CUDA kernel, got CPU tensors");
  const int64_t B = x.size(0), T_ = x.size(1), C = x.size(2);
  if (B * C == 0) return;
  MCWES_CHECK(B * C <= 2147483647LL, "mcwes.topk_pool: expected B*C to fit a CUDA grid, got ", B * C);
  DeviceGuard guard(x.device, "topk_pool");
  dispatch_float(x.dtype, "topk_pool", [&](auto tag) {
    using T = typename decltype(tag)::type;
    topk_pool_fwd_kernel<T><<<static_cast<unsigned>(B * C), kThreads, 0, as_stream(stream)>>>(
        x.s3<const T>(), topk_pool::k_table(k), k.ndim() == 2, lengths.s1<const int64_t>(), T_, C, out.s2<T>(), weights.s3<T>());
  });
  MCWES_CUDA_CHECK_LAUNCH("topk_pool");
}

}  // namespace mcwes
