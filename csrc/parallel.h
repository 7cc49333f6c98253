// parallel.h — the one parallel-for of the CPU drivers. OpenMP when the build has it, a plain loop
// otherwise. The thread count is the caller's (Python passes torch.get_num_threads()), and small
// jobs (under ~2^18 element operations, tens of microseconds) run on the calling thread: the fork/join
// costs more than it saves there, and far more when the other cores are busy. The body must not throw: validate
// before the loop.
#pragma once

#include <cstdint>

#if defined(MCWES_OPENMP)
#include <omp.h>
#endif

namespace mcwes {

template <typename F>
void parallel_for(int64_t n, int num_threads, int64_t work_per_item, F&& body) {
#if defined(MCWES_OPENMP)
  const bool parallel = num_threads > 1 && n > 1 && n * work_per_item >= (int64_t(1) << 18);
  if (parallel) {
#pragma omp parallel for num_threads(num_threads) schedule(dynamic, 1)
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace mcwes
