// CPU driver of cscm_attention. One video at a time, all threads on it: q is packed once into the
// score products' operands (transposed column panels, or on the AVX2 float path BLIS micro-panels:
// 6-row A panels and 16-column B strips) and 16-column value strips (the operand layouts of
// cpu_gemm.h, so no product packs anything); the upper-triangular tile pairs (I <= J) are dealt
// round-robin to the threads, each computing S_IJ = s·Q_I Q_Jᵀ once and using it for row block I
// and, transposed, for row block J. Because one pair writes to two row blocks, every thread keeps
// its own streaming-softmax state (m, l, numerator) for the video's rows (with lazy rescaling, see
// lazy_max); the states are merged in thread order at the end. Scratch: 2·T·D packed copies (3·T·D
// on the AVX2 float path; twice that in the backward) + threads·T·D partial sums + a few BS×BS
// tiles per thread, all O(T·D): nothing grows with T². See mcwes/kernels/cscm_attention.h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>
#include <vector>

#include "cpu_gemm.h"
#include "mcwes/kernels/cscm_attention.h"
#include "mcwes/ops.h"
#include "parallel.h"

#if defined(MCWES_OPENMP)
#include <omp.h>
#endif

namespace mcwes {

void cscm_attention_check(const View& q, const View& lengths, const View& out, const View& lse) {
  const char* op = "cscm_attention";
  check_float_view(q, op, "q", 3);
  const int64_t B = q.size(0), T_ = q.size(1);
  check_view(lengths, op, "lengths", 1, DType::i64);
  check_size(lengths, op, "lengths", 0, B);
  check_view(out, op, "out", 3, q.dtype);
  for (int d = 0; d < 3; ++d) check_size(out, op, "out", d, q.size(d));
  check_view(lse, op, "lse", 3, q.dtype);
  check_size(lse, op, "lse", 0, B);
  check_size(lse, op, "lse", 1, T_);
  check_size(lse, op, "lse", 2, 2);
  for (const View* v : {&lengths, &out, &lse}) check_same_device(q, *v, op, "every tensor");
}

namespace {

constexpr int64_t kBS = 64;  // rows per tile (both query and key blocks)

void check_values(const View& q, const View& lengths, double scale) {
  const int64_t B = q.size(0), T_ = q.size(1);
  const auto len = lengths.s1<const int64_t>();
  for (int64_t b = 0; b < B; ++b)
    MCWES_CHECK(len(b) >= 0 && len(b) <= T_, "mcwes.cscm_attention: expected lengths to lie in [0, ", T_, "], got ", len(b),
                " for video ", b);
  MCWES_CHECK(std::isfinite(scale), "mcwes.cscm_attention: expected scale to be finite, got ", scale);
}

int64_t round_up(int64_t n, int64_t m) {
  return (n + m - 1) / m * m;
}

// Cache-line-aligned storage for the packed operands (every strip and panel row starts on a line).
template <typename T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <typename U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <typename U>
  bool operator==(const Aligned64<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const Aligned64<U>&) const {
    return false;
  }
};
template <typename T>
using AVec = std::vector<T, Aligned64<T>>;

// Row block of the t-th pair row a team deals out: block I costs nb − I tile pairs, so rows go in
// boustrophedon rounds (0, 1 | 3, 2 | 4, 5 | ...) that give each thread about the same number of pairs
// (round-robin in order leaves thread 0 up to one row per round ahead). A fixed map: deterministic.
inline int64_t snake_row(int64_t t, int64_t nb, int size) {
  const int64_t round = t / size, pos = t % size, first = round * size;
  if (round % 2 == 0 || first + size > nb) return t;
  return first + (size - 1 - pos);
}

// Runs video(team, b, ws) for every video b. With at least as many videos as threads, each thread
// takes whole videos with its own workspace (no barriers, which oversubscribed machines punish);
// otherwise all threads cooperate on one video at a time around one shared workspace.
// make_ws(n) builds a workspace for a team of n; prepare(ws, b) is called once per video, before
// the team starts on it.
template <typename MakeWs, typename Prepare, typename Video>
void for_videos(int64_t B, int threads, MakeWs&& make_ws, Prepare&& prepare, Video&& video) {
#if defined(MCWES_OPENMP)
  if (threads > 1 && B >= threads) {
#pragma omp parallel num_threads(threads)
    {
      auto ws = make_ws(1);
#pragma omp for schedule(dynamic, 1)
      for (int64_t b = 0; b < B; ++b) {
        prepare(ws, b);
        video(Team{0, 1}, b, ws);
      }
    }
    return;
  }
#endif
  auto ws = make_ws(threads);
  for (int64_t b = 0; b < B; ++b) {
    prepare(ws, b);
    in_team(threads, true, [&](Team team) { video(team, b, ws); });
  }
}

// One video's rows (q, or dO in the backward) in the operand layouts of cpu_gemm.h, per block J of
// kBS rows. For the score products q_I·q_Jᵀ, either (micro == false) panel J, D×kBS holding the block
// transposed (the k-major A and the strip-major B), or (micro == true, the AVX2 float path) the
// BLIS packing: A micro-panels of kPR rows (kAP = kBS rounded up to kPR rows, the extra rows zero)
// and B strips of 16 rows × D, each tile's operands one contiguous stream. Value strip block J is
// Dp/16 strips of kBS×16 (the B of the products P·q_J), D zero-padded to Dp = round_up(D, 16).
// Packed once per video, read by every tile pair.
constexpr int64_t kAP = (kBS + cpu_gemm::kPR - 1) / cpu_gemm::kPR * cpu_gemm::kPR;

template <typename T>
struct Packed {
  int64_t L = 0, D = 0, Dp = 0, nb = 0;
  bool micro = false;
  AVec<T> panels, strips, apan, bpan;
  void allocate(int64_t T_, int64_t D_, int level) {
    D = D_;
    Dp = round_up(D_, cpu_gemm::kNS);
    micro = cpu_gemm::panels_ok<T>(level);
    const int64_t blocks = round_up(T_, kBS) / kBS;
    if (micro) {
      apan.assign(static_cast<size_t>(blocks * kAP * D), T(0));  // rows past kBS stay zero
      bpan.resize(static_cast<size_t>(blocks * kBS * D));
    } else {
      panels.resize(static_cast<size_t>(blocks * kBS * D));
    }
    strips.resize(static_cast<size_t>(blocks * kBS * Dp));
  }
  const T* panel(int64_t J) const { return panels.data() + J * D * kBS; }
  const T* apanel(int64_t J) const { return apan.data() + J * kAP * D; }
  const T* bpanel(int64_t J) const { return bpan.data() + J * kBS * D; }
  const T* strip(int64_t J) const { return strips.data() + J * kBS * Dp; }
};

template <typename T>
void pack_rows(const Team& team, const Strided3<const T>& src, int64_t b, Packed<T>& p) {
  const int64_t L = p.L, D = p.D, Dp = p.Dp, ns = cpu_gemm::kNS, pr = cpu_gemm::kPR;
  team_for(team, p.nb, [&](int64_t J) {
    const int64_t j0 = J * kBS, bj = std::min(kBS, L - j0);
    T* panel = p.micro ? nullptr : p.panels.data() + J * D * kBS;
    T* apan = p.micro ? p.apan.data() + J * kAP * D : nullptr;
    T* bpan = p.micro ? p.bpan.data() + J * kBS * D : nullptr;
    // One 16-column strip at a time: its kBS×16 values and the panel rows they go to stay in L1
    // while the block's rows are read.
    for (int64_t d0 = 0; d0 < Dp; d0 += ns) {
      T* strip = p.strips.data() + J * kBS * Dp + d0 * kBS;
      const int64_t dn = std::min(ns, D - d0);
      for (int64_t j = 0; j < kBS; ++j) {
        T* a = p.micro ? apan + (j / pr) * pr * D + d0 * pr + j % pr : nullptr;
        T* bs = p.micro ? bpan + (j / ns) * ns * D + d0 * ns + j % ns : nullptr;
        for (int64_t dd = 0; dd < ns; ++dd) {
          const T v = j < bj && dd < dn ? src(b, j0 + j, d0 + dd) : T(0);
          strip[j * ns + dd] = v;
          if (dd >= dn) continue;
          if (p.micro) {
            a[dd * pr] = v;
            bs[dd * ns] = v;
          } else {
            panel[(d0 + dd) * kBS + j] = v;
          }
        }
      }
    }
  });
}

// C[bi×bj] (leading dimension kBS) = rows I of one packed operand · rows J of another, transposed.
template <typename T>
void scores(int level, const Packed<T>& a, int64_t I, int64_t bi, int64_t bj, const Packed<T>& b, int64_t J, T* C) {
  const int64_t D = a.D;
  if (a.micro)
    cpu_gemm::gemm<T>(level, cpu_gemm::kAPanels, bi, bj, D, a.apanel(I), D, b.bpanel(J), cpu_gemm::kNS, cpu_gemm::kNS * D, C, kBS,
                      false);
  else cpu_gemm::gemm<T>(level, cpu_gemm::kAKMajor, bi, bj, D, a.panel(I), kBS, b.panel(J), kBS, cpu_gemm::kNS, C, kBS, false);
}

// C[rows×D] (leading dimension D) += Pt · rows J of p, where Pt(r, k) (rows × keys) sits at
// Pt[r·kBS + k] (a_rows) or Pt[k·kBS + r].
template <typename T>
void apply(int level, bool a_rows, const T* Pt, int64_t rows, int64_t keys, const Packed<T>& p, int64_t J, T* C) {
  cpu_gemm::gemm<T>(level, a_rows ? cpu_gemm::kARowMajor : cpu_gemm::kAKMajor, rows, p.D, keys, Pt, kBS, p.strip(J),
                    cpu_gemm::kNS, kBS * cpu_gemm::kNS, C, p.D, true);
}

// Per-thread streaming-softmax state for all rows of the current video plus tile scratch.
template <typename T>
struct FwdState {
  std::vector<T> num, m, l;
  AVec<T> s, p, pt, alpha, mcol, sum;
  void reset(int64_t L, int64_t D) {
    num.assign(static_cast<size_t>(L * D), T(0));
    m.assign(static_cast<size_t>(L), -std::numeric_limits<T>::infinity());
    l.assign(static_cast<size_t>(L), T(0));
    for (auto* v : {&s, &p, &pt}) v->assign(kBS * kBS, T(0));
    for (auto* v : {&alpha, &mcol, &sum}) v->assign(kBS, T(0));
  }
};

// The online-softmax step of one score tile X (leading dimension kBS, already computed as q_I·q_Jᵀ,
// not yet scaled), in two directions:
//   rows:    rows i < n of X over keys c < keys: m_new = lazy_max(m[i], max_c scale·X[i][c]),
//            P[i][c] = exp(scale·X[i][c] − m_new), l[i] = α·l[i] + Σ_c P[i][c], α = exp(m[i] − m_new);
//   columns: the same for the columns j < n of X over keys i < keys, P[i][j] = exp(scale·X[i][j] − m_new[j]).
// Both write P in X's layout and the rescale factors α to alpha; every loop runs along X's rows, so
// both directions vectorise. Portable version (std::exp); the x86 paths below use a vector exp.
// Lazy rescaling: a row's reference max m moves only when a tile's maximum exceeds it by more than
// kLazy, so P = exp(logit − m) stays below e^kLazy (no overflow; l then sums Σ exp(logit − m) for
// that m, which the saved (m, log l) pair and the thread merge take as they are) and most tiles skip
// the rescale of the row's numerator (alpha = 1): with N(0, 1) features the off-diagonal maxima
// creep up by a few units per tile. The first tile (m = −inf) always sets m.
constexpr double kLazy = 8.0;
template <typename T>
inline T lazy_max(T m_old, T tile_max) {
  return m_old == -std::numeric_limits<T>::infinity() || tile_max > m_old + static_cast<T>(kLazy) ? std::max(m_old, tile_max)
                                                                                                  : m_old;
}

template <typename T>
void softmax_rows_portable(const T* X, int64_t n, int64_t keys, T scale, T* m, T* l, T* alpha, T* P) {
  for (int64_t i = 0; i < n; ++i) {
    const T* x = X + i * kBS;
    T mx = -std::numeric_limits<T>::infinity();
    for (int64_t c = 0; c < keys; ++c) mx = std::max(mx, scale * x[c]);
    const T m_new = lazy_max(m[i], mx);
    const T a = m[i] == -std::numeric_limits<T>::infinity() ? T(0) : std::exp(m[i] - m_new);
    T sum = T(0);
    for (int64_t c = 0; c < keys; ++c) {
      const T e = std::exp(scale * x[c] - m_new);
      P[i * kBS + c] = e;
      sum += e;
    }
    l[i] = a * l[i] + sum;
    m[i] = m_new;
    alpha[i] = a;
  }
}

template <typename T>
void softmax_cols_portable(const T* X, int64_t n, int64_t keys, T scale, T* m, T* l, T* alpha, T* P, T* mcol, T* sum) {
  for (int64_t j = 0; j < n; ++j) mcol[j] = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < keys; ++i)
    for (int64_t j = 0; j < n; ++j) mcol[j] = std::max(mcol[j], scale * X[i * kBS + j]);
  for (int64_t j = 0; j < n; ++j) {
    const T m_new = lazy_max(m[j], mcol[j]);
    alpha[j] = m[j] == -std::numeric_limits<T>::infinity() ? T(0) : std::exp(m[j] - m_new);
    m[j] = mcol[j] = m_new;
    sum[j] = T(0);
  }
  for (int64_t i = 0; i < keys; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const T e = std::exp(scale * X[i * kBS + j] - mcol[j]);
      P[i * kBS + j] = e;
      sum[j] += e;
    }
  for (int64_t j = 0; j < n; ++j) l[j] = alpha[j] * l[j] + sum[j];
}

#if defined(MCWES_GEMM_X86)
// W-lane float vectors (GCC/Clang vector extensions): the same source becomes AVX2 code inside an
// avx2 function (W = 8) and AVX-512 code inside an avx512 one (W = 16).
namespace vec {
template <int W>
struct V;
template <>
struct V<8> {
  typedef float f __attribute__((vector_size(32)));
  typedef int32_t i __attribute__((vector_size(32)));
  typedef uint32_t u __attribute__((vector_size(32)));
};
template <>
struct V<16> {
  typedef float f __attribute__((vector_size(64)));
  typedef int32_t i __attribute__((vector_size(64)));
  typedef uint32_t u __attribute__((vector_size(64)));
};
template <int W>
using vf = typename V<W>::f;
template <int W>
using vi = typename V<W>::i;
template <int W>
using vu = typename V<W>::u;

template <int W>
MCWES_ALWAYS_INLINE vf<W> load(const float* p) {
  vf<W> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <int W>
MCWES_ALWAYS_INLINE void store(float* p, vf<W> v) {
  std::memcpy(p, &v, sizeof v);
}
template <int W>
MCWES_ALWAYS_INLINE vf<W> splat(float x) {
  return vf<W>{} + x;
}
template <int W>
MCWES_ALWAYS_INLINE vf<W> select(vi<W> mask, vf<W> a, vf<W> b) {
  return (vf<W>)(((vi<W>)a & mask) | ((vi<W>)b & ~mask));
}
template <int W>
MCWES_ALWAYS_INLINE vi<W> lanes() {
  vi<W> v;
  for (int i = 0; i < W; ++i) v[i] = i;
  return v;
}

// exp(x), Cephes' single-precision polynomial: 2^n · p(r) with r = x − n·ln 2, |r| <= ln 2 / 2,
// about 1 ulp. x below −87.3 gives 0 (exp(x) < 2^−126; such a probability is 0 next to the row's
// maximum, which is exp(0) = 1), x above 88 is taken as 88 (the callers pass x <= 0), a NaN stays NaN.
template <int W>
MCWES_ALWAYS_INLINE vf<W> exp(vf<W> x) {
  const vf<W> lo = splat<W>(-87.33654f), hi = splat<W>(88.0f);
  const vi<W> tiny = x < lo;
  x = select<W>(tiny, lo, x);
  x = select<W>(x > hi, hi, x);
  const vf<W> fx = x * 1.44269504088896341f + 0.5f;
  vf<W> nf = __builtin_convertvector(__builtin_convertvector(fx, vi<W>), vf<W>);
  nf = select<W>(nf > fx, nf - 1.0f, nf);  // floor
  const vf<W> r = x - nf * 0.693359375f - nf * -2.12194440e-4f;
  const vf<W> z = r * r;
  vf<W> y = splat<W>(1.9875691500e-4f);
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  // n is in [-127, 128]: convert signed, then shift the biased exponent as unsigned bits.
  const vu<W> bits = (vu<W>)(__builtin_convertvector(nf, vi<W>) + 127) << 23;
  return select<W>(tiny, splat<W>(0.0f), y * (vf<W>)bits);
}

template <int W>
MCWES_ALWAYS_INLINE float hmax(vf<W> v) {
  float r = v[0];
  for (int i = 1; i < W; ++i) r = std::max(r, v[i]);
  return r;
}
template <int W>
MCWES_ALWAYS_INLINE float hsum(vf<W> v) {
  float r = 0.0f;
  for (int i = 0; i < W; ++i) r += v[i];
  return r;
}

// softmax_rows_portable with W-wide vectors along the keys (kBS is a multiple of W; the lanes past
// `keys` read X's spare columns and are masked out).
template <int W>
MCWES_ALWAYS_INLINE void softmax_rows(const float* X, int64_t n, int64_t keys, float scale, float* m, float* l, float* alpha,
                                      float* P) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const vi<W> lane = lanes<W>();
  for (int64_t i = 0; i < n; ++i) {
    const float* x = X + i * kBS;
    vf<W> mx = splat<W>(ninf);
    for (int64_t c = 0; c < keys; c += W) {
      const vf<W> v = select<W>(lane < static_cast<int32_t>(keys - c), load<W>(x + c) * scale, splat<W>(ninf));
      mx = select<W>(v > mx, v, mx);
    }
    const float m_new = lazy_max(m[i], hmax<W>(mx));
    const float a = m[i] == ninf ? 0.0f : std::exp(m[i] - m_new);
    vf<W> sum = splat<W>(0.0f);
    for (int64_t c = 0; c < keys; c += W) {
      vf<W> e = exp<W>(load<W>(x + c) * scale - m_new);
      e = select<W>(lane < static_cast<int32_t>(keys - c), e, splat<W>(0.0f));
      store<W>(P + i * kBS + c, e);
      sum += e;
    }
    l[i] = a * l[i] + hsum<W>(sum);
    m[i] = m_new;
    alpha[i] = a;
  }
}

// softmax_cols_portable with W-wide vectors along the rows of X (lanes past n compute on X's spare
// columns; their results are never read).
template <int W>
MCWES_ALWAYS_INLINE void softmax_cols(const float* X, int64_t n, int64_t keys, float scale, float* m, float* l, float* alpha,
                                      float* P, float* mcol, float* sum) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < kBS; j += W) store<W>(mcol + j, splat<W>(ninf));
  for (int64_t i = 0; i < keys; ++i)
    for (int64_t j = 0; j < n; j += W) {
      const vf<W> v = load<W>(X + i * kBS + j) * scale, mc = load<W>(mcol + j);
      store<W>(mcol + j, select<W>(v > mc, v, mc));
    }
  for (int64_t j = 0; j < kBS; ++j) {
    if (j < n) {
      const float m_new = lazy_max(m[j], mcol[j]);
      alpha[j] = m[j] == ninf ? 0.0f : std::exp(m[j] - m_new);
      m[j] = mcol[j] = m_new;
    } else {
      mcol[j] = 0.0f;
    }
    sum[j] = 0.0f;
  }
  for (int64_t i = 0; i < keys; ++i)
    for (int64_t j = 0; j < n; j += W) {
      const vf<W> e = exp<W>(load<W>(X + i * kBS + j) * scale - load<W>(mcol + j));
      store<W>(P + i * kBS + j, e);
      store<W>(sum + j, load<W>(sum + j) + e);
    }
  for (int64_t j = 0; j < n; ++j) l[j] = alpha[j] * l[j] + sum[j];
}

// The backward's entries of one tile, cscm_attention::grad_entry with W-wide vectors along j (lanes
// past bj compute on spare columns; their results are never read). Row data of block I: mi, li, di
// (row max, log sum, Dv); of block J: mj, lj, dj, readable up to kBS.
template <int W>
MCWES_ALWAYS_INLINE void grad_tile(const float* S, const float* A, const float* X, int64_t bi, int64_t bj, float scale,
                                   const float* mi, const float* li, const float* di, const float* mj, const float* lj,
                                   const float* dj, float* E, float* PT, float* P) {
  for (int64_t i = 0; i < bi; ++i) {
    const int64_t o = i * kBS;
    for (int64_t j = 0; j < bj; j += W) {
      const vf<W> logit = load<W>(S + o + j) * scale;
      const vf<W> p_ij = exp<W>((logit - mi[i]) - li[i]);
      const vf<W> p_ji = exp<W>((logit - load<W>(mj + j)) - load<W>(lj + j));
      const vf<W> e = scale * (p_ij * (load<W>(A + o + j) - di[i]) + p_ji * (load<W>(X + o + j) - load<W>(dj + j)));
      store<W>(E + o + j, e);
      store<W>(PT + o + j, p_ji);
      store<W>(P + o + j, p_ij);
    }
  }
}
}  // namespace vec

MCWES_TARGET_AVX2 void grad_tile_avx2(const float* S, const float* A, const float* X, int64_t bi, int64_t bj, float scale,
                                      const float* mi, const float* li, const float* di, const float* mj, const float* lj,
                                      const float* dj, float* E, float* PT, float* P) {
  vec::grad_tile<8>(S, A, X, bi, bj, scale, mi, li, di, mj, lj, dj, E, PT, P);
}
MCWES_TARGET_AVX512 void grad_tile_avx512(const float* S, const float* A, const float* X, int64_t bi, int64_t bj, float scale,
                                          const float* mi, const float* li, const float* di, const float* mj, const float* lj,
                                          const float* dj, float* E, float* PT, float* P) {
  vec::grad_tile<16>(S, A, X, bi, bj, scale, mi, li, di, mj, lj, dj, E, PT, P);
}

MCWES_TARGET_AVX2 void softmax_rows_avx2(const float* X, int64_t n, int64_t keys, float scale, float* m, float* l, float* alpha,
                                         float* P) {
  vec::softmax_rows<8>(X, n, keys, scale, m, l, alpha, P);
}
MCWES_TARGET_AVX2 void softmax_cols_avx2(const float* X, int64_t n, int64_t keys, float scale, float* m, float* l, float* alpha,
                                         float* P, float* mcol, float* sum) {
  vec::softmax_cols<8>(X, n, keys, scale, m, l, alpha, P, mcol, sum);
}
MCWES_TARGET_AVX512 void softmax_rows_avx512(const float* X, int64_t n, int64_t keys, float scale, float* m, float* l,
                                             float* alpha, float* P) {
  vec::softmax_rows<16>(X, n, keys, scale, m, l, alpha, P);
}
MCWES_TARGET_AVX512 void softmax_cols_avx512(const float* X, int64_t n, int64_t keys, float scale, float* m, float* l,
                                             float* alpha, float* P, float* mcol, float* sum) {
  vec::softmax_cols<16>(X, n, keys, scale, m, l, alpha, P, mcol, sum);
}
#endif

template <typename T>
void softmax_rows(int level, const T* X, int64_t n, int64_t keys, T scale, T* m, T* l, T* alpha, T* P) {
#if defined(MCWES_GEMM_X86)
  if constexpr (std::is_same_v<T, float>) {
    if (level >= 2) return softmax_rows_avx512(X, n, keys, scale, m, l, alpha, P);
    if (level == 1) return softmax_rows_avx2(X, n, keys, scale, m, l, alpha, P);
  }
#endif
  softmax_rows_portable(X, n, keys, scale, m, l, alpha, P);
}

template <typename T>
void softmax_cols(int level, const T* X, int64_t n, int64_t keys, T scale, T* m, T* l, T* alpha, T* P, T* mcol, T* sum) {
#if defined(MCWES_GEMM_X86)
  if constexpr (std::is_same_v<T, float>) {
    if (level >= 2) return softmax_cols_avx512(X, n, keys, scale, m, l, alpha, P, mcol, sum);
    if (level == 1) return softmax_cols_avx2(X, n, keys, scale, m, l, alpha, P, mcol, sum);
  }
#endif
  softmax_cols_portable(X, n, keys, scale, m, l, alpha, P, mcol, sum);
}

// The backward's entries of one tile: from S[i][j] = q_i·q_j, A[i][j] = dO_i·q_j, X[i][j] = q_i·dO_j
// and the rows' saved (max, log sum) and Dv, E[i][j] = s (dS_ij + dS_ji), PT[i][j] = P_ji,
// P[i][j] = P_ij (all at [i·kBS + j]).
template <typename T>
void grad_tile(int level, const T* S, const T* A, const T* X, int64_t bi, int64_t bj, T scale, const T* mi, const T* li,
               const T* di, const T* mj, const T* lj, const T* dj, T* E, T* PT, T* P) {
#if defined(MCWES_GEMM_X86)
  if constexpr (std::is_same_v<T, float>) {
    if (level >= 2) return grad_tile_avx512(S, A, X, bi, bj, scale, mi, li, di, mj, lj, dj, E, PT, P);
    if (level == 1) return grad_tile_avx2(S, A, X, bi, bj, scale, mi, li, di, mj, lj, dj, E, PT, P);
  }
#endif
  for (int64_t i = 0; i < bi; ++i)
    for (int64_t j = 0; j < bj; ++j) {
      const int64_t o = i * kBS + j;
      E[o] = cscm_attention::grad_entry(scale * S[o], A[o], X[o], mi[i], li[i], di[i], mj[j], lj[j], dj[j], scale, &P[o], &PT[o]);
    }
}

// num rows r0.. (n of them) *= alpha[r] (skipped where alpha is 1: the row max did not move).
template <typename T>
void rescale(T* num, int64_t n, int64_t D, const T* alpha) {
  for (int64_t r = 0; r < n; ++r)
    if (alpha[r] != T(1))
      for (int64_t d = 0; d < D; ++d) num[r * D + d] *= alpha[r];
}

template <typename T>
void fwd_pair(int level, const Packed<T>& pk, T scale, int64_t I, int64_t J, FwdState<T>& st) {
  const int64_t D = pk.D, i0 = I * kBS, j0 = J * kBS;
  const int64_t bi = std::min(kBS, pk.L - i0), bj = std::min(kBS, pk.L - j0);
  T* S = st.s.data();
  scores(level, pk, I, bi, bj, pk, J, S);
  // Rows of block I over the keys of block J: P[i][j], row-major A of the product.
  softmax_rows(level, S, bi, bj, scale, st.m.data() + i0, st.l.data() + i0, st.alpha.data(), st.p.data());
  rescale(st.num.data() + i0 * D, bi, D, st.alpha.data());
  apply(level, true, st.p.data(), bi, bj, pk, J, st.num.data() + i0 * D);
  if (I == J) return;
  // Rows of block J over the keys of block I, from the same tile: PT[i][j], k-major A.
  softmax_cols(level, S, bj, bi, scale, st.m.data() + j0, st.l.data() + j0, st.alpha.data(), st.pt.data(), st.mcol.data(),
               st.sum.data());
  rescale(st.num.data() + j0 * D, bj, D, st.alpha.data());
  apply(level, false, st.pt.data(), bj, bi, pk, I, st.num.data() + j0 * D);
}

// Merges the threads' states of row i into out[b, i, :] and lse[b, i].
template <typename T>
void fwd_merge_row(const std::vector<FwdState<T>>& states, int team, int64_t b, int64_t i, int64_t D, const Strided3<T>& out,
                   const Strided3<T>& lse) {
  T m = states[0].m[static_cast<size_t>(i)];
  for (int t = 1; t < team; ++t) m = std::max(m, states[static_cast<size_t>(t)].m[static_cast<size_t>(i)]);
  T l = T(0);
  T w[64];
  for (int t = 0; t < team; ++t) {
    const auto& st = states[static_cast<size_t>(t)];
    const T mt = st.m[static_cast<size_t>(i)];
    w[t] = mt == -std::numeric_limits<T>::infinity() ? T(0) : std::exp(mt - m);
    l += w[t] * st.l[static_cast<size_t>(i)];
  }
  for (int64_t d = 0; d < D; ++d) {
    T acc = T(0);
    for (int t = 0; t < team; ++t) acc += w[t] * states[static_cast<size_t>(t)].num[static_cast<size_t>(i * D + d)];
    out(b, i, d) = acc / l;
  }
  lse(b, i, 0) = m;
  lse(b, i, 1) = std::log(l);
}

template <typename T>
void fwd_impl(const View& q, const View& lengths, double scale_d, const View& out, const View& lse, int nt) {
  const int64_t B = q.size(0), T_ = q.size(1), D = q.size(2);
  const auto qs = q.s3<const T>();
  const auto len = lengths.s1<const int64_t>();
  const auto o = out.s3<T>();
  const auto ls = lse.s3<T>();
  const T scale = static_cast<T>(scale_d);
  const int threads = std::max(1, std::min(nt, 64));
  const int level = cpu_isa_level();
  struct Ws {
    Packed<T> pk;
    std::vector<FwdState<T>> states;
  };
  auto make_ws = [&](int n) {
    Ws ws;
    ws.pk.allocate(T_, D, level);
    ws.states.resize(static_cast<size_t>(n));
    return ws;
  };
  auto prepare = [&](Ws& ws, int64_t b) {
    ws.pk.L = len(b);
    ws.pk.nb = (ws.pk.L + kBS - 1) / kBS;
  };
  for_videos(B, threads, make_ws, prepare, [&](Team team, int64_t b, Ws& ws) {
    const int64_t L = ws.pk.L;
    FwdState<T>& st = ws.states[static_cast<size_t>(team.id)];
    if (L > 0) {
      pack_rows(team, qs, b, ws.pk);
      st.reset(L, D);
      team_for(team, ws.pk.nb, [&](int64_t t) {
        const int64_t I = snake_row(t, ws.pk.nb, team.size);
        for (int64_t J = I; J < ws.pk.nb; ++J) fwd_pair(level, ws.pk, scale, I, J, st);
      });
      team_barrier(team);
    }
    team_for(team, T_, [&](int64_t i) {
      if (i < L) {
        fwd_merge_row(ws.states, team.size, b, i, D, o, ls);
      } else {
        for (int64_t d = 0; d < D; ++d) o(b, i, d) = T(0);
        ls(b, i, 0) = T(0);
        ls(b, i, 1) = T(0);
      }
    });
  });
}

// Backward per-thread state: the partial dq of the video's rows plus tile scratch.
template <typename T>
struct BwdState {
  std::vector<T> dq;
  AVec<T> s, dp, x, e, pt, p;
  void reset(int64_t L, int64_t D) {
    dq.assign(static_cast<size_t>(L * D), T(0));
    for (auto* v : {&s, &dp, &x, &e, &pt, &p}) v->assign(kBS * kBS, T(0));
  }
};

// The rows' saved (max, log sum) pairs give P = exp((s − max) − log sum), which keeps the digits
// that a single rounded logsumexp near |s| ~ 1000 would lose.
template <typename T>
struct RowData {
  AVec<T> m, ll, dv;  // per row of the video, zero-padded to whole blocks
};

template <typename T>
void bwd_pair(int level, const Packed<T>& pq, const Packed<T>& pdo, const RowData<T>& rows, T scale, int64_t I, int64_t J,
              BwdState<T>& st) {
  const int64_t D = pq.D, i0 = I * kBS, j0 = J * kBS;
  const int64_t bi = std::min(kBS, pq.L - i0), bj = std::min(kBS, pq.L - j0);
  T *S = st.s.data(), *dP = st.dp.data(), *X = st.x.data();
  scores(level, pq, I, bi, bj, pq, J, S);    // q_i·q_j
  scores(level, pdo, I, bi, bj, pq, J, dP);  // dO_i·q_j
  if (I != J) {
    scores(level, pq, I, bi, bj, pdo, J, X);  // q_i·dO_j
  } else {
    // On a diagonal tile q_i·dO_j = dO_j·q_i is dP transposed (the same sum in the same order): one
    // product of five saved.
    for (int64_t i = 0; i < bi; ++i)
      for (int64_t j = 0; j < bj; ++j) X[i * kBS + j] = dP[j * kBS + i];
  }
  // Every entry (i, j) sits at [i·kBS + j]: row-major A for the rows i of block I (keys j), k-major A
  // for the rows j of block J (keys i).
  T *E = st.e.data(), *PT = st.pt.data(), *P = st.p.data();
  grad_tile(level, S, dP, X, bi, bj, scale, rows.m.data() + i0, rows.ll.data() + i0, rows.dv.data() + i0, rows.m.data() + j0,
            rows.ll.data() + j0, rows.dv.data() + j0, E, PT, P);
  T* dqi = st.dq.data() + i0 * D;
  apply(level, true, E, bi, bj, pq, J, dqi);
  apply(level, true, PT, bi, bj, pdo, J, dqi);
  if (I == J) return;
  T* dqj = st.dq.data() + j0 * D;
  apply(level, false, E, bj, bi, pq, I, dqj);
  apply(level, false, P, bj, bi, pdo, I, dqj);
}

template <typename T>
void bwd_impl(const View& grad_out, const View& q, const View& out, const View& lse_v, const View& lengths, double scale_d,
              const View& grad_q, int nt) {
  const int64_t B = q.size(0), T_ = q.size(1), D = q.size(2);
  const auto qs = q.s3<const T>();
  const auto gs = grad_out.s3<const T>();
  const auto os = out.s3<const T>();
  const auto ls = lse_v.s3<const T>();
  const auto len = lengths.s1<const int64_t>();
  const auto gq = grad_q.s3<T>();
  const T scale = static_cast<T>(scale_d);
  const int threads = std::max(1, std::min(nt, 64));
  const int level = cpu_isa_level();
  struct Ws {
    Packed<T> pq, pdo;
    RowData<T> rows;
    std::vector<BwdState<T>> states;
  };
  auto make_ws = [&](int n) {
    Ws ws;
    ws.pq.allocate(T_, D, level);
    ws.pdo.allocate(T_, D, level);
    for (auto* v : {&ws.rows.m, &ws.rows.ll, &ws.rows.dv}) v->assign(static_cast<size_t>(round_up(T_, kBS)), T(0));
    ws.states.resize(static_cast<size_t>(n));
    return ws;
  };
  auto prepare = [&](Ws& ws, int64_t b) {
    for (auto* p : {&ws.pq, &ws.pdo}) {
      p->L = len(b);
      p->nb = (p->L + kBS - 1) / kBS;
    }
  };
  for_videos(B, threads, make_ws, prepare, [&](Team team, int64_t b, Ws& ws) {
    const int64_t L = ws.pq.L;
    BwdState<T>& st = ws.states[static_cast<size_t>(team.id)];
    if (L > 0) {
      pack_rows(team, qs, b, ws.pq);
      pack_rows(team, gs, b, ws.pdo);
      team_for(team, L, [&](int64_t i) {
        // rowsum(dO ⊙ O) in double: it is subtracted from dO_i·q_j, nearly equal on a one-hot row.
        double acc = 0.0;
        for (int64_t d = 0; d < D; ++d) acc += static_cast<double>(gs(b, i, d)) * static_cast<double>(os(b, i, d));
        ws.rows.dv[static_cast<size_t>(i)] = static_cast<T>(acc);
        ws.rows.m[static_cast<size_t>(i)] = ls(b, i, 0);
        ws.rows.ll[static_cast<size_t>(i)] = ls(b, i, 1);
      });
      st.reset(L, D);
      team_for(team, ws.pq.nb, [&](int64_t t) {
        const int64_t I = snake_row(t, ws.pq.nb, team.size);
        for (int64_t J = I; J < ws.pq.nb; ++J) bwd_pair(level, ws.pq, ws.pdo, ws.rows, scale, I, J, st);
      });
      team_barrier(team);
    }
    team_for(team, T_, [&](int64_t i) {
      for (int64_t d = 0; d < D; ++d) {
        T acc = T(0);
        if (i < L)
          for (int t = 0; t < team.size; ++t) acc += ws.states[static_cast<size_t>(t)].dq[static_cast<size_t>(i * D + d)];
        gq(b, i, d) = acc;
      }
    });
  });
}

}  // namespace

void cscm_attention_fwd_cpu(const View& q, const View& lengths, double scale, const View& out, const View& lse, int num_threads) {
  cscm_attention_check(q, lengths, out, lse);
  MCWES_CHECK(q.device == -1, "mcwes.cscm_attention: expected CPU tensors for the CPU kernel, got device ", q.device);
  check_values(q, lengths, scale);
  if (out.numel() == 0 && lse.numel() == 0) return;
  dispatch_float(q.dtype, "cscm_attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    fwd_impl<T>(q, lengths, scale, out, lse, num_threads);
  });
}

void cscm_attention_bwd_check(const View& grad_out, const View& q, const View& out, const View& lse, const View& lengths,
                              const View& grad_q) {
  cscm_attention_check(q, lengths, out, lse);
  const char* op = "cscm_attention";
  check_view(grad_out, op, "grad_out", 3, q.dtype);
  check_view(grad_q, op, "grad_q", 3, q.dtype);
  for (int d = 0; d < 3; ++d) {
    check_size(grad_out, op, "grad_out", d, q.size(d));
    check_size(grad_q, op, "grad_q", d, q.size(d));
  }
}

void cscm_attention_bwd_cpu(const View& grad_out, const View& q, const View& out, const View& lse, const View& lengths,
                            double scale, const View& grad_q, int num_threads) {
  cscm_attention_bwd_check(grad_out, q, out, lse, lengths, grad_q);
  MCWES_CHECK(q.device == -1, "mcwes.cscm_attention: expected CPU tensors for the CPU kernel, got device ", q.device);
  check_values(q, lengths, scale);
  if (grad_q.numel() == 0) return;
  dispatch_float(q.dtype, "cscm_attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    bwd_impl<T>(grad_out, q, out, lse, lengths, scale, grad_q, num_threads);
  });
}

}  // namespace mcwes
