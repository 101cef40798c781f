import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { tinyConfig } from '@qlip/test-utils';
import sharp from 'sharp';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  planInputs,
  readTokenDataset,
  resolveShare,
  selectShards,
  type TokenDataset,
  tfjsRuntime,
  tokenizeDataset,
} from '../src/index.js';

let model: QLIPModel;
let root: string;
let server: Server;
let base: string;
/** Requests of `/drop/...` answered so far: the first one is cut mid-body. */
let drops = 0;
const model_ = { path: 'tiny', fingerprint: 'x' };

async function png(seed: number): Promise<Buffer> {
  const px = Buffer.alloc(20 * 18 * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 29 + seed * 71) % 253;
  return sharp(px, { raw: { width: 20, height: 18, channels: 3 } })
    .png()
    .toBuffer();
}

async function makeTar(entries: { name: string; data: Buffer | string }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (const e of entries) pack.entry({ name: e.name }, e.data);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Shard s holds 4 samples: keys s0000..s0003, captions in .txt or .json, one broken image in shard 1. */
async function shardEntries(s: number) {
  const entries: { name: string; data: Buffer | string }[] = [];
  for (let i = 0; i < 4; i++) {
    const key = `${s}${String(i).padStart(4, '0')}`;
    const bad = s === 1 && i === 2;
    entries.push({ name: `${key}.png`, data: bad ? Buffer.from('not a png') : await png(s * 10 + i) });
    if (i % 2 === 0) entries.push({ name: `${key}.txt`, data: `caption ${key}` });
    else if (i === 1) entries.push({ name: `${key}.json`, data: JSON.stringify({ caption: `json ${key}` }) });
  }
  return entries;
}

beforeAll(async () => {
  await selectBackend('wasm');
  model = QLIPModel.create(tinyConfig({ image: 16, patch: 4, bits: 8 }), 5);
  root = mkdtempSync(join(tmpdir(), 'qlip-shards-'));
  mkdirSync(join(root, 'shards'));
  mkdirSync(join(root, 'folder/sub'), { recursive: true });
  for (let s = 0; s < 3; s++) {
    const entries = await shardEntries(s);
    writeFileSync(join(root, 'shards', `${String(s).padStart(5, '0')}.tar`), await makeTar(entries));
    for (const e of entries) if (e.name.endsWith('.png')) writeFileSync(join(root, 'folder', e.name), e.data);
  }
  writeFileSync(join(root, 'folder/sub/x.png'), await png(99));
  writeFileSync(join(root, 'folder/sub/x.txt'), 'a sidecar caption\n');
  server = createServer((req, res) => {
    const m = /^\/(ok|drop)\/(\d{5}\.tar)$/.exec(req.url ?? '');
    const file = m ? join(root, 'shards', m[2]!) : '';
    if (!m || !existsSync(file)) return void res.writeHead(404).end('not found');
    const bytes = readFileSync(file);
    res.writeHead(200, { 'content-type': 'application/x-tar', 'content-length': bytes.length });
    if (m[1] === 'drop' && drops++ === 0) {
      res.write(bytes.subarray(0, 1700)); // mid-way through the first image, then the connection dies
      setTimeout(() => res.socket?.destroy(), 20);
    } else res.end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server?.close();
  model?.dispose();
  rmSync(root, { recursive: true, force: true });
});

const rt = () => tfjsRuntime(model);
const tokensOf = async (ds: TokenDataset) => {
  const out = new Map<string, number[]>();
  const n = ds.meta.grid[0] * ds.meta.grid[1];
  for (const e of ds.entries) {
    const t = await ds.loadTokens(e.shard);
    out.set(e.sha256, Array.from(t.subarray(e.row * n, (e.row + 1) * n)));
  }
  return out;
};

describe('planInputs', () => {
  it('plans tars from brace patterns and URLs, manifests and folders in chunks, single files', async () => {
    const tars = await planInputs(join(root, 'shards/{00000..00002}.tar'), 10);
    expect(tars.map((s) => [s.name, s.order, s.kind])).toEqual([
      ['00000', 0, 'tar'],
      ['00001', 1, 'tar'],
      ['00002', 2, 'tar'],
    ]);
    const urls = await planInputs(`${base}/ok/{00001..00002}.tar`, 10);
    expect(urls).toEqual([
      { name: '00001', order: 0, kind: 'tar', location: `${base}/ok/00001.tar` },
      { name: '00002', order: 1, kind: 'tar', location: `${base}/ok/00002.tar` },
    ]);
    const folder = await planInputs(join(root, 'folder'), 5);
    expect(folder.map((s) => (s.kind === 'files' ? s.files.length : -1))).toEqual([5, 5, 3]);
    expect(folder[0]).toMatchObject({
      name: '00000',
      files: ['00000.png', '00001.png', '00002.png', '00003.png', '10000.png'],
    });
    writeFileSync(
      join(root, 'm.csv'),
      'image,caption\nfolder/00000.png,zero\nfolder/00001.png,one\nfolder/sub/x.png,x\n',
    );
    const csv = await planInputs(join(root, 'm.csv'), 2);
    expect(csv.map((s) => (s.kind === 'manifest' ? [s.first, s.count] : []))).toEqual([
      [0, 2],
      [2, 1],
    ]);
    expect(await planInputs(join(root, 'folder/sub/x.png'), 2)).toMatchObject([
      { name: 'x.png', kind: 'files', files: ['x.png'] },
    ]);
    await expect(planInputs(join(root, 'nope'), 2)).rejects.toThrow(/nope: no such file or folder/);
    await expect(planInputs(join(root, 'shards/{00000..00003}.tar'), 2)).rejects.toThrow(
      /00003\.tar: shard does not exist/,
    );
  });

  it('job arrays: i mod N == I, from flags, Kubernetes or SLURM variables', () => {
    const shards = Array.from({ length: 7 }, (_, i) => ({
      name: String(i),
      order: i,
      kind: 'tar' as const,
      location: `${i}.tar`,
    }));
    expect(selectShards(shards, 1, 3).map((s) => s.name)).toEqual(['1', '4']);
    expect(resolveShare({ index: 2, count: 3 }, {})).toEqual({ index: 2, count: 3, from: 'flags' });
    expect(resolveShare({ count: 4 }, { JOB_COMPLETION_INDEX: '3' })).toEqual({
      index: 3,
      count: 4,
      from: 'kubernetes',
    });
    expect(() => resolveShare({}, { JOB_COMPLETION_INDEX: '3' })).toThrow(/--shard-count/);
    expect(
      resolveShare({}, { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '8' }),
    ).toEqual({ index: 4, count: 8, from: 'slurm' });
    expect(resolveShare({}, {})).toEqual({ index: 0, count: 1, from: 'single' });
    expect(() => selectShards(shards, 3, 3)).toThrow(/shard index must be in 0\.\.2/);
  });
});

describe('tokenizeDataset (parts)', () => {
  it('writes one part per tar with keys, captions and sources; equals tokenizing the same images as files', async () => {
    const out = join(root, 'out-tars');
    const r = await tokenizeDataset(rt(), {
      input: join(root, 'shards/{00000..00002}.tar'),
      out,
      model: model_,
      batchSize: 3,
    });
    expect(r).toMatchObject({ shards: { total: 3, written: 3 }, tokenized: 11, total: 11, failedShards: [] });
    expect(r.failed).toEqual([
      expect.objectContaining({ key: '10002', source: join(root, 'shards/00001.tar') }),
    ]);
    const ds = await readTokenDataset(out);
    expect(ds.parts).toEqual(['00000', '00001', '00002']);
    expect(ds.entries.map((e) => e.key)).toEqual([
      '00000',
      '00001',
      '00002',
      '00003',
      '10000',
      '10001',
      '10003',
      '20000',
      '20001',
      '20002',
      '20003',
    ]);
    expect(ds.entries[1]).toMatchObject({
      key: '00001',
      caption: 'json 00001',
      shard: 0,
      row: 1,
      part: '00000',
    });
    expect(ds.entries[3]!.caption).toBeUndefined(); // no .txt, no .json
    expect(ds.entries[4]).toMatchObject({ source: join(root, 'shards/00001.tar'), shard: 1, row: 0 });
    const done = JSON.parse(readFileSync(join(out, 'parts/00001/done.json'), 'utf8'));
    expect(done).toMatchObject({ part: '00001', order: 1, images: 3, failed: [{ key: '10002' }] });

    const files = join(root, 'out-folder');
    const f = await tokenizeDataset(rt(), {
      input: join(root, 'folder'),
      out: files,
      model: model_,
      shardSize: 4,
    });
    expect(f.shards.total).toBe(4);
    const byHash = await tokensOf(await readTokenDataset(files));
    for (const [hash, tokens] of await tokensOf(ds)) expect(byHash.get(hash)).toEqual(tokens);
    const rerun = await tokenizeDataset(rt(), { input: join(root, 'folder'), out: files, model: model_ });
    expect(rerun.shards).toMatchObject({ total: 4, alreadyDone: 4, written: 0 }); // chunked as the first run was
    await expect(
      tokenizeDataset(rt(), { input: join(root, 'folder'), out: files, model: model_, shardSize: 5 }),
    ).rejects.toThrow(/different shardSize \(4 vs 5\)/);
    const fds = await readTokenDataset(files);
    expect(fds.entries.find((e) => e.path === 'sub/x.png')).toMatchObject({
      key: 'sub/x.png',
      caption: 'a sidecar caption',
    });
  });

  it('a rerun skips finished parts and redoes a damaged one; job-array shares fill one dataset', async () => {
    const input = join(root, 'shards/{00000..00002}.tar');
    const out = join(root, 'out-rerun');
    await tokenizeDataset(rt(), { input, out, model: model_ });
    const before = readFileSync(join(out, 'parts/00002/tokens.npy'));
    truncateSync(join(out, 'parts/00002/tokens.npy'), 10);
    const events: string[] = [];
    const again = await tokenizeDataset(rt(), {
      input,
      out,
      model: model_,
      onProgress: (e) => e.message && events.push(e.message),
    });
    expect(again.shards).toEqual({ total: 3, selected: 3, alreadyDone: 2, written: 1 });
    expect(events.join('\n')).toMatch(/redoing part 00002: .*tokens\.npy: 10 bytes, done\.json records/);
    expect(readFileSync(join(out, 'parts/00002/tokens.npy')).equals(before)).toBe(true);

    const arr = join(root, 'out-array');
    const shares = await Promise.all(
      [0, 1, 2].map((i) =>
        tokenizeDataset(rt(), { input, out: arr, model: model_, shardIndex: i, shardCount: 3 }),
      ),
    );
    expect(shares.map((s) => s.shards.selected)).toEqual([1, 1, 1]);
    expect(await tokensOf(await readTokenDataset(arr))).toEqual(await tokensOf(await readTokenDataset(out)));
    await expect(
      tokenizeDataset(tfjsRuntime(QLIPModel.create(tinyConfig({ image: 16, patch: 4, bits: 6 }), 1)), {
        input,
        out,
        model: model_,
      }),
    ).rejects.toThrow(/meta\.json: existing dataset was made with a different bits/);
  });

  it('reads shards over HTTP; a connection dropped mid-tar is retried, never half-written', async () => {
    const out = join(root, 'out-http');
    const events: string[] = [];
    const r = await tokenizeDataset(rt(), {
      input: `${base}/drop/{00000..00002}.tar`,
      out,
      model: model_,
      retryDelayMs: 10,
      onProgress: (e) => e.message && events.push(e.message),
    });
    expect(drops).toBeGreaterThanOrEqual(2);
    expect(events.join('\n')).toMatch(/00000: try 1 failed \(.*00000\.tar: shard unreadable/);
    expect(r).toMatchObject({ tokenized: 11, total: 11, failedShards: [] });
    expect(await tokensOf(await readTokenDataset(out))).toEqual(
      await tokensOf(await readTokenDataset(join(root, 'out-tars'))),
    );

    const gone = await tokenizeDataset(rt(), {
      input: `${base}/ok/{00002..00004}.tar`,
      out: join(root, 'out-404'),
      model: model_,
      attempts: 2,
      retryDelayMs: 1,
    });
    expect(gone.failedShards.map((f) => [f.shard, f.reason])).toEqual([
      ['00003', `${base}/ok/00003.tar: shard unreadable: HTTP 404 Not Found`],
      ['00004', `${base}/ok/00004.tar: shard unreadable: HTTP 404 Not Found`],
    ]);
    expect((await readTokenDataset(join(root, 'out-404'))).parts).toEqual(['00002']);
  });

  it('a rerun tokenizes again a finished part whose images changed, or whose chunk gained an image, and says so', async () => {
    const dir = join(root, 'rerun-in');
    mkdirSync(dir);
    for (let i = 0; i < 5; i++) writeFileSync(join(dir, `b${i}.png`), await png(40 + i));
    const out = join(root, 'rerun-out');
    await tokenizeDataset(rt(), { input: dir, out, model: model_, shardSize: 2 });
    const fresh = async () => {
      const clean = mkdtempSync(join(root, 'rerun-clean-'));
      await tokenizeDataset(rt(), { input: dir, out: clean, model: model_, shardSize: 2 });
      return tokensOf(await readTokenDataset(clean));
    };

    writeFileSync(join(dir, 'b3.png'), await png(77)); // changed in place: part 00001
    writeFileSync(join(dir, 'a.png'), await png(78)); // sorts first: every chunk shifts
    const notes: string[] = [];
    const r = await tokenizeDataset(rt(), {
      input: dir,
      out,
      model: model_,
      onProgress: (e) => e.message && notes.push(e.message),
    });
    expect(notes.join('\n')).toMatch(/part 00000 is tokenized again: its input changed/);
    expect(r.total).toBe(6);
    expect(await tokensOf(await readTokenDataset(out))).toEqual(await fresh());

    const again = await tokenizeDataset(rt(), { input: dir, out, model: model_ });
    expect(again).toMatchObject({ tokenized: 0, total: 6 });
  });
});
