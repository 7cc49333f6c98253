// CPU driver of topk_pool: one task per (video, class), each a selection of the k-th largest value
// over that column's valid steps. See mcwes/kernels/topk_pool.h for the semantics.
#include <algorithm>
#include <functional>
#include <vector>

#include "mcwes/kernels/topk_pool.h"
#include "mcwes/ops.h"
#include "parallel.h"

namespace mcwes {

void topk_pool_check(const View& x, const View& k, const View& lengths, const View& out, const View& weights) {
  const char* op = "topk_pool";
  check_float_view(x, op, "x", 3);
  const int64_t B = x.size(0), C = x.size(2);
  MCWES_CHECK(k.ndim() == 1 || k.ndim() == 2, "mcwes.topk_pool: expected k to have shape [C] or [B, C], got ", k.ndim(),
              " dimensions");
  MCWES_CHECK(k.dtype == DType::i64, "mcwes.topk_pool: expected k to have dtype int64, got ", dtype_name(k.dtype));
  if (k.ndim() == 1) {
    check_size(k, op, "k", 0, C);
  } else {
    check_size(k, op, "k", 0, B);
    check_size(k, op, "k", 1, C);
  }
  check_view(lengths, op, "lengths", 1, DType::i64);
  check_size(lengths, op, "lengths", 0, B);
  check_view(out, op, "out", 2, x.dtype);
  check_size(out, op, "out", 0, B);
  check_size(out, op, "out", 1, C);
  check_view(weights, op, "weights", 3, x.dtype);
  for (int d = 0; d < 3; ++d) check_size(weights, op, "weights", d, x.size(d));
  for (const View* v : {&k, &lengths, &out, &weights}) check_same_device(x, *v, op, "every tensor");
}

namespace {

// Reads k and lengths on the host and rejects values the kernel cannot use.
void check_values(const View& x, const View& k, const View& lengths) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  const auto len = lengths.s1<const int64_t>();
  for (int64_t b = 0; b < B; ++b)
    MCWES_CHECK(len(b) >= 0 && len(b) <= T, "mcwes.topk_pool: expected lengths to lie in [0, ", T, "], got ", len(b),
                " for video ", b);
  const int64_t rows = k.ndim() == 2 ? B : 1;
  for (int64_t b = 0; b < rows; ++b)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t kv = k.ndim() == 2 ? k.s2<const int64_t>()(b, c) : k.s1<const int64_t>()(c);
      MCWES_CHECK(kv >= 1, "mcwes.topk_pool: expected every k to be >= 1, got ", kv);
    }
}

template <typename T>
struct Entry {
  T v;
  int64_t t;
};

// General path (a NaN among the valid steps): partial selection on (value, index) pairs with the
// full order of topk_pool::before. Returns the sum of the selected values and marks them.
template <typename T>
double select_general(const Strided3<const T> xs, const Strided3<T> w, int64_t b, int64_t c, int64_t L, int64_t ke) {
  thread_local std::vector<Entry<T>> buf;
  buf.resize(static_cast<size_t>(L));
  for (int64_t t = 0; t < L; ++t) buf[static_cast<size_t>(t)] = {xs(b, t, c), t};
  auto cmp = [](const Entry<T>& a, const Entry<T>& e) { return topk_pool::before(a.v, a.t, e.v, e.t); };
  if (ke < L) std::nth_element(buf.begin(), buf.begin() + (ke - 1), buf.end(), cmp);
  double acc = 0.0;
  for (int64_t i = 0; i < ke; ++i) {
    acc += static_cast<double>(buf[static_cast<size_t>(i)].v);
    w(b, buf[static_cast<size_t>(i)].t, c) = topk_pool::selection_weight<T>(ke);
  }
  return acc;
}

// The ke-th largest of src[0, n) (1 <= ke <= n, no NaN), src unchanged. Quickselect whose partition
// is branch-free: every value is written both to the front of `a` (kept if > pivot) and to the back
// (kept if < pivot), so the loop has no data-dependent branch. A branchy nth_element mispredicts
// about every other comparison on fresh data (~2-3 µs per 250 values here, against ~1 µs when a
// benchmark repeats the same input and the predictor has learned it). Values equal to the pivot
// are only counted: if the ke-th largest is among them, it is the pivot. After 2·log2(n) + 8 rounds
// (a pivot sequence that keeps splitting badly), std::nth_element finishes the job.
template <typename T>
T kth_largest(const T* values, int64_t n, int64_t ke) {
  thread_local std::vector<T> buf0, buf1;
  buf0.resize(static_cast<size_t>(n));
  buf1.resize(static_cast<size_t>(n));
  T* out = buf0.data();  // where the next round writes
  T* other = buf1.data();
  const T* src = values;  // what the next round reads
  T* cur = nullptr;       // src, once a round has moved it into one of the buffers
  int rounds = 8;
  for (int64_t m = n; m > 1; m >>= 1) rounds += 2;
  while (n > 32 && rounds-- > 0) {
    T lo = src[0], mid = src[n / 2], hi = src[n - 1];  // median of three
    if (lo > mid) std::swap(lo, mid);
    if (mid > hi) std::swap(mid, hi);
    if (lo > mid) std::swap(lo, mid);
    const T pivot = mid;
    int64_t gt = 0, lt = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T v = src[i];
      out[gt] = v;
      out[n - 1 - lt] = v;
      gt += v > pivot ? 1 : 0;
      lt += v < pivot ? 1 : 0;
    }
    if (ke <= gt) {
      cur = out;
      n = gt;
    } else if (ke <= n - lt) {
      return pivot;
    } else {
      ke -= n - lt;
      cur = out + (n - lt);
      n = lt;
    }
    src = cur;
    std::swap(out, other);
  }
  if (cur == nullptr) {  // no round ran: select in a copy, the caller's values stay as they are
    std::copy(values, values + n, out);
    cur = out;
  }
  std::nth_element(cur, cur + (ke - 1), cur + n, std::greater<T>());
  return cur[ke - 1];
}

// The ke-th largest of vals[0, L) (no NaN, ke < L), vals unchanged. From ~768 steps on, a sample of
// the values first gives a bound that most values fall below; one branch-free pass keeps those at or
// above it and the selection runs on those few. If the bound was too high (fewer than ke kept), the
// selection runs on all values.
template <typename T>
T kth_value(const std::vector<T>& vals, int64_t L, int64_t ke) {
  constexpr int64_t kSample = 64;
  if (L >= 12 * kSample && ke * 4 <= L) {
    T sample[kSample];
    for (int64_t i = 0; i < kSample; ++i) sample[i] = vals[static_cast<size_t>(i * L / kSample)];
    // Expected rank of the k-th value in the sample, plus a margin of a few standard deviations.
    const int64_t r = std::min<int64_t>(kSample - 1, ke * kSample / L + 8);
    std::nth_element(sample, sample + r, sample + kSample, std::greater<T>());
    const T bound = sample[r];
    thread_local std::vector<T> kept;
    kept.resize(static_cast<size_t>(L));
    int64_t n = 0;
    for (int64_t i = 0; i < L; ++i) {
      const T v = vals[static_cast<size_t>(i)];
      kept[static_cast<size_t>(n)] = v;
      n += v >= bound ? 1 : 0;
    }
    if (n >= ke) return kth_largest(kept.data(), n, ke);
  }
  return kth_largest(vals.data(), L, ke);
}

// Fast path (no NaN): the k-th largest value, then one pass in time order: the values above it are
// summed and weighted, and the k-th value makes up the rest of the sum (ke − above times); only when
// it is tied are its first occurrences in time given the weight, until ke are taken — the same set
// as the general order, and the sum of the same multiset of values.
template <typename T>
double select_finite(const Strided3<T> w, int64_t b, int64_t c, int64_t L, int64_t ke, const std::vector<T>& vals) {
  const T kth = ke < L ? kth_value(vals, L, ke) : *std::min_element(vals.begin(), vals.begin() + L);
  const T weight = topk_pool::selection_weight<T>(ke);
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  int64_t above = 0;
  for (int64_t t = 0; t < L; ++t) {
    const T v = vals[static_cast<size_t>(t)];
    const bool gt = v > kth;
    acc[t & 3] += gt ? static_cast<double>(v) : 0.0;
    above += gt ? 1 : 0;
    w(b, t, c) = gt ? weight : T(0);
  }
  for (int64_t t = 0, equal_left = ke - above; equal_left > 0 && t < L; ++t) {
    if (vals[static_cast<size_t>(t)] == kth) {
      w(b, t, c) = weight;
      --equal_left;
    }
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]) + static_cast<double>(ke - above) * static_cast<double>(kth);
}

template <typename T>
void fwd_impl(const View& x, const View& k, const View& lengths, const View& out, const View& weights, int nt) {
  const int64_t B = x.size(0), T_ = x.size(1), C = x.size(2);
  const auto xs = x.s3<const T>();
  const auto len = lengths.s1<const int64_t>();
  const auto kt = topk_pool::k_table(k);
  const bool per_video = k.ndim() == 2;
  const auto o = out.s2<T>();
  const auto w = weights.s3<T>();
  // The body takes its views by value: stores through the weights may alias anything reached through
  // the closure, which would then be reloaded after every store.
  parallel_for(B * C, nt, T_ * 8, [=](int64_t task) {
    const int64_t b = task / C, c = task % C;
    const int64_t L = len(b);
    const int64_t ke = topk_pool::effective_k(topk_pool::k_of(kt, per_video, b, c), L);
    for (int64_t t = L; t < T_; ++t) w(b, t, c) = T(0);
    if (ke == 0) {
      o(b, c) = T(0);
      return;
    }
    thread_local std::vector<T> vals;
    vals.resize(static_cast<size_t>(L));
    bool has_nan = false;
    for (int64_t t = 0; t < L; ++t) {
      const T v = xs(b, t, c);
      has_nan |= is_nan(v);
      vals[static_cast<size_t>(t)] = v;
    }
    double acc;
    if (has_nan) {
      for (int64_t t = 0; t < L; ++t) w(b, t, c) = T(0);
      acc = select_general(xs, w, b, c, L, ke);
    } else {
      acc = select_finite(w, b, c, L, ke, vals);
    }
    o(b, c) = static_cast<T>(acc / static_cast<double>(ke));
  });
}

}  // namespace

void topk_pool_fwd_cpu(const View& x, const View& k, const View& lengths, const View& out, const View& weights, int num_threads) {
  topk_pool_check(x, k, lengths, out, weights);
  MCWES_CHECK(x.device == -1, "mcwes.topk_pool: expected CPU tensors for the CPU kernel, got device ", x.device);
  check_values(x, k, lengths);
  if (x.numel() == 0 && out.numel() == 0) return;
  dispatch_float(x.dtype, "topk_pool", [&](auto tag) {
    using T = typename decltype(tag)::type;
    fwd_impl<T>(x, k, lengths, out, weights, num_threads);
  });
}

}  // namespace mcwes
