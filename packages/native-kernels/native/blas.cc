// dlopen'ed OpenBLAS: the few entry points qlip calls, with prototypes declared here by hand.
#include "blas.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace qlip {
namespace {

// CBLAS enum values (cblas.h): fixed by the CBLAS standard.
constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;

using SgemmFn = void (*)(int order, int transA, int transB, int M, int N, int K, float alpha, const float* A,
                         int lda, const float* B, int ldb, float beta, float* C, int ldc);
using SetThreadsFn = void (*)(int);
using GetStringFn = char* (*)();

struct Blas {
  SgemmFn sgemm = nullptr;
  SetThreadsFn setThreads = nullptr;
  BlasInfo info;
};

Blas gBlas;
std::mutex gLoadMu;
std::atomic<bool> gActive{false};

/** Candidates in order: the soname ld.so resolves (Debian's alternatives link), then each flavour's own. */
const char* const kCandidates[] = {
    "libopenblas.so.0",
#if defined(__x86_64__)
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/openblas-serial/libopenblas.so.0",
#elif defined(__aarch64__)
    "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/openblas-openmp/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/openblas-serial/libopenblas.so.0",
#endif
    "libopenblasp.so.0",  // Fedora's pthreads / OpenMP flavours
    "libopenblaso.so.0",
    "libopenblas.so",
};

/**
 * dlopen with OPENBLAS_NUM_THREADS=1 for the duration of the call: OpenBLAS sizes its pool in its load-time
 * constructor, so no idle workers are created (the variable is restored at once, so child processes and
 * PyTorch peers never see it).
 */
void* openOne(const std::string& path, std::string* why) {
  const char* prev = std::getenv("OPENBLAS_NUM_THREADS");
  const std::string saved = prev ? prev : "";
  setenv("OPENBLAS_NUM_THREADS", "1", 1);
  dlerror();
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (prev)
    setenv("OPENBLAS_NUM_THREADS", saved.c_str(), 1);
  else
    unsetenv("OPENBLAS_NUM_THREADS");
  if (!h) {
    const char* e = dlerror();
    *why = e ? e : (path + ": dlopen failed");
    return nullptr;
  }
  auto sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
  auto setThreads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
  if (!sgemm || !setThreads) {
    *why = path + ": not OpenBLAS (no cblas_sgemm or openblas_set_num_threads)";
    dlclose(h);
    return nullptr;
  }
  gBlas.sgemm = sgemm;
  gBlas.setThreads = setThreads;
  auto str = [&](const char* sym) {
    auto fn = reinterpret_cast<GetStringFn>(dlsym(h, sym));
    const char* s = fn ? fn() : nullptr;
    return std::string(s ? s : "");
  };
  gBlas.info.config = str("openblas_get_config");
  gBlas.info.core = str("openblas_get_corename");
  return h;
}

}  // namespace

const BlasInfo& blasLoad(const std::string& path) {
  std::lock_guard<std::mutex> lk(gLoadMu);
  BlasInfo& info = gBlas.info;
  if (info.loaded) {
    if (!path.empty() && path != info.path) info.error = "another BLAS is already loaded: " + info.path;
    return info;
  }
  std::string errors;
  auto attempt = [&](const std::string& p) {
    std::string why;
    if (!openOne(p, &why)) {
      errors += (errors.empty() ? "" : "; ") + why;
      return false;
    }
    info.loaded = true;
    info.path = p;
    return true;
  };
  if (!path.empty()) {
    attempt(path);
  } else {
    for (const char* c : kCandidates)
      if (attempt(c)) break;
  }
  if (info.loaded) {
    // Every build (pthread, OpenMP, serial) then runs a call on the calling thread alone; our pool splits
    // the work, and OpenBLAS is called concurrently from its workers.
    gBlas.setThreads(1);
    info.error.clear();
  } else {
    info.error = errors;
  }
  return info;
}

const BlasInfo& blasInfo() { return gBlas.info; }

void blasEnable(bool on) { gActive.store(on && gBlas.info.loaded); }

bool blasActive() { return gActive.load(std::memory_order_relaxed); }

void blasSgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda,
               const float* b, int64_t ldb, float* c, int64_t ldc) {
  gBlas.sgemm(kCblasRowMajor, transA ? kCblasTrans : kCblasNoTrans, transB ? kCblasTrans : kCblasNoTrans,
              static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), 1.f, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), 0.f, c, static_cast<int>(ldc));
}

}  // namespace qlip
