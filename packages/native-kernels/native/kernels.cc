// Packing and register-blocked micro-kernels (GotoBLAS loop order), one micro-kernel per ISA.
//
// The micro-kernel is written once with GCC vector extensions and instantiated inside functions that carry
// a target attribute, so one portable binary holds AVX-512, AVX2+FMA and baseline code and picks at run
// time (never -march=native, which would make the .node file crash on an older CPU).
#include "kernels.h"

#include "blas.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <unistd.h>

namespace qlip {
namespace {

typedef float v4 __attribute__((vector_size(16)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));

// Cache blocking: an MC x KC block of A in L2, KC x NC of B in L2/L3; the micro-kernel streams its A and B
// micro-panels from L2. K is cut into equal blocks of at most 256, or of at most 1024 when the block of C
// does not fit in half of L2: every K block is one more pass of read + write over C, which for bench-s's
// [2048, 256] outputs lives beyond L2 (KC 256 -> 1024 took [2048,1024]x[1024,256] from ~80 to ~90 GFLOP/s on
// Zen 4, measured interleaved with OpenBLAS); with a small C (the dW products) the short blocks keep B in L2.
constexpr int64_t kKCSmall = 256, kKCMax = 1024;
constexpr int64_t kMCMax = 144;  // multiple of every MR below (6, 12)
constexpr int64_t kNC = 512;     // multiple of every NR below (8, 16, 32)

// Half of L2 in floats (sysconf; 512 KiB assumed when the OS does not say).
int64_t halfL2Floats() {
  static const int64_t floats = [] {
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    const int64_t bytes = l2 > 0 ? l2 : 512 * 1024;
    return std::max<int64_t>(bytes / 2 / static_cast<int64_t>(sizeof(float)), 16 * 1024);
  }();
  return floats;
}

struct Blocking {
  int64_t kc, mc;
};

// cFloats: the size of the block of C being computed.
Blocking blockingFor(int64_t K, int mr, int64_t cFloats) {
  const int64_t kcMax = cFloats > halfL2Floats() ? kKCMax : kKCSmall;
  const int64_t blocks = (K + kcMax - 1) / kcMax;
  const int64_t kc = std::max<int64_t>(1, (K + blocks - 1) / blocks);
  const int64_t mc = std::min(kMCMax, std::max<int64_t>(mr, halfL2Floats() / kc / mr * mr));
  return {kc, mc};
}

inline float finish(float x, const Epilogue& ep, int64_t col) {
  if (ep.bias) x += ep.biasLen == 1 ? ep.bias[0] : ep.bias[col];
  switch (ep.act) {
    case kRelu:
      return x > 0.f ? x : 0.f;
    case kRelu6:
      return std::min(std::max(x, 0.f), 6.f);
    case kPrelu: {
      const float w = ep.preluLen == 1 ? ep.prelu[0] : ep.prelu[col];
      return x < 0.f ? w * x : x;
    }
    case kLeakyRelu:
      return x < 0.f ? ep.alpha * x : x;
    case kSigmoid:
      return 1.f / (1.f + std::exp(-x));
    case kElu:
      return x < 0.f ? std::exp(x) - 1.f : x;
    default:
      return x;
  }
}

// The micro-kernel source is included once per ISA inside a `#pragma GCC target` region, so every
// function in it (splat, loads, FMAs) is compiled for that ISA. Instantiating one generic template from
// target-attributed wrappers does not work: GCC lowers the 256/512-bit vector code of the template
// before inlining, splitting broadcasts into 128-bit pieces.
//
// Each ISA has four tiles: the full MR x NR one and its halves in rows, columns or both, used for the last
// row / column panel of a block when it holds at most half a tile (bench-s's 65-token attention products:
// 65 columns = 32 + 32 + 1 computed 96 columns with 12 x 32 tiles, 80 with a half tile for the last one).
namespace portable {
typedef v4 V;
constexpr int kMR = 6, kNV = 2;
#define QLIP_SPLAT(s) V{s, s, s, s}
#include "tiles.inc"
#undef QLIP_SPLAT
}  // namespace portable

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
typedef v8 V;
constexpr int kMR = 6, kNV = 2;
#define QLIP_SPLAT(s) V{s, s, s, s, s, s, s, s}
#include "tiles.inc"
#undef QLIP_SPLAT
}  // namespace avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f")
namespace avx512 {
typedef v16 V;
constexpr int kMR = 12, kNV = 2;
#define QLIP_SPLAT(s) V{s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s}
#include "tiles.inc"
#undef QLIP_SPLAT
}  // namespace avx512
#pragma GCC pop_options
#endif

// The width a panel is packed and computed at: the full tile, or half of it for a last panel that fits.
inline int panelWidth(int64_t left, int full) { return left <= full / 2 ? full / 2 : full; }

// Rows ir..ir+MR of A (zero-padded), column by column: pa[p * MR + i] = A(ir + i, p); a last panel of at
// most MR / 2 rows is packed MR / 2 wide.
void packA(const Operand& a, int64_t i0, int64_t p0, int64_t mc, int64_t kc, int fullMR, float* pa) {
  for (int64_t ir = 0; ir < mc; ir += fullMR) {
    const int MR = panelWidth(mc - ir, fullMR);
    const int64_t m = std::min<int64_t>(MR, mc - ir);
    const float* src = a.data + (i0 + ir) * a.rs + p0 * a.cs;
    // (Loops without the per-element padding test, zero rows written apart, measured ~10 % slower on the
    // AVX2 path's attention-sized products: GCC vectorises these as they are.)
    if (a.cs == 1) {
      // Row-major A: read each row contiguously.
      for (int64_t i = 0; i < MR; ++i)
        for (int64_t p = 0; p < kc; ++p) pa[p * MR + i] = i < m ? src[i * a.rs + p] : 0.f;
    } else {
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t i = 0; i < MR; ++i) pa[p * MR + i] = i < m ? src[i * a.rs + p * a.cs] : 0.f;
    }
    pa += MR * kc;
  }
}

// Columns jr..jr+NR of B (zero-padded), row by row: pb[p * NR + j] = B(p, jr + j); a last panel of at
// most NR / 2 columns is packed NR / 2 wide.
void packB(const Operand& b, int64_t p0, int64_t j0, int64_t kc, int64_t nc, int fullNR, float* pb) {
  for (int64_t jr = 0; jr < nc; jr += fullNR) {
    const int NR = panelWidth(nc - jr, fullNR);
    const int64_t n = std::min<int64_t>(NR, nc - jr);
    const float* src = b.data + p0 * b.rs + (j0 + jr) * b.cs;
    if (b.rs == 1) {
      // Transposed B ([N, K] in memory): read each column contiguously.
      for (int64_t j = 0; j < NR; ++j)
        for (int64_t p = 0; p < kc; ++p) pb[p * NR + j] = j < n ? src[j * b.cs + p] : 0.f;
    } else {
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t j = 0; j < NR; ++j) pb[p * NR + j] = j < n ? src[p * b.rs + j * b.cs] : 0.f;
    }
    pb += NR * kc;
  }
}

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

float* workspace(std::unique_ptr<float, AlignedFree>& buf, size_t floats) {
  if (!buf) buf.reset(static_cast<float*>(std::aligned_alloc(64, floats * sizeof(float))));
  return buf.get();
}

}  // namespace

#define QLIP_KERNEL(ns, lanes) \
  Kernel {                                                                                                 \
    {{ns::full::micro, ns::halfN::micro}, {ns::halfM::micro, ns::halfMN::micro}},                          \
        {{ns::full::microA, ns::halfN::microA}, {ns::halfM::microA, ns::halfMN::microA}}, ns::kMR,         \
        ns::kNV*(lanes)                                                                                    \
  }

Kernel kernelFor(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  if (isa == Isa::Avx512) return QLIP_KERNEL(avx512, 16);
  if (isa == Isa::Avx2) return QLIP_KERNEL(avx2, 8);
#endif
  (void)isa;
  return QLIP_KERNEL(portable, 4);
}
#undef QLIP_KERNEL

void gemmPacked(const Problem& pr, const Kernel& kern, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  // Per-thread pack buffers, sized for the largest MR/NR so any ISA can use them.
  thread_local std::unique_ptr<float, AlignedFree> aBuf, bBuf;
  float* pa = workspace(aBuf, kMCMax * kKCMax);
  float* pb = workspace(bBuf, kKCMax * kNC);
  if (pr.K == 0) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = j0; j < j1; ++j) pr.c[i * pr.ldc + j] = pr.ep ? finish(0.f, *pr.ep, j) : 0.f;
    return;
  }
  for (int64_t jc = j0; jc < j1; jc += kNC) {
    const int64_t nc = std::min(kNC, j1 - jc);
    // Row-major A feeding only a few column panels (attention-sized products) is read in place: packing it
    // would cost about as much as the arithmetic it serves.
    const bool directA = pr.a.cs == 1 && nc <= 4 * kern.nr;
    const Blocking blk = blockingFor(pr.K, kern.mr, (i1 - i0) * (j1 - j0));
    for (int64_t pc = 0; pc < pr.K; pc += blk.kc) {
      const int64_t kc = std::min(blk.kc, pr.K - pc);
      const bool last = pc + kc >= pr.K;
      packB(pr.b, pc, jc, kc, nc, kern.nr, pb);
      for (int64_t ic = i0; ic < i1; ic += blk.mc) {
        const int64_t mc = std::min(blk.mc, i1 - ic);
        if (!directA) packA(pr.a, ic, pc, mc, kc, kern.mr, pa);
        for (int64_t jr = 0; jr < nc; jr += kern.nr) {
          const int n = static_cast<int>(std::min<int64_t>(kern.nr, nc - jr));
          const bool halfN = panelWidth(n, kern.nr) < kern.nr;
          for (int64_t ir = 0; ir < mc; ir += kern.mr) {
            const int m = static_cast<int>(std::min<int64_t>(kern.mr, mc - ir));
            const int height = panelWidth(m, kern.mr);
            const bool halfM = height < kern.mr;
            float* c = pr.c + (ic + ir) * pr.ldc + jc + jr;
            const Epilogue* ep = last ? pr.ep : nullptr;
            if (directA && m == height) {
              kern.microA[halfM][halfN](pr.a.rs, 1, kc, pr.a.data + (ic + ir) * pr.a.rs + pc, pb + jr * kc, c,
                                        pr.ldc, m, n, pc > 0, ep, jc + jr);
              continue;
            }
            // A tail shorter than its tile: pack it (zero-padded) rather than read rows past the block.
            if (directA) packA(pr.a, ic + ir, pc, m, kc, kern.mr, pa + ir * kc);
            kern.micro[halfM][halfN](kc, pa + ir * kc, pb + jr * kc, c, pr.ldc, m, n, pc > 0, ep, jc + jr);
          }
        }
      }
    }
  }
}

namespace {

// A BLAS operand: one of the strides is 1 (the other is the leading dimension), within int range.
bool blasOperand(const Operand& o, int64_t rows, int64_t cols, bool* trans, int64_t* ld) {
  constexpr int64_t kIntMax = 0x7fffffff;
  if (o.cs == 1 && o.rs >= std::max<int64_t>(cols, 1) && o.rs <= kIntMax) {
    *trans = false;
    *ld = o.rs;
  } else if (o.rs == 1 && o.cs >= std::max<int64_t>(rows, 1) && o.cs <= kIntMax) {
    *trans = true;
    *ld = o.cs;
  } else {
    return false;
  }
  return rows <= kIntMax && cols <= kIntMax;
}

// The bias + activation epilogue over rows x cols of c (columns from col0), the activation's switch hoisted
// out of the loop so the common cases vectorise.
void applyEpilogue(float* c, int64_t ldc, int64_t rows, int64_t cols, const Epilogue& ep, int64_t col0) {
  for (int64_t i = 0; i < rows; ++i) {
    float* row = c + i * ldc;
    if (ep.bias) {
      if (ep.biasLen == 1)
        for (int64_t j = 0; j < cols; ++j) row[j] += ep.bias[0];
      else
        for (int64_t j = 0; j < cols; ++j) row[j] += ep.bias[col0 + j];
    }
    switch (ep.act) {
      case kLinear:
        break;
      case kRelu:
        for (int64_t j = 0; j < cols; ++j) row[j] = row[j] > 0.f ? row[j] : 0.f;
        break;
      default: {
        Epilogue act = ep;
        act.bias = nullptr;
        for (int64_t j = 0; j < cols; ++j) row[j] = finish(row[j], act, col0 + j);
      }
    }
  }
}

}  // namespace

void gemmBlocked(const Problem& pr, const Kernel& kern, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  const int64_t m = i1 - i0, n = j1 - j0;
  bool ta = false, tb = false;
  int64_t lda = 0, ldb = 0;
  if (m <= 0 || n <= 0) return;
  if (!blasActive() || pr.K == 0 || pr.ldc < n || !blasOperand(pr.a, pr.M, pr.K, &ta, &lda) ||
      !blasOperand(pr.b, pr.K, pr.N, &tb, &ldb)) {
    gemmPacked(pr, kern, i0, i1, j0, j1);
    return;
  }
  float* c = pr.c + i0 * pr.ldc + j0;
  blasSgemm(ta, tb, m, n, pr.K, pr.a.data + i0 * pr.a.rs, lda, pr.b.data + j0 * pr.b.cs, ldb, c, pr.ldc);
  if (pr.ep) applyEpilogue(c, pr.ldc, m, n, *pr.ep, j0);
}

void gemmSimple(const Problem& pr) {
  for (int64_t i = 0; i < pr.M; ++i)
    for (int64_t j = 0; j < pr.N; ++j) {
      float s = 0.f;
      for (int64_t k = 0; k < pr.K; ++k)
        s += pr.a.data[i * pr.a.rs + k * pr.a.cs] * pr.b.data[k * pr.b.rs + j * pr.b.cs];
      pr.c[i * pr.ldc + j] = pr.ep ? finish(s, *pr.ep, j) : s;
    }
}

}  // namespace qlip
