import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Instruction-set paths of the native SGEMM, fastest first. `portable` is plain C++ vector code. */
export type Isa = 'avx512' | 'avx2' | 'portable';

/**
 * Slots of the Float64Array parameter block of `gemm` (mirrors `enum Param` in native/addon.cc).
 * Offsets are in float32 elements from the start of the heap view; -1 means "absent".
 */
export const P = {
  aOff: 0,
  bOff: 1,
  cOff: 2,
  batch: 3,
  M: 4,
  N: 5,
  K: 6,
  transA: 7,
  transB: 8,
  aItems: 9,
  bItems: 10,
  act: 11,
  biasOff: 12,
  biasLen: 13,
  preluOff: 14,
  preluLen: 15,
  alpha: 16,
  count: 17,
} as const;

/** The system BLAS the addon opened with dlopen (native/blas.h), as `blasLoad` / `blasInfo` report it. */
export interface BlasState {
  loaded: boolean;
  /** What was opened: a soname such as `libopenblas.so.0`, or `QLIP_BLAS_LIB`'s path. */
  path: string;
  /** `openblas_get_config()`, e.g. `OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64`. */
  config: string;
  /** `openblas_get_corename()`, e.g. `Cooperlake`. */
  core: string;
  /** Why nothing loaded (each candidate's dlerror), when `loaded` is false. */
  error: string;
  /** Whether products go through it (`blasEnable`). */
  active: boolean;
}

/** The compiled addon (native/addon.cc). */
export interface NativeAddon {
  /**
   * C[b] = act(op(A[aIdx[b]]) * op(B[bIdx[b]]) + bias) for every output batch item b, in place on `heap`.
   * Without an index map an operand with one item is broadcast, else item b is used.
   */
  gemm(heap: Float32Array, params: Float64Array, aIdx?: Int32Array | null, bIdx?: Int32Array | null): void;
  /**
   * out = transpose(in, perm) for 4-byte elements (bits copied unchanged), in place on `heap`; offsets are in
   * elements. Throws on a bad perm, a rank above 8, or operands outside the heap or overlapping.
   */
  transpose(heap: Float32Array, inOff: number, outOff: number, shape: Int32Array, perm: Int32Array): void;
  /** out = op(in) elementwise over n floats (op codes: UNARY_OPS in src/elementwise.ts). */
  unary(heap: Float32Array, op: number, inOff: number, outOff: number, n: number): void;
  /**
   * out = a op b over `shape` (out dense), a and b read with per-dimension strides (0 = broadcast; the
   * innermost 0 or 1); op codes: BINARY_OPS in src/elementwise.ts.
   */
  binary(
    heap: Float32Array,
    op: number,
    aOff: number,
    bOff: number,
    outOff: number,
    shape: Int32Array,
    aStrides: Int32Array,
    bStrides: Int32Array,
  ): void;
  /** out = exact GELU of x over n floats. */
  gelu(heap: Float32Array, xOff: number, outOff: number, n: number): void;
  /** out = dy * (Phi(x) + x * phi(x)) over n floats: exact GELU's input gradient. */
  geluGrad(heap: Float32Array, dyOff: number, xOff: number, outOff: number, n: number): void;
  /**
   * One fused AdamW step: offsets (elements) of [p, g, m0, v0, p1, m1, v1] (m0, v0 = -1: zero moments), n
   * elements, consts [beta1, beta2, lr, weightDecay, bc1, bc2, eps].
   */
  adamw(heap: Float32Array, offsets: Float64Array, n: number, consts: Float64Array): void;
  /** out[o, i] = sum over r of in[o, r, i], summed in r order; in and out must not overlap. */
  sum(heap: Float32Array, inOff: number, outOff: number, outer: number, reduce: number, inner: number): void;
  /** Opens OpenBLAS (`''`: the usual sonames, else this path) at 1 thread; idempotent once loaded. */
  blasLoad(path: string): BlasState;
  blasInfo(): BlasState;
  /** Routes products through the loaded BLAS (true) or the addon's own kernel; returns whether it is active. */
  blasEnable(on: boolean): boolean;
  /** y = LayerNorm of the rows of x ([rows, d]) with gamma and beta ([d]), biased variance. */
  layerNorm(
    heap: Float32Array,
    xOff: number,
    gammaOff: number,
    betaOff: number,
    yOff: number,
    rows: number,
    d: number,
    eps: number,
  ): void;
  /** dx ([rows, d]), dgamma and dbeta ([d]) of LayerNorm for dy; dgamma/dbeta independent of the threads. */
  layerNormGrad(
    heap: Float32Array,
    dyOff: number,
    xOff: number,
    gammaOff: number,
    dxOff: number,
    dgammaOff: number,
    dbetaOff: number,
    rows: number,
    d: number,
    eps: number,
  ): void;
  /**
   * Fused attention forward: dims [batch, heads, tq, tk, hd, scale, causal], offsets (elements) of
   * [q, k, v, o, p]; q, o `[B, Tq, H*hd]`, k, v `[B, Tk, H*hd]`, p `[B, H, Tq, Tk]` (native/attention.h).
   */
  attention(heap: Float32Array, dims: Float64Array, offsets: Float64Array): void;
  /** Its backward: offsets of [q, k, v, p, dout, dq, dk, dv]. */
  attentionGrad(heap: Float32Array, dims: Float64Array, offsets: Float64Array): void;
  getIsa(): Isa;
  /** Selects an ISA path; false (and no change) when this CPU lacks it. */
  setIsa(isa: Isa): boolean;
  supportedIsas(): Isa[];
  getThreads(): number;
  /** Sets the worker count (clamped to 1..64) and returns it. */
  setThreads(n: number): number;
}

/** Where the install script leaves the addon (package root, one level above src/ and dist/). */
export const ADDON_PATH = fileURLToPath(new URL('../build/Release/qlip_native.node', import.meta.url));

let cached: NativeAddon | null | undefined;

/**
 * Loads the native addon, or returns undefined when it was not built (no compiler at install time) or does
 * not load on this machine. Never throws.
 */
export function loadNative(): NativeAddon | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  if (!existsSync(ADDON_PATH)) return undefined;
  try {
    cached = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch {
    cached = null;
  }
  return cached ?? undefined;
}

/** Why loadNative() returns undefined (for skip messages and `detail` strings), or undefined when it loads. */
export function nativeUnavailableReason(): string | undefined {
  if (loadNative()) return undefined;
  if (!existsSync(ADDON_PATH))
    return `native addon not built (${ADDON_PATH} is missing; run pnpm build:native)`;
  return `native addon at ${ADDON_PATH} failed to load`;
}
