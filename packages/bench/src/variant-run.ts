import { registerBackendAccelerator, selectBackend } from '@qlip/core';
import { nativeKernelsAccelerator } from '@qlip/native-kernels';
import { type Measurement, measureWorkloads } from './measure.js';
import { type Settings, VARIANTS, type VariantId } from './variants.js';

/** One variant's outcome: its figures, or why it could not run on this machine. */
export type VariantResult =
  | {
      id: VariantId;
      label: string;
      available: true;
      backend: { name: string; detail: string };
      /** Threads doing the matmuls (the rest of the kernels are single-threaded on wasm and cpu). */
      matmulThreads: number | null;
      /**
       * Which GEMM multiplied: `openblas 0.3.21 (Cooperlake)` (the system OpenBLAS) or our kernel's ISA path
       * (`avx512`, `avx2`, `portable`) for the wasm-native variants; null for the others.
       */
      sgemm: string | null;
      settings: Settings;
      deviations: string[];
      measurement: Measurement;
      /** Peak resident set of the process that ran this variant alone (MB). */
      peakRssMB: number;
    }
  | { id: VariantId; label: string; available: false; reason: string };

/**
 * The native kernels' part of a backend detail: which GEMM multiplies and on how many threads, from e.g.
 * `native SGEMM avx512, 2 threads` or `native SGEMM openblas 0.3.21 (Cooperlake), 1 thread`.
 */
export function nativeSgemm(detail: string): { sgemm: string; threads: number } | undefined {
  const m = /native SGEMM (.+?), (\d+) threads?\b/.exec(detail);
  return m ? { sgemm: m[1]!, threads: Number(m[2]) } : undefined;
}

/**
 * Selects `id`'s backend in this process and measures it. The variant's environment (`QLIP_NATIVE`,
 * `QLIP_NATIVE_THREADS`) must already be set: @qlip/core reads it when the backend is selected.
 */
export async function measureVariant(
  id: VariantId,
  settings: Settings,
  deviations: string[],
  onProgress: (message: string) => void = () => {},
): Promise<VariantResult> {
  const v = VARIANTS[id];
  let info: Awaited<ReturnType<typeof selectBackend>>;
  registerBackendAccelerator(nativeKernelsAccelerator); // the bench worker is an entry point
  try {
    info = await selectBackend(v.backend);
  } catch (err) {
    return { id, label: v.label, available: false, reason: (err as Error).message.split('\n')[0]! };
  }
  const native = nativeSgemm(info.detail);
  if (id.startsWith('wasm-native') && !native) {
    return {
      id,
      label: v.label,
      available: false,
      reason: `@qlip/native-kernels is not active (backend detail: "${info.detail}"); build its addon with a C++ compiler`,
    };
  }
  onProgress(`backend ${info.name}: ${info.detail}`);
  const measurement = await measureWorkloads({ ...settings, onProgress });
  let matmulThreads: number | null = 1;
  if (native) matmulThreads = native.threads;
  else if (info.name === 'tensorflow') matmulThreads = null; // TensorFlow's own intra-op pool
  return {
    id,
    label: v.label,
    available: true,
    backend: { name: info.name, detail: info.detail },
    matmulThreads,
    sgemm: native?.sgemm ?? null,
    settings,
    deviations,
    measurement,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}
