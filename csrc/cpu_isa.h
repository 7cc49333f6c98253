// cpu_isa.h — which x86 vector instruction set the CPU kernels with hand-tuned paths run, and a cap
// on it so every path can be exercised and measured on one machine.
//
//   0 "scalar"  portable C++ compiled for the baseline target (x86-64: SSE2, compiler-vectorised)
//   1 "avx2"    AVX2 + FMA (256-bit registers, 16 of them)
//   2 "avx512"  AVX-512 F + VL (512-bit registers, 32 of them)
//
// cpu_isa_supported() is what the running CPU (and OS) offers, detected once; cpu_isa_level() is
// what the kernels use now: min(supported, cap). The cap starts at 2 (no cap); the Python loader sets
// it from MCWES_CPU_ISA at import and mcwes.set_cpu_isa() changes it at run time. Each kernel call
// reads the level once at its start, so a change never splits one call between two paths. On
// non-x86 targets (aarch64, ...) the AVX code is compiled out and the level is always 0.
#pragma once

#include <string>

namespace mcwes {

int cpu_isa_supported();
int cpu_isa_level();
// Caps the level (0..2); values above what the CPU supports leave the supported level in use.
void set_cpu_isa_cap(int cap);
int cpu_isa_cap();
const char* cpu_isa_name(int level);
// Parses "scalar" | "avx2" | "avx512" (the names above) into a level; throws std::invalid_argument
// naming `what` for anything else.
int cpu_isa_parse(const std::string& name, const char* what);

}  // namespace mcwes
