// mcwes/ops.h — declarations of every compiled entry point, one line per (op, device).
// bindings.cpp exposes exactly these; the CUDA ones exist when MCWES_WITH_CUDA is defined.
#pragma once

#include "mcwes/common.h"

namespace mcwes {

// Validation shared by the CPU and CUDA drivers of each op (shapes, dtypes, devices; on the CPU
// also values such as lengths and k). Throws std::invalid_argument with the op's name.
void topk_pool_check(const View& x, const View& k, const View& lengths, const View& out, const View& weights);

void topk_pool_fwd_cpu(const View& x, const View& k, const View& lengths, const View& out, const View& weights, int num_threads);

// Value checks on host data shared by several CPU drivers (csrc/host_checks.cpp).
void check_lengths_host(const View& lengths, int64_t steps, const char* op);
void check_intervals_host(const View& lengths, const View& batch_idx, const View& start, const View& end, const char* op);
void check_proposals_host(const View& batch_idx, const View& start, const View& end, const char* op);

// Spotting kernels (docs/method.md §3 duration mask, §4 steps 2–5). Ragged outputs are written at the front of
// caller-allocated worst-case buffers; the drivers return how many rows they wrote.
void duration_mask_check(const View& a, const View& lengths, const View& out, int64_t eta, double omega_l, double omega_u);
void multi_top_proposals_check(const View& a, const View& lengths, const std::vector<int64_t>& m_values, const View& batch_idx,
                               const View& start, const View& end);
int64_t multi_top_proposals_capacity(int64_t steps, const std::vector<int64_t>& m_values);
void outer_inner_scores_check(const View& x, const View& lengths, const View& batch_idx, const View& start, const View& end,
                              const View& video_scores, const View& out, double psi, double varsigma);
void nms_1d_check(const View& batch_idx, const View& start, const View& end, const View& scores, const View& keep,
                  double iou_threshold);
void spot_postprocess_check(const View& attention, const View& cas, const View& video_scores, const View& lengths,
                            const std::vector<int64_t>& m_values, double psi, double varsigma, double nms_threshold,
                            double score_threshold, const View& out_ints, const View& out_score);

void duration_mask_fwd_cpu(const View& a, const View& lengths, const View& out, int64_t eta, double omega_l, double omega_u,
                           int num_threads);
int64_t multi_top_proposals_fwd_cpu(const View& a, const View& lengths, const std::vector<int64_t>& m_values,
                                    const View& batch_idx, const View& start, const View& end, int num_threads);
void outer_inner_scores_fwd_cpu(const View& x, const View& lengths, const View& batch_idx, const View& start, const View& end,
                                const View& video_scores, const View& out, double psi, double varsigma, int num_threads);
int64_t nms_1d_fwd_cpu(const View& batch_idx, const View& start, const View& end, const View& scores, const View& keep,
                       double iou_threshold, int num_threads);
int64_t spot_postprocess_fwd_cpu(const View& attention, const View& cas, const View& video_scores, const View& lengths,
                                 const std::vector<int64_t>& m_values, double psi, double varsigma, double nms_threshold,
                                 double score_threshold, const View& out_ints, const View& out_score, int num_threads);
void cscm_attention_check(const View& q, const View& lengths, const View& out, const View& lse);
void cscm_attention_bwd_check(const View& grad_out, const View& q, const View& out, const View& lse, const View& lengths,
                              const View& grad_q);
void cscm_attention_fwd_cpu(const View& q, const View& lengths, double scale, const View& out, const View& lse, int num_threads);
void cscm_attention_bwd_cpu(const View& grad_out, const View& q, const View& out, const View& lse, const View& lengths,
                            double scale, const View& grad_q, int num_threads);
void tvl1_flow_check(const View& prev, const View& next, const View& out, double tau, double lambda, double theta,
                     int64_t nscales, int64_t warps, double epsilon, int64_t inner_iterations, int64_t outer_iterations,
                     double scale_step, double gamma, int64_t median_filtering);
void tvl1_flow_fwd_cpu(const View& prev, const View& next, const View& out, double tau, double lambda, double theta,
                       int64_t nscales, int64_t warps, double epsilon, int64_t inner_iterations, int64_t outer_iterations,
                       double scale_step, double gamma, int64_t median_filtering, int64_t row_split, int num_threads);

#if defined(MCWES_WITH_CUDA)
int cuda_device_count();  // 0 when no driver or no device; never throws
std::string cuda_runtime_info();
void topk_pool_fwd_cuda(const View& x, const View& k, const View& lengths, const View& out, const View& weights,
                        uintptr_t stream);
void duration_mask_fwd_cuda(const View& a, const View& lengths, const View& out, int64_t eta, double omega_l, double omega_u,
                            uintptr_t stream);
int64_t multi_top_proposals_fwd_cuda(const View& a, const View& lengths, const View& m_values, const View& batch_idx,
                                     const View& start, const View& end, const View& rank, const View& counts, uintptr_t stream);
void outer_inner_scores_fwd_cuda(const View& x, const View& lengths, const View& batch_idx, const View& start, const View& end,
                                 const View& video_scores, const View& out, double psi, double varsigma, uintptr_t stream);
void cscm_attention_fwd_cuda(const View& q, const View& lengths, double scale, const View& out, const View& lse,
                             uintptr_t stream);
void cscm_attention_bwd_cuda(const View& grad_out, const View& q, const View& out, const View& lse, const View& lengths,
                             double scale, const View& grad_q, uintptr_t stream);
void tvl1_flow_fwd_cuda(const View& prev, const View& next, const View& out, double tau, double lambda, double theta,
                        int64_t nscales, int64_t warps, double epsilon, int64_t inner_iterations, int64_t outer_iterations,
                        double scale_step, double gamma, int64_t median_filtering, uintptr_t stream);
#endif

}  // namespace mcwes
