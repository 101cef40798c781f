// Elementwise and reduction kernels for the tfjs wasm backend: float32 only, multi-threaded through the
// SGEMM's pool when the tensor is large enough to pay for waking a worker.
#pragma once

#include <cstdint>

namespace qlip {

// Unary ops, one code per tfjs kernel (mirrored in src/elementwise.ts).
enum UnaryOp : int { kExp = 0, kErf = 1, kTanh = 2, kLog = 3, kUnaryCount = 4 };

// out[i] = op(in[i]) for i < n (in and out may be the same buffer).
void unary(int op, const float* in, float* out, int64_t n);

// Binary ops, one code per tfjs kernel (mirrored in src/elementwise.ts).
enum BinaryOp : int { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kBinaryCount = 4 };

constexpr int kMaxBinaryRank = 8;

// out = a op b under broadcasting: out is dense with shape[0..rank); element (i0, ..., ir) of a is
// a[sum ik * sa[k]] (stride 0 along a broadcast dimension), likewise b. The innermost strides must be 0 or 1.
void binary(int op, const float* a, const float* b, float* out, const int64_t* shape, const int64_t* sa,
            const int64_t* sb, int rank);

// Exact GELU y = x Phi(x) in one vectorised pass; its gradient dx = dy * (Phi(x) + x * phi(x)) likewise (Phi,
// phi: the standard normal CDF and density; relative error ~1e-7).
void gelu(const float* x, float* y, int64_t n);
void geluGrad(const float* dy, const float* x, float* dx, int64_t n);

// out[o, i] = sum over r of in[o, r, i] for in viewed as [outer, reduce, inner], summed in r order (the
// order the stock kernel adds in, so column sums match it exactly). in and out must not overlap.
void reduceSum(const float* in, float* out, int64_t outer, int64_t reduce, int64_t inner);

}  // namespace qlip
