// cuda_common.cuh — launch helpers shared by the CUDA drivers: the caller's stream, the device of
// the tensors, and a check after every launch that turns a CUDA error into a Python exception.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "mcwes/common.h"

namespace mcwes {

// Launch/runtime failures are not input errors: std::runtime_error (RuntimeError in Python).
inline void cuda_check(cudaError_t err, const char* op, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(detail::concat("mcwes.", op, ": CUDA error in ", what, ": ", cudaGetErrorString(err)));
}

// Makes the tensors' device current for the duration of a driver call, restoring the previous one.
class DeviceGuard {
 public:
  DeviceGuard(int device, const char* op) {
    cuda_check(cudaGetDevice(&prev_), op, "cudaGetDevice");
    if (device != prev_) cuda_check(cudaSetDevice(device), op, "cudaSetDevice");
  }
  ~DeviceGuard() { cudaSetDevice(prev_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0;
};

inline cudaStream_t as_stream(uintptr_t s) {
  return reinterpret_cast<cudaStream_t>(s);
}

inline unsigned grid_for(int64_t n, int threads, int64_t cap = 65535LL * 16) {
  int64_t g = (n + threads - 1) / threads;
  if (g < 1) g = 1;
  if (g > cap) g = cap;
  return static_cast<unsigned>(g);
}

// How many of the L valid steps of one row come before (v, t) in `before` order: the rank of a
// selection (selected iff rank < k). The steps are staged through `tile` (kTile values of shared
// memory) with block barriers, so every thread of the block must call it with the same L; a thread
// whose step is not `counting` (padding) only helps load. Counting stops once the rank reaches
// `limit` (topk_pool only asks whether rank < k). O(L²/threads) per row, no sort buffer: the selection
// of topk_pool and of multi_top_proposals.
template <int kTile, int kThreads, typename T, typename Read, typename Before>
__device__ int64_t tile_rank(T* tile, const Read& read, int64_t L, T v, int64_t t, bool counting, int64_t limit,
                             const Before& before) {
  int64_t rank = 0;
  for (int64_t u0 = 0; u0 < L; u0 += kTile) {
    const int64_t n = (L - u0) < kTile ? (L - u0) : kTile;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += kThreads) tile[i] = read(u0 + i);
    __syncthreads();
    if (counting && rank < limit)
      for (int64_t i = 0; i < n; ++i) rank += before(tile[i], u0 + i, v, t) ? 1 : 0;
  }
  return rank;
}

#define MCWES_CUDA_CHECK_LAUNCH(op) ::mcwes::cuda_check(cudaGetLastError(), op, "kernel launch")

}  // namespace mcwes
