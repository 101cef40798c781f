import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { selectBackend } from '@qlip/core';
import { describe, expect, it } from 'vitest';
import { METRICS_FILE, OPTIMIZER_FILE, train } from '../src/index.js';
import { microConfig, tempDir } from './helpers.js';

/**
 * 10 steps + resume + 10 steps must equal 20 straight steps bit for bit: model weights, AdamW moments
 * and the logged losses. The run uses every piece of state a resume restores: warm-up + cosine over 20
 * steps, dynamic balancing, EMA, gradient accumulation and a shuffled data stream crossing an epoch.
 */
const split = {
  steps: 20,
  data: { source: { kind: 'builtin', name: 'mnist', limit: 24 }, batchSize: 3, shuffle: true },
  optimizer: { gradAccum: 2 },
  schedule: { warmupSteps: 3, totalSteps: 20 },
  ema: { decay: 0.9 },
  checkpoint: { every: 5, keep: 1 },
};

// The pure-JS cpu backend takes ~1 s per step even for this model (generic transposes of the 49408-row
// token-embedding gradient, unfused elementwise ops), so its variant skips EMA and accumulation (the
// wasm variant covers them).
const cpuSplit = { ...split, optimizer: { gradAccum: 1 }, ema: { decay: 0 } };

describe.each([
  ['wasm', split],
  ['cpu', cpuSplit],
] as const)('resume on %s', (backend, over) => {
  it('10 steps + resume + 10 steps == 20 straight steps, bit for bit', async () => {
    await selectBackend(backend);
    const straight = await tempDir();
    await train(microConfig(over), { out: straight });

    const parted = await tempDir();
    const first = await train(microConfig({ ...over, steps: 10 }), { out: parted });
    expect(first.step).toBe(10);
    const second = await train(microConfig(over), { out: parted, resume: parted });
    expect(second).toMatchObject({ startStep: 10, step: 20, resumedFrom: join(parted, 'step-000010') });

    const a = join(straight, 'step-000020');
    const b = join(parted, 'step-000020');
    const files = [
      'model.safetensors',
      OPTIMIZER_FILE,
      ...(over.ema.decay > 0 ? ['ema/model.safetensors'] : []),
    ];
    for (const f of files) {
      const [x, y] = [await readFile(join(a, f)), await readFile(join(b, f))];
      expect(x.equals(y), `${f} differs`).toBe(true);
    }
    const sa = JSON.parse(await readFile(join(a, 'trainer_state.json'), 'utf8'));
    const sb = JSON.parse(await readFile(join(b, 'trainer_state.json'), 'utf8'));
    expect(sb.data).toEqual(sa.data);
    expect(sa.data.epoch).toBeGreaterThan(0);
    expect(sb.balancer).toEqual(sa.balancer);
    const losses = async (dir: string) =>
      (await readFile(join(dir, METRICS_FILE), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).loss.total);
    expect(await losses(parted)).toEqual(await losses(straight));
  });
});

it('refuses to resume a stage-1 checkpoint as stage 2 (that is --init)', async () => {
  await selectBackend('wasm');
  const out = await tempDir();
  await train(microConfig({ steps: 1 }), { out });
  await expect(train(microConfig({ steps: 2, stage: 2 }), { out, resume: out })).rejects.toThrow(
    /trainer_state\.json: checkpoint is a stage-1 run but the config asks for stage 2; .*use --init/,
  );
  await expect(
    train(microConfig({ steps: 2 }), { out: await tempDir(), resume: join(out, 'nope') }),
  ).rejects.toThrow(/nope: no checkpoint found/);
});
