import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cappedWriteOpener, readNpy, selectBackend, setWriteOpener } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyConfig } from '../../model/test/tiny.js';
import { readTokenDataset, type TokenizerRuntime, tfjsRuntime, tokenizeDirectory } from '../src/index.js';

// Fault tests of issue 13 for tokenize: each reproduces a fault of the unsafe code and must hold now.
let model: QLIPModel;
let root: string;
let imgDir: string;
const FP = { path: '/models/tiny', fingerprint: 'fp' };
let n = 0;
const fresh = () => join(root, `out-${n++}`);

async function writeImage(path: string, seed: number, w = 20, h = 20): Promise<void> {
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + seed * 101) % 251;
  await sharp(data, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(path);
}

/** The model's runtime, slowed down so a second process can arrive mid-run. */
function slowRuntime(ms: number): TokenizerRuntime {
  const rt = tfjsRuntime(model);
  return {
    ...rt,
    name: rt.name,
    async encode(px, b, o) {
      await new Promise((r) => setTimeout(r, ms));
      return rt.encode(px, b, o);
    },
  } as TokenizerRuntime;
}

beforeAll(async () => {
  await selectBackend('wasm');
  model = QLIPModel.create(tinyConfig({ image: 16, patch: 4, bits: 8 }), 3);
  root = mkdtempSync(join(tmpdir(), 'qlip-tok-safety-'));
  imgDir = join(root, 'imgs');
  mkdirSync(imgDir);
  for (let i = 0; i < 6; i++) await writeImage(join(imgDir, `img${i}.png`), i);
});
afterAll(() => model.dispose());

describe('tokenize: one writer per dataset (issue 13 item 1)', () => {
  it('a second tokenize into a dataset being written is refused naming the holder; the dataset stays consistent', async () => {
    const out = fresh();
    const a = tokenizeDirectory(slowRuntime(150), {
      input: imgDir,
      out,
      model: FP,
      batchSize: 2,
      shardSize: 2,
    });
    await new Promise((r) => setTimeout(r, 50));
    await expect(
      tokenizeDirectory(tfjsRuntime(model), { input: imgDir, out, model: FP, batchSize: 2 }),
    ).rejects.toThrow(
      new RegExp(`${out} is in use by another qlip process: pid ${process.pid} .*"qlip tokenize"`),
    );
    const r = await a;
    expect(r.tokenized).toBe(6);
    const ds = await readTokenDataset(out);
    expect(ds.entries).toHaveLength(6);
    expect(new Set(ds.entries.map((e) => `${e.shard}/${e.row}`)).size).toBe(6);
    expect(existsSync(join(out, '.qlip.lock'))).toBe(false);
  });
});

describe('tokenize on a full disk (issue 13 item 2)', () => {
  it('a shard that does not fit fails the run naming it; the rerun with space completes a valid dataset', async () => {
    const out = fresh();
    const o = { input: imgDir, out, model: FP, batchSize: 2, shardSize: 2, features: true };
    const restore = setWriteOpener(cappedWriteOpener(1_000));
    try {
      await expect(tokenizeDirectory(tfjsRuntime(model), o)).rejects.toThrow(
        /(tokens|features)-0000\d\.npy: write failed after \d+ of \d+ bytes: ENOSPC/,
      );
    } finally {
      restore();
    }
    const r = await tokenizeDirectory(tfjsRuntime(model), o);
    expect(r.total).toBe(6);
    const ds = await readTokenDataset(out);
    expect(new Set(ds.entries.map((e) => e.path)).size).toBe(6);
    for (const shard of new Set(ds.entries.map((e) => e.shard))) {
      const rows = ds.entries.filter((e) => e.shard === shard).length;
      expect((await readNpy(join(out, `tokens-0000${shard}.npy`))).shape[0]).toBe(rows);
      expect((await readNpy(join(out, `features-0000${shard}.npy`))).shape[0]).toBe(rows);
    }
  });
});
