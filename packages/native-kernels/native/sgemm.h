// Single-precision GEMM for the tfjs wasm backend: C[b] = act(op(A[b]) * op(B[b]) + bias).
// Self-contained (no BLAS): packing + register-blocked micro-kernels, chosen at run time by CPU features.
#pragma once

#include <cstdint>
#include <functional>

namespace qlip {

enum class Isa : int { Portable = 0, Avx2 = 1, Avx512 = 2 };

// Activation codes follow tfjs' FusableActivation order (tfjs-backend-wasm kernels/types.ts).
enum Activation : int { kLinear = 0, kRelu = 1, kRelu6 = 2, kPrelu = 3, kLeakyRelu = 4, kSigmoid = 5, kElu = 6 };

struct Epilogue {
  int act = kLinear;
  const float* bias = nullptr;  // length biasLen (1 or N), broadcast along rows
  int64_t biasLen = 0;
  const float* prelu = nullptr;  // length preluLen (1 or N)
  int64_t preluLen = 0;
  float alpha = 0.f;  // leakyrelu slope
};

// One batched product. Element (i, k) of A item `a` is a[aItem * M*K + i*rsa + k*csa]; likewise B.
struct BatchedGemm {
  const float* a = nullptr;
  const float* b = nullptr;
  float* c = nullptr;
  int64_t batch = 1, M = 0, N = 0, K = 0;
  bool transA = false, transB = false;
  // Which A/B item feeds output item `i`: aIdx[i] when given, else (aBroadcast ? 0 : i).
  const int32_t* aIdx = nullptr;
  const int32_t* bIdx = nullptr;
  bool aBroadcast = false, bBroadcast = false;
  const Epilogue* ep = nullptr;  // nullptr: plain product
};

bool isaSupported(Isa isa);
Isa bestIsa();
Isa currentIsa();
bool setIsa(Isa isa);  // false when the CPU lacks it
const char* isaName(Isa isa);

int threadCount();
void setThreadCount(int n);  // clamped to [1, 64]
void shutdownThreads();

// Runs fn(0..n-1) on the calling thread and n-1 pool workers (other kernels share the SGEMM's pool).
void parallelRun(int n, const std::function<void(int)>& fn);

// Runs the whole batched product (multi-threaded when it pays).
void run(const BatchedGemm& g);

struct Problem;  // kernels.h: one product on strided operands

// One product (strided operands, no batch) on the calling thread: the entry point for kernels that spread
// their own work over the pool (the fused attention runs several per batch item and head).
void runSingle(const Problem& pr);

}  // namespace qlip
