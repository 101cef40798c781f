// An optional system BLAS (OpenBLAS), opened with dlopen at run time: no headers and no link-time dependency,
// so the addon builds and runs without it and then keeps its own SGEMM.
#pragma once

#include <cstdint>
#include <string>

namespace qlip {

struct BlasInfo {
  bool loaded = false;
  std::string path;    // what was opened (a soname or QLIP_BLAS_LIB's path)
  std::string config;  // openblas_get_config(), e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..."
  std::string core;    // openblas_get_corename(), e.g. "Cooperlake"
  std::string error;   // why nothing loaded (every candidate's dlerror), when !loaded
};

// Opens `path` when non-empty, else the first OpenBLAS found among the sonames of Debian's
// libopenblas0-pthread/-openmp/-serial (and Fedora's). OpenBLAS is put at 1 thread: parallel work goes through
// the addon's own pool, so two pools never spin against each other. Idempotent once a library is loaded
// (a different path is refused with an error).
const BlasInfo& blasLoad(const std::string& path);
const BlasInfo& blasInfo();

// Route products through the loaded BLAS (true) or the addon's own kernel (false). No-op when none loaded.
void blasEnable(bool on);
bool blasActive();

// Row-major C[M, N] (row stride ldc) = op(A) * op(B), A being [M, K] (lda) or, transposed, [K, M]; likewise B.
// Only valid while blasActive().
void blasSgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda,
               const float* b, int64_t ldb, float* c, int64_t ldc);

}  // namespace qlip
