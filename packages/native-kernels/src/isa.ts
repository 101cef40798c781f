import { type Isa, loadNative } from './native.js';

function addon() {
  const a = loadNative();
  if (!a)
    throw new Error('@qlip/native-kernels: the native addon is not built (build/Release/qlip_native.node)');
  return a;
}

/** ISA paths this CPU can run, fastest first; empty when the addon is not built. */
export function supportedIsas(): Isa[] {
  return loadNative()?.supportedIsas() ?? [];
}

/**
 * Forces an ISA path (tests and benchmarks compare them); returns false and changes nothing when the CPU
 * lacks it. Throws when the addon is not built.
 */
export function setIsa(isa: Isa): boolean {
  if (!['avx512', 'avx2', 'portable'].includes(isa)) {
    throw new Error(`setIsa("${isa}"): expected one of avx512, avx2, portable`);
  }
  return addon().setIsa(isa);
}

/** The ISA path in use. Throws when the addon is not built. */
export function currentIsa(): Isa {
  return addon().getIsa();
}

/** Sets the SGEMM worker count (1..64, includes the calling thread) and returns it. */
export function setThreads(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setThreads(${n}): expected a positive integer`);
  return addon().setThreads(n);
}
