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

inline cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

inline unsigned grid_for(int64_t n, int threads, int64_t cap = 65535LL * 16) {
  int64_t g = (n + threads - 1) / threads;
  if (g < 1) g = 1;
  if (g > cap) g = cap;
  return static_cast<unsigned>(g);
}

#define MCWES_CUDA_CHECK_LAUNCH(op) ::mcwes::cuda_check(cudaGetLastError(), op, "kernel launch")

}  // namespace mcwes
