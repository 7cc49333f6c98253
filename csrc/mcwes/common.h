// mcwes/common.h — what every op shares: the tensor view handed over from Python, the one check
// macro, dtype dispatch, and the host/device qualifier for the math headers.
//
// The compiled core never links libtorch. Python allocates every output and passes plain views
// (pointer, dtype, sizes, strides in elements, device); the kernels read and write through them.
// View, MCWES_CHECK and dispatch are host code; the Strided* structs and MCWES_HD math run anywhere.
#pragma once

#include <cstdint>
#include <climits>

#if defined(__CUDACC__)
#define MCWES_HD __host__ __device__ __forceinline__
#else
#define MCWES_HD inline
#endif

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace mcwes {

// Codes shared with python/mcwes/ops/_util.py (_DTYPE_CODES).
enum class DType : int { f32 = 0, f64 = 1, i64 = 2, b8 = 3, i32 = 4 };

// A strided 1/2/3-d pointer for the kernels: plain data, copyable to the device by value.
template <typename T>
struct Strided1 {
  T* p;
  int64_t s0;
  MCWES_HD T& operator()(int64_t i) const { return p[i * s0]; }
};
template <typename T>
struct Strided2 {
  T* p;
  int64_t s0, s1;
  MCWES_HD T& operator()(int64_t i, int64_t j) const { return p[i * s0 + j * s1]; }
};
template <typename T>
struct Strided3 {
  T* p;
  int64_t s0, s1, s2;
  MCWES_HD T& operator()(int64_t i, int64_t j, int64_t k) const { return p[i * s0 + j * s1 + k * s2]; }
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

// The one error grammar: "mcwes.<op>: expected <arg> to <expectation>, got <actual>".
// std::invalid_argument becomes ValueError in Python (pybind11). Never abort on input.
#define MCWES_CHECK(cond, ...)                                                      \
  do {                                                                              \
    if (!(cond)) throw std::invalid_argument(::mcwes::detail::concat(__VA_ARGS__)); \
  } while (0)

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    case DType::b8: return "bool";
    case DType::i32: return "int32";
  }
  return "unknown";
}

struct View {
  uintptr_t ptr = 0;
  DType dtype = DType::f32;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
  int device = -1;  // -1: CPU; >= 0: CUDA device index

  View() = default;
  View(uintptr_t p, int dt, std::vector<int64_t> sz, std::vector<int64_t> st, int dev)
      : ptr(p), dtype(static_cast<DType>(dt)), sizes(std::move(sz)), strides(std::move(st)), device(dev) {
    if (dt < 0 || dt > 4) throw std::invalid_argument(detail::concat("mcwes: unknown dtype code ", dt));
    if (sizes.size() != strides.size()) throw std::invalid_argument("mcwes: a view needs as many strides as sizes");
    int64_t n = 1;
    for (auto s : sizes) {
      if (s < 0) throw std::invalid_argument(detail::concat("mcwes: negative size ", s, " in a view"));
      // numel() must not overflow (that would be undefined behaviour and a wrong emptiness test)
      if (s != 0 && n > INT64_MAX / s) n = -1;
      else if (n >= 0) n *= s;
    }
    if (n < 0 && numel_is_nonzero()) throw std::invalid_argument("mcwes: a view with more elements than int64 can count");
    if (ptr % static_cast<uintptr_t>(itemsize()) != 0)
      throw std::invalid_argument(detail::concat("mcwes: expected a data pointer aligned to ", itemsize(), " bytes for ",
                                                 dtype_name(dtype), ", got ", ptr));
  }
  int64_t itemsize() const {
    switch (dtype) {
      case DType::f32:
      case DType::i32: return 4;
      case DType::f64:
      case DType::i64: return 8;
      case DType::b8: return 1;
    }
    return 1;
  }
  bool numel_is_nonzero() const {
    for (auto s : sizes)
      if (s == 0) return false;
    return true;
  }
  int ndim() const { return static_cast<int>(sizes.size()); }
  int64_t size(int d) const { return sizes[static_cast<size_t>(d)]; }
  int64_t stride(int d) const { return strides[static_cast<size_t>(d)]; }
  int64_t numel() const {  // the constructor guarantees no overflow once no size is zero
    if (!numel_is_nonzero()) return 0;
    int64_t n = 1;
    for (auto s : sizes) n *= s;
    return n;
  }
  template <typename T> T* data() const { return reinterpret_cast<T*>(ptr); }
  template <typename T> Strided1<T> s1() const { return {data<T>(), stride(0)}; }
  template <typename T> Strided2<T> s2() const { return {data<T>(), stride(0), stride(1)}; }
  template <typename T> Strided3<T> s3() const { return {data<T>(), stride(0), stride(1), stride(2)}; }
};

// Shape/dtype/device checks shared by every driver. `op` and `arg` name the caller in messages.
inline void check_view(const View& v, const char* op, const char* arg, int ndim, DType dtype) {
  MCWES_CHECK(v.ndim() == ndim, "mcwes.", op, ": expected ", arg, " to have ", ndim, " dimensions, got ", v.ndim());
  MCWES_CHECK(v.dtype == dtype, "mcwes.", op, ": expected ", arg, " to have dtype ", dtype_name(dtype), ", got ",
              dtype_name(v.dtype));
  MCWES_CHECK(v.numel() == 0 || v.ptr != 0, "mcwes.", op, ": expected ", arg, " to point at data, got a null pointer");
}
inline void check_float_view(const View& v, const char* op, const char* arg, int ndim) {
  MCWES_CHECK(v.ndim() == ndim, "mcwes.", op, ": expected ", arg, " to have ", ndim, " dimensions, got ", v.ndim());
  MCWES_CHECK(v.dtype == DType::f32 || v.dtype == DType::f64, "mcwes.", op, ": expected ", arg,
              " to have dtype float32 or float64, got ", dtype_name(v.dtype));
  MCWES_CHECK(v.numel() == 0 || v.ptr != 0, "mcwes.", op, ": expected ", arg, " to point at data, got a null pointer");
}
inline void check_size(const View& v, const char* op, const char* arg, int dim, int64_t expected) {
  MCWES_CHECK(v.size(dim) == expected, "mcwes.", op, ": expected ", arg, ".shape[", dim, "] to be ", expected, ", got ",
              v.size(dim));
}
inline void check_same_device(const View& a, const View& b, const char* op, const char* arg) {
  MCWES_CHECK(a.device == b.device, "mcwes.", op, ": expected ", arg, " on device ", a.device, ", got device ", b.device);
}

// batch_idx, start, end: three int64 vectors of one length P (the proposal tables of the spotting ops).
inline int64_t check_interval_views(const View& batch_idx, const View& start, const View& end, const char* op) {
  check_view(batch_idx, op, "batch_idx", 1, DType::i64);
  const int64_t P = batch_idx.size(0);
  check_view(start, op, "start", 1, DType::i64);
  check_size(start, op, "start", 0, P);
  check_view(end, op, "end", 1, DType::i64);
  check_size(end, op, "end", 0, P);
  return P;
}

template <typename T> struct Tag {
  using type = T;
};

// Small explicit dispatch over the floating types an op supports; names the op when it fails.
template <typename F>
void dispatch_float(DType d, const char* op, F&& f) {
  switch (d) {
    case DType::f32: f(Tag<float>{}); return;
    case DType::f64: f(Tag<double>{}); return;
    default:
      throw std::invalid_argument(detail::concat("mcwes.", op, ": expected a float32 or float64 tensor, got ", dtype_name(d)));
  }
}

// Accumulate in double whatever the storage type: sums of a few thousand float32 values stay exact
// to float32 rounding, and the CPU and CUDA kernels agree.
template <typename T> struct Acc {
  using type = double;
};

template <typename T>
MCWES_HD bool is_nan(T v) {
  return v != v;
}

}  // namespace mcwes
