// CPU driver of tvl1_flow. See mcwes/kernels/tvl1_flow.h for the semantics.
//
// Layout of the work: one scratch block per pair in flight, sized for level 0 and allocated once per
// call; every pyramid level, warp and iteration reuses it. Many pairs (N >= threads): OpenMP over
// pairs, one thread per pair. Fewer pairs than threads, when the caller asks (row_split; the Python
// layer does not by default): the threads of a team split each pair's rows into bands and meet at one
// barrier per iteration.
//
// One inner iteration is one sweep over the rows (per band): row y's new u (thresholding step plus
// theta·div p), then row y−1's new p (needs the new u of rows y−1 and y). u and p are double-buffered
// (old → new, then swapped), so a band never reads what another band writes in the same iteration;
// the new u of the row just below a band is recomputed privately (a halo row) instead of waited for.
// The row loops are branch-free over x and compiled for AVX-512, AVX2 + FMA and the baseline; the copy
// is picked per call from cpu_isa_level() (see below), so MCWES_CPU_ISA=avx2 measures an AVX2-only
// machine. The warp samples an interleaved (I1, I1x, I1y) level, one 4-float load per tap.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <limits>
#include <vector>

#include "mcwes/kernels/tvl1_flow.h"
#include "mcwes/ops.h"
#include "parallel.h"

#if defined(MCWES_OPENMP)
#include <omp.h>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "cpu_isa.h"

// The hot row loops are written once (always-inline bodies) and compiled three times: for the baseline
// target and, on x86-64 with GCC or Clang, inside functions targeted at AVX2 + FMA and AVX-512, so the
// compiler vectorises each copy for its registers. Which copy runs is chosen once per call from
// cpu_isa_level() (the CPU, capped by MCWES_CPU_ISA / mcwes.set_cpu_isa), so every path can be run and
// measured on one machine. The copies differ in rounding only: the AVX2 and AVX-512 ones contract
// multiply-adds into FMAs (GCC's default for C++) and sum each row's stopping-test terms in wider
// vectors. Within one copy, results are bit-identical whatever the thread count or batching.
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define MCWES_TVL1_X86 1
#define MCWES_TVL1_AVX2 __attribute__((target("avx2,fma")))
#define MCWES_TVL1_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma")))
#endif
#if defined(__GNUC__) || defined(__clang__)
#define MCWES_TVL1_INLINE __attribute__((always_inline)) inline
#else
#define MCWES_TVL1_INLINE inline
#endif

namespace mcwes {
namespace {

constexpr char kOp[] = "tvl1_flow";

struct Params {
  float tau, lambda, theta, epsilon, gamma;
  int nscales, warps, inner, outer, median;
  double scale_step;
};

struct Level {
  int h, w;
  int64_t off;  // offset of the level in the pyramid arrays
};

// The pyramid levels of an h×w pair (level 0 first).
std::vector<Level> pyramid_levels(int h, int w, const Params& prm) {
  std::vector<Level> lv{{h, w, 0}};
  for (int s = 1; s < prm.nscales; ++s) {
    const int nh = tvl1::next_level_size(lv.back().h, prm.scale_step);
    const int nw = tvl1::next_level_size(lv.back().w, prm.scale_step);
    if (nh < tvl1::kMinLevelSize || nw < tvl1::kMinLevelSize) break;
    lv.push_back({nh, nw, lv.back().off + static_cast<int64_t>(lv.back().h) * lv.back().w});
  }
  return lv;
}

// A team of threads sharing one pair: thread `id` of `size` owns rows [lo, hi) of each level.
constexpr int kMedBlock = 16;  // pixels per vector of the median network

// Floats of median scratch per thread: up to kMaxMedian padded rows (see median_row).
inline int64_t median_scratch(int w) {
  return static_cast<int64_t>(tvl1::kMaxMedian) * (w + 2 * (tvl1::kMaxMedian / 2) + kMedBlock);
}

// Everything one pair needs, carved out of one allocation.
struct Scratch {
  std::vector<float> mem;
  std::vector<double> row_err[2];
  float *I0 = nullptr, *I1 = nullptr;  // pyramids
  float* Q = nullptr;                  // current level, interleaved: (I1, I1x, I1y, 0) per pixel
  float *wx = nullptr, *wy = nullptr;  // warped gradient
  float* rhoc = nullptr;               // rho_c: the constant part of the linearised data term
  float* u[2][3] = {};                 // flow (u1, u2, u3), double-buffered in a team
  float* median_tmp = nullptr;         // one thread: the median's output (2 arrays)
  float* p[2][6] = {};                 // dual variables p11, p12, p21, p22, p31, p32
  float* zero_row = nullptr;           // w zeros: p "above" the first row
  float* halo = nullptr;               // per team member: 3 rows of the next band's new u
  float* med = nullptr;                // per team member: median filter rows

  void allocate(int h, int w, int64_t pyramid_area, int comps, int team, bool median) {
    const int64_t a = static_cast<int64_t>(h) * w;
    const int64_t bufs = team > 1 ? 2 : 1;  // a team double-buffers u and p; one thread updates in place
    const int64_t total = 2 * pyramid_area + 7 * a + bufs * 3 * comps * a + w +
                          static_cast<int64_t>(team) * (3 * w + (median ? median_scratch(w) : 0)) +
                          (team > 1 || !median ? 0 : 2 * a);
    mem.assign(static_cast<size_t>(total), 0.0f);
    float* q = mem.data();
    auto take = [&](int64_t n) {
      float* r = q;
      q += n;
      return r;
    };
    I0 = take(pyramid_area);
    I1 = take(pyramid_area);
    Q = take(4 * a);
    wx = take(a);
    wy = take(a);
    rhoc = take(a);
    for (int b = 0; b < bufs; ++b)
      for (int c = 0; c < comps; ++c) u[b][c] = take(a);
    for (int b = 0; b < bufs; ++b)
      for (int c = 0; c < 2 * comps; ++c) p[b][c] = take(a);
    if (bufs == 1) {  // "both" buffers are the same arrays: the sweep order makes in-place updates exact
      for (int c = 0; c < 3; ++c) u[1][c] = u[0][c];
      for (int c = 0; c < 6; ++c) p[1][c] = p[0][c];
    }
    median_tmp = team > 1 || !median ? nullptr : take(2 * a);
    zero_row = take(w);
    halo = take(static_cast<int64_t>(team) * 3 * w);
    med = take(static_cast<int64_t>(team) * (median ? median_scratch(w) : 0));
    row_err[0].assign(static_cast<size_t>(h), 0.0);
    row_err[1].assign(static_cast<size_t>(h), 0.0);
  }
};

// ---- the median filter: a sorting network in registers, vectorised across x ----------------------
//
// Batcher's odd–even merge sort network on the k·k window values (padded to a power of two with +inf),
// built at compile time; comparators against a known +inf are dropped (or become a relabelling), and
// only those the middle output depends on are kept: 24 for 3×3, 113 for 5×5, 319 for 7×7. Each runs
// as one min and one max on vectors of kMedBlock pixels held in registers.

template <int K>
struct MedNet {
  static constexpr int n = K * K;
  static constexpr int N = n <= 16 ? 16 : (n <= 32 ? 32 : 64);
  static constexpr int kMaxCmp = 700;  // Batcher on 64 wires has 543 comparators
  int count = 0;
  int a[kMaxCmp] = {};
  int b[kMaxCmp] = {};
  int out = 0;
};

template <int K>
constexpr MedNet<K> make_median_net() {
  using Net = MedNet<K>;
  constexpr int n = Net::n, N = Net::N;
  int ca[Net::kMaxCmp] = {}, cb[Net::kMaxCmp] = {};
  int m = 0;
  for (int p = 1; p < N; p <<= 1)
    for (int q = p; q >= 1; q >>= 1)
      for (int j = q % p; j + q < N; j += 2 * q)
        for (int i = 0; i < (q < N - j - q ? q : N - j - q); ++i)
          if ((i + j) / (2 * p) == (i + j + q) / (2 * p)) {
            ca[m] = i + j;
            cb[m] = i + j + q;
            ++m;
          }
  // Forward: wires map to value slots; a comparator with a known +inf on its max side does nothing,
  // one with +inf on its min side swaps the wires' slots.
  int slot[64] = {};
  bool inf[64] = {};
  for (int w = 0; w < N; ++w) {
    slot[w] = w;
    inf[w] = w >= n;
  }
  int pa[Net::kMaxCmp] = {}, pb[Net::kMaxCmp] = {};
  int np = 0;
  for (int c = 0; c < m; ++c) {
    const int x = ca[c], y = cb[c];
    if (inf[y]) continue;
    if (inf[x]) {
      const int t = slot[x];
      slot[x] = slot[y];
      slot[y] = t;
      inf[x] = false;
      inf[y] = true;
      continue;
    }
    pa[np] = slot[x];
    pb[np] = slot[y];
    ++np;
  }
  // Backward: keep what the middle output depends on.
  Net net;
  net.out = slot[n / 2];
  bool need[64] = {};
  need[net.out] = true;
  bool keep[Net::kMaxCmp] = {};
  for (int c = np - 1; c >= 0; --c)
    if (need[pa[c]] || need[pb[c]]) {
      need[pa[c]] = need[pb[c]] = true;
      keep[c] = true;
    }
  for (int c = 0; c < np; ++c)
    if (keep[c]) {
      net.a[net.count] = pa[c];
      net.b[net.count] = pb[c];
      ++net.count;
    }
  return net;
}

template <int K>
struct MedNetHolder {
  static constexpr MedNet<K> net = make_median_net<K>();
};

#if defined(__GNUC__)
// B pixels per vector: one register of the instruction set the copy is compiled for (4 SSE, 8 AVX2,
// 16 AVX-512); wider vectors than the registers make the compiler spill the whole network.
template <int B>
struct MedVec {
  typedef float type __attribute__((vector_size(B * sizeof(float))));
};

template <class V>
MCWES_TVL1_INLINE void compare_exchange(V& lo, V& hi) {
  const V a = lo, b = hi;
  lo = a < b ? a : b;
  hi = a < b ? b : a;
}

template <int K, class V, size_t... I>
MCWES_TVL1_INLINE void run_network(V* v, std::index_sequence<I...>) {
  (compare_exchange(v[MedNetHolder<K>::net.a[I]], v[MedNetHolder<K>::net.b[I]]), ...);
}

// Row y's median, B pixels at a time: rows[dy] are the k padded source rows.
template <int K, int B>
MCWES_TVL1_INLINE void median_row_k(const float* const* rows, int w, float* dst) {
  static_assert(B <= kMedBlock, "the padded rows hold kMedBlock floats past the row");
  using V = typename MedVec<B>::type;
  constexpr const MedNet<K>& net = MedNetHolder<K>::net;
  for (int x0 = 0; x0 < w; x0 += B) {
    V v[MedNet<K>::N];
    for (int dy = 0; dy < K; ++dy)
      for (int dx = 0; dx < K; ++dx) std::memcpy(&v[dy * K + dx], rows[dy] + x0 + dx, sizeof(V));
    run_network<K>(v, std::make_index_sequence<static_cast<size_t>(net.count)>{});
    float o[B];
    std::memcpy(o, &v[net.out], sizeof(V));
    const int nx = std::min(B, w - x0);
    for (int i = 0; i < nx; ++i) dst[x0 + i] = o[i];
  }
}
#else  // compilers without vector extensions: selection per pixel
template <int K, int B>
MCWES_TVL1_INLINE void median_row_k(const float* const* rows, int w, float* dst) {
  float v[K * K];
  for (int x = 0; x < w; ++x) {
    for (int dy = 0; dy < K; ++dy)
      for (int dx = 0; dx < K; ++dx) v[dy * K + dx] = rows[dy][x + dx];
    std::nth_element(v, v + K * K / 2, v + K * K);
    dst[x] = v[K * K / 2];
  }
}
#endif

template <int B>
MCWES_TVL1_INLINE void median_rows_body(const float* const* rows, int w, int k, float* dst) {
  if (k == 3) median_row_k<3, B>(rows, w, dst);
  else if (k == 5) median_row_k<5, B>(rows, w, dst);
  else median_row_k<7, B>(rows, w, dst);
}

// Row y of the k×k median of src (h×w, edges repeated) into dst. `pad` holds k padded rows of
// w + 2r + kMedBlock floats (the tail keeps the last block's loads inside the buffer).
template <class Kern>
void median_row(const Kern& kern, const float* src, int h, int w, int y, int k, float* pad, float* dst) {
  const int r = k / 2;
  const int64_t pw = w + 2 * r + kMedBlock;
  const float* rows[tvl1::kMaxMedian];
  for (int dy = 0; dy < k; ++dy) {
    const int yy = std::min(std::max(y + dy - r, 0), h - 1);
    const float* s = src + static_cast<int64_t>(yy) * w;
    float* d = pad + dy * pw;
    for (int i = 0; i < r; ++i) d[i] = s[0];
    std::copy(s, s + w, d + r);
    for (int64_t i = w + r; i < pw; ++i) d[i] = s[w - 1];
    rows[dy] = d;
  }
  kern.median(rows, w, k, dst);
}

// ---- the fused inner iteration ------------------------------------------------------------------

struct RowIn {  // what the new u of one row reads
  const float *u1, *u2, *u3;
  const float *p11, *p12, *p21, *p22, *p31, *p32;  // row y
  const float *p12a, *p22a, *p32a;                 // row y − 1 (zeros above the first row)
  const float *wx, *wy, *rhoc;
};

// New u of one row (v = u + TH(u), then + theta·div p); returns Σ|Δu|² of the row.
// n1..n3 may be the rows of in.u1..in.u3 themselves (in-place update): element x is read before it
// is written, and no other element of u is read.
MCWES_TVL1_INLINE float u_row_body(const RowIn in, int w, bool use_gamma, float l_t, float theta, float gamma, float* n1,
                                   float* n2, float* n3) {
  float err = 0.0f;
  {  // x = 0: p11, p21 are 0 left of the image
    const float rho = in.rhoc[0] + in.wx[0] * in.u1[0] + in.wy[0] * in.u2[0] + (use_gamma ? gamma * in.u3[0] : 0.0f);
    const float c = tvl1::th_coeff(rho, in.wx[0] * in.wx[0] + in.wy[0] * in.wy[0], l_t);
    const float d1 = in.p11[0] + in.p12[0] - in.p12a[0];
    const float d2 = in.p21[0] + in.p22[0] - in.p22a[0];
    // read every old value before writing: n may alias the old rows
    const float o1 = in.u1[0], o2 = in.u2[0];
    const float a1 = o1 + c * in.wx[0] + theta * d1;
    const float a2 = o2 + c * in.wy[0] + theta * d2;
    err += (a1 - o1) * (a1 - o1) + (a2 - o2) * (a2 - o2);
    if (use_gamma) {
      const float d3 = in.p31[0] + in.p32[0] - in.p32a[0];
      const float o3 = in.u3[0];
      const float a3 = o3 + c * gamma + theta * d3;
      err += (a3 - o3) * (a3 - o3);
      n3[0] = a3;
    }
    n1[0] = a1;
    n2[0] = a2;
  }
  if (!use_gamma) {
#if defined(MCWES_OPENMP)
#pragma omp simd reduction(+ : err)
#endif
    for (int x = 1; x < w; ++x) {
      const float rho = in.rhoc[x] + in.wx[x] * in.u1[x] + in.wy[x] * in.u2[x];
      const float c = tvl1::th_coeff(rho, in.wx[x] * in.wx[x] + in.wy[x] * in.wy[x], l_t);
      const float d1 = in.p11[x] - in.p11[x - 1] + in.p12[x] - in.p12a[x];
      const float d2 = in.p21[x] - in.p21[x - 1] + in.p22[x] - in.p22a[x];
      const float a1 = in.u1[x] + c * in.wx[x] + theta * d1;
      const float a2 = in.u2[x] + c * in.wy[x] + theta * d2;
      const float e1 = a1 - in.u1[x], e2 = a2 - in.u2[x];
      n1[x] = a1;
      n2[x] = a2;
      err += e1 * e1 + e2 * e2;
    }
  } else {
#if defined(MCWES_OPENMP)
#pragma omp simd reduction(+ : err)
#endif
    for (int x = 1; x < w; ++x) {
      const float rho = in.rhoc[x] + in.wx[x] * in.u1[x] + in.wy[x] * in.u2[x] + gamma * in.u3[x];
      const float c = tvl1::th_coeff(rho, in.wx[x] * in.wx[x] + in.wy[x] * in.wy[x], l_t);
      const float d1 = in.p11[x] - in.p11[x - 1] + in.p12[x] - in.p12a[x];
      const float d2 = in.p21[x] - in.p21[x - 1] + in.p22[x] - in.p22a[x];
      const float d3 = in.p31[x] - in.p31[x - 1] + in.p32[x] - in.p32a[x];
      const float a1 = in.u1[x] + c * in.wx[x] + theta * d1;
      const float a2 = in.u2[x] + c * in.wy[x] + theta * d2;
      const float a3 = in.u3[x] + c * gamma + theta * d3;
      const float e1 = a1 - in.u1[x], e2 = a2 - in.u2[x], e3 = a3 - in.u3[x];
      n1[x] = a1;
      n2[x] = a2;
      n3[x] = a3;
      err += e1 * e1 + e2 * e2 + e3 * e3;
    }
  }
  return err;
}

// New p (pa = x component, pb = y component) of one row from the new u of this row (u) and the next
// (un; the row itself on the last row, which makes the y difference 0). na, nb may be pa, pb (in place).
MCWES_TVL1_INLINE void p_row_body(const float* u, const float* un, const float* pa, const float* pb, int w, float taut, float* na,
                                  float* nb) {
#if defined(MCWES_OPENMP)
#pragma omp simd
#endif
  for (int x = 0; x < w - 1; ++x) {
    const float ux = u[x + 1] - u[x];
    const float uy = un[x] - u[x];
    const float ng = 1.0f + taut * std::sqrt(ux * ux + uy * uy);
    na[x] = (pa[x] + taut * ux) / ng;
    nb[x] = (pb[x] + taut * uy) / ng;
  }
  const int x = w - 1;  // last column: the x difference is 0
  const float uy = un[x] - u[x];
  const float ng = 1.0f + taut * std::fabs(uy);
  na[x] = pa[x] / ng;
  nb[x] = (pb[x] + taut * uy) / ng;
}

// ---- the warp -----------------------------------------------------------------------------------

#if defined(__GNUC__)
typedef float Quad __attribute__((vector_size(4 * sizeof(float))));
#else
struct Quad {
  float v[4];
  float operator[](int i) const { return v[i]; }
  Quad& operator+=(const Quad& o) {
    for (int i = 0; i < 4; ++i) v[i] += o.v[i];
    return *this;
  }
  friend Quad operator+(Quad a, const Quad& b) { return a += b; }
  friend Quad operator*(float s, const Quad& a) {
    Quad r;
    for (int i = 0; i < 4; ++i) r.v[i] = s * a.v[i];
    return r;
  }
};
#endif

MCWES_TVL1_INLINE Quad load_quad(const float* p) {
  Quad q;
  std::memcpy(&q, p, sizeof q);
  return q;
}

// Row y of one warp: I1 and its gradient sampled at (x + u1, y + u2) and the linearised data term.
// Q holds the level interleaved, (I1, I1x, I1y, 0) per pixel, so each tap of the 4×4 window is one
// 4-float load serving all three images. The arithmetic, and its order, is tvl1::sample_cubic3's.
MCWES_TVL1_INLINE void warp_row_body(const float* Q, int h, int w, int y, const float* u1, const float* u2, const float* i0,
                                     float* wx, float* wy, float* rhoc) {
  for (int x = 0; x < w; ++x) {
    const float mx = static_cast<float>(x) + u1[x], my = static_cast<float>(y) + u2[x];
    Quad sum = {0.0f, 0.0f, 0.0f, 0.0f};
    const float fx = floorf(mx), fy = floorf(my);
    // Positions far outside (a diverged flow) must not overflow the int conversion.
    if (fx > -4.0f && fx < static_cast<float>(w) + 2.0f && fy > -4.0f && fy < static_cast<float>(h) + 2.0f) {
      const int ix = static_cast<int>(fx) - 1, iy = static_cast<int>(fy) - 1;
      float cx[4], cy[4];
      tvl1::cubic_weights(mx - fx, cx);
      tvl1::cubic_weights(my - fy, cy);
      if (ix >= 0 && ix + 3 < w && iy >= 0 && iy + 3 < h) {
        for (int j = 0; j < 4; ++j) {
          const float* r = Q + 4 * (static_cast<int64_t>(iy + j) * w + ix);
          sum += cy[j] * (cx[0] * load_quad(r) + cx[1] * load_quad(r + 4) + cx[2] * load_quad(r + 8) + cx[3] * load_quad(r + 12));
        }
      } else {  // taps outside the image count as 0
        for (int j = 0; j < 4; ++j) {
          const int yy = iy + j;
          if (yy < 0 || yy >= h) continue;
          Quad row = {0.0f, 0.0f, 0.0f, 0.0f};
          for (int i = 0; i < 4; ++i) {
            const int xx = ix + i;
            if (xx >= 0 && xx < w) row += cx[i] * load_quad(Q + 4 * (static_cast<int64_t>(yy) * w + xx));
          }
          sum += cy[j] * row;
        }
      }
    }
    wx[x] = sum[1];
    wy[x] = sum[2];
    rhoc[x] = sum[0] - sum[1] * u1[x] - sum[2] * u2[x] - i0[x];
  }
}

// ---- one copy of the row loops per instruction set -----------------------------------------------

struct Kernels {
  float (*u_row)(const RowIn, int, bool, float, float, float, float*, float*, float*);
  void (*p_row)(const float*, const float*, const float*, const float*, int, float, float*, float*);
  void (*median)(const float* const*, int, int, float*);
  void (*warp_row)(const float*, int, int, int, const float*, const float*, const float*, float*, float*, float*);
};

#define MCWES_TVL1_KERNELS(NAME, ATTR, B)                                                                                      \
  ATTR float u_row_##NAME(const RowIn in, int w, bool use_gamma, float l_t, float theta, float gamma, float* n1, float* n2,    \
                          float* n3) {                                                                                         \
    return u_row_body(in, w, use_gamma, l_t, theta, gamma, n1, n2, n3);                                                        \
  }                                                                                                                            \
  ATTR void p_row_##NAME(const float* u, const float* un, const float* pa, const float* pb, int w, float taut, float* na,      \
                         float* nb) {                                                                                          \
    p_row_body(u, un, pa, pb, w, taut, na, nb);                                                                                \
  }                                                                                                                            \
  ATTR void median_##NAME(const float* const* rows, int w, int k, float* dst) {                                                \
    median_rows_body<B>(rows, w, k, dst);                                                                                      \
  }                                                                                                                            \
  ATTR void warp_row_##NAME(const float* Q, int h, int w, int y, const float* u1, const float* u2, const float* i0, float* wx, \
                            float* wy, float* rhoc) {                                                                          \
    warp_row_body(Q, h, w, y, u1, u2, i0, wx, wy, rhoc);                                                                       \
  }

MCWES_TVL1_KERNELS(base, , 4)
#if defined(MCWES_TVL1_X86)
MCWES_TVL1_KERNELS(avx2, MCWES_TVL1_AVX2, 8)
MCWES_TVL1_KERNELS(avx512, MCWES_TVL1_AVX512, 16)
#endif
#undef MCWES_TVL1_KERNELS

Kernels select_kernels(int isa_level) {
#if defined(MCWES_TVL1_X86)
  if (isa_level >= 2) return {u_row_avx512, p_row_avx512, median_avx512, warp_row_avx512};
  if (isa_level == 1) return {u_row_avx2, p_row_avx2, median_avx2, warp_row_avx2};
#endif
  (void)isa_level;
  return {u_row_base, p_row_base, median_base, warp_row_base};
}

// Denormals as zero while a thread computes (restored after): converged regions drive the updates
// and dual variables towards 0, and denormal arithmetic is ~100× slower on x86. Values below 1e-38
// change nothing a flow in pixels can show.
class FlushDenormals {
 public:
  FlushDenormals() {
#if defined(__SSE__) || defined(__x86_64__)
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | 0x8040u);  // FTZ | DAZ
#endif
  }
  ~FlushDenormals() {
#if defined(__SSE__) || defined(__x86_64__)
    _mm_setcsr(saved_);
#endif
  }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  unsigned saved_ = 0;
};

// ---- one pair ---------------------------------------------------------------------------------------

void solve_pair(const Params& prm, const Kernels& kern, Scratch& S, const View& prev, const View& next, const View& out,
                int64_t n, const Team& team) {
  FlushDenormals ftz;
  const int H = static_cast<int>(prev.size(1)), W = static_cast<int>(prev.size(2));
  const std::vector<Level> lv = pyramid_levels(H, W, prm);
  const int L = static_cast<int>(lv.size());
  const bool use_gamma = prm.gamma != 0.0f;
  const int comps = use_gamma ? 3 : 2;
  const float l_t = prm.lambda * prm.theta, taut = prm.tau / prm.theta;
  const int k_med = prm.median > 1 ? prm.median : 0;
  int lo, hi;

  // Level 0 from the inputs, then the coarser levels.
  {
    const auto a = prev.s3<const float>(), b = next.s3<const float>();
    team.band(H, &lo, &hi);
    for (int y = lo; y < hi; ++y)
      for (int x = 0; x < W; ++x) {
        S.I0[static_cast<int64_t>(y) * W + x] = a(n, y, x);
        S.I1[static_cast<int64_t>(y) * W + x] = b(n, y, x);
      }
    team.sync();
  }
  for (int s = 1; s < L; ++s) {
    const Level& src = lv[static_cast<size_t>(s - 1)];
    const Level& dst = lv[static_cast<size_t>(s)];
    const double scale = 1.0 / prm.scale_step;
    team.band(dst.h, &lo, &hi);
    for (int y = lo; y < hi; ++y) {
      int y0, y1;
      const float fy = tvl1::resize_tap(y, scale, src.h, &y0, &y1);
      for (float* img : {S.I0, S.I1}) {
        const float* r0 = img + src.off + static_cast<int64_t>(y0) * src.w;
        const float* r1 = img + src.off + static_cast<int64_t>(y1) * src.w;
        float* d = img + dst.off + static_cast<int64_t>(y) * dst.w;
        for (int x = 0; x < dst.w; ++x) {
          int x0, x1;
          const float fx = tvl1::resize_tap(x, scale, src.w, &x0, &x1);
          const float top = r0[x0] * (1.0f - fx) + r0[x1] * fx;
          const float bot = r1[x0] * (1.0f - fx) + r1[x1] * fx;
          d[x] = top * (1.0f - fy) + bot * fy;
        }
      }
    }
    team.sync();
  }

  int cur = 0, pcur = 0, parity = 0;
  {
    const Level& c = lv[static_cast<size_t>(L - 1)];
    team.band(c.h, &lo, &hi);
    for (int comp = 0; comp < comps; ++comp)
      std::fill(S.u[cur][comp] + static_cast<int64_t>(lo) * c.w, S.u[cur][comp] + static_cast<int64_t>(hi) * c.w, 0.0f);
  }
  float* halo = S.halo + static_cast<int64_t>(team.id) * 3 * W;
  float* med_pad = S.med + (k_med ? static_cast<int64_t>(team.id) * median_scratch(W) : 0);

  for (int s = L - 1; s >= 0; --s) {
    const Level& lvl = lv[static_cast<size_t>(s)];
    const int h = lvl.h, w = lvl.w;
    const int64_t area = static_cast<int64_t>(h) * w;
    const float* I0 = S.I0 + lvl.off;
    const float* I1 = S.I1 + lvl.off;
    team.band(h, &lo, &hi);
    if (s < L - 1) {  // the coarser level's flow, resized and scaled
      team.sync();
      const Level& c = lv[static_cast<size_t>(s + 1)];
      const double sy = 1.0 / (static_cast<double>(h) / c.h), sx = 1.0 / (static_cast<double>(w) / c.w);
      // A team writes the other buffer; one thread (u updated in place) writes the data-term arrays,
      // free until the first warp of this level, and copies back.
      const bool team_mode = team.size > 1;
      float* up[3] = {S.wx, S.wy, S.rhoc};
      for (int comp = 0; comp < comps; ++comp) {
        const float mul = comp < 2 ? static_cast<float>(1.0 / prm.scale_step) : 1.0f;
        const float* src = S.u[cur][comp];
        float* dst = team_mode ? S.u[cur ^ 1][comp] : up[comp];
        for (int y = lo; y < hi; ++y) {
          int y0, y1;
          const float fy = tvl1::resize_tap(y, sy, c.h, &y0, &y1);
          const float* r0 = src + static_cast<int64_t>(y0) * c.w;
          const float* r1 = src + static_cast<int64_t>(y1) * c.w;
          for (int x = 0; x < w; ++x) {
            int x0, x1;
            const float fx = tvl1::resize_tap(x, sx, c.w, &x0, &x1);
            const float top = r0[x0] * (1.0f - fx) + r0[x1] * fx;
            const float bot = r1[x0] * (1.0f - fx) + r1[x1] * fx;
            dst[static_cast<int64_t>(y) * w + x] = (top * (1.0f - fy) + bot * fy) * mul;
          }
        }
      }
      if (team_mode) cur ^= 1;
      else
        for (int comp = 0; comp < comps; ++comp) std::copy(up[comp], up[comp] + area, S.u[cur][comp]);
    }
    // Gradient of I1 (central differences, clamped) and p = 0.
    for (int y = lo; y < hi; ++y) {
      const float* r = I1 + static_cast<int64_t>(y) * w;
      const float* ra = I1 + static_cast<int64_t>(y > 0 ? y - 1 : 0) * w;
      const float* rb = I1 + static_cast<int64_t>(y + 1 < h ? y + 1 : h - 1) * w;
      float* q = S.Q + 4 * static_cast<int64_t>(y) * w;
      for (int x = 0; x < w; ++x) {
        q[4 * x] = r[x];
        q[4 * x + 1] = 0.5f * (r[x + 1 < w ? x + 1 : w - 1] - r[x > 0 ? x - 1 : 0]);
        q[4 * x + 2] = 0.5f * (rb[x] - ra[x]);
        q[4 * x + 3] = 0.0f;
      }
      for (int c = 0; c < 2 * comps; ++c)
        std::fill(S.p[pcur][c] + static_cast<int64_t>(y) * w, S.p[pcur][c] + static_cast<int64_t>(y + 1) * w, 0.0f);
    }
    const float eps_scaled = static_cast<float>(static_cast<double>(prm.epsilon) * prm.epsilon * static_cast<double>(area));
    team.sync();

    for (int warp = 0; warp < prm.warps; ++warp) {
      for (int y = lo; y < hi; ++y) {
        const int64_t o = static_cast<int64_t>(y) * w;
        kern.warp_row(S.Q, h, w, y, S.u[cur][0] + o, S.u[cur][1] + o, I0 + o, S.wx + o, S.wy + o, S.rhoc + o);
      }
      team.sync();

      double error = std::numeric_limits<double>::infinity();
      for (int n_outer = 0; error > eps_scaled && n_outer < prm.outer; ++n_outer) {
        if (k_med && team.size > 1) {  // into the other buffer
          for (int comp = 0; comp < comps; ++comp)
            for (int y = lo; y < hi; ++y) {
              float* d = S.u[cur ^ 1][comp] + static_cast<int64_t>(y) * w;
              if (comp < 2) median_row(kern, S.u[cur][comp], h, w, y, k_med, med_pad, d);
              else std::copy(S.u[cur][comp] + static_cast<int64_t>(y) * w, S.u[cur][comp] + static_cast<int64_t>(y + 1) * w, d);
            }
          team.sync();
          cur ^= 1;
        } else if (k_med) {  // one thread: into median_tmp, then back
          for (int comp = 0; comp < 2; ++comp) {
            float* t = S.median_tmp + comp * area;
            for (int y = 0; y < h; ++y)
              median_row(kern, S.u[cur][comp], h, w, y, k_med, med_pad, t + static_cast<int64_t>(y) * w);
            std::copy(t, t + area, S.u[cur][comp]);
          }
        }
        for (int n_inner = 0; error > eps_scaled && n_inner < prm.inner; ++n_inner) {
          float* const* uo = S.u[cur];
          float* const* un = S.u[cur ^ 1];
          float* const* po = S.p[pcur];
          float* const* pn = S.p[pcur ^ 1];
          double* row_err = S.row_err[parity].data();
          auto row_in = [&](int y) {
            const int64_t o = static_cast<int64_t>(y) * w, oa = static_cast<int64_t>(y - 1) * w;
            RowIn in;
            in.u1 = uo[0] + o;
            in.u2 = uo[1] + o;
            in.u3 = use_gamma ? uo[2] + o : nullptr;
            in.p11 = po[0] + o;
            in.p12 = po[1] + o;
            in.p21 = po[2] + o;
            in.p22 = po[3] + o;
            in.p31 = use_gamma ? po[4] + o : nullptr;
            in.p32 = use_gamma ? po[5] + o : nullptr;
            in.p12a = y > 0 ? po[1] + oa : S.zero_row;
            in.p22a = y > 0 ? po[3] + oa : S.zero_row;
            in.p32a = use_gamma ? (y > 0 ? po[5] + oa : S.zero_row) : nullptr;
            in.wx = S.wx + o;
            in.wy = S.wy + o;
            in.rhoc = S.rhoc + o;
            return in;
          };
          auto new_u = [&](int y, float* d1, float* d2, float* d3) {
            return kern.u_row(row_in(y), w, use_gamma, l_t, prm.theta, prm.gamma, d1, d2, d3);
          };
          if (lo < hi) {
            const int64_t o0 = static_cast<int64_t>(lo) * w;
            row_err[lo] = new_u(lo, un[0] + o0, un[1] + o0, use_gamma ? un[2] + o0 : nullptr);
          }
          for (int y = lo; y < hi; ++y) {
            const int64_t o = static_cast<int64_t>(y) * w;
            const float* nxt[3];
            if (y + 1 < hi) {
              const int64_t o1 = o + w;
              row_err[y + 1] = new_u(y + 1, un[0] + o1, un[1] + o1, use_gamma ? un[2] + o1 : nullptr);
              for (int c = 0; c < comps; ++c) nxt[c] = un[c] + o1;
            } else if (y + 1 < h) {  // the first row of the next band, recomputed here
              new_u(y + 1, halo, halo + w, use_gamma ? halo + 2 * w : nullptr);
              for (int c = 0; c < comps; ++c) nxt[c] = halo + c * w;
            } else {
              for (int c = 0; c < comps; ++c) nxt[c] = un[c] + o;
            }
            for (int c = 0; c < comps; ++c)
              kern.p_row(un[c] + o, nxt[c], po[2 * c] + o, po[2 * c + 1] + o, w, taut, pn[2 * c] + o, pn[2 * c + 1] + o);
          }
          team.sync();
          double e = 0.0;
          for (int y = 0; y < h; ++y) e += row_err[y];
          error = e;
          parity ^= 1;
          cur ^= 1;
          pcur ^= 1;
        }
      }
    }
  }

  // The flow of level 0.
  team.band(H, &lo, &hi);
  for (int c = 0; c < 2; ++c)
    for (int y = lo; y < hi; ++y)
      for (int x = 0; x < W; ++x)
        out.data<float>()[n * out.stride(0) + c * out.stride(1) + y * out.stride(2) + x * out.stride(3)] =
            S.u[cur][c][static_cast<int64_t>(y) * W + x];
  team.sync();  // the scratch is reused by the next pair
}

Params make_params(double tau, double lambda, double theta, int64_t nscales, int64_t warps, double epsilon, int64_t inner,
                   int64_t outer, double scale_step, double gamma, int64_t median) {
  auto finite_pos = [](double v, const char* name) {
    MCWES_CHECK(std::isfinite(v) && v > 0.0, "mcwes.tvl1_flow: expected ", name, " to be a finite number > 0, got ", v);
  };
  finite_pos(tau, "tau");
  finite_pos(lambda, "lambda_");
  finite_pos(theta, "theta");
  MCWES_CHECK(std::isfinite(epsilon) && epsilon >= 0.0, "mcwes.tvl1_flow: expected epsilon to be a finite number >= 0, got ",
              epsilon);
  MCWES_CHECK(std::isfinite(gamma) && gamma >= 0.0, "mcwes.tvl1_flow: expected gamma to be a finite number >= 0, got ", gamma);
  MCWES_CHECK(std::isfinite(scale_step) && scale_step > 0.0 && scale_step < 1.0,
              "mcwes.tvl1_flow: expected scale_step to lie in (0, 1), got ", scale_step);
  MCWES_CHECK(nscales >= 1 && nscales <= 1000, "mcwes.tvl1_flow: expected nscales to lie in [1, 1000], got ", nscales);
  MCWES_CHECK(warps >= 1 && warps <= 1000000, "mcwes.tvl1_flow: expected warps to lie in [1, 1e6], got ", warps);
  MCWES_CHECK(inner >= 1 && inner <= 1000000, "mcwes.tvl1_flow: expected inner_iterations to lie in [1, 1e6], got ", inner);
  MCWES_CHECK(outer >= 1 && outer <= 1000000, "mcwes.tvl1_flow: expected outer_iterations to lie in [1, 1e6], got ", outer);
  MCWES_CHECK(median <= 1 || (median % 2 == 1 && median <= tvl1::kMaxMedian),
              "mcwes.tvl1_flow: expected median_filtering to be <= 1 (off) or odd in [3, ", tvl1::kMaxMedian, "], got ", median);
  Params p;
  p.tau = static_cast<float>(tau);
  p.lambda = static_cast<float>(lambda);
  p.theta = static_cast<float>(theta);
  p.epsilon = static_cast<float>(epsilon);
  p.gamma = static_cast<float>(gamma);
  p.nscales = static_cast<int>(nscales);
  p.warps = static_cast<int>(warps);
  p.inner = static_cast<int>(inner);
  p.outer = static_cast<int>(outer);
  p.median = static_cast<int>(median);
  p.scale_step = scale_step;
  return p;
}

}  // namespace

void tvl1_flow_check(const View& prev, const View& next, const View& out, double tau, double lambda, double theta,
                     int64_t nscales, int64_t warps, double epsilon, int64_t inner_iterations, int64_t outer_iterations,
                     double scale_step, double gamma, int64_t median_filtering) {
  check_view(prev, kOp, "prev", 3, DType::f32);
  check_view(next, kOp, "next", 3, DType::f32);
  for (int d = 0; d < 3; ++d) check_size(next, kOp, "next", d, prev.size(d));
  check_view(out, kOp, "out", 4, DType::f32);
  check_size(out, kOp, "out", 0, prev.size(0));
  check_size(out, kOp, "out", 1, 2);
  check_size(out, kOp, "out", 2, prev.size(1));
  check_size(out, kOp, "out", 3, prev.size(2));
  check_same_device(prev, next, kOp, "next");
  check_same_device(prev, out, kOp, "out");
  MCWES_CHECK(prev.size(1) >= 1 && prev.size(2) >= 1, "mcwes.tvl1_flow: expected frames of at least 1×1 pixels, got ",
              prev.size(1), "×", prev.size(2));
  MCWES_CHECK(prev.size(1) <= 32768 && prev.size(2) <= 32768 && prev.size(1) * prev.size(2) <= (int64_t(1) << 28),
              "mcwes.tvl1_flow: expected frames of at most 32768 pixels a side and 2^28 pixels, got ", prev.size(1), "×",
              prev.size(2));
  make_params(tau, lambda, theta, nscales, warps, epsilon, inner_iterations, outer_iterations, scale_step, gamma,
              median_filtering);
}

void tvl1_flow_fwd_cpu(const View& prev, const View& next, const View& out, double tau, double lambda, double theta,
                       int64_t nscales, int64_t warps, double epsilon, int64_t inner_iterations, int64_t outer_iterations,
                       double scale_step, double gamma, int64_t median_filtering, int64_t row_split, int num_threads) {
  tvl1_flow_check(prev, next, out, tau, lambda, theta, nscales, warps, epsilon, inner_iterations, outer_iterations, scale_step,
                  gamma, median_filtering);
  MCWES_CHECK(prev.device == -1, "mcwes.tvl1_flow: expected CPU tensors for the CPU kernel, got device ", prev.device);
  const Params prm = make_params(tau, lambda, theta, nscales, warps, epsilon, inner_iterations, outer_iterations, scale_step,
                                 gamma, median_filtering);
  const int64_t N = prev.size(0);
  if (N == 0) return;
  const Kernels kern = select_kernels(cpu_isa_level());
  const int H = static_cast<int>(prev.size(1)), W = static_cast<int>(prev.size(2));
  const std::vector<Level> lv = pyramid_levels(H, W, prm);
  const int64_t pyramid_area = lv.back().off + static_cast<int64_t>(lv.back().h) * lv.back().w;
  const int comps = prm.gamma != 0.0f ? 3 : 2;
  const int k_med = prm.median > 1 ? prm.median : 0;
  int nt = num_threads < 1 ? 1 : num_threads;
#if !defined(MCWES_OPENMP)
  nt = 1;
#endif
  // Fewer pairs than threads: teams split each pair's rows (one barrier per iteration). row_split:
  // 1 always, 0 never, -1 from 192×192 pixels on, where a band's work per iteration (tens of µs)
  // dwarfs a barrier. A barrier waits for every thread of the team, so on a machine with more busy
  // threads than cores a team is slower than one thread: there, pass batches (N >= threads).
  const int64_t area = static_cast<int64_t>(H) * W;
  const bool split = row_split > 0 || (row_split < 0 && area >= 192 * 192);
  const bool team_mode = split && nt > 1 && N < nt && H >= 2 * nt;
  if (team_mode) {
    Scratch S;
    S.allocate(H, W, pyramid_area, comps, nt, k_med > 0);
    in_team(nt, true, [&](Team team) {
      for (int64_t n = 0; n < N; ++n) solve_pair(prm, kern, S, prev, next, out, n, team);
    });
    return;
  }
  const int slots = static_cast<int>(std::min<int64_t>(nt, N));
  std::vector<Scratch> scratch(static_cast<size_t>(slots));
  for (auto& S : scratch) S.allocate(H, W, pyramid_area, comps, 1, k_med > 0);
#if defined(MCWES_OPENMP)
  if (slots > 1) {
#pragma omp parallel num_threads(slots)
    {
      Scratch& S = scratch[static_cast<size_t>(omp_get_thread_num())];
#pragma omp for schedule(dynamic, 1)
      for (int64_t n = 0; n < N; ++n) solve_pair(prm, kern, S, prev, next, out, n, Team{});
    }
    return;
  }
#endif
  for (int64_t n = 0; n < N; ++n) solve_pair(prm, kern, scratch[0], prev, next, out, n, Team{});
}

}  // namespace mcwes
