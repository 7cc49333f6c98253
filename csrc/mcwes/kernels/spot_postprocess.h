// spot_postprocess — docs/method.md §4 steps 2–5 for a whole batch in one call: multi-top candidates,
// outer-inner scores, class-agnostic NMS, score truncation.
//
//   attention     [B, T] float32/float64 (mean attention A)
//   cas           [B, T, C'] of attention's dtype (suppressed T-CAM Ŝ of the C' scored classes; the
//                 caller slices off the background channel)
//   video_scores  [B, C'] of attention's dtype (video-level probabilities p)
//   lengths       [B] int64 in [0, T]
//   m_values (ints >= 1), psi >= 0, varsigma finite, nms_threshold in [0, 1], score_threshold (not NaN)
//   out_ints      [4, cap] int64: rows batch_idx, start, end, label; out_score [cap] of attention's dtype;
//                 the first K columns are written and K is returned
//
// Per video: candidates [s, e] as multi_top_proposals; each yields C' proposals (s, e, j, φ_j) with
// φ_j as outer_inner_scores (computed in double); greedy NMS over the video's proposals of all
// classes, visiting larger φ first, ties to lower start, then lower end, then lower class; keep unless
// IoU with a kept one > nms_threshold (nms_1d.h). Proposals with φ < score_threshold are dropped; a
// NaN φ is dropped too (it fails φ >= score_threshold). Because NMS visits in descending φ and NaN
// last, the greedy loop stops at the first φ that fails the threshold: dropped proposals can only
// have suppressed other dropped ones, so the result equals "NMS, then truncate".
// Output ordered by (video, descending φ, the tie order above). Deterministic.
//
// Ragged output: the Python layer allocates C'·B·capacity(T) rows (multi_top_proposals.h) and the
// driver writes the K kept rows at the front and returns K.
#pragma once

#include "mcwes/kernels/multi_top_proposals.h"
#include "mcwes/kernels/nms_1d.h"
#include "mcwes/kernels/outer_inner_scores.h"
