// cpu_gemm.h — a small register-blocked matrix product for the CPU drivers, in plain C++.
//
//   C[M×N] = A[M×K] · B[K×N]        (accumulate == false)
//   C[M×N] += A[M×K] · B[K×N]       (accumulate == true)
//
// All three row-major with leading dimensions lda, ldb, ldc (elements). The work is cut into
// MR×NR register tiles over K-chunks of KC, the classic outer-product micro-kernel: per k, MR
// broadcasts of A times one NR-wide row of B. The loops are plain C++ that compilers vectorise;
// on x86-64 GCC/Clang the same source is also compiled for AVX2+FMA and AVX-512 (function
// `target` attributes, no intrinsics) and picked once at run time, so a portable build still uses
// the vector units the machine has. Deterministic: the summation order depends only on the shapes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(_M_X64))
#define MCWES_GEMM_X86 1
#define MCWES_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(__GNUC__) || defined(__clang__)
#define MCWES_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MCWES_ALWAYS_INLINE inline
#endif

namespace mcwes {
namespace cpu_gemm {

constexpr int64_t kKC = 256;  // K-chunk: an NR-wide panel of B (KC×NR) stays in L1

template <bool kFma, typename T>
MCWES_ALWAYS_INLINE T madd(T a, T b, T c) {
  if constexpr (kFma) {
    return std::fma(a, b, c);
  } else {
    return a * b + c;
  }
}

// One MR×NR tile over kc steps. Rows past mr re-read the last valid row (their results are
// dropped), so a partial row tile keeps the fast loop; columns past nc are never read or written.
template <typename T, int MR, int NR, bool kFma, bool kFullCols>
MCWES_ALWAYS_INLINE void micro(int64_t kc, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
                               bool load_c, int mr, int nc) {
  const T* arow[MR];
  for (int r = 0; r < MR; ++r) arow[r] = A + (r < mr ? r : mr - 1) * lda;
  T acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NR; ++c)
      acc[r][c] = (load_c && r < mr && (kFullCols || c < nc)) ? C[r * ldc + c] : T(0);
  T brow[NR];
  for (int64_t k = 0; k < kc; ++k) {
    const T* b = B + k * ldb;
    if constexpr (kFullCols) {
      for (int c = 0; c < NR; ++c) brow[c] = b[c];
    } else {
      for (int c = 0; c < NR; ++c) brow[c] = c < nc ? b[c] : T(0);
    }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
    for (int r = 0; r < MR; ++r) {
      const T a = arow[r][k];
      for (int c = 0; c < NR; ++c) acc[r][c] = madd<kFma>(a, brow[c], acc[r][c]);
    }
  }
  for (int r = 0; r < MR; ++r)
    if (r < mr)
      for (int c = 0; c < NR; ++c)
        if (kFullCols || c < nc) C[r * ldc + c] = acc[r][c];
}

template <typename T, int MR, int NR, bool kFma>
MCWES_ALWAYS_INLINE void gemm_impl(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
                                   T* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = T(0);
    return;
  }
  for (int64_t k0 = 0; k0 < K; k0 += kKC) {
    const int64_t kc = std::min(kKC, K - k0);
    const bool load_c = accumulate || k0 > 0;
    for (int64_t n0 = 0; n0 < N; n0 += NR) {
      const int nc = static_cast<int>(std::min<int64_t>(NR, N - n0));
      for (int64_t m0 = 0; m0 < M; m0 += MR) {
        const int mr = static_cast<int>(std::min<int64_t>(MR, M - m0));
        const T* a = A + m0 * lda + k0;
        const T* b = B + k0 * ldb + n0;
        T* c = C + m0 * ldc + n0;
        if (nc == NR)
          micro<T, MR, NR, kFma, true>(kc, a, lda, b, ldb, c, ldc, load_c, mr, nc);
        else
          micro<T, MR, NR, kFma, false>(kc, a, lda, b, ldb, c, ldc, load_c, mr, nc);
      }
    }
  }
}

// Tile shapes per instruction set and product kind, measured on Zen 5 with GCC 12: a long K
// (dot-product-like, e.g. q·qᵀ over D) prefers fewer rows, a short K with a wide N (P·V) prefers
// more rows, which amortise the loads and stores of C.
template <typename T> struct Shape;
template <> struct Shape<float> {
  static constexpr int kMR512 = 8, kMR512Wide = 16, kNR512 = 16, kMR256 = 4, kNR256 = 16, kMR128 = 4, kNR128 = 8;
};
template <> struct Shape<double> {
  static constexpr int kMR512 = 8, kMR512Wide = 8, kNR512 = 16, kMR256 = 4, kNR256 = 8, kMR128 = 4, kNR128 = 4;
};

constexpr int64_t kLongK = 256;

template <typename T>
void gemm_generic(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
                  int64_t ldc, bool accumulate) {
  gemm_impl<T, Shape<T>::kMR128, Shape<T>::kNR128, false>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

#if defined(MCWES_GEMM_X86)
template <typename T>
__attribute__((target("avx2,fma"))) void gemm_avx2(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                                                   const T* B, int64_t ldb, T* C, int64_t ldc, bool accumulate) {
  gemm_impl<T, Shape<T>::kMR256, Shape<T>::kNR256, true>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}
template <typename T>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void gemm_avx512(int64_t M, int64_t N, int64_t K, const T* A,
                                                                       int64_t lda, const T* B, int64_t ldb, T* C,
                                                                       int64_t ldc, bool accumulate) {
  if (K >= kLongK)
    gemm_impl<T, Shape<T>::kMR512, Shape<T>::kNR512, true>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  else
    gemm_impl<T, Shape<T>::kMR512Wide, Shape<T>::kNR512, true>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}
#endif

// The instruction set the running CPU supports: 0 portable, 1 AVX2+FMA, 2 AVX-512.
inline int isa_level() {
#if defined(MCWES_GEMM_X86)
  static const int level = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
  }();
  return level;
#else
  return 0;
#endif
}

// Column count of the widest tile: callers whose B has zero-padded columns round N up to a multiple
// of it, so the partial-column path never runs.
constexpr int64_t kMaxNR = 16;

inline const char* isa_name() {
  switch (isa_level()) {
    case 2: return "avx512";
    case 1: return "avx2";
    default: return "portable";
  }
}

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
          bool accumulate) {
#if defined(MCWES_GEMM_X86)
  const int level = isa_level();
  if (level == 2) return gemm_avx512<T>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  if (level == 1) return gemm_avx2<T>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
#endif
  gemm_generic<T>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

}  // namespace cpu_gemm
}  // namespace mcwes
