import { installNativeKernels, uninstallNativeKernels } from '@qlip/native-kernels';
import { FUSED_KERNELS } from '@qlip/nn';
import { gradientsOf } from '@qlip/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { UnifiedModel } from '../src/model.js';
import { DecodeSession } from '../src/sample.js';
import { buildSequence, packSequences } from '../src/sequence.js';
import { tinyUnified } from './helpers.js';

/** Runs fn with @qlip/native-kernels' fused attention on, or off (`QLIP_NATIVE_ATTENTION=0`: the composite). */
function withAttention<T>(fused: boolean, fn: () => T): T {
  uninstallNativeKernels();
  if (!fused) process.env.QLIP_NATIVE_ATTENTION = '0';
  try {
    installNativeKernels();
  } finally {
    delete process.env.QLIP_NATIVE_ATTENTION;
  }
  expect(tf.getKernel(FUSED_KERNELS.attention, 'wasm') !== undefined).toBe(fused);
  return fn();
}

const codes = Uint32Array.from({ length: 16 }, (_, i) => (i * 4099) % 65536);

/**
 * Largest |a - b| over max |b|, at least `floor` (k_proj.bias has a zero gradient in exact arithmetic, since a
 * per-row shift of the scores leaves the softmax unchanged: both sides hold rounding noise there).
 */
function relErr(a: Float32Array, b: Float32Array, floor = 1e-30): number {
  let err = 0;
  let scale = floor;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return err / scale;
}

/** Teacher-forced total loss and every parameter gradient (the trainer's freeing backward pass). */
function lossAndGrads(m: UnifiedModel): Map<string, Float32Array> {
  const batch = packSequences(
    [
      buildSequence({ task: 't2i', text: [6, 7], image: codes }),
      buildSequence({ task: 'i2t', text: [8, 6, 7], image: codes }),
    ],
    { bits: 16, gridCols: 4 },
  );
  const { grads } = gradientsOf(m.params as Map<string, tf.Variable>, () => ({
    total: m.losses(batch).total,
    terms: {},
  }));
  const out = new Map<string, Float32Array>();
  out.set('loss', Float32Array.of(tf.tidy(() => m.losses(batch).total.dataSync()[0]!)));
  for (const [name, g] of grads) out.set(name, Float32Array.from(g.dataSync() as Float32Array));
  tf.dispose([...grads.values()]);
  return out;
}

/** Last hidden state after a prefill of 5 elements and 4 cached decoding steps. */
function cachedSteps(m: UnifiedModel): Float32Array[] {
  const seq = buildSequence({ task: 't2i', text: [6, 7, 8], image: codes }).elements;
  const s = new DecodeSession(m);
  const out: Float32Array[] = [];
  let last = s.prefill([seq.slice(0, 5), seq.slice(1, 6)]);
  for (let t = 5; t < 9; t++) {
    out.push(Float32Array.from(last.dataSync() as Float32Array));
    last.dispose();
    last = s.step([seq[t]!, seq[t + 1]!]);
  }
  last.dispose();
  s.dispose();
  return out;
}

describe('the unified model on the fused attention kernel', () => {
  afterAll(() => withAttention(true, () => undefined));

  it('teacher-forced loss and every parameter gradient equal the composite (causal mask)', () => {
    const m = tinyUnified();
    const fused = withAttention(true, () => lossAndGrads(m));
    const composite = withAttention(false, () => lossAndGrads(m));
    m.dispose();
    expect([...fused.keys()]).toEqual([...composite.keys()]);
    for (const [name, want] of composite) {
      expect(relErr(fused.get(name)!, want, 1e-3), name).toBeLessThan(1e-5);
    }
  });

  it('KV-cached decoding (the mask shifted by the past, single-position steps) equals the composite', () => {
    const m = tinyUnified();
    const fused = withAttention(true, () => cachedSteps(m));
    const composite = withAttention(false, () => cachedSteps(m));
    m.dispose();
    for (const [i, h] of fused.entries()) expect(relErr(h, composite[i]!)).toBeLessThan(1e-5);
  });
});
