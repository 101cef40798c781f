import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ProgressEvent, selectBackend } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx, prepareOnnx } from '../src/index.js';
import { tinyConfig } from './helpers.js';

let tmp: string;
let modelDir: string;

beforeAll(async () => {
  await selectBackend('wasm');
  tmp = await mkdtemp(join(tmpdir(), 'qlip-onnx-cache-'));
  modelDir = join(tmp, 'model');
  const model = QLIPModel.create(tinyConfig({ image: 16, patch: 4, bits: 8 }), 3);
  await model.save(modelDir);
  model.dispose();
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('prepareOnnx (the ONNX export cache of serve and --runtime auto)', () => {
  it('exports once into the cache (never the model folder), with progress; two concurrent callers share one export', async () => {
    const cacheDir = join(tmp, 'cache');
    const before = (await readdir(modelDir)).sort();
    const events: ProgressEvent[] = [];
    let prepared = 0;
    const beforeExport = async () => {
      prepared++;
    };
    // Two at once: the second finds the entry locked by the first, waits, and reuses its export.
    const [a, b] = await Promise.all([
      prepareOnnx(modelDir, { cacheDir, onProgress: (e) => events.push(e), beforeExport }),
      prepareOnnx(modelDir, { cacheDir, onProgress: (e) => events.push(e), beforeExport }),
    ]);
    expect(a.dir).toBe(b.dir);
    expect(a.dir.startsWith(join(cacheDir, 'onnx', 'model-'))).toBe(true);
    expect([a.origin, b.origin].sort()).toEqual(['cache', 'exported']);
    expect(prepared).toBe(2); // each caller got ready to export; only one export ran
    expect(events.some((e) => /exporting ONNX graphs/.test(e.message ?? ''))).toBe(true);
    expect(events.some((e) => /waiting for pid \d+ .*exporting this model/.test(e.message ?? ''))).toBe(true);
    expect(a.files).toContain('qlip-onnx.json');
    expect(a.files).toContain('image_encoder.onnx');
    // No stage or lock files left behind, nothing written into the model folder.
    expect((await readdir(a.dir)).sort()).toEqual([...a.files].sort());
    expect((await readdir(modelDir)).sort()).toEqual(before);

    const again = await prepareOnnx(modelDir, { cacheDir, beforeExport });
    expect(again).toMatchObject({ dir: a.dir, origin: 'cache' });
    expect(prepared).toBe(2);
  });

  it("prefers the model's own export and keys the cache by the weights", async () => {
    const own = join(tmp, 'own');
    const model = QLIPModel.create(tinyConfig({ image: 16, patch: 4, bits: 8 }), 4);
    await model.save(own);
    await exportOnnx(model, join(own, 'onnx'));
    model.dispose();
    const cacheDir = join(tmp, 'cache2');
    expect(await prepareOnnx(own, { cacheDir })).toMatchObject({ dir: join(own, 'onnx'), origin: 'model' });
    // Different weights under the same folder name: a different cache entry.
    const other = join(tmp, 'other', 'model');
    const m2 = QLIPModel.create(tinyConfig({ image: 16, patch: 4, bits: 8 }), 5);
    await m2.save(other);
    m2.dispose();
    const p1 = await prepareOnnx(modelDir, { cacheDir });
    const p2 = await prepareOnnx(other, { cacheDir });
    expect(p1.dir).not.toBe(p2.dir);
  });
});
