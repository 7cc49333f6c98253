// cpu_isa.cpp — detection and cap of the vector instruction set (see cpu_isa.h).
#include "cpu_isa.h"

#include <atomic>

#include "mcwes/common.h"

namespace mcwes {

namespace {
std::atomic<int> g_cap{2};
}  // namespace

int cpu_isa_supported() {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(_M_X64))
  // __builtin_cpu_supports checks the CPUID bits and, for AVX/AVX-512, that the OS saves the
  // wider registers (XCR0), so a level reported here is usable.
  static const int level = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
  }();
  return level;
#else
  return 0;
#endif
}

int cpu_isa_level() {
  const int cap = g_cap.load(std::memory_order_relaxed);
  const int hw = cpu_isa_supported();
  return cap < hw ? cap : hw;
}

void set_cpu_isa_cap(int cap) {
  MCWES_CHECK(cap >= 0 && cap <= 2, "mcwes.set_cpu_isa: expected a level in [0, 2], got ", cap);
  g_cap.store(cap, std::memory_order_relaxed);
}

int cpu_isa_cap() {
  return g_cap.load(std::memory_order_relaxed);
}

const char* cpu_isa_name(int level) {
  switch (level) {
    case 2: return "avx512";
    case 1: return "avx2";
    default: return "scalar";
  }
}

int cpu_isa_parse(const std::string& name, const char* what) {
  for (int level = 0; level <= 2; ++level)
    if (name == cpu_isa_name(level)) return level;
  MCWES_CHECK(false, what, ": expected one of \"scalar\", \"avx2\", \"avx512\", got \"", name, "\"");
  return 0;
}

}  // namespace mcwes
