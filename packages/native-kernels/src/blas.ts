import type { BlasState, NativeAddon } from './native.js';

/** The Debian package whose OpenBLAS the addon opens (`.ci/run` installs it). */
export const OPENBLAS_PACKAGE = 'libopenblas0-pthread';

/** `openblas 0.3.21 (Cooperlake)` from what OpenBLAS reports about itself. */
export function blasName(state: BlasState): string {
  const version = /OpenBLAS\s+(\d[\w.]*)/i.exec(state.config)?.[1];
  return `openblas${version ? ` ${version}` : ''}${state.core ? ` (${state.core})` : ''}`;
}

/**
 * Applies `QLIP_NATIVE_BLAS` and `QLIP_BLAS_LIB` to the addon: opens OpenBLAS and routes the products through
 * it (returned), or keeps the addon's own kernel (undefined). Unset means "when present"; `1` insists and
 * `QLIP_BLAS_LIB` names the library, both throwing when it cannot be opened; `0` keeps our kernel.
 */
export function configureBlas(addon: NativeAddon): BlasState | undefined {
  const raw = process.env.QLIP_NATIVE_BLAS?.trim() ?? '';
  if (!['', '0', '1'].includes(raw)) {
    throw new Error(`QLIP_NATIVE_BLAS="${raw}": expected 0 (our own SGEMM) or 1 (OpenBLAS, required)`);
  }
  if (raw === '0') {
    addon.blasEnable(false);
    return undefined;
  }
  const path = process.env.QLIP_BLAS_LIB?.trim() ?? '';
  const state = addon.blasLoad(path);
  if (path && !(state.loaded && state.path === path)) {
    throw new Error(
      `QLIP_BLAS_LIB="${path}": ${state.loaded ? `${state.path} is already loaded in this process` : state.error}`,
    );
  }
  if (!state.loaded) {
    if (raw === '1') {
      throw new Error(
        `QLIP_NATIVE_BLAS=1 but no OpenBLAS could be opened (apt-get install ${OPENBLAS_PACKAGE}, or set QLIP_BLAS_LIB): ${state.error}`,
      );
    }
    addon.blasEnable(false);
    return undefined;
  }
  addon.blasEnable(true);
  return addon.blasInfo();
}
