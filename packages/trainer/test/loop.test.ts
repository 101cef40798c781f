import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  METRICS_FILE,
  NonFiniteLossError,
  runTrainingLoop,
  STATE_FILE,
  type TrainingLoopOptions,
  type TrainingTask,
} from '../src/index.js';
import { tempDir } from './helpers.js';

beforeAll(async () => {
  await selectBackend('cpu');
});

interface Points {
  x: Float32Array;
  y: Float32Array;
}

/** y = 3x + 1 sampled deterministically, 8 points a batch, counted so the test sees how many were pulled. */
function lineTask(badAtStep?: number): TrainingTask<Points> & { pulled: number; dispose(): void } {
  const w = tf.variable(tf.scalar(0), true);
  const b = tf.variable(tf.scalar(0), true);
  const task = {
    pulled: 0,
    parameters: new Map([
      ['w', w],
      ['b', b],
    ]),
    batches: {
      next: async () => {
        task.pulled += 1;
        const x = Float32Array.from({ length: 8 }, (_, i) => ((task.pulled * 8 + i) % 13) / 13);
        return { done: false as const, value: { x, y: x.map((v) => 3 * v + 1) } };
      },
    },
    microBatch(batch: Points, context: { step: number }) {
      const x = tf.tensor1d(batch.x);
      const y = tf.tensor1d(batch.y);
      return {
        loss: () => {
          const mse = tf.mean(tf.square(tf.sub(tf.add(tf.mul(x, w), b), y))) as tf.Scalar;
          const value = context.step === badAtStep ? Number.NaN : mse.dataSync()[0]!;
          return { total: mse, terms: { mse: value } };
        },
        dispose: () => tf.dispose([x, y]),
      };
    },
    checkpointState: () => ({ pulled: task.pulled }),
    save: async (dir: string) => {
      await writeFile(join(dir, 'weights.json'), JSON.stringify({ w: w.dataSync()[0], b: b.dataSync()[0] }));
    },
    dispose: () => tf.dispose([w, b]),
  };
  return task;
}

function options(out: string, over: Partial<TrainingLoopOptions> = {}): TrainingLoopOptions {
  return {
    out,
    steps: 60,
    microBatches: 2,
    learningRate: () => 0.1,
    optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
    clipNorm: 1,
    emaDecay: 0,
    checkpoint: { every: 25, keep: 2 },
    examplesPerStep: 16,
    ...over,
  };
}

describe('runTrainingLoop (a model that is not QLIP)', () => {
  it('fits a line: micro-batches, checkpoints, metrics and raw progress numbers', async () => {
    const out = await tempDir('qlip-loop-');
    const task = lineTask();
    const events: Record<string, number | string>[] = [];
    const before = tf.memory().numTensors;
    const r = await runTrainingLoop(task, {
      ...options(out),
      onProgress: (e) => e.metrics && events.push(e.metrics),
    });
    expect(r).toMatchObject({ startStep: 0, step: 60, stopped: 'completed' });
    expect(task.pulled).toBe(120);
    expect(tf.memory().numTensors).toBe(before);
    const lines = (await readFile(join(out, METRICS_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.step)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(lines[59].loss.mse).toBeLessThan(lines[0].loss.mse / 10);
    expect(events[0]).toMatchObject({ mse: expect.any(Number), lr: 0.1, eta: expect.any(Number) });
    expect((await readdir(out)).filter((n) => n.startsWith('step-')).sort()).toEqual([
      'step-000050',
      'step-000060',
    ]);
    const state = JSON.parse(await readFile(join(out, 'step-000060', STATE_FILE), 'utf8'));
    expect(state).toEqual({ pulled: 120, step: 60 });
    const weights = JSON.parse(await readFile(join(out, 'step-000060', 'weights.json'), 'utf8'));
    expect(weights.w).toBeGreaterThan(1);
    task.dispose();
  });

  it('stops on a non-finite term naming the step and the term', async () => {
    const out = await tempDir('qlip-loop-');
    const task = lineTask(7);
    const run = runTrainingLoop(task, options(out, { checkpoint: { every: 5, keep: 1 } }));
    await expect(run).rejects.toThrow(NonFiniteLossError);
    await expect(run).rejects.toThrow(/step 7: loss term "mse" = NaN.*step-000005/);
    task.dispose();
  });
});
