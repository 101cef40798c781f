import { installNativeKernels, uninstallNativeKernels } from '@qlip/native-kernels';

/** The native kernel families the interleaved benches switch (`QLIP_NATIVE_<FAMILY>=0`). */
const FAMILIES = ['GATHER', 'UNARY', 'BINARY', 'SUM', 'MEAN', 'GELU', 'ADAMW', 'LAYERNORM', 'ATTENTION'];

/**
 * Reinstalls the native kernels in one configuration: `all`, `none` (every family above off: SGEMM,
 * Transpose and Identity stay native) or `-A+B` (families A and B off; `-BLAS`: our own SGEMM instead of the
 * system OpenBLAS).
 */
export function useKernelConfig(config: string): void {
  uninstallNativeKernels();
  for (const f of [...FAMILIES, 'BLAS']) delete process.env[`QLIP_NATIVE_${f}`];
  const off = config === 'all' ? [] : config === 'none' ? FAMILIES : config.replace(/^-/, '').split('+');
  for (const f of off) process.env[`QLIP_NATIVE_${f}`] = '0';
  installNativeKernels();
}
