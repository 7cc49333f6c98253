// CUDA driver of tvl1_flow: every pair of the batch in flight at once (grid z = pair), the pyramid
// and all work arrays in device memory (one stream-ordered allocation per call, on the caller's
// stream), no host synchronisation. See mcwes/kernels/tvl1_flow.h for the semantics.
//
// One inner iteration is two kernels: the new u (thresholding step plus theta·div p, reads p, writes
// u in place) and the new p (reads the new u, writes p in place). Each pair's stopping test is kept
// on the device: the u kernel adds the pair's squared updates into err[i % 3] (one atomic per block)
// and runs only while err[(i − 1) % 3] > epsilon²·H·W; a stopped pair adds nothing, so it stays
// stopped until the next warp resets its error to +inf. The host launches the full iteration count;
// finished pairs exit at once. Sums of atomics are not ordered, so on a borderline the iteration
// count (not the arithmetic) may differ from the CPU's; tests compare the two within a tolerance.
#include <cmath>
#include <limits>
#include <vector>

#include "cuda_common.cuh"
#include "mcwes/kernels/tvl1_flow.h"
#include "mcwes/ops.h"

namespace mcwes {
namespace {

constexpr char kOp[] = "tvl1_flow";
constexpr int kBx = 32, kBy = 8;

struct Lv {
  int h, w;
  int64_t off;
};

struct Bufs {                         // per-pair arrays: pair n's copy of array A is A + n * stride
  float *I0, *I1;                     // pyramids, stride pyr
  float *I1x, *I1y, *wx, *wy, *rhoc;  // stride area0
  float* u[3];
  float* p[6];
  float* tmp[3];  // median output
  double* err;    // [3][N]
  int64_t pyr, area0;
  int N;
};

__device__ __forceinline__ bool pixel(int w, int h, int* x, int* y) {
  *x = blockIdx.x * kBx + threadIdx.x;
  *y = blockIdx.y * kBy + threadIdx.y;
  return *x < w && *y < h;
}

__global__ void k_load(Strided3<const float> a, Strided3<const float> b, Bufs B, int h, int w) {
  int x, y;
  if (!pixel(w, h, &x, &y)) return;
  const int n = blockIdx.z;
  const int64_t o = n * B.pyr + static_cast<int64_t>(y) * w + x;
  B.I0[o] = a(n, y, x);
  B.I1[o] = b(n, y, x);
}

// Bilinear resize of `count` arrays (stride per pair `stride`) from level src to dst, times mul[i].
__global__ void k_resize(const float* s0, const float* s1, const float* s2, float* d0, float* d1, float* d2, int count,
                         int64_t stride, int sh, int sw, int dh, int dw, double scy, double scx, float mul01, float mul2) {
  int x, y;
  if (!pixel(dw, dh, &x, &y)) return;
  const int n = blockIdx.z;
  int y0, y1, x0, x1;
  const float fy = tvl1::resize_tap(y, scy, sh, &y0, &y1);
  const float fx = tvl1::resize_tap(x, scx, sw, &x0, &x1);
  const float* src[3] = {s0, s1, s2};
  float* dst[3] = {d0, d1, d2};
  for (int i = 0; i < count; ++i) {
    const float* s = src[i] + n * stride;
    const float* r0 = s + static_cast<int64_t>(y0) * sw;
    const float* r1 = s + static_cast<int64_t>(y1) * sw;
    const float top = r0[x0] * (1.0f - fx) + r0[x1] * fx;
    const float bot = r1[x0] * (1.0f - fx) + r1[x1] * fx;
    dst[i][n * stride + static_cast<int64_t>(y) * dw + x] = (top * (1.0f - fy) + bot * fy) * (i < 2 ? mul01 : mul2);
  }
}

__global__ void k_level_init(Bufs B, int64_t off, int h, int w, int comps, bool zero_u) {
  int x, y;
  if (!pixel(w, h, &x, &y)) return;
  const int n = blockIdx.z;
  const float* I1 = B.I1 + n * B.pyr + off;
  const int64_t o = n * B.area0 + static_cast<int64_t>(y) * w + x;
  const float* r = I1 + static_cast<int64_t>(y) * w;
  const float* ra = I1 + static_cast<int64_t>(y > 0 ? y - 1 : 0) * w;
  const float* rb = I1 + static_cast<int64_t>(y + 1 < h ? y + 1 : h - 1) * w;
  B.I1x[o] = 0.5f * (r[x + 1 < w ? x + 1 : w - 1] - r[x > 0 ? x - 1 : 0]);
  B.I1y[o] = 0.5f * (rb[x] - ra[x]);
  for (int c = 0; c < 2 * comps; ++c) B.p[c][o] = 0.0f;
  if (zero_u)
    for (int c = 0; c < comps; ++c) B.u[c][o] = 0.0f;
}

__global__ void k_warp(Bufs B, int64_t off, int h, int w, int i_next) {
  int x, y;
  const int n = blockIdx.z;
  if (blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0 && threadIdx.y == 0) {
    B.err[((i_next + 2) % 3) * B.N + n] = INFINITY;  // "previous" error of the warp's first iteration
    B.err[(i_next % 3) * B.N + n] = 0.0;
  }
  if (!pixel(w, h, &x, &y)) return;
  const int64_t o = n * B.area0 + static_cast<int64_t>(y) * w + x;
  const float u1 = B.u[0][o], u2 = B.u[1][o];
  const float mx = static_cast<float>(x) + u1, my = static_cast<float>(y) + u2;
  float smp[3];
  tvl1::sample_cubic3(B.I1 + n * B.pyr + off, B.I1x + n * B.area0, B.I1y + n * B.area0, h, w, mx, my, smp);
  B.wx[o] = smp[1];
  B.wy[o] = smp[2];
  B.rhoc[o] = smp[0] - smp[1] * u1 - smp[2] * u2 - B.I0[n * B.pyr + off + static_cast<int64_t>(y) * w + x];
}

__device__ __forceinline__ bool active(const Bufs& B, int i, int n, float eps) {
  return B.err[((i + 2) % 3) * B.N + n] > static_cast<double>(eps);
}

__global__ void k_median(Bufs B, int h, int w, int k, int i, float eps) {
  int x, y;
  const int n = blockIdx.z;
  if (!active(B, i, n, eps) || !pixel(w, h, &x, &y)) return;
  const int r = k / 2;
  for (int c = 0; c < 2; ++c) {
    const float* u = B.u[c] + n * B.area0;
    float v[tvl1::kMaxMedian * tvl1::kMaxMedian];
    int m = 0;
    for (int dy = -r; dy <= r; ++dy) {
      const int yy = min(max(y + dy, 0), h - 1);
      for (int dx = -r; dx <= r; ++dx) v[m++] = u[static_cast<int64_t>(yy) * w + min(max(x + dx, 0), w - 1)];
    }
    // Partial selection sort up to the median (k·k <= 49 values).
    const int mid = m / 2;
    for (int a = 0; a <= mid; ++a) {
      int best = a;
      for (int b = a + 1; b < m; ++b) best = v[b] < v[best] ? b : best;
      const float t = v[a];
      v[a] = v[best];
      v[best] = t;
    }
    B.tmp[c][n * B.area0 + static_cast<int64_t>(y) * w + x] = v[mid];
  }
}

__global__ void k_median_copy(Bufs B, int h, int w, int i, float eps) {
  int x, y;
  const int n = blockIdx.z;
  if (!active(B, i, n, eps) || !pixel(w, h, &x, &y)) return;
  const int64_t o = n * B.area0 + static_cast<int64_t>(y) * w + x;
  B.u[0][o] = B.tmp[0][o];
  B.u[1][o] = B.tmp[1][o];
}

__global__ void k_u(Bufs B, int h, int w, bool use_gamma, float l_t, float theta, float gamma, int i, float eps) {
  __shared__ double part[kBx * kBy];
  int x, y;
  const int n = blockIdx.z;
  if (!active(B, i, n, eps)) return;  // uniform over the block
  const bool in = pixel(w, h, &x, &y);
  double e = 0.0;
  if (in) {
    const int64_t base = n * B.area0;
    const int64_t o = base + static_cast<int64_t>(y) * w + x;
    const float u1 = B.u[0][o], u2 = B.u[1][o], u3 = use_gamma ? B.u[2][o] : 0.0f;
    const float rho = B.rhoc[o] + B.wx[o] * u1 + B.wy[o] * u2 + (use_gamma ? gamma * u3 : 0.0f);
    const float c = tvl1::th_coeff(rho, B.wx[o] * B.wx[o] + B.wy[o] * B.wy[o], l_t);
    auto div = [&](const float* pa, const float* pb) {
      const float left = x > 0 ? pa[o - 1] : 0.0f;
      const float up = y > 0 ? pb[o - w] : 0.0f;
      return pa[o] - left + pb[o] - up;
    };
    const float a1 = u1 + c * B.wx[o] + theta * div(B.p[0], B.p[1]);
    const float a2 = u2 + c * B.wy[o] + theta * div(B.p[2], B.p[3]);
    float ef = (a1 - u1) * (a1 - u1) + (a2 - u2) * (a2 - u2);
    B.u[0][o] = a1;
    B.u[1][o] = a2;
    if (use_gamma) {
      const float a3 = u3 + c * gamma + theta * div(B.p[4], B.p[5]);
      ef += (a3 - u3) * (a3 - u3);
      B.u[2][o] = a3;
    }
    e = ef;
  }
  const int t = threadIdx.y * kBx + threadIdx.x;
  part[t] = e;
  __syncthreads();
  for (int s = kBx * kBy / 2; s > 0; s >>= 1) {
    if (t < s) part[t] += part[t + s];
    __syncthreads();
  }
  if (t == 0) atomicAdd(&B.err[(i % 3) * B.N + n], part[0]);
}

__global__ void k_p(Bufs B, int h, int w, int comps, float taut, int i, float eps) {
  int x, y;
  const int n = blockIdx.z;
  if (blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0 && threadIdx.y == 0)
    B.err[((i + 1) % 3) * B.N + n] = 0.0;  // the accumulator of iteration i + 1
  if (!active(B, i, n, eps) || !pixel(w, h, &x, &y)) return;
  const int64_t o = n * B.area0 + static_cast<int64_t>(y) * w + x;
  for (int c = 0; c < comps; ++c) {
    const float* u = B.u[c];
    const float ux = x + 1 < w ? u[o + 1] - u[o] : 0.0f;
    const float uy = y + 1 < h ? u[o + w] - u[o] : 0.0f;
    const float ng = 1.0f + taut * sqrtf(ux * ux + uy * uy);
    B.p[2 * c][o] = (B.p[2 * c][o] + taut * ux) / ng;
    B.p[2 * c + 1][o] = (B.p[2 * c + 1][o] + taut * uy) / ng;
  }
}

__global__ void k_store(Bufs B, int h, int w, float* out, int64_t s0, int64_t s1, int64_t s2, int64_t s3) {
  int x, y;
  if (!pixel(w, h, &x, &y)) return;
  const int n = blockIdx.z;
  const int64_t o = n * B.area0 + static_cast<int64_t>(y) * w + x;
  out[n * s0 + y * s2 + x * s3] = B.u[0][o];
  out[n * s0 + s1 + y * s2 + x * s3] = B.u[1][o];
}

dim3 grid(int h, int w, int64_t N) {
  return dim3(static_cast<unsigned>((w + kBx - 1) / kBx), static_cast<unsigned>((h + kBy - 1) / kBy), static_cast<unsigned>(N));
}

}  // namespace

void tvl1_flow_fwd_cuda(const View& prev, const View& next, const View& out, double tau, double lambda, double theta,
                        int64_t nscales, int64_t warps, double epsilon, int64_t inner_iterations, int64_t outer_iterations,
                        double scale_step, double gamma, int64_t median_filtering, uintptr_t stream) {
  tvl1_flow_check(prev, next, out, tau, lambda, theta, nscales, warps, epsilon, inner_iterations, outer_iterations, scale_step,
                  gamma, median_filtering);
  MCWES_CHECK(prev.device >= 0, "mcwes.tvl1_flow: expected CUDA tensors for the CUDA kernel, got CPU tensors");
  const int64_t N = prev.size(0);
  if (N == 0) return;
  MCWES_CHECK(N <= 65535, "mcwes.tvl1_flow: expected at most 65535 pairs per CUDA call, got ", N);
  const int H = static_cast<int>(prev.size(1)), W = static_cast<int>(prev.size(2));
  DeviceGuard guard(prev.device, kOp);
  cudaStream_t st = as_stream(stream);

  std::vector<Lv> lv{{H, W, 0}};
  for (int64_t s = 1; s < nscales; ++s) {
    const int nh = tvl1::next_level_size(lv.back().h, scale_step);
    const int nw = tvl1::next_level_size(lv.back().w, scale_step);
    if (nh < tvl1::kMinLevelSize || nw < tvl1::kMinLevelSize) break;
    lv.push_back({nh, nw, lv.back().off + static_cast<int64_t>(lv.back().h) * lv.back().w});
  }
  const int L = static_cast<int>(lv.size());
  const bool use_gamma = gamma != 0.0;
  const int comps = use_gamma ? 3 : 2;
  const float l_t = static_cast<float>(lambda) * static_cast<float>(theta);
  const float taut = static_cast<float>(tau) / static_cast<float>(theta);
  const int k_med = median_filtering > 1 ? static_cast<int>(median_filtering) : 0;

  Bufs B{};
  B.N = static_cast<int>(N);
  B.pyr = lv.back().off + static_cast<int64_t>(lv.back().h) * lv.back().w;
  B.area0 = static_cast<int64_t>(H) * W;
  const int64_t per_pair = 2 * B.pyr + (5 + comps + 2 * comps + 2) * B.area0;
  // + 8 bytes: room to align the error block (3·N doubles) after the float arrays
  const size_t bytes = static_cast<size_t>(N * per_pair) * sizeof(float) + 3 * static_cast<size_t>(N) * sizeof(double) + 8;
  void* mem = nullptr;
  cuda_check(cudaMallocAsync(&mem, bytes, st), kOp, "cudaMallocAsync");
  float* q = static_cast<float*>(mem);
  auto take = [&](int64_t per) {
    float* r = q;
    q += N * per;
    return r;
  };
  B.I0 = take(B.pyr);
  B.I1 = take(B.pyr);
  B.I1x = take(B.area0);
  B.I1y = take(B.area0);
  B.wx = take(B.area0);
  B.wy = take(B.area0);
  B.rhoc = take(B.area0);
  for (int c = 0; c < 3; ++c) B.u[c] = c < comps ? take(B.area0) : nullptr;
  for (int c = 0; c < 6; ++c) B.p[c] = c < 2 * comps ? take(B.area0) : nullptr;
  B.tmp[0] = take(B.area0);
  B.tmp[1] = take(B.area0);
  B.tmp[2] = nullptr;
  {
    uintptr_t e = reinterpret_cast<uintptr_t>(q);
    e = (e + 7) & ~uintptr_t(7);
    B.err = reinterpret_cast<double*>(e);
  }

  const dim3 block(kBx, kBy);
  k_load<<<grid(H, W, N), block, 0, st>>>(prev.s3<const float>(), next.s3<const float>(), B, H, W);
  for (int s = 1; s < L; ++s) {
    const Lv& a = lv[static_cast<size_t>(s - 1)];
    const Lv& d = lv[static_cast<size_t>(s)];
    k_resize<<<grid(d.h, d.w, N), block, 0, st>>>(B.I0 + a.off, B.I1 + a.off, nullptr, B.I0 + d.off, B.I1 + d.off, nullptr, 2,
                                                  B.pyr, a.h, a.w, d.h, d.w, 1.0 / scale_step, 1.0 / scale_step, 1.0f, 1.0f);
  }
  MCWES_CUDA_CHECK_LAUNCH(kOp);

  int it = 0;
  for (int s = L - 1; s >= 0; --s) {
    const Lv& l = lv[static_cast<size_t>(s)];
    const int h = l.h, w = l.w;
    const dim3 g = grid(h, w, N);
    bool zero_u = s == L - 1;
    if (!zero_u) {  // the coarser level's flow, resized (into tmp) and scaled, then copied back
      const Lv& c = lv[static_cast<size_t>(s + 1)];
      float* t3 = nullptr;
      if (use_gamma) t3 = B.rhoc;  // free at this point: rewritten by the first warp
      k_resize<<<g, block, 0, st>>>(B.u[0], B.u[1], use_gamma ? B.u[2] : nullptr, B.tmp[0], B.tmp[1], t3, comps, B.area0, c.h,
                                    c.w, h, w, 1.0 / (static_cast<double>(h) / c.h), 1.0 / (static_cast<double>(w) / c.w),
                                    static_cast<float>(1.0 / scale_step), 1.0f);
      cuda_check(
          cudaMemcpyAsync(B.u[0], B.tmp[0], static_cast<size_t>(N * B.area0) * sizeof(float), cudaMemcpyDeviceToDevice, st), kOp,
          "cudaMemcpyAsync");
      cuda_check(
          cudaMemcpyAsync(B.u[1], B.tmp[1], static_cast<size_t>(N * B.area0) * sizeof(float), cudaMemcpyDeviceToDevice, st), kOp,
          "cudaMemcpyAsync");
      if (use_gamma)
        cuda_check(cudaMemcpyAsync(B.u[2], t3, static_cast<size_t>(N * B.area0) * sizeof(float), cudaMemcpyDeviceToDevice, st),
                   kOp, "cudaMemcpyAsync");
    }
    k_level_init<<<g, block, 0, st>>>(B, l.off, h, w, comps, zero_u);
    const float eps = static_cast<float>(epsilon * epsilon * static_cast<double>(h) * w);
    for (int64_t wp = 0; wp < warps; ++wp) {
      k_warp<<<g, block, 0, st>>>(B, l.off, h, w, it);
      for (int64_t no = 0; no < outer_iterations; ++no) {
        if (k_med) {
          k_median<<<g, block, 0, st>>>(B, h, w, k_med, it, eps);
          k_median_copy<<<g, block, 0, st>>>(B, h, w, it, eps);
        }
        for (int64_t ni = 0; ni < inner_iterations; ++ni, it = (it + 1) % 3) {
          k_u<<<g, block, 0, st>>>(B, h, w, use_gamma, l_t, static_cast<float>(theta), static_cast<float>(gamma), it, eps);
          k_p<<<g, block, 0, st>>>(B, h, w, comps, taut, it, eps);
        }
      }
      MCWES_CUDA_CHECK_LAUNCH(kOp);
    }
  }
  k_store<<<grid(H, W, N), block, 0, st>>>(B, H, W, out.data<float>(), out.stride(0), out.stride(1), out.stride(2),
                                           out.stride(3));
  MCWES_CUDA_CHECK_LAUNCH(kOp);
  cuda_check(cudaFreeAsync(mem, st), kOp, "cudaFreeAsync");
}

}  // namespace mcwes
