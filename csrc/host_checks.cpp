// host_checks.cpp — value checks on host data that several CPU drivers share (declared in mcwes/ops.h).
// Shape, dtype and device checks live in mcwes/common.h; these read the values: lengths within
// [0, T], and proposal intervals that are well formed (and, with lengths, inside their video). They
// run before any parallel loop, so a bad value raises std::invalid_argument (Python: ValueError).
#include "mcwes/ops.h"

namespace mcwes {

// lengths[b] in [0, steps] for every video (duration_mask, multi_top_proposals, outer_inner_scores,
// spot_postprocess).
void check_lengths_host(const View& lengths, int64_t steps, const char* op) {
  const auto len = lengths.s1<const int64_t>();
  for (int64_t b = 0; b < lengths.size(0); ++b)
    MCWES_CHECK(len(b) >= 0 && len(b) <= steps, "mcwes.", op, ": expected lengths to lie in [0, ", steps, "], got ", len(b),
                " for video ", b);
}

// 0 <= batch_idx < B, 0 <= start <= end < lengths[batch_idx] for every interval (outer_inner_scores).
void check_intervals_host(const View& lengths, const View& batch_idx, const View& start, const View& end, const char* op) {
  const int64_t B = lengths.size(0);
  const auto len = lengths.s1<const int64_t>();
  const auto bi = batch_idx.s1<const int64_t>(), st = start.s1<const int64_t>(), en = end.s1<const int64_t>();
  for (int64_t i = 0; i < batch_idx.size(0); ++i) {
    const int64_t b = bi(i), s = st(i), e = en(i);
    MCWES_CHECK(b >= 0 && b < B, "mcwes.", op, ": expected batch_idx to lie in [0, ", B, "), got ", b, " at ", i);
    MCWES_CHECK(s >= 0 && s <= e, "mcwes.", op, ": expected 0 <= start <= end, got start ", s, " and end ", e, " at ", i);
    MCWES_CHECK(e < len(b), "mcwes.", op, ": expected end to be < lengths[batch_idx] = ", len(b), ", got ", e, " at ", i);
  }
}

// batch_idx >= 0 and 0 <= start <= end for every proposal; no lengths to check against (nms_1d).
void check_proposals_host(const View& batch_idx, const View& start, const View& end, const char* op) {
  const auto bi = batch_idx.s1<const int64_t>(), st = start.s1<const int64_t>(), en = end.s1<const int64_t>();
  for (int64_t i = 0; i < batch_idx.size(0); ++i) {
    MCWES_CHECK(bi(i) >= 0, "mcwes.", op, ": expected batch_idx to be >= 0, got ", bi(i), " at ", i);
    MCWES_CHECK(st(i) >= 0 && st(i) <= en(i), "mcwes.", op, ": expected 0 <= start <= end, got start ", st(i), " and end ", en(i),
                " at ", i);
  }
}

}  // namespace mcwes
