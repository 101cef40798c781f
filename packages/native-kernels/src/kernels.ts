import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
// Registers the wasm backend and its stock kernels, which are kept as fallbacks.
import '@tensorflow/tfjs-backend-wasm';
import { FUSED_KERNELS } from '@qlip/nn';
import { type AttentionAttrs, nativeAttention, nativeAttentionGrad } from './attention.js';
import { blasName, configureBlas } from './blas.js';
import {
  BINARY_OPS,
  nativeBinary,
  nativeGelu,
  nativeMean,
  nativeSum,
  nativeUnary,
  UNARY_OPS,
} from './elementwise.js';
import { nativeGather } from './gather.js';
import { type Isa, loadNative, type NativeAddon, P } from './native.js';
import { nativeLayerNorm, nativeLayerNormGrad } from './norm.js';
import { type AdamWAttrs, nativeAdamW } from './optim.js';
import { nativeTranspose } from './transpose.js';

/** The parts of tfjs-backend-wasm's BackendWasm this module touches. */
interface WasmBackendLike {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  wasm: { HEAPF32: Float32Array };
}

/** tfjs FusableActivation codes (tfjs-backend-wasm kernels/types.ts), as native/sgemm.h expects them. */
const ACTIVATIONS: Record<string, number> = {
  linear: 0,
  relu: 1,
  relu6: 2,
  prelu: 3,
  leakyrelu: 4,
  sigmoid: 5,
  elu: 6,
};

/** Epilogue inputs of `_FusedMatMul` that the native path accepts. */
interface Epilogue {
  act: number;
  bias?: tf.TensorInfo;
  prelu?: tf.TensorInfo;
  alpha: number;
}

const params = new Float64Array(P.count);

const size = (shape: number[]): number => shape.reduce((a, c) => a * c, 1);

/** Index of the operand item feeding each output batch item under numpy broadcasting. */
function broadcastIndex(outer: number[], outOuter: number[]): Int32Array {
  const padded = [...new Array(outOuter.length - outer.length).fill(1), ...outer];
  const idx = new Int32Array(size(outOuter));
  for (let o = 0; o < idx.length; o++) {
    let rem = o;
    let src = 0;
    let stride = 1;
    for (let d = outOuter.length - 1; d >= 0; d--) {
      const coord = rem % outOuter[d];
      rem = Math.floor(rem / outOuter[d]);
      if (padded[d] !== 1) src += coord * stride;
      stride *= padded[d];
    }
    idx[o] = src;
  }
  return idx;
}

/** A per-column vector (bias, prelu weights): 1 or N values with every leading dimension 1. */
function perColumn(t: tf.TensorInfo | undefined, N: number): boolean {
  if (!t) return true;
  if (t.dtype !== 'float32' || t.shape.slice(0, -1).some((d) => d !== 1)) return false;
  const last = t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1];
  return last === 1 || last === N;
}

/**
 * out[..., M, N] = act(op(a) * op(b) + bias) on the wasm heap, or undefined when this case is left to the
 * stock kernel (non-float32 inputs, mismatched shapes whose error message the stock kernel gives).
 * a: [...batchA, M, K] (or [..., K, M] transposed), b: [...batchB, K, N] (or [..., N, K]).
 */
function nativeMatMul(
  addon: NativeAddon,
  backend: WasmBackendLike,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  ep: Epilogue | undefined,
): tf.TensorInfo | undefined {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || ra < 2 || rb < 2) return undefined;
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (K !== kb) return undefined;
  const aOuter = a.shape.slice(0, -2);
  const bOuter = b.shape.slice(0, -2);
  let outOuter: number[];
  try {
    outOuter = tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter);
  } catch {
    return undefined;
  }
  if (ep && (!perColumn(ep.bias, N) || !perColumn(ep.prelu, N))) return undefined;
  const batch = size(outOuter);
  const aItems = size(aOuter);
  const bItems = size(bOuter);
  // Allocate first: makeOutput may grow wasm memory, which detaches every earlier heap view.
  const out = backend.makeOutput([...outOuter, M, N], 'float32');
  if (batch * M * N === 0) return out;
  const offset = (t: tf.TensorInfo): number => {
    const entry = backend.dataIdMap.get(t.dataId);
    if (!entry || entry.memoryOffset % 4 !== 0) {
      throw new Error(
        `@qlip/native-kernels: tensor of shape [${t.shape}] has no float32 data on the wasm heap`,
      );
    }
    return entry.memoryOffset / 4;
  };
  params[P.aOff] = aItems * M * K === 0 ? 0 : offset(a);
  params[P.bOff] = bItems * K * N === 0 ? 0 : offset(b);
  params[P.cOff] = offset(out);
  params[P.batch] = batch;
  params[P.M] = M;
  params[P.N] = N;
  params[P.K] = K;
  params[P.transA] = transposeA ? 1 : 0;
  params[P.transB] = transposeB ? 1 : 0;
  params[P.aItems] = aItems;
  params[P.bItems] = bItems;
  params[P.act] = ep?.act ?? 0;
  params[P.biasOff] = ep?.bias ? offset(ep.bias) : -1;
  params[P.biasLen] = ep?.bias ? size(ep.bias.shape) : 0;
  params[P.preluOff] = ep?.prelu ? offset(ep.prelu) : -1;
  params[P.preluLen] = ep?.prelu ? size(ep.prelu.shape) : 0;
  params[P.alpha] = ep?.alpha ?? 0;
  // Explicit maps only when both sides broadcast partially ([2, 1] x [1, 3]); the common cases are strides.
  const aIdx = aItems === 1 || aItems === batch ? null : broadcastIndex(aOuter, outOuter);
  const bIdx = bItems === 1 || bItems === batch ? null : broadcastIndex(bOuter, outOuter);
  addon.gemm(backend.wasm.HEAPF32, params, aIdx, bIdx);
  return out;
}

interface Installed {
  addon: NativeAddon;
  /** Every stock kernel a native one replaced, restored by uninstallNativeKernels. */
  replaced: tf.KernelConfig[];
  /** Kernels with no stock counterpart (@qlip/nn's fused ops), unregistered by uninstallNativeKernels. */
  added: string[];
}

/**
 * Zero-copy `Identity` (what `tf.clone`, `tf.identity`, every pass-through gradient and the optimizers' copies
 * run): the output shares the input's wasm buffer with one more reference, as the stock `Reshape` does,
 * instead of copying it. tfjs tensors are immutable, so sharing is safe; strings keep the stock kernel.
 */
function zeroCopyIdentity(stock: tf.KernelConfig): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return stock.kernelFunc(args);
    (args.backend as unknown as WasmBackendLike).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/**
 * `Cast` to the dtype the tensor already has shares the buffer as `Identity` does. tfjs's gradients of
 * `Multiply`, `Square`, `Pow` and more cast their float32 inputs to float32 (243 full copies per bench-s
 * step); the stock wasm kernel copies every time. Real conversions keep the stock kernel.
 */
function zeroCopySameDtypeCast(stock: tf.KernelConfig): tf.KernelFunc {
  const identity = zeroCopyIdentity(stock);
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { dtype } = args.attrs as unknown as tf.CastAttrs;
    return dtype === x.dtype ? identity(args) : stock.kernelFunc(args);
  };
}

let installed: Installed | undefined;

/** Kernel families that can be switched off one by one: `QLIP_NATIVE_<FAMILY>=0` keeps the stock kernels. */
const FAMILIES = [
  'IDENTITY',
  'GATHER',
  'UNARY',
  'BINARY',
  'SUM',
  'MEAN',
  'GELU',
  'ADAMW',
  'LAYERNORM',
  'ATTENTION',
] as const;

function familyOn(family: (typeof FAMILIES)[number]): boolean {
  return process.env[`QLIP_NATIVE_${family}`] !== '0';
}

/**
 * Replaces the wasm backend's `name` kernel with `make(stock)`, keeping the stock setup (fallbacks call into
 * the stock kernel, which may need it if the backend initialises later) and remembering the stock config.
 */
function replace(into: Installed, name: string, make: (stock: tf.KernelConfig) => tf.KernelFunc): void {
  const stock = tf.getKernel(name, 'wasm');
  if (!stock) throw new Error(`@qlip/native-kernels: @tensorflow/tfjs-backend-wasm registered no ${name}`);
  into.replaced.push(stock);
  register({ kernelName: name, backendName: 'wasm', setupFunc: stock.setupFunc, kernelFunc: make(stock) });
}

/**
 * @qlip/nn's fused kernels: exact GELU and its gradient, AdamW, LayerNorm and its gradients, the attention
 * core and its gradient (their users compose stock ops when these are absent).
 */
function addFused(into: Installed): void {
  const { addon } = into;
  const kernels: [string, tf.KernelFunc][] = [];
  if (familyOn('ADAMW')) {
    kernels.push([
      FUSED_KERNELS.adamW,
      (args) => {
        const inputs = args.inputs as {
          p: tf.TensorInfo;
          g: tf.TensorInfo;
          m?: tf.TensorInfo;
          v?: tf.TensorInfo;
        };
        const backend = args.backend as unknown as WasmBackendLike;
        return nativeAdamW(addon, backend, inputs, args.attrs as unknown as AdamWAttrs);
      },
    ]);
  }
  if (familyOn('GELU'))
    kernels.push(
      [
        FUSED_KERNELS.geluErf,
        (args) => {
          const { x } = args.inputs as { x: tf.TensorInfo };
          return nativeGelu(addon, args.backend as unknown as WasmBackendLike, x);
        },
      ],
      [
        FUSED_KERNELS.geluErfGrad,
        (args) => {
          const { dy, x } = args.inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
          return nativeGelu(addon, args.backend as unknown as WasmBackendLike, x, dy);
        },
      ],
    );
  if (familyOn('LAYERNORM')) kernels.push(...layerNormKernels(addon));
  if (familyOn('ATTENTION')) kernels.push(...attentionKernels(addon));
  for (const [kernelName, kernelFunc] of kernels) {
    register({ kernelName, backendName: 'wasm', kernelFunc });
    into.added.push(kernelName);
  }
}

/** @qlip/nn's fused LayerNorm and its gradient kernel (`FUSED_KERNELS.layerNorm`, `layerNormGrad`). */
function layerNormKernels(addon: NativeAddon): [string, tf.KernelFunc][] {
  return [
    [
      FUSED_KERNELS.layerNorm,
      (args) => {
        const inputs = args.inputs as { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo };
        const { eps } = args.attrs as unknown as { eps: number };
        return nativeLayerNorm(addon, args.backend as unknown as WasmBackendLike, inputs, eps);
      },
    ],
    [
      FUSED_KERNELS.layerNormGrad,
      (args) => {
        const inputs = args.inputs as { dy: tf.TensorInfo; x: tf.TensorInfo; gamma: tf.TensorInfo };
        const { eps } = args.attrs as unknown as { eps: number };
        return nativeLayerNormGrad(addon, args.backend as unknown as WasmBackendLike, inputs, eps);
      },
    ],
  ];
}

/** @qlip/nn's fused attention core and its gradient (native/attention.cc). */
function attentionKernels(addon: NativeAddon): [string, tf.KernelFunc][] {
  const attrsOf = (args: Parameters<tf.KernelFunc>[0]) => args.attrs as unknown as AttentionAttrs;
  return [
    [
      FUSED_KERNELS.attention,
      (args) => {
        const inputs = args.inputs as { q: tf.TensorInfo; k: tf.TensorInfo; v: tf.TensorInfo };
        const backend = args.backend as unknown as WasmBackendLike;
        return nativeAttention(addon, backend, inputs, attrsOf(args));
      },
    ],
    [
      FUSED_KERNELS.attentionGrad,
      (args) => {
        const inputs = args.inputs as {
          dy: tf.TensorInfo;
          q: tf.TensorInfo;
          k: tf.TensorInfo;
          v: tf.TensorInfo;
          p: tf.TensorInfo;
        };
        const backend = args.backend as unknown as WasmBackendLike;
        return nativeAttentionGrad(addon, backend, inputs, attrsOf(args));
      },
    ],
  ];
}

/**
 * Exp, Erf, Tanh, Log, Add, Sub, Multiply, RealDiv (float32, any broadcast) and Sum and Mean over adjacent
 * axes (float32), each with the stock fallback.
 */
function replaceElementwise(into: Installed): void {
  const { addon } = into;
  if (familyOn('UNARY')) {
    for (const [name, op] of Object.entries(UNARY_OPS)) {
      replace(into, name, (stock) => (args) => {
        const { x } = args.inputs as { x: tf.TensorInfo };
        return (
          nativeUnary(addon, args.backend as unknown as WasmBackendLike, op, x) ?? stock.kernelFunc(args)
        );
      });
    }
  }
  if (familyOn('BINARY')) {
    for (const [name, op] of Object.entries(BINARY_OPS)) {
      replace(into, name, (stock) => (args) => {
        const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
        const backend = args.backend as unknown as WasmBackendLike;
        return nativeBinary(addon, backend, op, a, b) ?? stock.kernelFunc(args);
      });
    }
  }
  const reductions = [
    ['SUM', tf.Sum, nativeSum],
    ['MEAN', tf.Mean, nativeMean],
  ] as const;
  for (const [family, kernelName, reduce] of reductions) {
    if (!familyOn(family)) continue;
    replace(into, kernelName, (stock) => (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs; // Mean's attrs are the same
      const backend = args.backend as unknown as WasmBackendLike;
      return reduce(addon, backend, x, axis, keepDims) ?? stock.kernelFunc(args);
    });
  }
}

function register(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName)) {
    tf.unregisterKernel(config.kernelName, config.backendName);
  }
  tf.registerKernel(config);
}

function threadsFromEnv(): number {
  const raw = process.env.QLIP_NATIVE_THREADS;
  if (raw === undefined || raw.trim() === '') return Math.min(availableParallelism(), 8);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new Error(`QLIP_NATIVE_THREADS="${raw}": expected an integer from 1 to 64`);
  }
  return n;
}

/** What installNativeKernels reports: the SGEMM in use, the ISA path of our own kernels and the thread count. */
export interface NativeKernelsInfo {
  /** Our own kernels' instruction set (tiny products, elementwise, and every product without OpenBLAS). */
  isa: Isa;
  threads: number;
  /** What multiplies: `openblas 0.3.21 (Cooperlake)` when the system OpenBLAS is used, else the ISA path. */
  sgemm: string;
  /** The opened OpenBLAS (`path`: soname or QLIP_BLAS_LIB), when products go through it. */
  blas?: { path: string; config: string; core: string };
}

/**
 * Registers the native SGEMM as the wasm backend's `BatchMatMul` and `_FusedMatMul` kernels, the native
 * `Transpose` (float32 and int32; other dtypes go to the stock kernel), a zero-copy `Identity`, and native
 * float32 elementwise kernels, `Sum` and `Mean`. `QLIP_NATIVE_<FAMILY>=0` keeps one family's stock kernels
 * (families: FAMILIES above; see the README). GELU, ADAMW, LAYERNORM and ATTENTION register
 * @qlip/nn's fused kernels (`FUSED_KERNELS`), which have no stock counterpart.
 *
 * Products go through the system OpenBLAS (dlopen'ed at run time, at 1 thread; our pool splits the work)
 * unless `QLIP_NATIVE_BLAS=0`; `QLIP_BLAS_LIB=/path` names the library (see the README).
 *
 * Returns undefined (and leaves the stock kernels) when `QLIP_NATIVE=0` or the addon was not built.
 * `QLIP_NATIVE_THREADS` sets the thread count (default: available cores, at most 8). Cases the native
 * path does not take (non-float32, bias or prelu weights that are not per-column) go to the stock kernels.
 * Calling it again keeps the installation and re-reads `QLIP_NATIVE_THREADS` and `QLIP_NATIVE_BLAS`.
 */
export function installNativeKernels(): NativeKernelsInfo | undefined {
  if (process.env.QLIP_NATIVE === '0') return undefined;
  const addon = loadNative();
  if (!addon) return undefined;
  const threads = addon.setThreads(threadsFromEnv());
  const blas = configureBlas(addon);
  if (!installed) {
    const into: Installed = { addon, replaced: [], added: [] };
    installed = into;
    if (familyOn('IDENTITY')) {
      replace(into, tf.Identity, zeroCopyIdentity);
      replace(into, tf.Cast, zeroCopySameDtypeCast);
    }
    replace(into, tf.BatchMatMul, (stock) => (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
      const backend = args.backend as unknown as WasmBackendLike;
      return nativeMatMul(addon, backend, a, b, transposeA, transposeB, undefined) ?? stock.kernelFunc(args);
    });
    replace(into, tf._FusedMatMul, (stock) => (args) => {
      const { a, b, bias, preluActivationWeights } = args.inputs as {
        a: tf.TensorInfo;
        b: tf.TensorInfo;
        bias?: tf.TensorInfo;
        preluActivationWeights?: tf.TensorInfo;
      };
      const { transposeA, transposeB, activation, leakyreluAlpha } =
        args.attrs as unknown as tf._FusedMatMulAttrs;
      const act = ACTIVATIONS[activation ?? 'linear'];
      const backend = args.backend as unknown as WasmBackendLike;
      const fused =
        act === undefined || (act === ACTIVATIONS.prelu && !preluActivationWeights)
          ? undefined
          : nativeMatMul(addon, backend, a, b, transposeA, transposeB, {
              act,
              bias: bias ?? undefined,
              prelu: act === ACTIVATIONS.prelu ? preluActivationWeights : undefined,
              alpha: leakyreluAlpha ?? 0, // the stock kernel also reads a missing alpha as 0
            });
      return fused ?? stock.kernelFunc(args);
    });
    replace(into, tf.Transpose, (stock) => (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { perm } = args.attrs as unknown as tf.TransposeAttrs;
      const backend = args.backend as unknown as WasmBackendLike;
      return nativeTranspose(addon, backend, x, perm) ?? stock.kernelFunc(args);
    });
    if (familyOn('GATHER')) {
      replace(into, tf.GatherV2, (stock) => (args) => {
        const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
        const { axis, batchDims } = args.attrs as unknown as tf.GatherV2Attrs;
        const backend = args.backend as unknown as WasmBackendLike;
        return nativeGather(backend, x, indices, axis, batchDims) ?? stock.kernelFunc(args);
      });
    }
    replaceElementwise(into);
    addFused(into);
  }
  const isa = addon.getIsa();
  if (!blas) return { isa, threads, sgemm: isa };
  const { path, config, core } = blas;
  return { isa, threads, sgemm: blasName(blas), blas: { path, config, core } };
}

/**
 * The backend accelerator entry points register with `@qlip/core`'s `registerBackendAccelerator`: on the
 * wasm backend it installs the native kernels (unless `QLIP_NATIVE=0` or the addon was not built) and
 * returns the note for the backend's detail, e.g. `native SGEMM avx2, 2 threads` or
 * `native SGEMM openblas 0.3.21 (Cooperlake), 1 thread`.
 */
export async function nativeKernelsAccelerator(backendName: string): Promise<string | undefined> {
  if (backendName !== 'wasm') return undefined;
  const info = installNativeKernels();
  return info && `native SGEMM ${info.sgemm}, ${info.threads} thread${info.threads === 1 ? '' : 's'}`;
}

/** Puts the stock wasm kernels back; true when native kernels had been installed. */
export function uninstallNativeKernels(): boolean {
  if (!installed) return false;
  for (const stock of installed.replaced) register(stock);
  for (const name of installed.added) tf.unregisterKernel(name, 'wasm');
  installed = undefined;
  return true;
}

/** Whether the native kernels are currently registered. */
export function nativeKernelsInstalled(): boolean {
  return installed !== undefined;
}
