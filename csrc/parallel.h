// parallel.h — the CPU drivers' one threading layer. OpenMP when the build has it, plain loops
// otherwise. Two shapes of parallelism, nothing else:
//   * parallel_for: independent items (videos, rows, pairs), one fork/join, dynamic schedule;
//   * a Team: threads that cooperate on one item inside one parallel region (in_team), sharing loops
//     (team_for, a fixed round-robin map, so sums stay deterministic), bands of rows (Team::band) and
//     barriers (Team::sync / team_barrier). cscm_attention runs a team on one video when there are
//     fewer videos than threads; tvl1_flow can split one pair's rows.
// The thread count is always the caller's (Python passes torch.get_num_threads()). Bodies must not
// throw: validate before the loop.
//
// parallel_for: small jobs (under ~2^18 element operations, tens of microseconds) run on the calling
// thread: the fork/join costs more than it saves there, and far more when the other cores are busy.
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

// A team: member `id` of `size` threads inside one parallel region ({0, 1}: the calling thread alone).
struct Team {
  int id = 0, size = 1;
  // Member id's band [lo, hi) of n rows: contiguous, sizes differ by at most one.
  void band(int n, int* lo, int* hi) const {
    *lo = static_cast<int>(static_cast<int64_t>(n) * id / size);
    *hi = static_cast<int>(static_cast<int64_t>(n) * (id + 1) / size);
  }
  // Barrier of the team (nothing for a one-thread team, which may run inside a worksharing loop).
  void sync() const {
#if defined(MCWES_OPENMP)
    if (size > 1) {
#pragma omp barrier
    }
#endif
  }
};

inline void team_barrier(const Team& team) {
  team.sync();
}

// Runs body(Team) on `threads` threads (one region, so team_for and barriers work inside), or on the
// calling thread alone when !parallel or threads <= 1.
template <typename F>
void in_team(int threads, bool parallel, F&& body) {
#if defined(MCWES_OPENMP)
  if (parallel && threads > 1) {
#pragma omp parallel num_threads(threads)
    body(Team{omp_get_thread_num(), omp_get_num_threads()});
    return;
  }
#endif
  body(Team{0, 1});
}

// Work-shared loop over [0, n) inside a team region. Round-robin (static, 1): a fixed assignment keeps
// per-thread sums deterministic, and spreads items of falling cost evenly.
template <typename F>
void team_for(const Team& team, int64_t n, F&& body) {
#if defined(MCWES_OPENMP)
  if (team.size > 1) {
#pragma omp for schedule(static, 1)
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace mcwes
