// device_cuda.cu — what build_info() reports about the CUDA runtime linked into the module.
#include <cuda_runtime.h>

#include <string>

#include "mcwes/ops.h"

namespace mcwes {

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver"/"no device" error
    return 0;
  }
  return n;
}

std::string cuda_runtime_info() {
  int rt = 0, drv = 0;
  cudaRuntimeGetVersion(&rt);
  if (cudaDriverGetVersion(&drv) != cudaSuccess) drv = 0;
  cudaGetLastError();
  return detail::concat("runtime ", rt / 1000, ".", (rt % 1000) / 10, ", driver ",
                        drv ? detail::concat(drv / 1000, ".", (drv % 1000) / 10) : std::string("none"));
}

}  // namespace mcwes
