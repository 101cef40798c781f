#!/usr/bin/env node
// Scale-out benchmark (docs/scaling.md): images/s of `qlip tokenize` in one process (the reference, measured in
// the same run) and of 1, 2 and 4 `qlip worker` processes on a BullMQ queue (a private redis-server), plus the
// per-shard coordination overhead of the queue. Usage: node bench/scale.mjs [--shards 16] [--per-shard 64]
//   [--workers 1,2,4] [--model DIR] [--runtime tfjs|onnx]. Prints a JSON report on stdout.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  enqueueTokenize,
  hasRedisServer,
  queueStatus,
  runTokenizeWorker,
  startLocalRedis,
} from '@qlip/queue';
import { tokenizeDataset } from '@qlip/tokenize';
import sharp from 'sharp';
import tar from 'tar-stream';

const { values: a } = parseArgs({
  options: {
    shards: { type: 'string', default: '16' },
    'per-shard': { type: 'string', default: '64' },
    workers: { type: 'string', default: '1,2,4' },
    model: { type: 'string' },
    runtime: { type: 'string', default: 'tfjs' },
    'overhead-shards': { type: 'string', default: '200' },
  },
});
const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));
const SHARDS = Number(a.shards);
const PER = Number(a['per-shard']);
if (!hasRedisServer()) {
  console.error('redis-server not found: apt-get install redis-server');
  process.exit(2);
}

async function writeShard(file, s, per, size = 32) {
  const pack = tar.pack();
  const chunks = [];
  pack.on('data', (c) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (let i = 0; i < per; i++) {
    const px = Buffer.alloc(size * size * 3);
    for (let j = 0; j < px.length; j++) px[j] = (j * (s + 5) + i * 31) % 256;
    const key = `${String(s).padStart(5, '0')}${String(i).padStart(4, '0')}`;
    pack.entry(
      { name: `${key}.png` },
      await sharp(px, { raw: { width: size, height: size, channels: 3 } })
        .png()
        .toBuffer(),
    );
    pack.entry({ name: `${key}.txt` }, `sample ${key}`);
  }
  pack.finalize();
  await done;
  writeFileSync(file, Buffer.concat(chunks));
}

function qlip(args) {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: '1' },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`qlip ${args.join(' ')}: exit ${code}\n${err}`)),
    ),
  );
}

const model = a.model ? ['--model', a.model] : [];
const common = [...model, '--runtime', a.runtime, '--batch-size', '16'];
const root = mkdtempSync(join(tmpdir(), 'qlip-scale-bench-'));
const report = {
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavgStart: loadavg() },
  shards: SHARDS,
  perShard: PER,
  images: SHARDS * PER,
  runtime: a.runtime,
};
const redis = await startLocalRedis();
try {
  mkdirSync(join(root, 'shards'));
  for (let s = 0; s < SHARDS; s++)
    await writeShard(join(root, 'shards', `${String(s).padStart(5, '0')}.tar`), s, PER);
  const pattern = join(root, `shards/{00000..${String(SHARDS - 1).padStart(5, '0')}}.tar`);

  // Reference: one process, no queue (same run, same machine).
  let t = performance.now();
  const single = JSON.parse(
    await qlip(['tokenize', pattern, '--out', join(root, 'single'), ...common, '--json']),
  );
  report.single = {
    wallSeconds: (performance.now() - t) / 1000,
    imagesPerSecond: single.imagesPerSecond,
    seconds: single.seconds,
  };
  console.error(
    `single process: ${single.imagesPerSecond.toFixed(1)} img/s (in-process), wall ${report.single.wallSeconds.toFixed(1)} s`,
  );

  report.workers = [];
  for (const w of a.workers.split(',').map(Number)) {
    const name = `bench-${w}`;
    const q = ['--queue', redis.url, '--queue-name', name];
    await qlip(['tokenize', pattern, '--out', join(root, `q${w}`), ...common, ...q, '--json']);
    t = performance.now();
    await Promise.all(Array.from({ length: w }, () => qlip(['worker', ...q, '--until-empty'])));
    const wall = (performance.now() - t) / 1000;
    const s = await queueStatus({ url: redis.url, name });
    const row = {
      processes: w,
      wallSeconds: wall,
      imagesPerSecond: s.imagesPerSecond,
      wallImagesPerSecond: s.images / wall,
      done: s.counts.done,
      failed: s.counts.failed,
    };
    row.ratioToSingle = row.imagesPerSecond / single.imagesPerSecond;
    report.workers.push(row);
    console.error(
      `${w} worker process(es): ${s.imagesPerSecond.toFixed(1)} img/s (first start -> last finish), ${row.wallImagesPerSecond.toFixed(1)} img/s wall incl. start-up, ${row.ratioToSingle.toFixed(2)}x single`,
    );
  }

  // Per-shard coordination overhead: the same 1-image shards through the queue and directly, with a runtime
  // that costs nothing, in this process; the difference per shard is what BullMQ adds (claim, lock, progress,
  // complete, the stats counters).
  const K = Number(a['overhead-shards']);
  mkdirSync(join(root, 'tiny'));
  for (let s = 0; s < K; s++)
    await writeShard(join(root, 'tiny', `${String(s).padStart(5, '0')}.tar`), s, 1, 8);
  const tiny = join(root, `tiny/{00000..${String(K - 1).padStart(5, '0')}}.tar`);
  const fake = {
    name: 'fake',
    imageSize: 8,
    patchSize: 4,
    bits: 8,
    grid: [2, 2],
    featureDim: 1,
    contextLength: 1,
    encode: async (_p, b) => ({ indices: new Uint32Array(b * 4) }),
    decode: async () => new Float32Array(0),
    imageEmbeddings: async () => new Float32Array(0),
    textEmbeddings: async () => new Float32Array(0),
  };
  const model0 = { path: 'fake', fingerprint: 'f' };
  const direct = async (out) => {
    const t0 = performance.now();
    await tokenizeDataset(fake, { out: join(root, out), model: model0, input: tiny });
    return (performance.now() - t0) / 1000;
  };
  const viaQueue = async (name) => {
    const queue = { url: redis.url, name };
    await enqueueTokenize({
      queue,
      input: tiny,
      settings: { out: join(root, name), model: model0 },
      modelRef: 'fake-model',
      runtime: 'tfjs',
    });
    const t0 = performance.now();
    let last = t0; // the last completion: the worker's idle poll afterwards is not overhead
    await runTokenizeWorker({
      queue,
      untilEmpty: true,
      runtimeFor: async () => ({ runtime: fake, dispose() {} }),
      onEvent: (e) => {
        if (e.type === 'done') last = performance.now();
      },
    });
    return (last - t0) / 1000;
  };
  await direct('warm-direct'); // warm up both paths (JIT, fs caches) before timing
  await viaQueue('warm-queue');
  const directSeconds = await direct('tiny-direct');
  const queued = await viaQueue('tiny-queue');
  report.overhead = {
    shards: K,
    directSeconds,
    queueSeconds: queued,
    msPerShard: ((queued - directSeconds) / K) * 1000,
    directMsPerShard: (directSeconds / K) * 1000,
  };
  console.error(
    `coordination: ${report.overhead.msPerShard.toFixed(1)} ms per shard on top of ${report.overhead.directMsPerShard.toFixed(1)} ms (read + write a 1-image part)`,
  );
  report.machine.loadavgEnd = loadavg();
  console.log(JSON.stringify(report, null, 2));
} finally {
  await redis.stop();
  rmSync(root, { recursive: true, force: true });
}
