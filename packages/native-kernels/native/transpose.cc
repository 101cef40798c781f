// Transpose for the tfjs wasm backend. The permutation is first simplified (size-1 dims dropped, input dims
// that stay adjacent in the output merged), then one of three paths copies it:
//   - identity after simplification: one memcpy;
//   - the output's last dim is also the input's last dim: a batched copy of contiguous runs
//     ([B,T,H,D] -> [B,H,T,D] moves D-element runs);
//   - otherwise: cache-tiled 2-D transposes of the plane (input's last dim) x (output's last dim), batched
//     over the remaining dims.
#include "transpose.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "sgemm.h"

namespace qlip {
namespace {

// Below this many elements (1 MiB) the copy stays on the calling thread: waking a worker costs more.
constexpr int64_t kParallelElems = 1 << 18;
// Tile edge of the 2-D path: two 32x32 tiles of 4 bytes (8 KiB) stay in L1.
constexpr int64_t kTile = 32;

struct Plan {
  int rank = 0;
  int64_t dims[kMaxTransposeRank];     // output dims after simplification
  int64_t inStride[kMaxTransposeRank];  // input stride of each output dim
};

Plan simplify(const int64_t* shape, const int* perm, int rank) {
  // Drop size-1 dims: they move nothing.
  int64_t sh[kMaxTransposeRank];
  int map[kMaxTransposeRank];  // old input dim -> new input dim, -1 when dropped
  int r = 0;
  for (int d = 0; d < rank; ++d) {
    map[d] = shape[d] == 1 ? -1 : r;
    if (shape[d] != 1) sh[r++] = shape[d];
  }
  int pm[kMaxTransposeRank];
  int n = 0;
  for (int j = 0; j < rank; ++j)
    if (map[perm[j]] >= 0) pm[n++] = map[perm[j]];
  // Merge runs of consecutive input dims that stay consecutive in the output.
  int64_t inStrides[kMaxTransposeRank];
  int64_t s = 1;
  for (int d = r - 1; d >= 0; --d) inStrides[d] = s, s *= sh[d];
  Plan p;
  for (int j = 0; j < n; ++j) {
    if (p.rank > 0 && pm[j] == pm[j - 1] + 1) {
      p.dims[p.rank - 1] *= sh[pm[j]];
      p.inStride[p.rank - 1] = inStrides[pm[j]];
    } else {
      p.dims[p.rank] = sh[pm[j]];
      p.inStride[p.rank] = inStrides[pm[j]];
      ++p.rank;
    }
  }
  return p;
}

// Odometer over `rank` outer dims, tracking the input offset.
struct Cursor {
  int rank;
  const int64_t* dims;
  const int64_t* stride;
  int64_t idx[kMaxTransposeRank];
  int64_t off;

  Cursor(int r, const int64_t* d, const int64_t* s, int64_t flat) : rank(r), dims(d), stride(s), off(0) {
    for (int k = rank - 1; k >= 0; --k) {
      idx[k] = flat % dims[k];
      flat /= dims[k];
      off += idx[k] * stride[k];
    }
  }
  void next() {
    for (int k = rank - 1; k >= 0; --k) {
      off += stride[k];
      if (++idx[k] < dims[k]) return;
      off -= idx[k] * stride[k];
      idx[k] = 0;
    }
  }
};

// Runs fn(lo, hi) over [0, count) in chunks, on the pool when the tensor is large.
template <typename Fn>
void forChunks(int64_t count, int64_t elems, Fn fn) {
  const int threads = elems < kParallelElems ? 1 : std::min<int64_t>(threadCount(), count);
  if (threads <= 1) {
    fn(int64_t{0}, count);
    return;
  }
  // A few chunks per thread, taken dynamically (a descheduled worker does not hold the others up).
  const int64_t tasks = std::min<int64_t>(count, 4 * threads);
  const int64_t chunk = (count + tasks - 1) / tasks;
  std::atomic<int64_t> next{0};
  parallelRun(threads, [&](int) {
    for (int64_t t = next++; t * chunk < count; t = next++) fn(t * chunk, std::min(count, (t + 1) * chunk));
  });
}

void copyRuns(const uint32_t* in, uint32_t* out, const Plan& p) {
  const int outer = p.rank - 1;
  const int64_t run = p.dims[outer];
  int64_t count = 1;
  for (int k = 0; k < outer; ++k) count *= p.dims[k];
  forChunks(count, count * run, [&](int64_t lo, int64_t hi) {
    Cursor c(outer, p.dims, p.inStride, lo);
    for (int64_t i = lo; i < hi; ++i, c.next()) std::memcpy(out + i * run, in + c.off, run * sizeof(uint32_t));
  });
}

// 8x8 block: out[m * ldo + k] = in[k * ldi + m]. Eight input lines in, eight output lines out, so strided
// sides never thrash a cache set the way a column walk with a power-of-two stride does.
inline void block8Portable(const uint32_t* in, int64_t ldi, uint32_t* out, int64_t ldo) {
  uint32_t t[8][8];
  for (int k = 0; k < 8; ++k)
    for (int m = 0; m < 8; ++m) t[m][k] = in[k * ldi + m];
  for (int m = 0; m < 8; ++m) std::memcpy(out + m * ldo, t[m], sizeof t[m]);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx"))) void block8Avx(const uint32_t* in, int64_t ldi, uint32_t* out, int64_t ldo) {
  const float* f = reinterpret_cast<const float*>(in);
  __m256 r[8], t[8];
  for (int k = 0; k < 8; ++k) r[k] = _mm256_loadu_ps(f + k * ldi);
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
    t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
  }
  for (int k = 0; k < 8; k += 4) {
    r[k] = _mm256_shuffle_ps(t[k], t[k + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  float* o = reinterpret_cast<float*>(out);
  for (int m = 0; m < 4; ++m) {
    _mm256_storeu_ps(o + m * ldo, _mm256_permute2f128_ps(r[m], r[m + 4], 0x20));
    _mm256_storeu_ps(o + (m + 4) * ldo, _mm256_permute2f128_ps(r[m], r[m + 4], 0x31));
  }
}
#endif

using Block8 = void (*)(const uint32_t*, int64_t, uint32_t*, int64_t);

Block8 block8() {
#if defined(__x86_64__) || defined(__i386__)
  // Follows the SGEMM's ISA switch, so setIsa('portable') tests the portable path here too.
  if (currentIsa() != Isa::Portable) return block8Avx;
#endif
  return block8Portable;
}

// out[r * ldo + c] = in[c * ldi + r] for r < rows, c < cols: 8x8 blocks, scalar edges.
inline void tile2d(const uint32_t* in, int64_t ldi, uint32_t* out, int64_t ldo, int64_t rows, int64_t cols,
                   Block8 blk) {
  const int64_t r8 = rows / 8 * 8, c8 = cols / 8 * 8;
  for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
    const int64_t c1 = std::min(c8, c0 + kTile);
    for (int64_t r = 0; r < r8; r += 8)
      for (int64_t c = c0; c < c1; c += 8) blk(in + c * ldi + r, ldi, out + r * ldo + c, ldo);
  }
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t cStart = r < r8 ? c8 : 0;
    for (int64_t c = cStart; c < cols; ++c) out[r * ldo + c] = in[c * ldi + r];
  }
}

void transposePlanes(const uint32_t* in, uint32_t* out, const Plan& p) {
  // The output dim `a` that is the input's last (stride 1) and the output's last dim `b`.
  int a = 0;
  while (p.inStride[a] != 1) ++a;
  const int b = p.rank - 1;
  int64_t outStride[kMaxTransposeRank];
  int64_t s = 1;
  for (int j = p.rank - 1; j >= 0; --j) outStride[j] = s, s *= p.dims[j];
  // Outer dims: everything but a and b; each outer index holds an (a x b) plane, cut into row bands of kTile.
  int64_t odims[kMaxTransposeRank], oIn[kMaxTransposeRank], oOut[kMaxTransposeRank];
  int outer = 0;
  for (int j = 0; j < b; ++j)
    if (j != a) odims[outer] = p.dims[j], oIn[outer] = p.inStride[j], oOut[outer] = outStride[j], ++outer;
  const int64_t rows = p.dims[a], cols = p.dims[b];
  const int64_t ldi = p.inStride[b], ldo = outStride[a];
  const int64_t bands = (rows + kTile - 1) / kTile;
  int64_t planes = 1;
  for (int k = 0; k < outer; ++k) planes *= odims[k];
  const Block8 blk = block8();
  forChunks(planes * bands, s, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi;) {
      const int64_t plane = t / bands;
      Cursor ci(outer, odims, oIn, plane), co(outer, odims, oOut, plane);
      for (int64_t band = t % bands; band < bands && t < hi; ++band, ++t) {
        const int64_t r0 = band * kTile, r1 = std::min(rows, r0 + kTile);
        tile2d(in + ci.off + r0, ldi, out + co.off + r0 * ldo, ldo, r1 - r0, cols, blk);
      }
    }
  });
}

}  // namespace

void transpose(const uint32_t* in, uint32_t* out, const int64_t* shape, const int* perm, int rank) {
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= shape[d];
  if (total == 0) return;
  const Plan p = simplify(shape, perm, rank);
  if (p.rank <= 1) {
    std::memcpy(out, in, total * sizeof(uint32_t));
  } else if (p.inStride[p.rank - 1] == 1) {
    copyRuns(in, out, p);
  } else {
    transposePlanes(in, out, p);
  }
}

}  // namespace qlip
