// Splitting work over the SGEMM's thread pool: the thresholds below which it stays on the calling thread, and
// forChunks for the elementwise and normalisation kernels.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "sgemm.h"

namespace qlip {

// Below this much work (elements touched) a kernel runs on the calling thread: waking a worker costs
// ~10-50 us.
constexpr int64_t kParallelElems = 1 << 15;
// The same for matrix products (the SGEMM, the fused attention), counted in flops.
constexpr double kParallelFlops = 4e6;

// fn(lo, hi) over [0, n) in chunks of `chunk`, handed out to every pool thread when `elems` (the work
// behind n) is large enough, else one call on the calling thread.
template <typename F>
void forChunks(int64_t n, int64_t chunk, int64_t elems, F&& fn) {
  const int threads = elems < kParallelElems ? 1 : std::min<int64_t>(threadCount(), (n + chunk - 1) / chunk);
  if (threads <= 1) {
    fn(0, n);
    return;
  }
  std::atomic<int64_t> next{0};
  parallelRun(threads, [&](int) {
    for (int64_t lo = next.fetch_add(chunk); lo < n; lo = next.fetch_add(chunk)) fn(lo, std::min(n, lo + chunk));
  });
}

}  // namespace qlip
