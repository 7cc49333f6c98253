// CUDA driver of multi_top_proposals, three launches on the caller's stream:
//   1. one block per video: rank of every valid step (each thread counts the steps ranked before
//      its own, O(L²/threads), tiles in shared memory), the distinct k in shared memory, and the
//      number of runs of the video -> counts[b + 1];
//   2. one thread: in-place prefix sum of counts -> offsets (counts[0] = 0, counts[B] = total);
//   3. one block per video: each thread walks a contiguous chunk of start steps (so the block's
//      output stays ordered by (start, end)), a block-level exclusive scan gives its offset, and it
//      writes its runs there.
// The total is copied back to size the output (the one synchronisation). Same runs_from walk as the
// CPU driver, so the outputs agree exactly. See mcwes/kernels/multi_top_proposals.h.
#include "cuda_common.cuh"
#include "mcwes/kernels/multi_top_proposals.h"
#include "mcwes/ops.h"

namespace mcwes {
namespace {

constexpr int kThreads = 256;
constexpr int kTile = 1024;
constexpr int64_t kMaxM = 4096;  // distinct k live in shared memory

struct NoEmit {
  MCWES_HD void operator()(int64_t, int64_t) const {}
};

struct Writer {
  int64_t *bi, *st, *en;
  int64_t b, pos, cap;
  MCWES_HD void operator()(int64_t s, int64_t e) {
    if (pos < cap) {
      bi[pos] = b;
      st[pos] = s;
      en[pos] = e;
    }
    ++pos;
  }
};

// The distinct k(L, m) > 0 ascending into shared `ks` (thread 0, multi_top_proposals::distinct_ks as on
// the CPU); returns their number to all.
__device__ int64_t shared_ks(const int64_t* m, int64_t M, int64_t L, int64_t* ks, int64_t* nk) {
  if (threadIdx.x == 0) *nk = multi_top_proposals::distinct_ks(L, m, M, ks);
  __syncthreads();
  return *nk;
}

MCWES_HD void chunk(int64_t L, int64_t& lo, int64_t& hi, int tid) {
  const int64_t per = (L + kThreads - 1) / kThreads;
  lo = tid * per;
  hi = lo + per < L ? lo + per : L;
}

// Candidates whose run starts in this thread's chunk of [0, L), into part[threadIdx.x] (no barrier).
__device__ int64_t count_chunk_runs(const int64_t* r, int64_t L, const int64_t* ks, int64_t nk, int64_t* part) {
  int64_t lo, hi, n = 0;
  chunk(L, lo, hi, threadIdx.x);
  for (int64_t s = lo; s < hi; ++s) n += multi_top_proposals::runs_from(r, s, L, ks, nk, NoEmit{});
  part[threadIdx.x] = n;
  return n;
}

template <typename T>
__global__ void multi_top_proposals_rank_kernel(Strided2<const T> a, Strided1<const int64_t> lengths, int64_t T_,
                                                const int64_t* m, int64_t M, int64_t* rank, int64_t* counts) {
  extern __shared__ int64_t ks[];
  __shared__ T tile[kTile];
  __shared__ int64_t nk_s, part[kThreads];
  const int64_t b = blockIdx.x;
  int64_t L = lengths(b);
  L = L < 0 ? 0 : (L > T_ ? T_ : L);
  int64_t* r = rank + b * T_;
  for (int64_t t0 = 0; t0 < L; t0 += kThreads) {
    const int64_t t = t0 + threadIdx.x;
    const T v = t < L ? a(b, t) : T(0);
    const auto read = [&](int64_t u) { return a(b, u); };
    const auto before = [](T p, int64_t ip, T q, int64_t iq) { return multi_top_proposals::before(p, ip, q, iq); };
    const int64_t cnt = tile_rank<kTile, kThreads>(tile, read, L, v, t, t < L, L, before);  // rank < L always
    if (t < L) r[t] = cnt;
  }
  const int64_t nk = shared_ks(m, M, L, ks, &nk_s);  // has a barrier: the ranks are visible after it
  count_chunk_runs(r, L, ks, nk, part);
  __syncthreads();
  if (threadIdx.x == 0) {
    int64_t total = 0;
    for (int i = 0; i < kThreads; ++i) total += part[i];
    counts[b + 1] = total;
  }
}

__global__ void multi_top_proposals_offsets_kernel(int64_t* counts, int64_t B) {
  counts[0] = 0;
  for (int64_t b = 0; b < B; ++b) counts[b + 1] += counts[b];
}

__global__ void multi_top_proposals_write_kernel(Strided1<const int64_t> lengths, int64_t T_, const int64_t* m, int64_t M,
                                                 const int64_t* rank, const int64_t* offsets, int64_t* bi, int64_t* st,
                                                 int64_t* en, int64_t cap) {
  extern __shared__ int64_t ks[];
  __shared__ int64_t nk_s, part[kThreads];
  const int64_t b = blockIdx.x;
  int64_t L = lengths(b);
  L = L < 0 ? 0 : (L > T_ ? T_ : L);
  const int64_t* r = rank + b * T_;
  const int64_t nk = shared_ks(m, M, L, ks, &nk_s);
  count_chunk_runs(r, L, ks, nk, part);
  __syncthreads();
  if (threadIdx.x == 0) {
    int64_t acc = 0;
    for (int i = 0; i < kThreads; ++i) {
      const int64_t c = part[i];
      part[i] = acc;
      acc += c;
    }
  }
  __syncthreads();
  Writer w{bi, st, en, b, offsets[b] + part[threadIdx.x], cap};
  int64_t lo, hi;
  chunk(L, lo, hi, threadIdx.x);
  for (int64_t s = lo; s < hi; ++s) multi_top_proposals::runs_from(r, s, L, ks, nk, w);
}

}  // namespace

int64_t multi_top_proposals_fwd_cuda(const View& a, const View& lengths, const View& m_values, const View& batch_idx,
                                     const View& start, const View& end, const View& rank, const View& counts, uintptr_t stream) {
  const char* op = "multi_top_proposals";
  multi_top_proposals_check(a, lengths, {}, batch_idx, start, end);
  MCWES_CHECK(a.device >= 0, "mcwes.multi_top_proposals: expected CUDA tensors for the CUDA kernel, got CPU tensors");
  const int64_t B = a.size(0), T_ = a.size(1), M = m_values.size(0);
  check_view(m_values, op, "m_values", 1, DType::i64);
  check_view(rank, op, "rank workspace", 2, DType::i64);
  check_size(rank, op, "rank workspace", 0, B);
  check_size(rank, op, "rank workspace", 1, T_);
  check_view(counts, op, "counts workspace", 1, DType::i64);
  check_size(counts, op, "counts workspace", 0, B + 1);
  for (const View* v : {&m_values, &rank, &counts, &batch_idx, &start, &end})
    MCWES_CHECK(v->ndim() < 1 || v->numel() == 0 || v->stride(v->ndim() - 1) == 1, "mcwes.", op,
                ": expected contiguous buffers for the CUDA kernel, got a strided one");
  MCWES_CHECK(M <= kMaxM, "mcwes.multi_top_proposals: expected at most ", kMaxM, " m values on CUDA, got ", M);
  if (B == 0 || T_ == 0 || M == 0) return 0;
  DeviceGuard guard(a.device, op);
  cudaStream_t s = as_stream(stream);
  const size_t shm = static_cast<size_t>(M) * sizeof(int64_t);
  const auto* m = m_values.data<const int64_t>();
  auto* c = counts.data<int64_t>();
  dispatch_float(a.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    multi_top_proposals_rank_kernel<T><<<static_cast<unsigned>(B), kThreads, shm, s>>>(
        a.s2<const T>(), lengths.s1<const int64_t>(), T_, m, M, rank.data<int64_t>(), c);
  });
  MCWES_CUDA_CHECK_LAUNCH(op);
  multi_top_proposals_offsets_kernel<<<1, 1, 0, s>>>(c, B);
  MCWES_CUDA_CHECK_LAUNCH(op);
  multi_top_proposals_write_kernel<<<static_cast<unsigned>(B), kThreads, shm, s>>>(
      lengths.s1<const int64_t>(), T_, m, M, rank.data<const int64_t>(), c, batch_idx.data<int64_t>(), start.data<int64_t>(),
      end.data<int64_t>(), batch_idx.size(0));
  MCWES_CUDA_CHECK_LAUNCH(op);
  int64_t total = 0;
  cuda_check(cudaMemcpyAsync(&total, c + B, sizeof(int64_t), cudaMemcpyDeviceToHost, s), op, "cudaMemcpyAsync");
  cuda_check(cudaStreamSynchronize(s), op, "cudaStreamSynchronize");
  MCWES_CHECK(total <= batch_idx.size(0), "mcwes.multi_top_proposals: expected the output buffers to hold ", total,
              " candidates, got room for ", batch_idx.size(0));
  return total;
}

}  // namespace mcwes
