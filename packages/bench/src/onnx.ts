/** The ONNX Runtime tokenize benchmark of @qlip/export, when that package provides one. */
export type OnnxEntry = { available: true; result: unknown } | { available: false; reason: string };

/**
 * Runs @qlip/export's ONNX tokenize benchmark through a dynamic import (the package is optional here):
 * its `benchOnnxTokenize()` export, if present. Otherwise a clear "not available" entry.
 */
export async function onnxTokenize(onProgress: (m: string) => void): Promise<OnnxEntry> {
  const pkg = '@qlip/export';
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pkg)) as Record<string, unknown>;
  } catch (err) {
    return { available: false, reason: `${pkg} cannot be loaded: ${(err as Error).message.split('\n')[0]}` };
  }
  const fn = mod.benchOnnxTokenize;
  if (typeof fn !== 'function') {
    return {
      available: false,
      reason: `${pkg} has no benchOnnxTokenize export (its ONNX tokenize bench is not there yet)`,
    };
  }
  onProgress('onnx: ONNX Runtime tokenize');
  try {
    return { available: true, result: await (fn as () => Promise<unknown>)() };
  } catch (err) {
    return {
      available: false,
      reason: `${pkg} benchOnnxTokenize failed: ${(err as Error).message.split('\n')[0]}`,
    };
  }
}
