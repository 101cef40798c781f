import { chunkSizeFor, type InputShard, planInputs, type ShardSettings, scanParts } from '@qlip/tokenize';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

/** The queue every tokenize job goes to unless a name is given (one queue per dataset). */
export const DEFAULT_QUEUE_NAME = 'qlip-tokenize';

/** Where the jobs live: a Redis URL (`redis://HOST:PORT/DB`, `rediss://` for TLS) and a queue name. */
export interface QueueTarget {
  url: string;
  name?: string;
}

/** A job's payload: one input shard and the settings of the dataset it goes into. */
export interface TokenizeJobData {
  shard: InputShard;
  settings: ShardSettings;
  /** What workers load: a model folder every worker can read, or a hub id each worker resolves itself. */
  modelRef: string;
  /** `tfjs` or `onnx`. */
  runtime: string;
}

/** What a finished job returns (kept in Redis with the job). */
export interface TokenizeJobResult {
  part: string;
  /** `written` by this job, or `exists` (another worker landed the same part first). */
  status: 'written' | 'exists';
  images: number;
  /** Samples of the shard that could not be decoded (recorded in the part's done.json). */
  failed: number;
  seconds: number;
  /** `host:pid` of the worker. */
  worker: string;
}

/** The queue-level record binding a queue to one dataset, so two datasets never share job ids. */
export interface QueueDataset {
  input: string;
  out: string;
  model: { path: string; fingerprint: string };
}

/** An ioredis connection for `url`; BullMQ workers need `maxRetriesPerRequest: null`. */
export function redisConnection(url: string): Redis {
  if (!/^rediss?:\/\//i.test(url))
    throw new Error(`--queue '${url}': expected a Redis URL, redis://HOST:PORT/DB (or rediss:// for TLS)`);
  return new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
}

/** Open a BullMQ queue; the caller closes it (and the connection). */
export function openQueue(target: QueueTarget): { queue: Queue; connection: Redis; close(): Promise<void> } {
  const connection = redisConnection(target.url);
  const queue = new Queue(target.name ?? DEFAULT_QUEUE_NAME, { connection });
  return {
    queue,
    connection,
    async close() {
      await queue.close();
      connection.disconnect();
    },
  };
}

/** A queue or a worker: both know the queue's name and key prefix. */
type Named = { name: string; opts: { prefix?: string } };
/** Redis key of the queue's dataset record (inside BullMQ's key space, so `obliterate` removes it too). */
const datasetKey = (q: Named) => `${q.opts.prefix ?? 'bull'}:${q.name}:qlip:dataset`;
/** Redis hash of throughput counters (images, first start, last finish). */
export const statsKey = (q: Named) => `${q.opts.prefix ?? 'bull'}:${q.name}:qlip:stats`;

export interface EnqueueOptions {
  queue: QueueTarget;
  /** Anything `qlip tokenize` takes: folder, image, manifest, .tar, URL, brace pattern. */
  input: string;
  settings: ShardSettings;
  /** A model folder every worker can read, or a hub id (each worker downloads it to its own cache). */
  modelRef: string;
  runtime: string;
  /** Tries per shard before it goes to the failed set (default 3). */
  attempts?: number;
  /** First retry delay; doubles on every further try (default 5 s). */
  backoffMs?: number;
}

export interface EnqueueResult {
  queue: string;
  /** Input shards planned from the input. */
  shards: number;
  /** Shards whose part is already finished in `out` (not enqueued). */
  alreadyDone: number;
  /** Jobs added by this call; shards already in the queue (same job id) are not added again. */
  added: number;
  alreadyQueued: number;
}

/**
 * Enqueue one job per input shard whose part is not finished yet. The job id is the part name, so
 * enqueuing the same input twice adds nothing. A queue holds one dataset: enqueuing a different
 * input/output/model into it is refused, naming what it holds.
 */
export async function enqueueTokenize(o: EnqueueOptions): Promise<EnqueueResult> {
  const settings = { ...o.settings, shardSize: await chunkSizeFor(o.settings.out, o.settings.shardSize) };
  const plan = await planInputs(o.input, settings.shardSize);
  const finished = new Set((await scanParts(o.settings.out)).done.map((p) => p.part));
  const todo = plan.filter((s) => !finished.has(s.name));
  const q = openQueue(o.queue);
  try {
    const record: QueueDataset = { input: o.input, out: o.settings.out, model: o.settings.model };
    const key = datasetKey(q.queue);
    await q.connection.setnx(key, JSON.stringify(record));
    const held = JSON.parse((await q.connection.get(key)) ?? '{}') as QueueDataset;
    if (
      held.out !== record.out ||
      held.input !== record.input ||
      held.model?.fingerprint !== record.model.fingerprint
    )
      throw new Error(
        `queue '${q.queue.name}' at ${o.queue.url} holds shards of ${held.input} -> ${held.out} ` +
          `(model ${held.model?.path}); use another --queue-name, or empty it first`,
      );
    const before = await countJobs(q.queue);
    for (let i = 0; i < todo.length; i += 1000) {
      await q.queue.addBulk(
        todo.slice(i, i + 1000).map((shard) => ({
          name: 'tokenize',
          data: {
            shard,
            settings: o.settings,
            modelRef: o.modelRef,
            runtime: o.runtime,
          } satisfies TokenizeJobData,
          opts: {
            jobId: shard.name,
            attempts: o.attempts ?? 3,
            backoff: { type: 'exponential', delay: o.backoffMs ?? 5000 },
            removeOnComplete: false,
            removeOnFail: false,
          },
        })),
      );
    }
    const added = (await countJobs(q.queue)) - before;
    return {
      queue: q.queue.name,
      shards: plan.length,
      alreadyDone: plan.length - todo.length,
      added,
      alreadyQueued: todo.length - added,
    };
  } finally {
    await q.close();
  }
}

async function countJobs(queue: Queue): Promise<number> {
  const c = await queue.getJobCounts();
  return Object.values(c).reduce((a, b) => a + b, 0);
}

export interface QueueStatus {
  queue: string;
  dataset: QueueDataset | null;
  counts: { done: number; active: number; waiting: number; delayed: number; failed: number };
  /** Images in completed jobs. */
  images: number;
  /** Images per second from the first job's start to the last job's finish. */
  imagesPerSecond: number;
  /** Worker connections attached to the queue now. */
  workers: number;
  /** Shards in the failed set and why (their last error). */
  failures: { shard: string; attempts: number; reason: string }[];
}

/** Counts, throughput and failures of a tokenize queue. */
export async function queueStatus(target: QueueTarget): Promise<QueueStatus> {
  const q = openQueue(target);
  try {
    const c = await q.queue.getJobCounts(
      'completed',
      'active',
      'waiting',
      'delayed',
      'failed',
      'prioritized',
    );
    const stats = await q.connection.hgetall(statsKey(q.queue));
    const dataset = await q.connection.get(datasetKey(q.queue));
    const images = Number(stats.images ?? 0);
    const span = (Number(stats.lastDone ?? 0) - Number(stats.firstStart ?? 0)) / 1000;
    const failed = await q.queue.getFailed(0, 99);
    return {
      queue: q.queue.name,
      dataset: dataset ? (JSON.parse(dataset) as QueueDataset) : null,
      counts: {
        done: c.completed ?? 0,
        active: c.active ?? 0,
        waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
        delayed: c.delayed ?? 0,
        failed: c.failed ?? 0,
      },
      images,
      imagesPerSecond: span > 0 ? images / span : 0,
      workers: await q.queue.getWorkersCount(),
      failures: failed.map((j) => ({ shard: j.id ?? '?', attempts: j.attemptsMade, reason: j.failedReason })),
    };
  } finally {
    await q.close();
  }
}

/**
 * Poll the queue's status every `intervalMs` until nothing is waiting, delayed or active (or `signal`
 * fires), telling `onStatus` each time; resolves to the last status.
 */
export async function followQueue(
  target: QueueTarget,
  onStatus: (s: QueueStatus) => void,
  o: { signal?: AbortSignal; intervalMs?: number } = {},
): Promise<QueueStatus> {
  for (;;) {
    const s = await queueStatus(target);
    onStatus(s);
    if (s.counts.active + s.counts.waiting + s.counts.delayed === 0 || o.signal?.aborted) return s;
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 1000));
  }
}
