import { fileURLToPath } from 'node:url';
import { runCommand } from '@oclif/test';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('qlip bench', () => {
  it('--quick --json prints one JSON object with positive figures for every backend variant present', async () => {
    const { stdout, error } = await runCommand(['bench', '--quick', '--json'], { root });
    expect(error).toBeUndefined();
    const r = JSON.parse(stdout);
    expect(r.benchmark).toBe('bench-s');
    expect(r.quick).toBe(true);
    expect(r.machine.cores).toBeGreaterThan(0);
    expect(r.backends.map((b: { id: string }) => b.id)).toEqual([
      'wasm-native-1t',
      'wasm-native',
      'wasm',
      'cpu',
      'tensorflow',
    ]);
    const ran = r.backends.filter((b: { available: boolean }) => b.available);
    // Stock wasm and cpu are always there; the native variants need the addon, tensorflow libtensorflow.
    expect(ran.map((b: { id: string }) => b.id)).toEqual(expect.arrayContaining(['wasm', 'cpu']));
    for (const b of ran) {
      const m = b.measurement;
      for (const x of [m.tokenize, m.reconstruct, m.text]) {
        expect(x.perSec).toBeGreaterThan(0);
        expect(x.gflops).toBeGreaterThan(0);
      }
      expect(m.train.stepMs).toBeGreaterThan(0);
      expect(m.train.adamwMs).toBeGreaterThan(0);
      expect(m.matmulCeiling.gflops).toBeGreaterThan(0);
      expect(b.peakRssMB).toBeGreaterThan(0);
      expect(b.backend.name).toBe(b.id === 'cpu' ? 'cpu' : 'wasm');
    }
    for (const b of r.backends.filter((x: { available: boolean }) => !x.available)) {
      expect(b.reason).toMatch(/\S/);
    }
    expect(r.flops.benchS.train).toBeGreaterThan(0);
    expect(r.onnx.available).toBe(false);
  });

  it('rejects --reps 0', async () => {
    const { error } = await runCommand(['bench', '--reps', '0', '--quick'], { root });
    expect(error?.message).toMatch(/greater than or equal to 1/);
  });
});
