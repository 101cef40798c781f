// Single-threaded building blocks behind sgemm.cc: one product C = act(A * B + bias) on strided operands.
#pragma once

#include <cstdint>

#include "sgemm.h"

namespace qlip {

// Element (r, c) of a matrix operand is data[r * rs + c * cs]; transposes are just swapped strides.
struct Operand {
  const float* data;
  int64_t rs, cs;
};

// C[M, N] (row stride ldc) = A[M, K] * B[K, N], then the epilogue (bias + activation) when ep is set.
struct Problem {
  Operand a, b;
  float* c;
  int64_t ldc, M, N, K;
  const Epilogue* ep;
};

using MicroFn = void (*)(int64_t kc, const float* pa, const float* pb, float* c, int64_t ldc, int m, int n,
                         bool accumulate, const Epilogue* ep, int64_t col0);

// The same tile reading A in place: element (i, p) of the panel at pa[i * ars + p * acs].
using MicroAFn = void (*)(int64_t ars, int64_t acs, int64_t kc, const float* pa, const float* pb, float* c,
                          int64_t ldc, int m, int n, bool accumulate, const Epilogue* ep, int64_t col0);

struct Kernel {
  // [half rows][half columns]: the MR x NR tile and its halves for a last panel of at most MR/2 rows or
  // NR/2 columns (packed that narrow).
  MicroFn micro[2][2];
  MicroAFn microA[2][2];  // unpacked A (row-major, rows all present)
  int mr, nr;  // full register tile: rows of A x columns of B
};

Kernel kernelFor(Isa isa);

// Rows [i0, i1) x columns [j0, j1) of pr.c: through the system BLAS when one is active (blas.h) and both
// operands have a unit stride, else gemmPacked. Safe to call from several pool workers at once.
void gemmBlocked(const Problem& pr, const Kernel& kern, int64_t i0, int64_t i1, int64_t j0, int64_t j1);

// Rows [i0, i1) x columns [j0, j1) of pr.c with packing and the register-blocked micro-kernel.
void gemmPacked(const Problem& pr, const Kernel& kern, int64_t i0, int64_t i1, int64_t j0, int64_t j1);

// Plain triple loop for tiny products, where packing costs more than it saves.
void gemmSimple(const Problem& pr);

}  // namespace qlip
