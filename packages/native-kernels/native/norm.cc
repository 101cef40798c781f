// LayerNorm over the last axis (norm.h): one vectorised pass per row and step, rows split over
// the SGEMM's pool. The per-ISA row loops live in norm.inc.
//
// No FMA contraction (binding.gyp compiles with -ffp-contract=fast): contracting g - mean(g) with g = dy gamma
// would leave the rounding error of g behind where the difference is exactly 0 (a constant row). The loops
// are memory-bound, so separate multiplies and adds cost nothing.
#pragma GCC optimize("fp-contract=off")

#include "norm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "parallel.h"
#include "sgemm.h"

namespace qlip {
namespace {

// norm.inc once per ISA.
#define QLIP_ISA_SOURCE "norm.inc"
#include "per_isa.inc"
#undef QLIP_ISA_SOURCE

// The row functions of one ISA.
struct RowKernels {
  decltype(&portable::layerNormRows) layerNorm;
  decltype(&portable::layerNormGradRows) layerNormGrad;
};

RowKernels rowKernels() {
#if defined(__x86_64__) || defined(__i386__)
  const Isa isa = currentIsa();
  if (isa == Isa::Avx512) {
    return {avx512::layerNormRows, avx512::layerNormGradRows};
  }
  if (isa == Isa::Avx2) return {avx2::layerNormRows, avx2::layerNormGradRows};
#endif
  return {portable::layerNormRows, portable::layerNormGradRows};
}

// Rows handed out per chunk: ~16 Ki elements.
int64_t rowChunk(int64_t d) { return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(d, 1)); }

}  // namespace

void layerNorm(const float* x, const float* gamma, const float* beta, float* y, int64_t rows, int64_t d, float eps) {
  if (rows <= 0 || d <= 0) return;
  const auto fn = rowKernels().layerNorm;
  forChunks(rows, rowChunk(d), rows * d, [&](int64_t lo, int64_t hi) { fn(x, gamma, beta, y, lo, hi, d, eps); });
}

void layerNormGrad(const float* dy, const float* x, const float* gamma, float* dx, float* dgamma, float* dbeta,
                   int64_t rows, int64_t d, float eps) {
  if (d <= 0) return;
  std::fill(dgamma, dgamma + d, 0.f);
  std::fill(dbeta, dbeta + d, 0.f);
  if (rows <= 0) return;
  const auto fn = rowKernels().layerNormGrad;
  // Blocks of rows fixed by the shape alone, each with its own column sums (2 d floats), added in block order
  // at the end: the same dgamma and dbeta on any number of threads.
  const int64_t block = rowChunk(d);
  const int64_t blocks = (rows + block - 1) / block;
  std::vector<float> partial(static_cast<size_t>(blocks * 2 * d), 0.f);
  forChunks(blocks, 1, rows * d, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      float* pg = partial.data() + b * 2 * d;
      fn(dy, x, gamma, dx, pg, pg + d, b * block, std::min(rows, (b + 1) * block), d, eps);
    }
  });
  for (int64_t b = 0; b < blocks; ++b) {
    const float* pg = partial.data() + b * 2 * d;
    for (int64_t j = 0; j < d; ++j) dgamma[j] += pg[j];
    for (int64_t j = 0; j < d; ++j) dbeta[j] += pg[d + j];
  }
}

}  // namespace qlip
