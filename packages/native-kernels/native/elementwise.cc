// Elementwise kernels: the math itself is glibc's float functions (expf, erff, logf: within 1-2 ulp, several
// times faster than the wasm build's scalar code) or vectorised (tanh, GELU: gelu.inc); the gain is native
// code plus both cores.
#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "parallel.h"
#include "sgemm.h"

namespace qlip {
namespace {

// Work is handed out in chunks of this many elements (a multiple of 16 keeps chunks vector-aligned).
constexpr int64_t kChunk = 1 << 14;

template <typename F>
void map(const float* in, float* out, int64_t n, F f) {
  forChunks(n, kChunk, n, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i] = f(in[i]);
  });
}

template <int Op>
inline float apply(float x, float y) {
  if (Op == kAdd) return x + y;
  if (Op == kSub) return x - y;
  if (Op == kMul) return x * y;
  return x / y;
}

// One contiguous run of the output: a and b step by 1 or stay put (a broadcast scalar along the run).
template <int Op>
void run(const float* a, int64_t ia, const float* b, int64_t ib, float* o, int64_t n) {
  if (ia && ib) {
    for (int64_t i = 0; i < n; ++i) o[i] = apply<Op>(a[i], b[i]);
  } else if (ib) {
    const float x = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = apply<Op>(x, b[i]);
  } else if (ia) {
    const float y = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = apply<Op>(a[i], y);
  } else {
    const float v = apply<Op>(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) o[i] = v;
  }
}

template <int Op>
void binaryOp(const float* a, const float* b, float* out, const int64_t* shape, const int64_t* sa,
              const int64_t* sb, int rank) {
  const int64_t n = shape[rank - 1];
  int64_t rows = 1;
  for (int d = 0; d + 1 < rank; ++d) rows *= shape[d];
  const int64_t splits = std::max<int64_t>(1, (n + kChunk - 1) / kChunk);
  const int64_t part = (n + splits - 1) / splits;
  const int64_t rowsPerTask = splits > 1 ? 1 : std::max<int64_t>(1, kChunk / std::max<int64_t>(n, 1));
  const int64_t tasks = splits > 1 ? rows * splits : (rows + rowsPerTask - 1) / rowsPerTask;
  forChunks(tasks, 1, rows * n, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t r0 = splits > 1 ? t / splits : t * rowsPerTask;
      const int64_t r1 = splits > 1 ? r0 + 1 : std::min(rows, r0 + rowsPerTask);
      const int64_t j0 = splits > 1 ? (t % splits) * part : 0;
      const int64_t j1 = splits > 1 ? std::min(n, j0 + part) : n;
      for (int64_t r = r0; r < r1; ++r) {
        int64_t offA = 0, offB = 0, rem = r;
        for (int d = rank - 2; d >= 0; --d) {
          const int64_t c = rem % shape[d];
          rem /= shape[d];
          offA += c * sa[d];
          offB += c * sb[d];
        }
        const int64_t ia = sa[rank - 1], ib = sb[rank - 1];
        run<Op>(a + offA + j0 * ia, ia, b + offB + j0 * ib, ib, out + r * n + j0, j1 - j0);
      }
    }
  });
}

// gelu.inc once per ISA.
#define QLIP_ISA_SOURCE "gelu.inc"
#include "per_isa.inc"
#undef QLIP_ISA_SOURCE

using UnaryFn = void (*)(const float*, float*, int64_t);
using GeluBackwardFn = void (*)(const float*, const float*, float*, int64_t);

}  // namespace

// Vectorised, like PyTorch's CPU GELU: glibc's scalar erff made the forward ~10x slower than the backward
// (131 ms of a bench-s train step at 1 thread, 15 % of tokenize). The result is x Phi(x) within a few ulp,
// no longer bit-identical to the op-by-op composite (tested against float64 and against the composite).
void gelu(const float* x, float* y, int64_t n) {
  const UnaryFn fn = QLIP_FOR_ISA(currentIsa(), geluForward);
  forChunks(n, kChunk, n, [&](int64_t lo, int64_t hi) { fn(x + lo, y + lo, hi - lo); });
}

void geluGrad(const float* dy, const float* x, float* dx, int64_t n) {
  const GeluBackwardFn fn = QLIP_FOR_ISA(currentIsa(), geluBackward);
  forChunks(n, kChunk, n, [&](int64_t lo, int64_t hi) { fn(dy + lo, x + lo, dx + lo, hi - lo); });
}

void binary(int op, const float* a, const float* b, float* out, const int64_t* shape, const int64_t* sa,
            const int64_t* sb, int rank) {
  if (rank <= 0) return;
  for (int d = 0; d < rank; ++d)
    if (shape[d] == 0) return;
  switch (op) {
    case kAdd:
      return binaryOp<kAdd>(a, b, out, shape, sa, sb, rank);
    case kSub:
      return binaryOp<kSub>(a, b, out, shape, sa, sb, rank);
    case kMul:
      return binaryOp<kMul>(a, b, out, shape, sa, sb, rank);
    case kDiv:
      return binaryOp<kDiv>(a, b, out, shape, sa, sb, rank);
    default:
      return;
  }
}

void unary(int op, const float* in, float* out, int64_t n) {
  switch (op) {
    case kExp:
      return map(in, out, n, [](float x) { return std::exp(x); });
    case kErf:
      return map(in, out, n, [](float x) { return std::erf(x); });
    case kTanh: {  // vectorised (gelu.inc), not glibc's scalar tanhf
      const UnaryFn fn = QLIP_FOR_ISA(currentIsa(), tanhForward);
      return forChunks(n, kChunk, n, [&](int64_t lo, int64_t hi) { fn(in + lo, out + lo, hi - lo); });
    }
    case kLog:
      return map(in, out, n, [](float x) { return std::log(x); });
    default:
      return;
  }
}

void reduceSum(const float* in, float* out, int64_t outer, int64_t reduce, int64_t inner) {
  const int64_t total = outer * reduce * inner;
  if (inner == 1) {
    // Row sums: one output per row, added left to right.
    const int64_t rowsPerChunk = std::max<int64_t>(1, kChunk / std::max<int64_t>(reduce, 1));
    forChunks(outer, rowsPerChunk, total, [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) {
        const float* row = in + o * reduce;
        float s = 0.f;
        for (int64_t r = 0; r < reduce; ++r) s += row[r];
        out[o] = s;
      }
    });
    return;
  }
  // Column sums: each thread owns a strip of columns of every outer item and walks the rows in order.
  const int64_t strip = std::max<int64_t>(64, (kChunk / std::max<int64_t>(reduce, 1)) / 16 * 16);
  const int64_t strips = (inner + strip - 1) / strip;
  auto task = [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t o = t / strips, j0 = (t % strips) * strip, j1 = std::min(inner, j0 + strip);
      float* dst = out + o * inner;
      const float* src = in + o * reduce * inner;
      std::memset(dst + j0, 0, sizeof(float) * (j1 - j0));
      for (int64_t r = 0; r < reduce; ++r) {
        const float* row = src + r * inner;
        for (int64_t j = j0; j < j1; ++j) dst[j] += row[j];
      }
    }
  };
  forChunks(outer * strips, 1, total, task);
}

}  // namespace qlip
