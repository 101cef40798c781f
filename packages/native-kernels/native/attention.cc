// Fused scaled dot-product attention: per (batch item, head) task, every product is one strided SGEMM call
// (runSingle) reading q, k, v and writing o, dq, dk, dv in the [B, T, H * hd] layout, and the softmax and its
// gradient run on the score rows while they are still in cache.
#include "attention.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "parallel.h"
#include "sgemm.h"

namespace qlip {
namespace {

// The row kernels, once per ISA.
#define QLIP_ISA_SOURCE "attention.inc"
#include "per_isa.inc"
#undef QLIP_ISA_SOURCE

struct RowFns {
  void (*softmax)(float* row, int64_t n, int64_t len, float scale);
  void (*softmaxGrad)(const float* p, float* dp, int64_t len, float scale);
};

RowFns rowFnsFor(Isa isa) { return {QLIP_FOR_ISA(isa, softmaxRow), QLIP_FOR_ISA(isa, softmaxGradRow)}; }

// C[M, N] (row stride ldc) = A * B on the calling thread.
void product(Operand a, Operand b, float* c, int64_t ldc, int64_t m, int64_t n, int64_t k) {
  runSingle(Problem{a, b, c, ldc, m, n, k, nullptr});
}

// fn(item, head) for every batch item and head, spread over the pool when the call is large enough.
template <typename F>
void forHeads(const AttentionShape& s, double flops, F&& fn) {
  const int64_t tasks = s.batch * s.heads;
  const int threads = flops < kParallelFlops ? 1 : static_cast<int>(std::min<int64_t>(threadCount(), tasks));
  std::atomic<int64_t> next{0};
  parallelRun(threads, [&](int) {
    for (int64_t t = next++; t < tasks; t = next++) fn(t / s.heads, t % s.heads);
  });
}

// Keys query row i may see.
inline int64_t visible(const AttentionShape& s, int64_t i) {
  return s.causal ? std::min(s.tk, i + s.tk - s.tq + 1) : s.tk;
}

}  // namespace

void attentionForward(const AttentionShape& s, const float* q, const float* k, const float* v, float* o, float* p) {
  if (s.batch * s.heads * s.tq == 0) return;
  const int64_t D = s.heads * s.hd;
  const RowFns rows = rowFnsFor(currentIsa());
  const double flops = 4.0 * s.batch * s.heads * s.tq * s.tk * s.hd;
  forHeads(s, flops, [&](int64_t b, int64_t h) {
    const float* qi = q + b * s.tq * D + h * s.hd;  // [Tq, hd], row stride D
    const float* ki = k + b * s.tk * D + h * s.hd;  // [Tk, hd]
    const float* vi = v + b * s.tk * D + h * s.hd;
    float* pi = p + (b * s.heads + h) * s.tq * s.tk;  // [Tq, Tk]
    product({qi, D, 1}, {ki, 1, D}, pi, s.tk, s.tq, s.tk, s.hd);  // S = Q K^T
    for (int64_t i = 0; i < s.tq; ++i) rows.softmax(pi + i * s.tk, visible(s, i), s.tk, s.scale);
    product({pi, s.tk, 1}, {vi, D, 1}, o + b * s.tq * D + h * s.hd, D, s.tq, s.hd, s.tk);  // O = P V
  });
}

void attentionBackward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* p,
                       const float* dout, float* dq, float* dk, float* dv) {
  if (s.batch * s.heads == 0) return;
  const int64_t D = s.heads * s.hd;
  const RowFns rows = rowFnsFor(currentIsa());
  const double flops = 8.0 * s.batch * s.heads * s.tq * s.tk * s.hd;
  forHeads(s, flops, [&](int64_t b, int64_t h) {
    const int64_t qOff = b * s.tq * D + h * s.hd, kOff = b * s.tk * D + h * s.hd;
    const float* pi = p + (b * s.heads + h) * s.tq * s.tk;  // [Tq, Tk]
    const float* doi = dout + qOff;                           // [Tq, hd], row stride D
    thread_local std::vector<float> scratch;
    scratch.resize(static_cast<size_t>(s.tq * s.tk));
    float* ds = scratch.data();  // dP, then dS (scaled) in place: [Tq, Tk]
    product({doi, D, 1}, {v + kOff, 1, D}, ds, s.tk, s.tq, s.tk, s.hd);  // dP = dO V^T
    for (int64_t i = 0; i < s.tq; ++i) rows.softmaxGrad(pi + i * s.tk, ds + i * s.tk, s.tk, s.scale);
    product({pi, 1, s.tk}, {doi, D, 1}, dv + kOff, D, s.tk, s.hd, s.tq);     // dV = P^T dO
    product({ds, s.tk, 1}, {k + kOff, D, 1}, dq + qOff, D, s.tq, s.hd, s.tk);  // dQ = dS K
    product({ds, 1, s.tk}, {q + qOff, D, 1}, dk + kOff, D, s.tk, s.hd, s.tq);  // dK = dS^T Q
  });
}

}  // namespace qlip
