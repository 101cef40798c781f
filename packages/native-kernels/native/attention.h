// Fused scaled dot-product attention for the tfjs wasm backend (@qlip/nn's FUSED_KERNELS.attention): heads
// are read and written in place in the projections' token-major layout [B, T, H * hd] through strided
// operands of the addon's SGEMM, so no head transposes; both cores work over batch x heads.
#pragma once

#include <cstdint>

namespace qlip {

struct AttentionShape {
  int64_t batch, heads, tq, tk, hd;
  float scale;  // S = scale * Q K^T; must be > 0
  bool causal;  // query i sees keys 0 .. i + tk - tq (tk >= tq: the past, then the causal mask)
};

// o [B, Tq, H*hd] = softmax(scale Q K^T + mask) V per head, and p [B, H, Tq, Tk] (the probabilities, saved
// for the backward pass), from q [B, Tq, H*hd] and k, v [B, Tk, H*hd].
void attentionForward(const AttentionShape& s, const float* q, const float* k, const float* v, float* o, float* p);

// dq, dk, dv (the layouts of q, k, v) from dout [B, Tq, H*hd] and the forward's p:
// dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dP P)), dQ = scale dS K, dK = scale dS^T Q.
void attentionBackward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* p,
                       const float* dout, float* dq, float* dk, float* dv);

}  // namespace qlip
