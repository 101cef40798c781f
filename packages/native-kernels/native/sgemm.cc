// CPU dispatch, work splitting and the persistent thread pool behind qlip::run.
#include "sgemm.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "blas.h"
#include "kernels.h"
#include "parallel.h"

namespace qlip {
namespace {

// Strips per thread when one product is split; strips are at least this many rows/columns.
constexpr int64_t kTasksPerThread = 3;
constexpr int64_t kMinStrip = 96;
// With OpenBLAS, products are cut into one strip per core of the machine (at most 8), whatever the thread
// count (see run): every strip re-packs the other operand, and 12 strips (4 "threads" x 3) ran a 1-thread
// bench-s product 3-8 % below one OpenBLAS call, 2 strips 0-3 % (measured through torch.mm, OpenBLAS 0.3.21).
int64_t blasCut() {
  static const int64_t cut = std::min<int64_t>(std::max<unsigned>(std::thread::hardware_concurrency(), 1u), 8);
  return cut;
}
// Below this M*N*K the triple loop beats packing.
constexpr int64_t kSimpleVolume = 4096;

/** Workers sleep on a condition variable between calls; the calling thread takes share 0 itself. */
class Pool {
 public:
  ~Pool() { shutdown(); }

  void run(int n, const std::function<void(int)>& fn) {
    std::lock_guard<std::mutex> serial(runMu_);
    if (n <= 1) {
      fn(0);
      return;
    }
    {
      std::unique_lock<std::mutex> lk(mu_);
      stop_ = false;
      while (static_cast<int>(threads_.size()) < n - 1) {
        const int id = static_cast<int>(threads_.size()) + 1;
        threads_.emplace_back([this, id] { loop(id); });
      }
      job_ = &fn;
      active_ = n;
      pending_ = n - 1;
      ++gen_;
    }
    wake_.notify_all();
    fn(0);
    std::unique_lock<std::mutex> lk(mu_);
    done_.wait(lk, [this] { return pending_ == 0; });
    job_ = nullptr;
  }

  void shutdown() {
    std::lock_guard<std::mutex> serial(runMu_);
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void loop(int id) {
    uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lk(mu_);
      seen = gen_;
      // A thread spawned for the current call must still take its share.
      if (job_ && id < active_) seen = gen_ - 1;
    }
    for (;;) {
      const std::function<void(int)>* job;
      {
        std::unique_lock<std::mutex> lk(mu_);
        wake_.wait(lk, [&] { return stop_ || gen_ != seen; });
        if (stop_) return;
        seen = gen_;
        if (id >= active_) continue;
        job = job_;
      }
      (*job)(id);
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  std::mutex runMu_, mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(int)>* job_ = nullptr;
  uint64_t gen_ = 0;
  int active_ = 0, pending_ = 0;
  bool stop_ = false;
};

Pool& pool() {
  static Pool p;
  return p;
}

std::atomic<int> gIsa{-1};
std::atomic<int> gThreads{1};

Problem problemFor(const BatchedGemm& g, int64_t item) {
  const int64_t ai = g.aIdx ? g.aIdx[item] : (g.aBroadcast ? 0 : item);
  const int64_t bi = g.bIdx ? g.bIdx[item] : (g.bBroadcast ? 0 : item);
  const float* a = g.a + ai * g.M * g.K;
  const float* b = g.b + bi * g.K * g.N;
  // A is stored [M, K], or [K, M] when transposed; B is [K, N], or [N, K].
  const Operand oa = g.transA ? Operand{a, 1, g.M} : Operand{a, g.K, 1};
  const Operand ob = g.transB ? Operand{b, 1, g.K} : Operand{b, g.N, 1};
  return Problem{oa, ob, g.c + item * g.M * g.N, g.N, g.M, g.N, g.K, g.ep};
}

}  // namespace

bool isaSupported(Isa isa) {
  switch (isa) {
    case Isa::Portable:
      return true;
#if defined(__x86_64__) || defined(__i386__)
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Avx512:
      return __builtin_cpu_supports("avx512f");
#endif
    default:
      return false;
  }
}

Isa bestIsa() {
  if (isaSupported(Isa::Avx512)) return Isa::Avx512;
  if (isaSupported(Isa::Avx2)) return Isa::Avx2;
  return Isa::Portable;
}

Isa currentIsa() {
  int v = gIsa.load();
  if (v < 0) {
    v = static_cast<int>(bestIsa());
    gIsa.store(v);
  }
  return static_cast<Isa>(v);
}

bool setIsa(Isa isa) {
  if (!isaSupported(isa)) return false;
  gIsa.store(static_cast<int>(isa));
  return true;
}

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Avx512:
      return "avx512";
    case Isa::Avx2:
      return "avx2";
    default:
      return "portable";
  }
}

int threadCount() { return gThreads.load(); }

void setThreadCount(int n) { gThreads.store(std::min(std::max(n, 1), 64)); }

void shutdownThreads() { pool().shutdown(); }

void parallelRun(int n, const std::function<void(int)>& fn) { pool().run(n, fn); }

void run(const BatchedGemm& g) {
  if (g.batch <= 0 || g.M <= 0 || g.N <= 0) return;
  if (g.M * g.N * g.K <= kSimpleVolume) {
    for (int64_t item = 0; item < g.batch; ++item) gemmSimple(problemFor(g, item));
    return;
  }
  const Kernel kern = kernelFor(currentIsa());
  const double flops = 2.0 * static_cast<double>(g.M) * g.N * g.K * g.batch;
  const int threads = flops < kParallelFlops ? 1 : threadCount();
  // Whole batch items per task when there are enough; otherwise cut each item into row or column strips
  // (whichever dimension is longer: each strip re-packs the other operand). Tasks are taken dynamically and
  // there are a few per thread, so a thread that the OS descheduled does not hold the others up. Our kernel
  // sums in the same order however a product is cut; OpenBLAS does not, so with it the cut depends on the
  // shape and the machine's core count alone, and results stay bit-identical for any thread count.
  const int64_t cutFor = blasActive() ? blasCut() : threads;
  const int64_t perThread = blasActive() ? 1 : kTasksPerThread;
  const int64_t splits = g.batch >= 2 * cutFor ? 1 : (perThread * cutFor + g.batch - 1) / g.batch;
  const bool byRows = g.M >= g.N;
  const int64_t unit = byRows ? kern.mr : kern.nr;
  const int64_t extent = byRows ? g.M : g.N;
  const int64_t minChunk = (kMinStrip + unit - 1) / unit * unit;
  const int64_t chunk = std::max(minChunk, ((extent + splits - 1) / splits + unit - 1) / unit * unit);
  const int64_t tasks = g.batch * splits;
  std::atomic<int64_t> next{0};
  pool().run(threads, [&](int) {
    for (int64_t t = next++; t < tasks; t = next++) {
      const int64_t item = t / splits, s = t % splits;
      const int64_t lo = s * chunk, hi = std::min(extent, lo + chunk);
      if (lo >= hi) continue;
      const Problem pr = problemFor(g, item);
      if (byRows)
        gemmBlocked(pr, kern, lo, hi, 0, g.N);
      else
        gemmBlocked(pr, kern, 0, g.M, lo, hi);
    }
  });
}

void runSingle(const Problem& pr) {
  if (pr.M <= 0 || pr.N <= 0) return;
  if (pr.M * pr.N * pr.K <= kSimpleVolume) return gemmSimple(pr);
  gemmBlocked(pr, kernelFor(currentIsa()), 0, pr.M, 0, pr.N);
}

}  // namespace qlip
