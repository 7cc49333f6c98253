// cpu_gemm.h — the matrix product of the CPU attention drivers, on packed operands, with one
// hand-written micro-kernel per vector instruction set.
//
//   C[M×N] = A[M×K] · B[K×N]        (accumulate == false)
//   C[M×N] += A[M×K] · B[K×N]       (accumulate == true)
//
// Operand layouts (the callers pack their data this way once, so no product packs anything):
//   A  k-major:        A(r, k) = A[k·lda + r]   (a_rows == false, lda >= M), or
//      row-major:      A(r, k) = A[r·lda + k]   (a_rows == true, lda >= K)
//   B  column strips:  B(k, c) = B[(c / kNS)·sb + k·ldb + c % kNS]  (strips of kNS = 16 columns;
//                      the columns of the last strip past N must be readable, e.g. zero padding)
//   C  row-major with leading dimension ldc; exactly M×N elements are read and written.
// Blocking, BLIS style: K in chunks of kKC, then one B strip (kKC×16, stays in L1), then register
// tiles of MR rows × 16·S columns over the strip, the outer-product micro-kernel: per k, MR
// broadcasts of A times S·16 values of B. Accumulators start at zero and C is added once at the
// end of a chunk (its rows are prefetched when the tile starts).
//
// Paths, picked per call by cpu_isa_level() (cpu_isa.h):
//   avx2    float: 6×16 tile in 12 YMM accumulators + 2 B vectors + 1 broadcast = 15 of the 16 YMM
//           registers (intrinsics); double: the portable tile compiled for AVX2 + FMA
//   avx512  float: 12×32 tile in 24 ZMM accumulators (intrinsics); double: the portable tile
//           compiled for AVX-512
//   scalar  the portable tile (plain C++ the compiler vectorises for the baseline target)
// The x86 paths are compiled with function `target` attributes, so the build needs no ISA flags
// and runs on any x86-64; other architectures compile the portable path only. Deterministic: the
// summation order depends on the shapes and the path, never on threads or data.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cpu_isa.h"

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(_M_X64))
#define MCWES_GEMM_X86 1
#include <immintrin.h>
#define MCWES_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define MCWES_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma")))
#endif
#if defined(__GNUC__) || defined(__clang__)
#define MCWES_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MCWES_ALWAYS_INLINE inline
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define MCWES_UNROLL_ROWS _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define MCWES_UNROLL_ROWS _Pragma("unroll")
#else
#define MCWES_UNROLL_ROWS
#endif

namespace mcwes {
namespace cpu_gemm {

constexpr int64_t kNS = 16;   // columns per B strip
constexpr int64_t kKC = 256;  // K-chunk: one B strip chunk (kKC×16) stays in L1

template <bool kFma, typename T>
MCWES_ALWAYS_INLINE T madd(T a, T b, T c) {
  if constexpr (kFma) {
    return std::fma(a, b, c);
  } else {
    return a * b + c;
  }
}

// A's layouts (the a_layout argument of gemm): k-major and row-major as above, and (AVX2 float path
// only) micro-panels of kPR rows, the BLIS packing: A(r, k) = A[(r / kPR)·kPR·lda + k·kPR + r % kPR]
// with lda = the panels' K extent (>= K) and the rows of the last panel past M readable (zero
// padding). One tile then reads its A as one contiguous stream, kPR floats per k.
constexpr int kAKMajor = 0, kARowMajor = 1, kAPanels = 2;
constexpr int64_t kPR = 6;  // rows per A micro-panel (the AVX2 float tile's MR)

// Address of A(r, k) for a tile whose A(0, 0) is at A.
template <int kLayout, typename T>
MCWES_ALWAYS_INLINE const T* a_at(const T* A, int64_t lda, int r, int64_t k) {
  if constexpr (kLayout == kAPanels) return A + k * kPR + r;
  return kLayout == kARowMajor ? A + r * lda + k : A + k * lda + r;
}

// Portable MR × (S·16) tile over kc steps, written for the compiler to vectorise. Writes the first
// nc columns (nc <= S·16); C is added when load_c.

template <typename T, int MR, int S, bool kFma, int kARows>
MCWES_ALWAYS_INLINE void micro_portable(int64_t kc, const T* A, int64_t lda, const T* B, int64_t ldb, int64_t sb, T* C,
                                        int64_t ldc, bool load_c, int nc) {
  constexpr int NR = S * static_cast<int>(kNS);
  T acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NR; ++c) acc[r][c] = T(0);
  for (int64_t k = 0; k < kc; ++k) {
    T brow[NR];
    for (int s = 0; s < S; ++s)
      for (int c = 0; c < kNS; ++c) brow[s * kNS + c] = B[s * sb + k * ldb + c];
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
    for (int r = 0; r < MR; ++r) {
      const T a = *a_at<kARows>(A, lda, r, k);
      for (int c = 0; c < NR; ++c) acc[r][c] = madd<kFma>(a, brow[c], acc[r][c]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < nc; ++c) C[r * ldc + c] = load_c ? C[r * ldc + c] + acc[r][c] : acc[r][c];
}

// Calls Micro::template run<mr>(...) for a runtime row count 1 <= mr <= MR (a partial last tile).
template <int MR, typename F>
MCWES_ALWAYS_INLINE void with_rows(int mr, F&& f) {
  if constexpr (MR == 1) {
    f(std::integral_constant<int, 1>{});
  } else {
    if (mr == MR) return f(std::integral_constant<int, MR>{});
    with_rows<MR - 1>(mr, f);
  }
}

// The blocked loops around a micro-kernel: tile(kc, A, B, C, load_c, mr, nc) with mr <= MR rows and
// nc <= S·16 columns.
template <typename T, int MR, int S, int kARows, typename Tile>
MCWES_ALWAYS_INLINE void blocked(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, int64_t sb,
                                 T* C, int64_t ldc, bool accumulate, Tile&& tile) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = T(0);
    return;
  }
  constexpr int64_t NR = S * kNS;
  for (int64_t k0 = 0; k0 < K; k0 += kKC) {
    const int64_t kc = std::min(kKC, K - k0);
    const bool load_c = accumulate || k0 > 0;
    for (int64_t n0 = 0; n0 < N; n0 += NR) {
      const int nc = static_cast<int>(std::min<int64_t>(NR, N - n0));
      const T* b = B + (n0 / kNS) * sb + k0 * ldb;
      for (int64_t m0 = 0; m0 < M; m0 += MR) {
        const int mr = static_cast<int>(std::min<int64_t>(MR, M - m0));
        const T* a = kARows == kAPanels     ? A + (m0 / kPR) * kPR * lda + k0 * kPR
                     : kARows == kARowMajor ? A + m0 * lda + k0
                                            : A + k0 * lda + m0;
        tile(kc, a, b, C + m0 * ldc + n0, load_c, mr, nc);
      }
    }
  }
}

template <typename T, int MR, int S, bool kFma, int kARows>
MCWES_ALWAYS_INLINE void gemm_portable_impl(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
                                            int64_t sb, T* C, int64_t ldc, bool accumulate) {
  blocked<T, MR, S, kARows>(M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate,
                            [&](int64_t kc, const T* a, const T* b, T* c, bool load_c, int mr, int nc) {
                              with_rows<MR>(mr, [&](auto rows) {
                                micro_portable<T, decltype(rows)::value, S, kFma, kARows>(kc, a, lda, b, ldb, sb, c, ldc, load_c,
                                                                                          nc);
                              });
                            });
}

template <int kARows, typename T>
void gemm_scalar(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, int64_t sb, T* C, int64_t ldc,
                 bool accumulate) {
  gemm_portable_impl<T, 4, 1, false, kARows>(M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate);
}

#if defined(MCWES_GEMM_X86)

// ---- AVX2 + FMA ------------------------------------------------------------------------------

// MR×16 float tile (MR <= 6): per k one 16-wide row of the B strip (two loads) and MR broadcasts.
template <int MR, int kARows>
MCWES_TARGET_AVX2 MCWES_ALWAYS_INLINE void micro_avx2_f32(int64_t kc, const float* A, int64_t lda, const float* B, int64_t ldb,
                                                          float* C, int64_t ldc, bool load_c, int nc) {
  __m256 c0[MR], c1[MR];
  MCWES_UNROLL_ROWS
  for (int r = 0; r < MR; ++r) {
    c0[r] = _mm256_setzero_ps();
    c1[r] = _mm256_setzero_ps();
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc + 15), _MM_HINT_T0);
  }
  for (int64_t k = 0; k < kc; ++k) {
    const float* b = B + k * ldb;
    if constexpr (kARows == kAPanels) {
      // The panel streams from L2: fetch 8 steps (3 lines) ahead, one line every other step.
      if ((k & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(A + (k + 8) * kPR), _MM_HINT_T0);
    }
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    MCWES_UNROLL_ROWS
    for (int r = 0; r < MR; ++r) {
      const __m256 x = _mm256_broadcast_ss(a_at<kARows>(A, lda, r, k));
      c0[r] = _mm256_fmadd_ps(x, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(x, b1, c1[r]);
    }
  }
  if (nc == 16) {
    MCWES_UNROLL_ROWS
    for (int r = 0; r < MR; ++r) {
      float* cr = C + r * ldc;
      if (load_c) {
        c0[r] = _mm256_add_ps(c0[r], _mm256_loadu_ps(cr));
        c1[r] = _mm256_add_ps(c1[r], _mm256_loadu_ps(cr + 8));
      }
      _mm256_storeu_ps(cr, c0[r]);
      _mm256_storeu_ps(cr + 8, c1[r]);
    }
    return;
  }
  // A partial strip (the last columns of C) goes through a buffer.
  // (Every accumulator is stored by a loop of constant trip count first, so the compiler can keep
  // them in registers; indexing them inside the variable-length copy would pin them to memory.)
  alignas(32) float buf[MR][16];
  MCWES_UNROLL_ROWS
  for (int r = 0; r < MR; ++r) {
    _mm256_store_ps(buf[r], c0[r]);
    _mm256_store_ps(buf[r] + 8, c1[r]);
  }
  MCWES_UNROLL_ROWS
  for (int r = 0; r < MR; ++r) {
    float* cr = C + r * ldc;
    for (int c = 0; c < nc; ++c) cr[c] = load_c ? cr[c] + buf[r][c] : buf[r][c];
  }
}

template <int kARows>
MCWES_TARGET_AVX2 inline void gemm_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                                        int64_t sb, float* C, int64_t ldc, bool accumulate) {
  blocked<float, 6, 1, kARows>(M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate,
                               [&](int64_t kc, const float* a, const float* b, float* c, bool load_c, int mr, int nc)
                                   MCWES_TARGET_AVX2 {
                                     switch (mr) {
                                       case 6: return micro_avx2_f32<6, kARows>(kc, a, lda, b, ldb, c, ldc, load_c, nc);
                                       case 5: return micro_avx2_f32<5, kARows>(kc, a, lda, b, ldb, c, ldc, load_c, nc);
                                       case 4: return micro_avx2_f32<4, kARows>(kc, a, lda, b, ldb, c, ldc, load_c, nc);
                                       case 3: return micro_avx2_f32<3, kARows>(kc, a, lda, b, ldb, c, ldc, load_c, nc);
                                       case 2: return micro_avx2_f32<2, kARows>(kc, a, lda, b, ldb, c, ldc, load_c, nc);
                                       default: return micro_avx2_f32<1, kARows>(kc, a, lda, b, ldb, c, ldc, load_c, nc);
                                     }
                                   });
}

template <int kARows>
MCWES_TARGET_AVX2 inline void gemm_avx2(int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B,
                                        int64_t ldb, int64_t sb, double* C, int64_t ldc, bool accumulate) {
  // 3 rows × 16 doubles = 12 YMM accumulators.
  gemm_portable_impl<double, 3, 1, true, kARows>(M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate);
}

// ---- AVX-512 ---------------------------------------------------------------------------------

// MR×32 float tile (MR <= 12): two strips, per k two 16-wide loads and MR broadcasts.
template <int MR, int kARows>
MCWES_TARGET_AVX512 MCWES_ALWAYS_INLINE void micro_avx512_f32(int64_t kc, const float* A, int64_t lda, const float* B,
                                                              int64_t ldb, int64_t sb, float* C, int64_t ldc, bool load_c,
                                                              int nc) {
  __m512 c0[MR], c1[MR];
  MCWES_UNROLL_ROWS
  for (int r = 0; r < MR; ++r) {
    c0[r] = _mm512_setzero_ps();
    c1[r] = _mm512_setzero_ps();
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc + 31), _MM_HINT_T0);
  }
  const float* B1 = B + (nc > 16 ? sb : 0);  // a one-strip tile re-reads strip 0 (its result is dropped)
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(B + k * ldb), b1 = _mm512_loadu_ps(B1 + k * ldb);
    MCWES_UNROLL_ROWS
    for (int r = 0; r < MR; ++r) {
      const __m512 x = _mm512_set1_ps(*a_at<kARows>(A, lda, r, k));
      c0[r] = _mm512_fmadd_ps(x, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(x, b1, c1[r]);
    }
  }
  const __mmask16 m0 = nc >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nc) - 1u);
  const __mmask16 m1 = nc >= 32 ? __mmask16(0xFFFF) : nc <= 16 ? __mmask16(0) : __mmask16((1u << (nc - 16)) - 1u);
  MCWES_UNROLL_ROWS
  for (int r = 0; r < MR; ++r) {
    float* cr = C + r * ldc;
    __m512 x0 = c0[r], x1 = c1[r];
    if (load_c) {
      x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, cr));
      x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    _mm512_mask_storeu_ps(cr, m0, x0);
    _mm512_mask_storeu_ps(cr + 16, m1, x1);
  }
}

template <int kARows>
MCWES_TARGET_AVX512 inline void gemm_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                                            int64_t ldb, int64_t sb, float* C, int64_t ldc, bool accumulate) {
  blocked<float, 12, 2, kARows>(
      M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate,
      [&](int64_t kc, const float* a, const float* b, float* c, bool load_c, int mr, int nc) MCWES_TARGET_AVX512 {
        with_rows<12>(mr, [&](auto rows) MCWES_TARGET_AVX512 {
          micro_avx512_f32<decltype(rows)::value, kARows>(kc, a, lda, b, ldb, sb, c, ldc, load_c, nc);
        });
      });
}

template <int kARows>
MCWES_TARGET_AVX512 inline void gemm_avx512(int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B,
                                            int64_t ldb, int64_t sb, double* C, int64_t ldc, bool accumulate) {
  // 8 rows × 16 doubles = 16 ZMM accumulators.
  gemm_portable_impl<double, 8, 1, true, kARows>(M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate);
}

#endif  // MCWES_GEMM_X86

// The product on the path `level` (cpu_isa_level() read once by the caller, so one kernel call
// never mixes paths); a_layout picks A's layout (kAKMajor, kARowMajor, or kAPanels, which only the
// AVX2 float path takes: callers check panels_ok(level, T) and pack A that way only then).
template <typename T>
constexpr bool panels_ok(int level) {
#if defined(MCWES_GEMM_X86)
  return std::is_same_v<T, float> && level == 1;
#else
  (void)level;
  return false;
#endif
}

template <typename T>
void gemm(int level, int a_layout, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, int64_t sb,
          T* C, int64_t ldc, bool accumulate) {
  const bool a_rows = a_layout == kARowMajor;
#if defined(MCWES_GEMM_X86)
  if constexpr (std::is_same_v<T, float>) {
    if (a_layout == kAPanels) return gemm_avx2<kAPanels>(M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate);
  }
  if (level >= 2)
    return a_rows ? gemm_avx512<kARowMajor>(M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate)
                  : gemm_avx512<kAKMajor>(M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate);
  if (level == 1)
    return a_rows ? gemm_avx2<kARowMajor>(M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate)
                  : gemm_avx2<kAKMajor>(M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate);
#endif
  if (a_rows) gemm_scalar<kARowMajor, T>(M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate);
  else gemm_scalar<kAKMajor, T>(M, N, K, A, lda, B, ldb, sb, C, ldc, accumulate);
}

}  // namespace cpu_gemm
}  // namespace mcwes
