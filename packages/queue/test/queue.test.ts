import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ModelRuntime, readTokenDataset } from '@qlip/tokenize';
import sharp from 'sharp';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  enqueueTokenize,
  hasRedisServer,
  type LocalRedis,
  queueStatus,
  runTokenizeWorker,
  startLocalRedis,
  type WorkerEvent,
} from '../src/index.js';

const haveRedis = hasRedisServer();
if (!haveRedis && process.env.CI) throw new Error('redis-server is missing (Debian package redis-server)');
const d = haveRedis ? describe : describe.skip;
if (!haveRedis)
  console.warn('skipping @qlip/queue tests: redis-server not found (apt-get install redis-server)');

/**
 * A stand-in tokenizer: token i of an image is a function of its pixels, so parts can be compared; `delayMs`
 * makes each batch slow enough to stop a worker in the middle of a shard.
 */
function fakeRuntime(delayMs = 0): ModelRuntime {
  const S = 8;
  return {
    name: 'fake',
    imageSize: S,
    patchSize: 4,
    bits: 8,
    grid: [2, 2],
    featureDim: 2,
    contextLength: 4,
    async encode(pixels, batch) {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      const per = pixels.length / batch; // [b, 3, S, S]
      const indices = new Uint32Array(batch * 4); // [b, N]
      for (let b = 0; b < batch; b++)
        for (let t = 0; t < 4; t++) {
          let acc = 0;
          for (let k = t; k < per; k += 4) acc += pixels[b * per + k]!;
          indices[b * 4 + t] = Math.abs(Math.round(acc * 1000)) % 256;
        }
      return { indices };
    },
    decode: async () => new Float32Array(0),
    imageEmbeddings: async () => new Float32Array(0),
    textEmbeddings: async () => new Float32Array(0),
  };
}

async function writeTar(file: string, shard: number, n: number): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (let i = 0; i < n; i++) {
    const px = Buffer.alloc(12 * 12 * 3, (shard * 40 + i * 7) % 256);
    pack.entry(
      { name: `${shard}${String(i).padStart(3, '0')}.png` },
      await sharp(px, { raw: { width: 12, height: 12, channels: 3 } })
        .png()
        .toBuffer(),
    );
  }
  pack.finalize();
  await done;
  writeFileSync(file, Buffer.concat(chunks));
}

let redis: LocalRedis;
let root: string;
const model = { path: 'fake-model', fingerprint: 'f' };

beforeAll(async () => {
  if (!haveRedis) return;
  redis = await startLocalRedis();
  root = mkdtempSync(join(tmpdir(), 'qlip-queue-'));
  mkdirSync(join(root, 'shards'));
  for (let s = 0; s < 4; s++) await writeTar(join(root, 'shards', `${String(s).padStart(5, '0')}.tar`), s, 6);
  // A poisoned shard: cut in the middle of an entry.
  writeFileSync(
    join(root, 'shards/00004.tar'),
    readFileSync(join(root, 'shards/00000.tar')).subarray(0, 900),
  );
});

afterAll(async () => {
  await redis?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

const worker = (name: string, extra: Partial<Parameters<typeof runTokenizeWorker>[0]> = {}) =>
  runTokenizeWorker({
    queue: { url: redis.url, name },
    runtimeFor: async () => ({ runtime: fakeRuntime(), dispose() {} }),
    untilEmpty: true,
    lockDurationMs: 1000,
    stalledIntervalMs: 500,
    ...extra,
  });

d('BullMQ tokenize queue', () => {
  it('enqueues one job per shard (twice adds nothing), drains it, keeps poisoned shards in the failed set', async () => {
    const queue = { url: redis.url, name: 'q1' };
    const out = join(root, 'out1');
    const o = {
      queue,
      input: join(root, 'shards/{00000..00004}.tar'),
      settings: { out, model },
      modelRef: 'fake-model',
      runtime: 'tfjs',
      backoffMs: 10,
      attempts: 2,
    };
    expect(await enqueueTokenize(o)).toEqual({
      queue: 'q1',
      shards: 5,
      alreadyDone: 0,
      added: 5,
      alreadyQueued: 0,
    });
    expect(await enqueueTokenize(o)).toMatchObject({ added: 0, alreadyQueued: 5 });
    await expect(
      enqueueTokenize({ ...o, settings: { out: join(root, 'elsewhere'), model } }),
    ).rejects.toThrow(/queue 'q1' at redis:.* holds shards of .*shards\/\{00000\.\.00004\}\.tar -> .*out1/);
    const events: WorkerEvent[] = [];
    const [a, b] = await Promise.all([
      worker('q1', { onEvent: (e) => events.push(e) }),
      worker('q1', { concurrency: 2 }),
    ]);
    expect(a.jobs + b.jobs).toBe(4);
    expect(a.images + b.images).toBe(24);
    const s = await queueStatus(queue);
    expect(s.counts).toEqual({ done: 4, active: 0, waiting: 0, delayed: 0, failed: 1 });
    expect(s.images).toBe(24);
    expect(s.imagesPerSecond).toBeGreaterThan(0);
    expect(s.failures).toEqual([
      { shard: '00004', attempts: 2, reason: expect.stringMatching(/00004\.tar: shard unreadable/) },
    ]);
    const ds = await readTokenDataset(out);
    expect(ds.parts).toEqual(['00000', '00001', '00002', '00003']);
    expect(new Set(ds.entries.map((e) => e.key)).size).toBe(24);
    // Enqueuing again after the fact: finished parts are not enqueued.
    expect(await enqueueTokenize(o)).toMatchObject({ shards: 5, alreadyDone: 4, added: 0 });
  });

  it('SIGTERM-style stop with no grace hands the current shard back to the queue', async () => {
    const queue = { url: redis.url, name: 'q2' };
    const out = join(root, 'out2');
    await enqueueTokenize({
      queue,
      input: join(root, 'shards/00001.tar'),
      settings: { out, model, batchSize: 1 },
      modelRef: 'fake-model',
      runtime: 'tfjs',
    });
    const stop = new AbortController();
    const events: WorkerEvent[] = [];
    const r = await runTokenizeWorker({
      queue,
      runtimeFor: async () => ({ runtime: fakeRuntime(150), dispose() {} }),
      signal: stop.signal,
      graceMs: 0,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'progress' && e.images === 2) stop.abort();
      },
    });
    expect(r).toMatchObject({ jobs: 0, returned: 1 });
    expect(events.map((e) => e.type)).toContain('returned');
    expect((await queueStatus(queue)).counts).toMatchObject({ done: 0, active: 0, waiting: 1 });
    const again = await worker('q2');
    expect(again).toMatchObject({ jobs: 1, images: 6 });
    expect((await readTokenDataset(out)).entries).toHaveLength(6);
  });

  it('a second stop (now) hands the current shard back at once, without waiting out the grace period', async () => {
    const queue = { url: redis.url, name: 'q3' };
    await enqueueTokenize({
      queue,
      input: join(root, 'shards/00002.tar'),
      settings: { out: join(root, 'out3'), model, batchSize: 1 },
      modelRef: 'fake-model',
      runtime: 'tfjs',
    });
    const stop = new AbortController();
    const now = new AbortController();
    let stoppedAt = 0;
    const r = await runTokenizeWorker({
      queue,
      runtimeFor: async () => ({ runtime: fakeRuntime(1500), dispose() {} }),
      signal: stop.signal,
      now: now.signal,
      graceMs: 60_000,
      onEvent: (e) => {
        if (e.type !== 'progress' || e.images !== 2) return;
        stop.abort();
        stoppedAt = performance.now();
        setTimeout(() => now.abort(), 100);
      },
    });
    // Without the second stop the worker would finish the shard (4 more images at 1.5 s) inside the grace period.
    expect(performance.now() - stoppedAt).toBeLessThan(4_500);
    expect(r).toMatchObject({ jobs: 0, returned: 1 });
    expect((await queueStatus(queue)).counts).toMatchObject({ done: 0, active: 0, waiting: 1 });
  });
});
