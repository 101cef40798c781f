import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { selectBackend } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { METRICS_FILE, NonFiniteLossError, STATE_FILE, type StepMetrics, train } from '../src/index.js';
import { microConfig, tempDir } from './helpers.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

async function metrics(out: string): Promise<StepMetrics[]> {
  const text = await readFile(join(out, METRICS_FILE), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as StepMetrics);
}

describe('stage 1', () => {
  it('trains, logs every step, keeps the tensor count flat and writes a loadable checkpoint', async () => {
    const out = await tempDir();
    const counts: number[] = [];
    const messages: string[] = [];
    const before = tf.memory().numTensors;
    const r = await train(microConfig({ steps: 4, checkpoint: { every: 1, keep: 2 } }), {
      out,
      onProgress: (e) => {
        if (e.unit === 'steps') counts.push(tf.memory().numTensors);
        if (e.message) messages.push(e.message);
        if (e.metrics)
          expect(Object.keys(e.metrics)).toEqual(
            expect.arrayContaining(['lr', 'img/s', 'eta', 'w_rec', 'w_con']),
          );
      },
    });
    expect(r).toMatchObject({ step: 4, startStep: 0, stopped: 'completed', stage: 1 });
    expect(r.parameters.trainable).toBe(r.parameters.total);
    // Step 1 creates the AdamW moments; from then on nothing may leak.
    expect(counts).toHaveLength(4);
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    const m = await metrics(out);
    expect(m.map((x) => x.step)).toEqual([1, 2, 3, 4]);
    for (const x of m) {
      expect(Object.keys(x.loss)).toEqual(
        expect.arrayContaining(['reconstruction', 'bsq', 'contrastive', 'total']),
      );
      // Dynamic balancing: the two balanced weights sum to balancerTotal, BSQ stays fixed.
      expect(x.weights.reconstruction! + x.weights.contrastive!).toBeCloseTo(2, 10);
      expect(x.weights.bsq).toBe(1);
      expect(x.imagesPerSecond).toBeGreaterThan(0);
    }
    // Warm-up of 2 steps then cosine to 0 at step 4.
    expect(m.map((x) => x.lr)).toEqual(
      [5e-4, 1e-3, 1e-3, 5e-4].map((v, i) => (i < 2 ? v : expect.closeTo(v, 12))),
    );
    // keep 2: only the newest two checkpoints remain.
    const dirs = (await readdir(out)).filter((n) => n.startsWith('step-')).sort();
    expect(dirs).toEqual(['step-000003', 'step-000004']);
    expect((await readFile(join(out, 'latest'), 'utf8')).trim()).toBe('step-000004');
    expect(messages.some((x) => x.includes('checkpoint'))).toBe(true);
    const ck = join(out, 'step-000004');
    expect((await readdir(ck)).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'optimizer.safetensors',
      STATE_FILE,
    ]);
    const state = JSON.parse(await readFile(join(ck, STATE_FILE), 'utf8'));
    expect(state).toMatchObject({ version: 1, stage: 1, step: 4, data: { epoch: 0, index: 16 } });
    expect(state.config.steps).toBe(4);
    expect(state.config.model.vision_config.hidden_size).toBe(32);
    expect(state.balancer.step).toBe(4);
    const model = await QLIPModel.load(ck);
    expect(model.parameterCount()).toBe(r.parameters.total);
    model.dispose();
  });

  it('accumulates gradients over micro-batches (one optimizer step per gradAccum batches)', async () => {
    const out = await tempDir();
    const r = await train(microConfig({ steps: 2, optimizer: { gradAccum: 3 }, data: { batchSize: 2 } }), {
      out,
    });
    expect(r.step).toBe(2);
    const state = JSON.parse(await readFile(join(out, 'step-000002', STATE_FILE), 'utf8'));
    expect(state.data).toEqual({ epoch: 0, index: 12 });
    // The balancer folds in one value per optimizer step, not per micro-batch.
    expect(state.balancer.step).toBe(2);
  });

  it('stops on a non-finite loss naming the step and the term, keeping the last good checkpoint', async () => {
    const out = await tempDir();
    const run = train(microConfig({ steps: 5, checkpoint: { every: 2 }, debug: { nanAtStep: 3 } }), { out });
    await expect(run).rejects.toThrow(NonFiniteLossError);
    await expect(run).rejects.toThrow(
      /non-finite loss at step 3: loss term "reconstruction" = NaN; training stopped\. The last good checkpoint is .*step-000002/,
    );
    expect((await readdir(out)).filter((n) => n.startsWith('step-'))).toEqual(['step-000002']);
    expect((await metrics(out)).map((x) => x.step)).toEqual([1, 2]);
  });

  it('writes a checkpoint and returns when aborted between steps', async () => {
    const out = await tempDir();
    const ac = new AbortController();
    const r = await train(microConfig({ steps: 50 }), {
      out,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.unit === 'steps' && e.done === 2) ac.abort();
      },
    });
    expect(r).toMatchObject({ stopped: 'aborted', step: 2 });
    expect(r.checkpoint).toBe(join(out, 'step-000002'));
  });

  it('keeps EMA weights as a complete model directory', async () => {
    const out = await tempDir();
    const before = tf.memory().numTensors;
    await train(microConfig({ steps: 2, ema: { decay: 0.5 } }), { out });
    expect(tf.memory().numTensors).toBe(before);
    const ck = join(out, 'step-000002');
    const raw = await QLIPModel.load(ck);
    const ema = await QLIPModel.load(join(ck, 'ema'));
    const name = 'vision_decoder.conv_out.weight';
    const a = await raw.params.get(name)!.data();
    const b = await ema.params.get(name)!.data();
    expect(Array.from(a)).not.toEqual(Array.from(b));
    raw.dispose();
    ema.dispose();
  });
});
