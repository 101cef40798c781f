// Fused optimizer updates for the tfjs wasm backend.
#pragma once

#include <cstdint>

namespace qlip {

// Float32 constants of one AdamW step, each rounded to float32 as tfjs rounds a scalar operand.
struct AdamWStep {
  float beta1, oneMinusBeta1, beta2, oneMinusBeta2;
  float keep;  // 1 - lr * weightDecay; ignored when decay is false
  bool decay;
  float bc1, bc2, eps, lr;  // bias corrections 1 - beta^t
};

// One AdamW step over n elements, in the exact operation order of @qlip/trainer's AdamW on tfjs ops:
//   m1 = m0 b1 + g (1 - b1);  v1 = v0 b2 + g^2 (1 - b2)   (m0, v0 may be null: zero moments)
//   p1 = (decay ? p keep : p) - ((m1 / bc1) / (sqrt(v1 / bc2) + eps)) lr
// Every operation rounds to float32 and none is contracted into an FMA, so results equal the op-by-op chain.
void adamw(const float* p, const float* g, const float* m0, const float* v0, float* p1, float* m1, float* v1,
           int64_t n, const AdamWStep& s);

}  // namespace qlip
