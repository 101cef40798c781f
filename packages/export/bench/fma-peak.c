/* One core's fp32 FMA peak: independent FMA chains, nothing else (compiled and loaded by fp32-ceiling.py). */
#include <immintrin.h>
#include <stdint.h>
/* Sum of 12 independent FMA chains (latency 4 x 2 pipes needs >= 8): returns a value so nothing is elided. */
__attribute__((target("avx512f"))) float fma512(int64_t iters) {
  __m512 a[12]; __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
  for (int64_t n = 0; n < iters; n++) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
  }
  __m512 s = a[0];
  for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}
__attribute__((target("avx2,fma"))) float fma256(int64_t iters) {
  __m256 a[12]; __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
  for (int64_t n = 0; n < iters; n++) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
  }
  __m256 s = a[0];
  for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
  float o[8]; _mm256_storeu_ps(o, s); return o[0]+o[1]+o[2]+o[3]+o[4]+o[5]+o[6]+o[7];
}
