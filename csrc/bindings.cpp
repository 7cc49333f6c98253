// bindings.cpp — the Python module mcwes._C: one m.def per (op, device), the view type, and what
// build_info() reports. Every kernel runs with the GIL released.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "cpu_isa.h"
#include "mcwes/ops.h"

namespace py = pybind11;

#define MCWES_DEF(m, fn) m.def(#fn, &mcwes::fn, py::call_guard<py::gil_scoped_release>())

PYBIND11_MODULE(_C, m) {
  m.doc() = "mcwes compiled kernels (torch-free; called through mcwes.ops)";

  py::class_<mcwes::View>(m, "View").def(py::init<uintptr_t, int, std::vector<int64_t>, std::vector<int64_t>, int>(),
                                         py::arg("ptr"), py::arg("dtype"), py::arg("sizes"), py::arg("strides"),
                                         py::arg("device"));

  MCWES_DEF(m, topk_pool_fwd_cpu);
  MCWES_DEF(m, duration_mask_fwd_cpu);
  MCWES_DEF(m, multi_top_proposals_capacity);
  MCWES_DEF(m, multi_top_proposals_fwd_cpu);
  MCWES_DEF(m, outer_inner_scores_fwd_cpu);
  MCWES_DEF(m, nms_1d_fwd_cpu);
  MCWES_DEF(m, spot_postprocess_fwd_cpu);
  MCWES_DEF(m, cscm_attention_fwd_cpu);
  MCWES_DEF(m, cscm_attention_bwd_cpu);
  MCWES_DEF(m, tvl1_flow_fwd_cpu);

  // The vector instruction set of the CPU kernels with ISA-specific paths (cpu_isa.h).
  m.def("cpu_isa", [] { return std::string(mcwes::cpu_isa_name(mcwes::cpu_isa_level())); });
  m.def("cpu_isa_supported", [] { return std::string(mcwes::cpu_isa_name(mcwes::cpu_isa_supported())); });
  m.def("cpu_isa_cap", [] { return std::string(mcwes::cpu_isa_name(mcwes::cpu_isa_cap())); });
  m.def(
      "set_cpu_isa_cap",
      [](const std::string& name, const std::string& what) { mcwes::set_cpu_isa_cap(mcwes::cpu_isa_parse(name, what.c_str())); },
      py::arg("name"), py::arg("what"));

  py::dict info;
  info["version"] = MCWES_VERSION;
  info["build_type"] = MCWES_BUILD_TYPE;
  info["compiler"] = MCWES_CXX_COMPILER;
#if defined(MCWES_OPENMP)
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
#if defined(MCWES_SANITIZE)
  info["sanitize"] = MCWES_SANITIZE;
#else
  info["sanitize"] = "";
#endif
#if defined(MCWES_WITH_CUDA)
  info["cuda"] = true;
  info["cuda_architectures"] = MCWES_CUDA_ARCHS;
  info["cuda_compiler_version"] = MCWES_CUDA_COMPILER_VERSION;
  MCWES_DEF(m, cuda_device_count);
  MCWES_DEF(m, cuda_runtime_info);
  MCWES_DEF(m, topk_pool_fwd_cuda);
  MCWES_DEF(m, duration_mask_fwd_cuda);
  MCWES_DEF(m, multi_top_proposals_fwd_cuda);
  MCWES_DEF(m, outer_inner_scores_fwd_cuda);
  MCWES_DEF(m, cscm_attention_fwd_cuda);
  MCWES_DEF(m, cscm_attention_bwd_cuda);
  MCWES_DEF(m, tvl1_flow_fwd_cuda);
#else
  info["cuda"] = false;
  info["cuda_architectures"] = "";
  info["cuda_compiler_version"] = "";
#endif
  m.attr("BUILD") = info;
}
