import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTokenDataset, shardName, type TokenDatasetMeta, TokenDatasetWriter } from '../src/index.js';

const meta = (over: Partial<TokenDatasetMeta> = {}): TokenDatasetMeta => ({
  format: 'qlip-tokens',
  version: 1,
  model: { path: 'm', fingerprint: 'abc' },
  bits: 8,
  grid: [2, 2],
  imageSize: 16,
  patchSize: 8,
  preprocessing: { resize: 'shortest-side bicubic' },
  shardSize: 3,
  createdBy: 'test',
  ...over,
});

const item = (i: number) => ({
  path: `img${i}.png`,
  sha256: `h${i}`,
  tokens: Uint32Array.from([i, i + 1, i + 2, 2 ** 32 - 1]),
});

describe('TokenDatasetWriter', () => {
  it('writes full shards as they fill and a short last shard on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qlip-ds-'));
    const w = await TokenDatasetWriter.open(dir, meta());
    await w.add([0, 1, 2, 3].map(item));
    expect(existsSync(join(dir, shardName('tokens', 0)))).toBe(true);
    expect(existsSync(join(dir, shardName('tokens', 1)))).toBe(false);
    await w.close();
    const ds = await readTokenDataset(dir);
    expect(ds.entries.map((e) => [e.path, e.shard, e.row])).toEqual([
      ['img0.png', 0, 0],
      ['img1.png', 0, 1],
      ['img2.png', 0, 2],
      ['img3.png', 1, 0],
    ]);
    expect(Array.from(await ds.loadTokens(1))).toEqual([3, 4, 5, 2 ** 32 - 1]);
  });

  it('resumes: done paths are known, a torn index line and orphan shards are cleaned up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qlip-ds-'));
    const w = await TokenDatasetWriter.open(dir, meta());
    await w.add([0, 1, 2].map(item)); // shard 0 complete and indexed
    // Simulate a crash: an orphan shard 1 renamed into place, and a torn index line.
    writeFileSync(join(dir, shardName('tokens', 1)), 'orphan');
    appendFileSync(join(dir, 'index.jsonl'), '{"path": "img3.png", "sha');
    const r = await TokenDatasetWriter.open(dir, meta());
    expect([...r.done.keys()]).toEqual(['img0.png', 'img1.png', 'img2.png']);
    expect(existsSync(join(dir, shardName('tokens', 1)))).toBe(false);
    await r.add([3, 4].map(item));
    await r.close();
    const ds = await readTokenDataset(dir);
    expect(ds.entries.map((e) => e.path)).toEqual([
      'img0.png',
      'img1.png',
      'img2.png',
      'img3.png',
      'img4.png',
    ]);
    expect(new Set(ds.entries.map((e) => `${e.shard}:${e.row}`)).size).toBe(5);
    expect(readFileSync(join(dir, 'index.jsonl'), 'utf8').endsWith('\n')).toBe(true);
  });

  it('refuses to append with a different model or grid, naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qlip-ds-'));
    await (await TokenDatasetWriter.open(dir, meta())).close();
    await expect(TokenDatasetWriter.open(dir, meta({ bits: 10 }))).rejects.toThrow(
      /meta\.json: existing dataset was made with a different bits/,
    );
    await expect(
      TokenDatasetWriter.open(dir, meta({ model: { path: 'm', fingerprint: 'other' } })),
    ).rejects.toThrow(/different model/);
  });

  it('checks token counts and stores float16 features', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qlip-ds-'));
    const w = await TokenDatasetWriter.open(dir, meta({ features: { dim: 2, dtype: 'float16' } }));
    await expect(w.add([{ ...item(0), tokens: new Uint32Array(3) }])).rejects.toThrow(
      /img0\.png: got 3 tokens, the dataset grid needs 4/,
    );
    await expect(w.add([item(0)])).rejects.toThrow(/features missing/);
    await w.add([{ ...item(0), features: new Uint16Array(8).fill(0x3c00) }]);
    await w.close();
    const raw = readFileSync(join(dir, shardName('features', 0)));
    expect(raw.toString('latin1', 0, 80)).toContain("'shape': (1, 4, 2)");
  });

  it('reports a directory that is not a dataset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qlip-ds-'));
    await expect(readTokenDataset(dir)).rejects.toThrow(/meta\.json: not a tokenized dataset \(ENOENT\)/);
  });
});
