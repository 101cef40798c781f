import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { registerBackendAccelerator, selectBackend } from '../src/index.js';

describe('selectBackend', () => {
  it('selects wasm and cpu on request and reports them', async () => {
    const w = await selectBackend('wasm');
    expect(w.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const c = await selectBackend('cpu');
    expect(c.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('auto picks the fastest backend that loads and says why others were skipped', async () => {
    const a = await selectBackend('auto');
    expect(['tensorflow', 'wasm']).toContain(a.name);
    if (a.name !== 'tensorflow') {
      expect(a.skipped.map((s) => s.name)).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
      for (const s of a.skipped) expect(s.reason.length).toBeGreaterThan(0);
    }
  });

  it('an explicit tensorflow request fails loudly when native TensorFlow is missing', async () => {
    const a = await selectBackend('auto');
    if (a.name === 'tensorflow') return; // a machine with libtensorflow: nothing to check
    await expect(selectBackend('tensorflow')).rejects.toThrow(
      /Backend "tensorflow" is not available.*--backend wasm/,
    );
  });

  it('rejects unknown names, listing the valid ones', async () => {
    await expect(selectBackend('gpu')).rejects.toThrow(
      'Unknown backend "gpu": expected one of auto, tensorflow, wasm, cpu',
    );
  });

  it('reads QLIP_BACKEND when no choice is passed', async () => {
    process.env.QLIP_BACKEND = 'cpu';
    try {
      expect((await selectBackend()).name).toBe('cpu');
    } finally {
      delete process.env.QLIP_BACKEND;
    }
  });

  it('runs the registered accelerators once each on the selected backend and appends their notes', async () => {
    const seen: string[] = [];
    const accelerator = async (name: string) => {
      seen.push(name);
      return name === 'cpu' ? 'test accelerator' : undefined;
    };
    await selectBackend('wasm'); // a fresh selection below (the current one is reused)
    registerBackendAccelerator(accelerator);
    registerBackendAccelerator(accelerator); // the same function twice is one registration
    const c = await selectBackend('cpu');
    expect(seen).toEqual(['cpu']);
    expect(c.detail).toMatch(/, test accelerator$/);
    expect(c.detail.match(/test accelerator/g)).toHaveLength(1);
  });
});
