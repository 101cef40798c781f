import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ONNX_SCRIPT, onnxTokenize } from '../src/onnx.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe('ONNX tokenize entry', () => {
  it('points at @qlip/export/bench/onnx-tokenize.ts', () => {
    expect(ONNX_SCRIPT).toMatch(/packages\/export\/bench\/onnx-tokenize\.ts$/);
  });

  it('returns the last JSON line of a TypeScript bench script', async () => {
    const r = await onnxTokenize(() => {}, fixture('prints-json.ts'));
    expect(r).toEqual({
      available: true,
      script: fixture('prints-json.ts'),
      result: { bench: 'onnx-tokenize', threads_1: { images_per_s: 12.5 } },
    });
  });

  it('says why when the script is missing or fails', async () => {
    const missing = await onnxTokenize(() => {}, fixture('nope.ts'));
    expect(missing).toEqual({ available: false, reason: expect.stringMatching(/nope\.ts does not exist/) });
    const failed = await onnxTokenize(() => {}, fixture('fails.ts'));
    expect(failed.available).toBe(false);
    if (!failed.available)
      expect(failed.reason).toMatch(/fails\.ts failed \(exit code 1\).*no ONNX model here/);
  });
});
