// tvl1_flow — dense TV-L1 optical flow between two grayscale frames (the dual TV-L1 of
// Zach, Pock & Bischof 2007 with the warping scheme of Wedel et al. 2009 and Sánchez, Meinhardt-Llopis
// & Facciolo, IPOL 2013), computed the way OpenCV's optflow::DualTVL1OpticalFlow does, with its
// parameter names and defaults. The flow stream of I3D was trained on this flow.
//
//   prev, next [N, H, W] float32 (intensities on the 0–255 scale) or uint8 (converted to float32
//              unscaled), any strides. The Python layer also takes one [H, W] pair.
//   out        [N, 2, H, W] float32: u (x, columns) then v (y, rows), in pixels, from prev to next:
//              next(x + u, y + v) ≈ prev(x, y).
//
// Parameters (OpenCV's defaults): tau 0.25 (dual step), lambda 0.15 (data weight), theta 0.3
// (coupling), nscales 5, warps 5, epsilon 0.01 (stopping threshold), inner_iterations 30,
// outer_iterations 10, scale_step 0.8, gamma 0 (illumination term off), median_filtering 5.
//
// Each choice below is OpenCV's, checked against opencv-contrib 5.0 (see tests/test_tvl1_flow.py):
//   * Input scale. uint8 frames are used as they are (0–255). float32 frames must be on the same
//     scale: OpenCV multiplies float32 input by 255 (it takes floats as 0–1), mcwes does not.
//   * Pyramid. Level s+1 is level s resized by scale_step with bilinear interpolation, pixel centres
//     aligned (output pixel d samples (d + 0.5)/scale_step − 0.5, clamped to the image; no
//     anti-aliasing), size round(size·scale_step) (half to even). The first level narrower or lower
//     than 16 pixels ends the pyramid (level 0 is always used, whatever its size). The flow starts at 0
//     on the coarsest level; moving to the next finer level it is resized the same way (to the finer
//     size, sampling positions (d + 0.5)·coarse/fine − 0.5) and divided by scale_step (u3 is not).
//   * Warping. warps times per level, I1 and its gradient are sampled at (x + u1, y + u2) by bicubic
//     convolution (Keys, a = −0.75) at the exact float position; taps outside the image count as 0
//     (so does a whole 4×4 window outside it). The gradient of I1 is taken once per level by central
//     differences (I[x+1] − I[x−1])/2 with indices clamped to the image (one-sided halves at the
//     borders, 0 across a 1-pixel dimension). The data term is linearised around the flow u0 of the
//     warp: rho(u) = rho_c + I1wx·u1 + I1wy·u2 (+ gamma·u3), rho_c = I1w − I1wx·u0₁ − I1wy·u0₂ − I0.
//   * Iteration (the order matters). The dual variables p are set to 0 once per level (not per warp).
//     Per warp: error = +inf; then up to outer_iterations times, while error > epsilon²·H·W: a
//     median_filtering × median_filtering median filter on u1 and u2 (edges repeated; off when ≤ 1),
//     then up to inner_iterations times, while error > epsilon²·H·W:
//       v  = u + TH(u): with g = |∇I1w|², l_t = lambda·theta: step l_t·∇I1w where rho < −l_t·g,
//            −l_t·∇I1w where rho > l_t·g, otherwise −rho/g·∇I1w (0 when g ≤ FLT_EPSILON);
//            with gamma ≠ 0 the same coefficient times gamma moves u3;
//       u' = v + theta·div p, div with backward differences and p = 0 before the first column/row;
//       error = Σ |u' − u|² over the level (all components);
//       p' = (p + (tau/theta)·∇u') / (1 + (tau/theta)·|∇u'|), ∇ by forward differences, 0 in the
//            last column (x) and last row (y).
//     The error therefore carries over from one outer iteration to the next within a warp.
//
// The drivers run in float32 (the reference twin mcwes.reference.tvl1_flow in float64), with
// denormals flushed to zero on the CPU. The CPU stopping test sums each row's squared changes
// (float, vectorised) and then the rows in order (double), so the iteration count, and the result
// bit for bit, do not depend on the thread count or batching. They do depend, to rounding, on the
// instruction set the CPU driver runs (mcwes.cpu_isa(): its AVX2 and AVX-512 copies use FMAs and
// wider partial sums). With epsilon > 0, float32 and float64
// can stop one iteration apart on a borderline, which moves the flow locally (tests compare such
// runs statistically; with epsilon = 0 kernel and twin agree to ~1e-4 px). Not differentiable.
#pragma once

#include "mcwes/common.h"

namespace mcwes {
namespace tvl1 {

constexpr int kMinLevelSize = 16;                       // a pyramid level below this (either dimension) is not used
constexpr float kFltEpsilon = 1.1920928955078125e-07f;  // |∇I1w|² at or below this counts as 0
constexpr int kMaxMedian = 7;                           // median_filtering is 0/1 (off) or odd in [3, kMaxMedian]

// Keys cubic convolution weights (a = −0.75) of the taps at offsets −1, 0, 1, 2 for fraction t.
MCWES_HD void cubic_weights(float t, float w[4]) {
  const float a = -0.75f;
  const float t1 = t + 1.0f, s = 1.0f - t;
  w[0] = ((a * t1 - 5.0f * a) * t1 + 8.0f * a) * t1 - 4.0f * a;
  w[1] = ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
  w[2] = ((a + 2.0f) * s - (a + 3.0f)) * s * s + 1.0f;
  w[3] = 1.0f - w[0] - w[1] - w[2];
}

// Bicubic samples of three images [h, w] (row stride w) at the same position (x, y), written to
// out[0..2]; taps outside the image count as 0 (so does a whole 4×4 window outside it).
MCWES_HD void sample_cubic3(const float* a, const float* b, const float* c, int h, int w, float x, float y, float out[3]) {
  out[0] = out[1] = out[2] = 0.0f;
  const float fx = floorf(x), fy = floorf(y);
  // Positions far outside (a diverged flow) must not overflow the int conversion.
  if (!(fx > -4.0f && fx < static_cast<float>(w) + 2.0f && fy > -4.0f && fy < static_cast<float>(h) + 2.0f)) return;
  const int ix = static_cast<int>(fx) - 1, iy = static_cast<int>(fy) - 1;
  float wx[4], wy[4];
  cubic_weights(x - fx, wx);
  cubic_weights(y - fy, wy);
  const float* img[3] = {a, b, c};
  if (ix >= 0 && ix + 3 < w && iy >= 0 && iy + 3 < h) {
    for (int k = 0; k < 3; ++k) {
      float sum = 0.0f;
      for (int j = 0; j < 4; ++j) {
        const float* r = img[k] + static_cast<int64_t>(iy + j) * w + ix;
        sum += wy[j] * (wx[0] * r[0] + wx[1] * r[1] + wx[2] * r[2] + wx[3] * r[3]);
      }
      out[k] = sum;
    }
    return;
  }
  for (int k = 0; k < 3; ++k) {
    float sum = 0.0f;
    for (int j = 0; j < 4; ++j) {
      const int yy = iy + j;
      if (yy < 0 || yy >= h) continue;
      const float* r = img[k] + static_cast<int64_t>(yy) * w;
      float row = 0.0f;
      for (int i = 0; i < 4; ++i) {
        const int xx = ix + i;
        if (xx >= 0 && xx < w) row += wx[i] * r[xx];
      }
      sum += wy[j] * row;
    }
    out[k] = sum;
  }
}

// One bilinear resize tap pair: output index d of n_out samples the input (n_in) at
// (d + 0.5)·scale − 0.5 clamped to [0, n_in − 1]; i0/i1 the taps, the return value the weight of i1.
MCWES_HD float resize_tap(int d, double scale, int n_in, int* i0, int* i1) {
  float s = static_cast<float>((d + 0.5) * scale - 0.5);
  if (s < 0.0f) s = 0.0f;
  const float last = static_cast<float>(n_in - 1);
  if (s > last) s = last;
  int k = static_cast<int>(floorf(s));
  if (k > n_in - 1) k = n_in - 1;
  *i0 = k;
  *i1 = k + 1 < n_in ? k + 1 : n_in - 1;
  return s - static_cast<float>(k);
}

// The coefficient of the thresholding step TH: v = u + coeff·∇I1w (and u3 + coeff·gamma), from
// rho(u) and g = |∇I1w|². Branch-free so that loops vectorise: the division runs unconditionally
// (on 1 where g is flat) and only selects follow; with -fno-trapping-math (CMakeLists.txt) GCC turns
// them into blends on SSE and AVX2 too, not only into AVX-512 masked operations.
MCWES_HD float th_coeff(float rho, float g, float l_t) {
  const float thr = l_t * g;
  const bool steep = g > kFltEpsilon;
  const float q = -rho / (steep ? g : 1.0f);
  const float mid = steep ? q : 0.0f;
  const float c = rho > thr ? -l_t : mid;
  return rho < -thr ? l_t : c;
}

// The size of pyramid level s+1 from level s (round half to even, as rint).
inline int next_level_size(int n, double scale_step) {
  const double v = static_cast<double>(n) * scale_step;
  const double r = __builtin_rint(v);
  return static_cast<int>(r);
}

}  // namespace tvl1
}  // namespace mcwes
