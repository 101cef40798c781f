// LayerNorm over the last axis for the tfjs wasm backend, forward and backward, float32, vectorised
// (AVX-512 / AVX2 / portable) and split over the SGEMM's pool by rows.
#pragma once

#include <cstdint>

namespace qlip {

// LayerNorm over rows of d values, as torch.nn.LayerNorm: y = (x - mean) * rstd * gamma + beta with
// rstd = 1 / sqrt(var + eps) and the biased variance of the row (two passes: the variance of the centred
// values, so large means do not cancel).
void layerNorm(const float* x, const float* gamma, const float* beta, float* y, int64_t rows, int64_t d, float eps);

// Its gradients for dy: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma and
// xhat = (x - mean) * rstd (the row statistics recomputed from x), dgamma = sum over rows of dy * xhat,
// dbeta = sum over rows of dy. The column sums are formed per fixed block of rows and the blocks added in
// order, so dgamma and dbeta do not depend on the thread count.
void layerNormGrad(const float* dy, const float* x, const float* gamma, float* dx, float* dgamma, float* dbeta,
                   int64_t rows, int64_t d, float eps);

}  // namespace qlip
