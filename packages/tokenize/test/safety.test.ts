import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cappedWriteOpener, readNpy, selectBackend, setWriteOpener } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { tinyConfig } from '@qlip/test-utils';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ModelRuntime,
  readTokenDataset,
  reconstructDataset,
  reconstructImages,
  shardName,
  tfjsRuntime,
  tokenizeDirectory,
} from '../src/index.js';

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
function slowRuntime(ms: number): ModelRuntime {
  const rt = tfjsRuntime(model);
  return {
    ...rt,
    name: rt.name,
    async encode(px, b, o) {
      await new Promise((r) => setTimeout(r, ms));
      return rt.encode(px, b, o);
    },
  } as ModelRuntime;
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

describe('reconstruct validates the dataset and names outputs uniquely (items 4, 5)', () => {
  async function dataset(): Promise<string> {
    const out = fresh();
    await tokenizeDirectory(tfjsRuntime(model), { input: imgDir, out, model: FP, shardSize: 4 });
    return out;
  }
  const tamper = (ds: string, edit: (rows: Record<string, unknown>[]) => void) => {
    const file = join(ds, 'index.jsonl');
    const rows = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    edit(rows);
    writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
  };

  it('an index path escaping --out, or a row outside its shard, refuses the whole dataset before writing anything', async () => {
    for (const [edit, fault] of [
      [(r: Record<string, unknown>[]) => (r[1]!.path = '../../ESCAPED.png'), /path leaves the output folder/],
      [(r: Record<string, unknown>[]) => (r[1]!.path = '/tmp/abs.png'), /path is absolute/],
      [(r: Record<string, unknown>[]) => (r[2]!.row = 9999), /row 9999 is outside shard 0 \(4 rows\)/],
      [(r: Record<string, unknown>[]) => (r[2]!.row = -5), /row -5 is outside shard 0/],
      [(r: Record<string, unknown>[]) => (r[0]!.shard = 7), /shard 7: .*tokens-00007\.npy/],
    ] as const) {
      const ds = await dataset();
      tamper(ds, edit);
      const out = join(fresh(), 'deep', 'png');
      await expect(reconstructDataset(tfjsRuntime(model), { input: ds, out })).rejects.toThrow(
        new RegExp(`refusing this tokenized dataset: 1 invalid index entry[\\s\\S]*${fault.source}`),
      );
      expect(existsSync(out)).toBe(false);
      expect(existsSync(join(out, '..', '..', 'ESCAPED.png'))).toBe(false);
    }
  });

  it('a.png, a.jpg and a.webp in one folder give three distinct, deterministic PNGs at any batch size', async () => {
    const dir = join(fresh(), 'same-stem');
    mkdirSync(dir, { recursive: true });
    await writeImage(join(dir, 'a.png'), 1);
    await sharp(join(dir, 'a.png')).jpeg().toFile(join(dir, 'a.jpg'));
    await sharp(join(dir, 'a.png')).webp().toFile(join(dir, 'a.webp'));
    await writeImage(join(dir, 'b.png'), 2);
    for (const batchSize of [1, 16]) {
      const out = fresh();
      const r = await reconstructImages(tfjsRuntime(model), { input: dir, out, batchSize });
      expect(r.written).toBe(4);
      expect(readdirSync(out).sort()).toEqual(['a.jpg.png', 'a.png', 'a.webp.png', 'b.png']);
    }
    const ds = fresh();
    await tokenizeDirectory(tfjsRuntime(model), { input: dir, out: ds, model: FP });
    const out = fresh();
    expect((await reconstructDataset(tfjsRuntime(model), { input: ds, out })).written).toBe(4);
    expect(readdirSync(out).sort()).toEqual(['a.jpg.png', 'a.png', 'a.webp.png', 'b.png']);
  });
});

describe('tokenize counts what it skips (items 9, 10, 12)', () => {
  it('undecodable, too large, dangling and looping symlinks: counted by reason, first few listed, the rest tokenized', async () => {
    const dir = join(fresh(), 'mixed');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    await writeImage(join(dir, 'ok.png'), 1);
    await writeImage(join(dir, 'sub', 'big.png'), 2, 200, 200);
    writeFileSync(join(dir, 'broken.jpg'), 'not a jpeg');
    symlinkSync(join(dir, 'missing.png'), join(dir, 'dangling.png'));
    symlinkSync(join(dir, 'loop.png'), join(dir, 'loop.png'));
    const r = await tokenizeDirectory(tfjsRuntime(model), {
      input: dir,
      out: fresh(),
      model: FP,
      maxFileBytes: 2000,
    });
    expect(r.tokenized).toBe(1);
    expect(r.skipped.total).toBe(4);
    expect(r.skipped.byReason).toEqual({ danglingSymlink: 1, symlinkLoop: 1, undecodable: 1, tooLarge: 1 });
    expect(r.skipped.first.map((f) => f.path).sort()).toEqual([
      'broken.jpg',
      'dangling.png',
      'loop.png',
      'sub/big.png',
    ]);
    expect(r.skipped.first.find((f) => f.path === 'sub/big.png')!.detail).toMatch(
      /over the limit of 2000 bytes/,
    );
  });
});

describe('tokenize resume trusts nothing unchecked (items 2, 7, 12)', () => {
  const run = (input: string, out: string, extra: Record<string, unknown> = {}) => {
    const notes: string[] = [];
    const p = tokenizeDirectory(tfjsRuntime(model), {
      input,
      out,
      model: FP,
      batchSize: 2,
      shardSize: 2,
      features: true,
      onProgress: (e) => e.message && notes.push(e.message),
      ...extra,
    });
    return p.then((r) => ({ r, notes }));
  };
  /** Every shard holds exactly the rows its index lines name: no dead rows, no missing rows. */
  async function consistent(out: string, images: number): Promise<void> {
    const ds = await readTokenDataset(out);
    expect(ds.entries).toHaveLength(images);
    expect(new Set(ds.entries.map((e) => e.path)).size).toBe(images);
    const files = readdirSync(out).filter((f) => f.endsWith('.npy'));
    for (const shard of new Set(ds.entries.map((e) => e.shard))) {
      const rows = ds.entries.filter((e) => e.shard === shard).length;
      expect((await readNpy(join(out, shardName('tokens', shard)))).shape[0]).toBe(rows);
      expect((await readNpy(join(out, shardName('features', shard)))).shape[0]).toBe(rows);
    }
    expect(files).toHaveLength(2 * new Set(ds.entries.map((e) => e.shard)).size);
  }

  it('never deletes or overwrites files named like shards in a folder that is not a dataset (no meta.json)', async () => {
    const out = fresh();
    mkdirSync(out);
    writeFileSync(join(out, 'tokens-00042.npy'), 'my own array');
    writeFileSync(join(out, 'data.npy.tmp-7'), 'mine too');
    await expect(run(imgDir, out)).rejects.toThrow(
      /not a qlip dataset \(no meta\.json\) but it holds .*tokens-00042\.npy/,
    );
    expect(readFileSync(join(out, 'tokens-00042.npy'), 'utf8')).toBe('my own array');
    expect(readFileSync(join(out, 'data.npy.tmp-7'), 'utf8')).toBe('mine too');
  });

  it('a truncated shard (full disk, old version) is detected on resume, dropped and redone', async () => {
    const out = fresh();
    await run(imgDir, out);
    const f = join(out, shardName('features', 1));
    truncateSync(f, statSync(f).size - 10);
    const { r, notes } = await run(imgDir, out);
    expect(notes.join('\n')).toMatch(
      /dropping shard 1 \(.*features-00001\.npy: \d+ bytes, its header needs \d+ \(truncated\)\); its 2 image\(s\) will be tokenized again/,
    );
    expect(r.tokenized).toBe(2);
    await consistent(out, 6);
  });

  it('a torn index line leaves no dead rows: the partly indexed shard is dropped and redone', async () => {
    const out = fresh();
    await run(imgDir, out);
    const index = join(out, 'index.jsonl');
    const text = readFileSync(index, 'utf8');
    writeFileSync(index, text.slice(0, text.length - 20)); // crash mid-append of the last line
    const { r, notes } = await run(imgDir, out);
    expect(notes.join('\n')).toMatch(/dropped a torn last line/);
    expect(notes.join('\n')).toMatch(/dropping shard 2 .*index names 1 rows/);
    expect(r.total).toBe(6);
    await consistent(out, 6);
  });

  it('a changed image is tokenized again (its sha256 is checked) and the run says so', async () => {
    const input = join(fresh(), 'imgs');
    cpSync(imgDir, input, { recursive: true });
    const out = fresh();
    await run(input, out);
    const before = await readTokenDataset(out);
    await writeImage(join(input, 'img3.png'), 99); // different pixels, same name
    const { r, notes } = await run(input, out);
    expect(notes.join('\n')).toMatch(/1 image\(s\) changed since they were tokenized/);
    expect(r.tokenized).toBe(2); // img3 and the other image of its shard
    const after = await readTokenDataset(out);
    const sha = (ds: typeof after) => ds.entries.find((e) => e.path === 'img3.png')!.sha256;
    expect(sha(after)).not.toBe(sha(before));
    await consistent(out, 6);
  });

  it('the same model under another path spelling resumes (fingerprints compared); --shard-size on resume is ignored, said so', async () => {
    const out = fresh();
    const ac = new AbortController();
    ac.abort();
    await run(imgDir, out, { signal: ac.signal });
    const { r, notes } = await run(imgDir, out, {
      model: { path: './models/tiny/', fingerprint: 'fp' },
      shardSize: 3,
    });
    expect(r.alreadyDone).toBe(2);
    expect(notes.join('\n')).toMatch(
      /model given as \.\/models\/tiny\/; the dataset recorded \/models\/tiny: same weights/,
    );
    expect(notes.join('\n')).toMatch(/--shard-size 3 ignored: this dataset uses 2 images per shard/);
    await expect(run(imgDir, out, { model: { path: '/models/tiny', fingerprint: 'other' } })).rejects.toThrow(
      /different model/,
    );
    await consistent(out, 6);
  });
});
