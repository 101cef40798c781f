import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasRedisServer, type LocalRedis, startLocalRedis } from '@qlip/queue';
import { readTokenDataset } from '@qlip/tokenize';
import sharp from 'sharp';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Scale-out with real processes and the real engine: BullMQ workers on a private redis-server (one of them
 * SIGKILLed in the middle of a shard) and a job array of three `qlip tokenize` processes must both give the
 * dataset a single process gives, token for token, with no sample missing or repeated.
 */
const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));
const haveRedis = hasRedisServer();
if (!haveRedis && process.env.CI) throw new Error('redis-server is missing: apt-get install redis-server');
if (!haveRedis)
  console.warn('skipping the BullMQ worker test: redis-server not found (Debian package redis-server)');

const SHARDS = 6;
const PER_SHARD = 16;
let root: string;
let pattern: string;
let redis: LocalRedis | undefined;

interface Proc {
  child: ChildProcess;
  stderr: string;
  exit: Promise<number | null>;
}

function qlip(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [bin, ...args, '--backend', 'wasm'], {
    env: { ...process.env, CI: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p: Proc = { child, stderr: '', exit: new Promise((r) => child.once('exit', (code) => r(code))) };
  child.stderr!.on('data', (c: Buffer) => {
    p.stderr += c.toString();
  });
  child.stdout!.resume();
  return p;
}

async function run(args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const p = qlip(args, env);
  let out = '';
  p.child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const code = await p.exit;
  if (code !== 0) throw new Error(`qlip ${args.join(' ')} exited ${code}:\n${p.stderr}`);
  return out;
}

async function writeShard(file: string, s: number): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (let i = 0; i < PER_SHARD; i++) {
    const px = Buffer.alloc(32 * 32 * 3);
    for (let j = 0; j < px.length; j++) px[j] = (j * (s + 3) + i * 17) % 256;
    const key = `${s}${String(i).padStart(4, '0')}`;
    pack.entry(
      { name: `${key}.png` },
      await sharp(px, { raw: { width: 32, height: 32, channels: 3 } })
        .png()
        .toBuffer(),
    );
    pack.entry({ name: `${key}.txt` }, `sample ${key}`);
  }
  pack.finalize();
  await done;
  writeFileSync(file, Buffer.concat(chunks));
}

/** Part name -> tokens.npy bytes, plus every sample key (duplicates kept). */
async function snapshot(dir: string) {
  const ds = await readTokenDataset(dir);
  const tokens = Object.fromEntries(
    ds.parts.map((p) => [p, readFileSync(join(dir, 'parts', p, 'tokens.npy')).toString('base64')]),
  );
  return { tokens, keys: ds.entries.map((e) => e.key!), parts: ds.parts };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'qlip-scale-'));
  mkdirSync(join(root, 'shards'));
  for (let s = 0; s < SHARDS; s++)
    await writeShard(join(root, 'shards', `${String(s).padStart(5, '0')}.tar`), s);
  pattern = join(root, `shards/{00000..${String(SHARDS - 1).padStart(5, '0')}}.tar`);
  await run(['tokenize', pattern, '--out', join(root, 'single'), '--batch-size', '4']);
  if (haveRedis) redis = await startLocalRedis();
});

afterAll(async () => {
  await redis?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('scaling out tokenize', () => {
  it('job array: three processes (--shard-index, and a Kubernetes index) give the single-process dataset', async () => {
    const out = join(root, 'array');
    await Promise.all([
      run([
        'tokenize',
        pattern,
        '--out',
        out,
        '--batch-size',
        '4',
        '--shard-index',
        '0',
        '--shard-count',
        '3',
      ]),
      run([
        'tokenize',
        pattern,
        '--out',
        out,
        '--batch-size',
        '4',
        '--shard-index',
        '1',
        '--shard-count',
        '3',
      ]),
      run(['tokenize', pattern, '--out', out, '--batch-size', '4'], {
        JOB_COMPLETION_INDEX: '2',
        QLIP_SHARD_COUNT: '3',
      }),
    ]);
    const single = await snapshot(join(root, 'single'));
    expect(single.keys).toHaveLength(SHARDS * PER_SHARD);
    expect(await snapshot(out)).toEqual(single);
  });

  it.skipIf(!haveRedis)(
    'BullMQ: three workers, one SIGKILLed mid-shard; the dataset equals a single-process run, exactly once',
    async () => {
      const url = redis!.url;
      const out = join(root, 'queued');
      const q = ['--queue', url, '--queue-name', 'kill-test'];
      const enq = JSON.parse(
        await run(['tokenize', pattern, '--out', out, ...q, '--batch-size', '4', '--json']),
      );
      expect(enq).toMatchObject({ shards: SHARDS, added: SHARDS });
      const fast = ['--until-empty', '--lock-duration', '1500', '--stalled-interval', '500'];
      const workers = [0, 1, 2].map(() => qlip(['worker', ...q, ...fast]));
      // Kill worker 0 once it is half-way through a shard.
      const victim = workers[0]!;
      const killed = await new Promise<string>((resolve, reject) => {
        const timer = setInterval(() => {
          const m = /\[worker\] (\d{5}): (8|12) images/.exec(victim.stderr);
          if (m) {
            clearInterval(timer);
            victim.child.kill('SIGKILL');
            resolve(m[1]!);
          } else if (victim.child.exitCode !== null) {
            clearInterval(timer);
            reject(new Error(`worker 0 ended before it could be killed:\n${victim.stderr}`));
          }
        }, 5);
      });
      expect(await victim.exit).toBeNull(); // killed by the signal
      const codes = await Promise.all(workers.slice(1).map((w) => w.exit));
      expect(codes, workers.map((w) => w.stderr).join('\n---\n')).toEqual([0, 0]);

      const status = JSON.parse(await run(['tokenize', 'status', ...q, '--json']));
      expect(status.counts).toEqual({ done: SHARDS, active: 0, waiting: 0, delayed: 0, failed: 0 });
      const got = await snapshot(out);
      expect(got).toEqual(await snapshot(join(root, 'single')));
      expect(new Set(got.keys).size).toBe(SHARDS * PER_SHARD); // no duplicate, none missing
      const done = JSON.parse(readFileSync(join(out, 'parts', killed, 'done.json'), 'utf8'));
      expect(done.writer).not.toContain(`:${victim.child.pid}`); // another worker redid the killed shard
      expect(readdirSync(join(out, 'parts')).filter((f) => f.startsWith('.'))).toEqual([]); // the victim's temp dir is not there: it never wrote
      expect(workers.slice(1).some((w) => w.stderr.includes(`[worker] ${killed}: written`))).toBe(true);
    },
  );
});
