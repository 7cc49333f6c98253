// CUDA driver of cscm_attention: simple tiled kernels, every output element owned by one block (no
// atomics, deterministic). One block per (video, BQ-query tile, DCO-column chunk of the output).
//   forward  1) cscm_attention_stats_kernel: streams over key tiles, online row max and sum → lse
//            2) cscm_attention_fwd_kernel:   recomputes P = exp((S − m) − log l) tile by tile and
//               accumulates P·q for its DCO output columns in registers
//   backward cscm_attention_bwd_kernel: per key tile recomputes S, dO_i·q_j and q_i·dO_j in one
//            sweep over D, forms E = s(dS + dSᵀ) and Pᵀ, accumulates E·q + Pᵀ·dO for its columns
// Scores are dot products over D = 1024 that do not fit one tile: the sweep stages D in DC-wide
// chunks through shared memory. Scores are recomputed per output chunk (D/DCO times): simple, and
// no [T, T] buffer exists. The symmetry of q qᵀ is used by the CPU kernel only.
// See mcwes/kernels/cscm_attention.h for the semantics.
#include "cuda_common.cuh"
#include "mcwes/kernels/cscm_attention.h"
#include "mcwes/ops.h"

namespace mcwes {
namespace {

constexpr int kThreads = 256;

template <typename T> struct Cfg;
template <> struct Cfg<float> {
  static constexpr int BQ = 32, BK = 32, DC = 32, DCO = 64;
};
template <> struct Cfg<double> {
  static constexpr int BQ = 16, BK = 16, DC = 32, DCO = 64;
};

__device__ __forceinline__ int64_t clamp_len(int64_t L, int64_t T_) {
  return L < 0 ? 0 : (L > T_ ? T_ : L);
}

// Loads rows [r0, r0+R) and columns [d0, d0+DC) of x[b] into tile[R][DC+1]; rows >= L and
// columns >= D read as 0.
template <typename T, int R, int DC>
__device__ void load_chunk(T (*tile)[DC + 1], const Strided3<const T>& x, int64_t b, int64_t r0, int64_t L, int64_t d0,
                           int64_t D) {
  for (int e = threadIdx.x; e < R * DC; e += kThreads) {
    const int r = e / DC, k = e % DC;
    const int64_t row = r0 + r, d = d0 + k;
    tile[r][k] = (row < L && d < D) ? x(b, row, d) : T(0);
  }
}

// Loads rows [r0, r0+R) and output columns [c0, c0+DCO) of x[b] into tile[R][DCO].
template <typename T, int R, int DCO>
__device__ void load_values(T (*tile)[DCO], const Strided3<const T>& x, int64_t b, int64_t r0, int64_t L, int64_t c0, int64_t D) {
  for (int e = threadIdx.x; e < R * DCO; e += kThreads) {
    const int r = e / DCO, k = e % DCO;
    const int64_t row = r0 + r, d = c0 + k;
    tile[r][k] = (row < L && d < D) ? x(b, row, d) : T(0);
  }
}

// Σ_d x[b,row,d]·y[b,row,d] for rows [r0, r0+R) into out[R] (0 for rows >= L); one warp per row.
template <typename T, int R>
__device__ void row_dots(T* out, const Strided3<const T>& x, const Strided3<const T>& y, int64_t b, int64_t r0, int64_t L,
                         int64_t D) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < R; r += kThreads / 32) {
    const int64_t row = r0 + r;
    T acc = T(0);
    if (row < L)
      for (int64_t d = lane; d < D; d += 32) acc += x(b, row, d) * y(b, row, d);
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (lane == 0) out[r] = acc;
  }
}

// acc[u] (entry e = tid + u·kThreads of the BQ×BK tile, row e/BK, column e%BK) += q_i·q_j over D.
template <typename T>
__device__ void score_sweep(T* acc, T (*qi)[Cfg<T>::DC + 1], T (*qj)[Cfg<T>::DC + 1], const Strided3<const T>& q, int64_t b,
                            int64_t i0, int64_t j0, int64_t L, int64_t D) {
  constexpr int BQ = Cfg<T>::BQ, BK = Cfg<T>::BK, DC = Cfg<T>::DC, NE = BQ * BK / kThreads;
  for (int u = 0; u < NE; ++u) acc[u] = T(0);
  for (int64_t d0 = 0; d0 < D; d0 += DC) {
    __syncthreads();
    load_chunk<T, BQ, DC>(qi, q, b, i0, L, d0, D);
    load_chunk<T, BK, DC>(qj, q, b, j0, L, d0, D);
    __syncthreads();
    for (int u = 0; u < NE; ++u) {
      const int e = threadIdx.x + u * kThreads, r = e / BK, c = e % BK;
      T s = acc[u];
      for (int k = 0; k < DC; ++k) s += qi[r][k] * qj[c][k];
      acc[u] = s;
    }
  }
  __syncthreads();
}

template <typename T>
__global__ void cscm_attention_stats_kernel(Strided3<const T> q, Strided1<const int64_t> lengths, int64_t T_, int64_t D, T scale,
                                            Strided3<T> lse) {
  constexpr int BQ = Cfg<T>::BQ, BK = Cfg<T>::BK, DC = Cfg<T>::DC, NE = BQ * BK / kThreads;
  __shared__ T qi[BQ][DC + 1], qj[BK][DC + 1], s[BQ][BK + 1];
  __shared__ T m_s[BQ], l_s[BQ];
  const int64_t b = blockIdx.z, i0 = static_cast<int64_t>(blockIdx.x) * BQ;
  const int64_t L = clamp_len(lengths(b), T_);
  if (threadIdx.x < BQ) {
    m_s[threadIdx.x] = -INFINITY;
    l_s[threadIdx.x] = T(0);
  }
  T acc[NE];
  for (int64_t j0 = 0; i0 < L && j0 < L; j0 += BK) {
    score_sweep<T>(acc, qi, qj, q, b, i0, j0, L, D);
    for (int u = 0; u < NE; ++u) {
      const int e = threadIdx.x + u * kThreads;
      s[e / BK][e % BK] = scale * acc[u];
    }
    __syncthreads();
    if (threadIdx.x < BQ && i0 + threadIdx.x < L) {
      const int r = threadIdx.x;
      const int nc = static_cast<int>(L - j0 < BK ? L - j0 : BK);
      T mx = -INFINITY;
      for (int c = 0; c < nc; ++c) mx = s[r][c] > mx ? s[r][c] : mx;
      const T m_new = m_s[r] > mx ? m_s[r] : mx;
      T sum = T(0);
      for (int c = 0; c < nc; ++c) sum += exp(s[r][c] - m_new);
      l_s[r] = (m_s[r] == -INFINITY ? T(0) : l_s[r] * exp(m_s[r] - m_new)) + sum;
      m_s[r] = m_new;
    }
  }
  __syncthreads();
  if (threadIdx.x < BQ && i0 + threadIdx.x < T_) {
    const int64_t i = i0 + threadIdx.x;
    lse(b, i, 0) = i < L ? m_s[threadIdx.x] : T(0);
    lse(b, i, 1) = i < L ? log(l_s[threadIdx.x]) : T(0);
  }
}

template <typename T>
__global__ void cscm_attention_fwd_kernel(Strided3<const T> q, Strided1<const int64_t> lengths, int64_t T_, int64_t D, T scale,
                                          Strided3<const T> lse, Strided3<T> out) {
  constexpr int BQ = Cfg<T>::BQ, BK = Cfg<T>::BK, DC = Cfg<T>::DC, DCO = Cfg<T>::DCO;
  constexpr int NE = BQ * BK / kThreads, NO = BQ * DCO / kThreads;
  __shared__ T qi[BQ][DC + 1], qj[BK][DC + 1], p[BQ][BK + 1], v[BK][DCO];
  __shared__ T m_s[BQ], ll_s[BQ];
  const int64_t b = blockIdx.z, i0 = static_cast<int64_t>(blockIdx.x) * BQ, c0 = static_cast<int64_t>(blockIdx.y) * DCO;
  const int64_t L = clamp_len(lengths(b), T_);
  if (threadIdx.x < BQ) {
    const int64_t i = i0 + threadIdx.x;
    m_s[threadIdx.x] = i < L ? lse(b, i, 0) : T(0);
    ll_s[threadIdx.x] = i < L ? lse(b, i, 1) : T(0);
  }
  T o[NO];
  for (int u = 0; u < NO; ++u) o[u] = T(0);
  T acc[NE];
  for (int64_t j0 = 0; i0 < L && j0 < L; j0 += BK) {
    score_sweep<T>(acc, qi, qj, q, b, i0, j0, L, D);
    for (int u = 0; u < NE; ++u) {
      const int e = threadIdx.x + u * kThreads, r = e / BK, c = e % BK;
      const bool valid = i0 + r < L && j0 + c < L;
      p[r][c] = valid ? cscm_attention::prob(scale * acc[u], m_s[r], ll_s[r]) : T(0);
    }
    load_values<T, BK, DCO>(v, q, b, j0, L, c0, D);
    __syncthreads();
    for (int u = 0; u < NO; ++u) {
      const int e = threadIdx.x + u * kThreads, r = e / DCO, k = e % DCO;
      T a = o[u];
      for (int c = 0; c < BK; ++c) a += p[r][c] * v[c][k];
      o[u] = a;
    }
  }
  for (int u = 0; u < NO; ++u) {
    const int e = threadIdx.x + u * kThreads, r = e / DCO, k = e % DCO;
    const int64_t i = i0 + r, d = c0 + k;
    if (i < T_ && d < D) out(b, i, d) = i < L ? o[u] : T(0);
  }
}

template <typename T>
__global__ void cscm_attention_bwd_kernel(Strided3<const T> g, Strided3<const T> q, Strided3<const T> out, Strided3<const T> lse,
                                          Strided1<const int64_t> lengths, int64_t T_, int64_t D, T scale, Strided3<T> gq) {
  constexpr int BQ = Cfg<T>::BQ, BK = Cfg<T>::BK, DC = Cfg<T>::DC, DCO = Cfg<T>::DCO;
  constexpr int NE = BQ * BK / kThreads, NO = BQ * DCO / kThreads;
  __shared__ T qi[BQ][DC + 1], gi[BQ][DC + 1], qj[BK][DC + 1], gj[BK][DC + 1];
  __shared__ T e_s[BQ][BK + 1], pt_s[BQ][BK + 1], vq[BK][DCO], vg[BK][DCO];
  __shared__ T m_i[BQ], ll_i[BQ], dv_i[BQ], m_j[BK], ll_j[BK], dv_j[BK];
  const int64_t b = blockIdx.z, i0 = static_cast<int64_t>(blockIdx.x) * BQ, c0 = static_cast<int64_t>(blockIdx.y) * DCO;
  const int64_t L = clamp_len(lengths(b), T_);
  if (threadIdx.x < BQ) {
    const int64_t i = i0 + threadIdx.x;
    m_i[threadIdx.x] = i < L ? lse(b, i, 0) : T(0);
    ll_i[threadIdx.x] = i < L ? lse(b, i, 1) : T(0);
  }
  row_dots<T, BQ>(dv_i, g, out, b, i0, L, D);
  T o[NO];
  for (int u = 0; u < NO; ++u) o[u] = T(0);
  T s_acc[NE], a_acc[NE], x_acc[NE];
  for (int64_t j0 = 0; i0 < L && j0 < L; j0 += BK) {
    __syncthreads();
    if (threadIdx.x < BK) {
      const int64_t j = j0 + threadIdx.x;
      m_j[threadIdx.x] = j < L ? lse(b, j, 0) : T(0);
      ll_j[threadIdx.x] = j < L ? lse(b, j, 1) : T(0);
    }
    row_dots<T, BK>(dv_j, g, out, b, j0, L, D);
    // One sweep over D: S = q_i·q_j, A = dO_i·q_j, X = q_i·dO_j.
    for (int u = 0; u < NE; ++u) s_acc[u] = a_acc[u] = x_acc[u] = T(0);
    for (int64_t d0 = 0; d0 < D; d0 += DC) {
      __syncthreads();
      load_chunk<T, BQ, DC>(qi, q, b, i0, L, d0, D);
      load_chunk<T, BQ, DC>(gi, g, b, i0, L, d0, D);
      load_chunk<T, BK, DC>(qj, q, b, j0, L, d0, D);
      load_chunk<T, BK, DC>(gj, g, b, j0, L, d0, D);
      __syncthreads();
      for (int u = 0; u < NE; ++u) {
        const int e = threadIdx.x + u * kThreads, r = e / BK, c = e % BK;
        T s = s_acc[u], a = a_acc[u], x = x_acc[u];
        for (int k = 0; k < DC; ++k) {
          s += qi[r][k] * qj[c][k];
          a += gi[r][k] * qj[c][k];
          x += qi[r][k] * gj[c][k];
        }
        s_acc[u] = s;
        a_acc[u] = a;
        x_acc[u] = x;
      }
    }
    __syncthreads();
    for (int u = 0; u < NE; ++u) {
      const int e = threadIdx.x + u * kThreads, r = e / BK, c = e % BK;
      const bool valid = i0 + r < L && j0 + c < L;
      T p, pt;
      const T ev = cscm_attention::grad_entry(scale * s_acc[u], a_acc[u], x_acc[u], m_i[r], ll_i[r], dv_i[r], m_j[c], ll_j[c],
                                              dv_j[c], scale, &p, &pt);
      e_s[r][c] = valid ? ev : T(0);
      pt_s[r][c] = valid ? pt : T(0);
    }
    load_values<T, BK, DCO>(vq, q, b, j0, L, c0, D);
    load_values<T, BK, DCO>(vg, g, b, j0, L, c0, D);
    __syncthreads();
    for (int u = 0; u < NO; ++u) {
      const int e = threadIdx.x + u * kThreads, r = e / DCO, k = e % DCO;
      T a = o[u];
      for (int c = 0; c < BK; ++c) a += e_s[r][c] * vq[c][k] + pt_s[r][c] * vg[c][k];
      o[u] = a;
    }
  }
  for (int u = 0; u < NO; ++u) {
    const int e = threadIdx.x + u * kThreads, r = e / DCO, k = e % DCO;
    const int64_t i = i0 + r, d = c0 + k;
    if (i < T_ && d < D) gq(b, i, d) = i < L ? o[u] : T(0);
  }
}

// Grid (query tiles, output column chunks, videos); checks that it fits the launch limits.
template <typename T>
dim3 grid_of(int64_t B, int64_t T_, int64_t D, bool column_chunks) {
  const int64_t tiles = (T_ + Cfg<T>::BQ - 1) / Cfg<T>::BQ;
  const int64_t chunks = column_chunks ? (D + Cfg<T>::DCO - 1) / Cfg<T>::DCO : 1;
  MCWES_CHECK(tiles <= 2147483647LL && chunks <= 65535 && B <= 65535,
              "mcwes.cscm_attention: expected a problem that fits one CUDA grid (B <= 65535, D <= ", 65535LL * Cfg<T>::DCO,
              "), got B=", B, ", T=", T_, ", D=", D);
  return dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(chunks), static_cast<unsigned>(B));
}

}  // namespace

void cscm_attention_fwd_cuda(const View& q, const View& lengths, double scale, const View& out, const View& lse,
                             uintptr_t stream) {
  cscm_attention_check(q, lengths, out, lse);
  MCWES_CHECK(q.device >= 0, "mcwes.cscm_attention: expected CUDA tensors for the CUDA kernel, got CPU tensors");
  const int64_t B = q.size(0), T_ = q.size(1), D = q.size(2);
  if (B * T_ == 0) return;
  DeviceGuard guard(q.device, "cscm_attention");
  dispatch_float(q.dtype, "cscm_attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cscm_attention_stats_kernel<T><<<grid_of<T>(B, T_, D, false), kThreads, 0, as_stream(stream)>>>(
        q.s3<const T>(), lengths.s1<const int64_t>(), T_, D, static_cast<T>(scale), lse.s3<T>());
    MCWES_CUDA_CHECK_LAUNCH("cscm_attention");
    if (D == 0) return;
    cscm_attention_fwd_kernel<T><<<grid_of<T>(B, T_, D, true), kThreads, 0, as_stream(stream)>>>(
        q.s3<const T>(), lengths.s1<const int64_t>(), T_, D, static_cast<T>(scale), lse.s3<const T>(), out.s3<T>());
    MCWES_CUDA_CHECK_LAUNCH("cscm_attention");
  });
}

void cscm_attention_bwd_cuda(const View& grad_out, const View& q, const View& out, const View& lse, const View& lengths,
                             double scale, const View& grad_q, uintptr_t stream) {
  cscm_attention_bwd_check(grad_out, q, out, lse, lengths, grad_q);
  MCWES_CHECK(q.device >= 0, "mcwes.cscm_attention: expected CUDA tensors for the CUDA kernel, got CPU tensors");
  const int64_t B = q.size(0), T_ = q.size(1), D = q.size(2);
  if (grad_q.numel() == 0) return;
  DeviceGuard guard(q.device, "cscm_attention");
  dispatch_float(q.dtype, "cscm_attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cscm_attention_bwd_kernel<T><<<grid_of<T>(B, T_, D, true), kThreads, 0, as_stream(stream)>>>(
        grad_out.s3<const T>(), q.s3<const T>(), out.s3<const T>(), lse.s3<const T>(), lengths.s1<const int64_t>(), T_, D,
        static_cast<T>(scale), grad_q.s3<T>());
    MCWES_CUDA_CHECK_LAUNCH("cscm_attention");
  });
}

}  // namespace mcwes
