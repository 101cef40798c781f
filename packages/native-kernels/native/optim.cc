// No FMA contraction here (binding.gyp compiles with -ffp-contract=fast): the update must round after every
// operation, as the op-by-op tfjs chain does, so that a fused step equals the stock one bit for bit.
#pragma GCC optimize("fp-contract=off")

#include "optim.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "sgemm.h"

namespace qlip {
namespace {

constexpr int64_t kParallelElems = 1 << 15;
constexpr int64_t kChunk = 1 << 14;

template <bool HasMoments, bool Decay>
void adamwRange(const float* p, const float* g, const float* m0, const float* v0, float* p1, float* m1, float* v1,
                int64_t lo, int64_t hi, const AdamWStep& s) {
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = g[i];
    const float m = HasMoments ? m0[i] * s.beta1 + gi * s.oneMinusBeta1 : gi * s.oneMinusBeta1;
    const float v = HasMoments ? v0[i] * s.beta2 + (gi * gi) * s.oneMinusBeta2 : (gi * gi) * s.oneMinusBeta2;
    const float decayed = Decay ? p[i] * s.keep : p[i];
    const float update = (m / s.bc1) / (std::sqrt(v / s.bc2) + s.eps);
    m1[i] = m;
    v1[i] = v;
    p1[i] = decayed - update * s.lr;
  }
}

}  // namespace

void adamw(const float* p, const float* g, const float* m0, const float* v0, float* p1, float* m1, float* v1,
           int64_t n, const AdamWStep& s) {
  const bool moments = m0 != nullptr && v0 != nullptr;
  auto range = [&](int64_t lo, int64_t hi) {
    if (moments && s.decay) adamwRange<true, true>(p, g, m0, v0, p1, m1, v1, lo, hi, s);
    else if (moments) adamwRange<true, false>(p, g, m0, v0, p1, m1, v1, lo, hi, s);
    else if (s.decay) adamwRange<false, true>(p, g, m0, v0, p1, m1, v1, lo, hi, s);
    else adamwRange<false, false>(p, g, m0, v0, p1, m1, v1, lo, hi, s);
  };
  const int threads = n < kParallelElems ? 1 : std::min<int64_t>(threadCount(), (n + kChunk - 1) / kChunk);
  if (threads <= 1) return range(0, n);
  std::atomic<int64_t> next{0};
  parallelRun(threads, [&](int) {
    for (int64_t lo = next.fetch_add(kChunk); lo < n; lo = next.fetch_add(kChunk)) range(lo, std::min(n, lo + kChunk));
  });
}

}  // namespace qlip
