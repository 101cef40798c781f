import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type AdamWState,
  listCheckpoints,
  loadCheckpointState,
  resolveCheckpoint,
  saveCheckpoint,
  stepDirName,
} from '../src/index.js';
import { tempDir } from './helpers.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

function optimizerState(): AdamWState {
  return {
    step: 7,
    m: new Map<string, tf.Tensor>([
      ['w', tf.tensor2d([1, 2, 3, 4], [2, 2])],
      ['logit_scale', tf.scalar(0.5)],
    ]),
    v: new Map<string, tf.Tensor>([
      ['w', tf.tensor2d([5, 6, 7, 8], [2, 2])],
      ['logit_scale', tf.scalar(0.25)],
    ]),
  };
}

const saveModel = async (dir: string) => writeFile(join(dir, 'config.json'), '{}\n');

describe('checkpoints', () => {
  it('round-trips trainer state and AdamW moments (scalars included)', async () => {
    const root = await tempDir();
    const opt = optimizerState();
    const dir = await saveCheckpoint(root, { step: 3, saveModel, optimizer: opt, state: { a: 1 }, keep: 2 });
    expect(dir).toBe(join(root, 'step-000003'));
    const { state, optimizer } = await loadCheckpointState(dir);
    expect(state).toEqual({ a: 1, step: 3 });
    expect(optimizer.step).toBe(7);
    expect(optimizer.m.get('logit_scale')!.shape).toEqual([]);
    expect(Array.from(await optimizer.m.get('w')!.data())).toEqual([1, 2, 3, 4]);
    expect(Array.from(await optimizer.v.get('logit_scale')!.data())).toEqual([0.25]);
    tf.dispose([...opt.m.values(), ...opt.v.values(), ...optimizer.m.values(), ...optimizer.v.values()]);
  });

  it('leaves nothing behind when writing fails, and keeps the previous checkpoint', async () => {
    const root = await tempDir();
    const opt = optimizerState();
    await saveCheckpoint(root, { step: 1, saveModel, optimizer: opt, state: {}, keep: 3 });
    const failing = async () => {
      throw new Error('disk full');
    };
    await expect(
      saveCheckpoint(root, { step: 2, saveModel: failing, optimizer: opt, state: {}, keep: 3 }),
    ).rejects.toThrow('disk full');
    expect((await readdir(root)).sort()).toEqual(['latest', 'step-000001']);
    expect((await readFile(join(root, 'latest'), 'utf8')).trim()).toBe('step-000001');
    tf.dispose([...opt.m.values(), ...opt.v.values()]);
  });

  it('keeps the newest K by step number, also past six digits', async () => {
    const root = await tempDir();
    const opt = optimizerState();
    for (const step of [999_998, 999_999, 1_000_000]) {
      await saveCheckpoint(root, { step, saveModel, optimizer: opt, state: {}, keep: 2 });
    }
    expect(await listCheckpoints(root)).toEqual(['step-999999', 'step-1000000']);
    expect(await resolveCheckpoint(root)).toBe(join(root, 'step-1000000'));
    tf.dispose([...opt.m.values(), ...opt.v.values()]);
  });

  it('resolves a checkpoint directory, a run root, or a root without `latest`', async () => {
    const root = await tempDir();
    const opt = optimizerState();
    await saveCheckpoint(root, { step: 5, saveModel, optimizer: opt, state: {}, keep: 3 });
    await saveCheckpoint(root, { step: 10, saveModel, optimizer: opt, state: {}, keep: 3 });
    expect(await resolveCheckpoint(join(root, stepDirName(5)))).toBe(join(root, 'step-000005'));
    expect(await resolveCheckpoint(root)).toBe(join(root, 'step-000010'));
    await rm(join(root, 'latest'));
    expect(await resolveCheckpoint(root)).toBe(join(root, 'step-000010'));
    const empty = join(root, 'empty');
    await mkdir(empty);
    await expect(resolveCheckpoint(empty)).rejects.toThrow(/empty: no checkpoint found/);
    tf.dispose([...opt.m.values(), ...opt.v.values()]);
  });
});
