// nms_1d — greedy 1-D non-maximum suppression per video (docs/method.md §4.4, §6).
//
//   batch_idx, start, end  [P] int64: batch_idx >= 0 (a group id), 0 <= start <= end (inclusive)
//   scores                 [P] float32/float64
//   iou_threshold          in [0, 1]
//   keep                   int64 [K]: indices into the P inputs
//
// Per video, proposals are visited in the order: larger score first, then lower start, then lower
// end, then lower input index; NaN scores come after every number (a NaN never suppresses a real
// score; it is kept when nothing kept overlaps it). A proposal is kept unless its IoU with an
// already kept proposal of the same video is > iou_threshold. IoU on inclusive intervals:
// inter = max(0, min(e1, e2) - max(s1, s2) + 1), union = len1 + len2 - inter, computed as
// double(inter) / double(union). Output: the kept indices of all videos in that same visiting
// order over the whole batch (descending score). O(P log P + kept·P); no P×P matrix. Deterministic.
#pragma once

#include "mcwes/common.h"

namespace mcwes {
namespace nms_1d {

MCWES_HD double iou(int64_t s1, int64_t e1, int64_t s2, int64_t e2) {
  const int64_t lo = s1 > s2 ? s1 : s2, hi = e1 < e2 ? e1 : e2;
  const int64_t inter = hi - lo + 1 > 0 ? hi - lo + 1 : 0;
  const int64_t uni = (e1 - s1 + 1) + (e2 - s2 + 1) - inter;
  return static_cast<double>(inter) / static_cast<double>(uni);
}

MCWES_HD bool suppresses(int64_t s1, int64_t e1, int64_t s2, int64_t e2, double threshold) {
  return iou(s1, e1, s2, e2) > threshold;
}

// Visiting order: (score desc, NaN last, start asc, end asc, tie asc); `tie` is the input index for
// nms_1d and the class index for spot_postprocess.
template <typename T>
MCWES_HD bool before(T sa, int64_t st_a, int64_t en_a, int64_t tie_a, T sb, int64_t st_b, int64_t en_b, int64_t tie_b) {
  const bool na = is_nan(sa), nb = is_nan(sb);
  if (na != nb) return nb;
  if (!na && sa != sb) return sa > sb;
  if (st_a != st_b) return st_a < st_b;
  if (en_a != en_b) return en_a < en_b;
  return tie_a < tie_b;
}

}  // namespace nms_1d
}  // namespace mcwes
