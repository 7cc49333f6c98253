// mcwes/ops.h — declarations of every compiled entry point, one line per (op, device).
// bindings.cpp exposes exactly these; the CUDA ones exist when MCWES_WITH_CUDA is defined.
#pragma once

#include "mcwes/common.h"

namespace mcwes {

// Validation shared by the CPU and CUDA drivers of each op (shapes, dtypes, devices; on the CPU
// also values such as lengths and k). Throws std::invalid_argument with the op's name.
void topk_pool_check(const View& x, const View& k, const View& lengths, const View& out, const View& mask);

void topk_pool_fwd_cpu(const View& x, const View& k, const View& lengths, const View& out, const View& mask,
                       int num_threads);
void topk_pool_bwd_cpu(const View& grad_out, const View& mask, const View& k, const View& lengths,
                       const View& grad_x, int num_threads);

void cscm_attention_check(const View& q, const View& lengths, const View& out, const View& lse);
void cscm_attention_fwd_cpu(const View& q, const View& lengths, double scale, const View& out, const View& lse,
                            int num_threads);
void cscm_attention_bwd_cpu(const View& grad_out, const View& q, const View& out, const View& lse,
                            const View& lengths, double scale, const View& grad_q, int num_threads);

#if defined(MCWES_WITH_CUDA)
int cuda_device_count();  // 0 when no driver or no device; never throws
std::string cuda_runtime_info();
void topk_pool_fwd_cuda(const View& x, const View& k, const View& lengths, const View& out, const View& mask,
                        uintptr_t stream);
void topk_pool_bwd_cuda(const View& grad_out, const View& mask, const View& k, const View& lengths,
                        const View& grad_x, uintptr_t stream);
void cscm_attention_fwd_cuda(const View& q, const View& lengths, double scale, const View& out, const View& lse,
                             uintptr_t stream);
void cscm_attention_bwd_cuda(const View& grad_out, const View& q, const View& out, const View& lse,
                             const View& lengths, double scale, const View& grad_q, uintptr_t stream);
#endif

}  // namespace mcwes
