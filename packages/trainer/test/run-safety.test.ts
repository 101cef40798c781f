import { appendFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireOutputLock, selectBackend } from '@qlip/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkpointConfigLayer, METRICS_FILE, STATE_FILE, train } from '../src/index.js';
import { microConfig, tempDir } from './helpers.js';

// Issue 13 items 1 (train), 3 and 8, issue 14's `--extend`: the run folder is never damaged by a second
// run, a run that is not asked to continue, or the debris of a crash.

beforeAll(async () => {
  await selectBackend('wasm');
});

const steps = (out: string) =>
  readdir(out).then((names) => names.filter((n) => n.startsWith('step-')).sort());
const metricSteps = async (out: string) =>
  (await readFile(join(out, METRICS_FILE), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).step as number);

function notes(): { list: string[]; onProgress: (e: { message?: string }) => void } {
  const list: string[] = [];
  return { list, onProgress: (e) => e.message && list.push(e.message) };
}

describe('the run folder', () => {
  it('is locked: a second run into it is refused naming the holder, and the lock goes when the run ends', async () => {
    const out = await tempDir();
    const lock = await acquireOutputLock(out, 'qlip train (the other one)');
    await expect(train(microConfig({ steps: 1 }), { out })).rejects.toThrow(/qlip train \(the other one\)/);
    expect(await steps(out)).toEqual([]);
    await lock.release();
    await train(microConfig({ steps: 1 }), { out });
    expect(await readdir(out)).not.toContain('.qlip.lock');
  });

  it('refuses a non-empty folder without --resume or --overwrite; --overwrite replaces the old run', async () => {
    const out = await tempDir();
    await train(microConfig({ steps: 2, checkpoint: { every: 1, keep: 5 } }), { out });
    const before = await readFile(join(out, METRICS_FILE), 'utf8');
    await expect(train(microConfig({ steps: 1 }), { out })).rejects.toThrow(
      /is not empty \(.*\): continue the run there with --resume .*, replace it with --overwrite/,
    );
    expect(await steps(out)).toEqual(['step-000001', 'step-000002']);
    expect(await readFile(join(out, METRICS_FILE), 'utf8')).toBe(before);

    await writeFile(join(out, 'my-notes.txt'), 'keep me');
    const seen = notes();
    const r = await train(microConfig({ steps: 1 }), { out, overwrite: true, onProgress: seen.onProgress });
    expect(r.checkpoint).toBe(join(out, 'step-000001'));
    expect(await steps(out)).toEqual(['step-000001']);
    expect((await readFile(join(out, 'latest'), 'utf8')).trim()).toBe('step-000001');
    expect(await metricSteps(out)).toEqual([1]);
    expect(await readFile(join(out, 'my-notes.txt'), 'utf8')).toBe('keep me');
    expect(seen.list.join('\n')).toMatch(/--overwrite: removed the previous run/);
  });

  it('resume drops a torn last metrics line (and says so), removes crash debris, falls back when `latest` is gone', async () => {
    const out = await tempDir();
    await train(microConfig({ steps: 3, checkpoint: { every: 1, keep: 5 } }), { out });
    await appendFile(join(out, METRICS_FILE), '{"step":4,"stage":1,"lr":0.00');
    await mkdir(join(out, '.step-000004.tmp-999999'));
    await writeFile(join(out, '.step-000004.tmp-999999', 'model.safetensors'), 'half');
    await rm(join(out, 'step-000003'), { recursive: true });
    const seen = notes();
    const r = await train(microConfig({ steps: 4, schedule: { totalSteps: 3 } }), {
      out,
      resume: out,
      onProgress: seen.onProgress,
    });
    const said = seen.list.join('\n');
    expect(said).toMatch(
      /latest names step-000003, which is missing or incomplete: resuming from .*step-000002/,
    );
    expect(said).toMatch(/metrics\.jsonl: dropped a torn last line/);
    expect(said).toMatch(
      /removed 1 unfinished checkpoint folder\(s\) left by a crash: \.step-000004\.tmp-999999/,
    );
    expect(r).toMatchObject({ startStep: 2, step: 4 });
    expect(await metricSteps(out)).toEqual([1, 2, 3, 4]);
    expect((await readdir(out)).filter((n) => n.includes('.tmp'))).toEqual([]);
  });

  it('names the file in every parse error of a resume', async () => {
    const out = await tempDir();
    await train(microConfig({ steps: 2, checkpoint: { every: 1, keep: 5 } }), { out });
    const metrics = join(out, METRICS_FILE);
    const lines = (await readFile(metrics, 'utf8')).split('\n');
    await writeFile(metrics, ['garbage', ...lines].join('\n'));
    await expect(train(microConfig({ steps: 2 }), { out, resume: out })).rejects.toThrow(
      /metrics\.jsonl: line 1 is not a metrics record/,
    );
    const state = join(out, 'step-000002', STATE_FILE);
    await writeFile(state, '{"version": 1, "step": 2, "conf');
    const named = new RegExp(`${state.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read trainer state`);
    await expect(checkpointConfigLayer(out)).rejects.toThrow(named);
    await expect(train(microConfig({ steps: 2 }), { out, resume: out })).rejects.toThrow(named);
    await writeFile(state, 'null');
    await expect(checkpointConfigLayer(out)).rejects.toThrow(
      /trainer_state\.json: cannot read trainer state \(not a JSON object\)/,
    );
  });
});

describe('--extend', () => {
  it('refuses to restart the schedule silently; --extend continues the cosine from the current rate', async () => {
    const out = await tempDir();
    const schedule = { warmupSteps: 1 };
    const ac = new AbortController();
    const stop = (e: { done: number; unit?: string }) => e.unit === 'steps' && e.done === 4 && ac.abort();
    await train(microConfig({ steps: 8, schedule }), { out, signal: ac.signal, onProgress: stop });
    const longer = microConfig({ steps: 12, schedule });
    await expect(train(longer, { out, resume: out })).rejects.toThrow(
      /schedule ends at step 8 but this run's ends at 12: resuming would move the rate at step 5 from .* to .*\. Pass --extend/,
    );
    expect(await metricSteps(out)).toEqual([1, 2, 3, 4]);

    const seen = notes();
    await train(longer, { out, resume: out, extend: true, onProgress: seen.onProgress });
    expect(seen.list.join('\n')).toMatch(
      /--extend: the learning rate continues from .* at step 4 along a cosine down to 0 at step 12/,
    );
    const lrs = (await readFile(join(out, METRICS_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).lr as number);
    // Warm-up 1 then cosine to 0 at step 8: the rate the 5th step would have had is where the tail starts.
    const current = 0.5 * 1e-3 * (1 + Math.cos((Math.PI * 3) / 7));
    expect(lrs).toHaveLength(12);
    expect(lrs[4]).toBe(current);
    for (let i = 5; i < 12; i++) expect(lrs[i]!).toBeLessThan(lrs[i - 1]!);
    expect(lrs[11]).toBeCloseTo(0.5 * current * (1 + Math.cos((Math.PI * 7) / 8)), 15);
    const state = JSON.parse(await readFile(join(out, 'step-000012', STATE_FILE), 'utf8'));
    expect(state.lrTail).toEqual({ step: 4, lr: current });
    // The extended run resumes like any other (its own schedule, no --extend needed).
    await expect(train(longer, { out, resume: out })).resolves.toMatchObject({ startStep: 12, step: 12 });
  });

  it('is refused without --resume', async () => {
    await expect(train(microConfig({ steps: 1 }), { out: await tempDir(), extend: true })).rejects.toThrow(
      /--extend continues a run: give --resume too/,
    );
  });
});
