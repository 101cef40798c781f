import { hostname } from 'node:os';
import { datasetMeta, ensureDatasetMeta, type ModelRuntime, tokenizeShard } from '@qlip/tokenize';
import { type Job, Queue, WaitingError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  DEFAULT_QUEUE_NAME,
  type QueueTarget,
  redisConnection,
  statsKey,
  type TokenizeJobData,
  type TokenizeJobResult,
} from './queue.js';

/** What a worker tells its caller as it goes (the CLI prints these on stderr). */
export type WorkerEvent =
  | { type: 'start'; shard: string; attempt: number }
  | { type: 'progress'; shard: string; images: number }
  | { type: 'done'; shard: string; result: TokenizeJobResult }
  | { type: 'failed'; shard: string; error: string; willRetry: boolean }
  | { type: 'returned'; shard: string }
  | { type: 'stopping'; reason: string };

export interface WorkerOptions {
  queue: QueueTarget;
  /** Shards processed at once by this process (they share one loaded model). Default 1. */
  concurrency?: number;
  /** Load (once per model and runtime) the tokenizer a job asks for (its `modelRef`); disposed when the worker stops. */
  runtimeFor(
    modelRef: string,
    runtime: string,
    features: boolean,
  ): Promise<{ runtime: ModelRuntime; dispose(): void }>;
  /**
   * Stop: take no new job; let the current ones finish for `graceMs`, then stop them between batches and
   * hand them back to the queue (another worker takes them at once).
   */
  signal?: AbortSignal;
  /**
   * Stop now (a second SIGTERM or Ctrl-C): hand the current jobs back at once instead of waiting out `graceMs`.
   * A separate signal because an AbortSignal fires only once: a second abort of `signal` is never heard.
   */
  now?: AbortSignal;
  /** Default 25 s (Kubernetes waits 30 s between SIGTERM and SIGKILL). 0 returns current jobs at once. */
  graceMs?: number;
  /** Exit once the queue has nothing waiting, delayed or active (batch use, tests). */
  untilEmpty?: boolean;
  /** How long a job's lock lasts without renewal: a killed worker's shard is handed on after about this. Default 30 s. */
  lockDurationMs?: number;
  /** How often workers look for stalled jobs. Default 30 s. */
  stalledIntervalMs?: number;
  /** Stalls (worker deaths) a shard survives before it goes to the failed set. Default 2. */
  maxStalledCount?: number;
  onEvent?: (e: WorkerEvent) => void;
}

export interface WorkerSummary {
  /** Jobs this process completed, and their images. */
  jobs: number;
  images: number;
  /** Jobs that threw in this process (retried or failed). */
  errors: number;
  /** Jobs handed back to the queue on shutdown. */
  returned: number;
  seconds: number;
  imagesPerSecond: number;
}

/**
 * Run tokenize workers on a BullMQ queue until `signal` fires (or, with `untilEmpty`, the queue is
 * drained). Each job tokenizes one input shard into one atomic part; a job that throws is retried with
 * backoff and, after its last try, left in the failed set with its error; a worker that dies mid-shard
 * loses that shard's work only (BullMQ's stalled-job check hands it to another worker, and the atomic
 * part write keeps the output exactly-once).
 */
export async function runTokenizeWorker(o: WorkerOptions): Promise<WorkerSummary> {
  const t0 = performance.now();
  const me = `${hostname()}:${process.pid}`;
  const emit = o.onEvent ?? (() => {});
  const runtimes = new Map<string, Promise<{ runtime: ModelRuntime; dispose(): void }>>();
  const metaReady = new Map<string, Promise<void>>();
  const stopJobs = new AbortController(); // fires when the grace period is over
  const sum = { jobs: 0, images: 0, errors: 0, returned: 0 };
  const connection = redisConnection(o.queue.url);

  const processor = shardProcessor({
    o,
    me,
    emit,
    runtimes,
    metaReady,
    stopJobs,
    sum,
    connection,
    stats: () => statsKey(worker),
  });

  const worker = new Worker<TokenizeJobData, TokenizeJobResult>(
    o.queue.name ?? DEFAULT_QUEUE_NAME,
    processor,
    {
      connection,
      concurrency: o.concurrency ?? 1,
      lockDuration: o.lockDurationMs ?? 30_000,
      stalledInterval: o.stalledIntervalMs ?? 30_000,
      maxStalledCount: o.maxStalledCount ?? 2,
      name: me,
    },
  );
  worker.on('failed', (job, err) => {
    if (!job || err instanceof WaitingError) return;
    sum.errors++;
    const willRetry = job.attemptsMade < (job.opts.attempts ?? 1);
    emit({ type: 'failed', shard: job.id ?? job.name, error: err.message, willRetry });
  });
  worker.on('error', (err) => emit({ type: 'failed', shard: '-', error: err.message, willRetry: true }));

  await waitForStop(worker, connection, o, emit);
  const grace = setTimeout(() => stopJobs.abort(), o.graceMs ?? 25_000);
  const returnNow = () => stopJobs.abort();
  if (o.now?.aborted) returnNow();
  else o.now?.addEventListener('abort', returnNow, { once: true });
  try {
    await worker.close();
  } finally {
    clearTimeout(grace);
    for (const rt of runtimes.values()) await rt.then((r) => r.dispose()).catch(() => undefined);
    connection.disconnect();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { ...sum, seconds, imagesPerSecond: sum.images / Math.max(seconds, 1e-9) };
}

/** What the job processor shares with its worker: options, identity, loaded runtimes, counters, Redis. */
interface WorkerState {
  o: WorkerOptions;
  me: string;
  emit: (e: WorkerEvent) => void;
  runtimes: Map<string, Promise<{ runtime: ModelRuntime; dispose(): void }>>;
  metaReady: Map<string, Promise<void>>;
  /** Fires when the grace period is over: running shards stop between batches. */
  stopJobs: AbortController;
  sum: { jobs: number; images: number; errors: number; returned: number };
  connection: Redis;
  /** The Redis hash of this worker's statistics. */
  stats: () => string;
}

/**
 * The job processor: tokenize one input shard into one part with the runtime the job asks for (loaded once
 * per model, runtime and --features), after the dataset's meta.json; a shard stopped by the grace period
 * goes back to the queue.
 */
function shardProcessor(st: WorkerState) {
  return async (job: Job<TokenizeJobData>, token?: string): Promise<TokenizeJobResult> => {
    const { shard, settings, runtime, modelRef } = job.data;
    st.emit({ type: 'start', shard: shard.name, attempt: job.attemptsMade + 1 });
    const features = Boolean(settings.features);
    const rtKey = `${runtime}\0${modelRef}\0${features}`;
    if (!st.runtimes.has(rtKey)) st.runtimes.set(rtKey, st.o.runtimeFor(modelRef, runtime, features));
    const rt = (await st.runtimes.get(rtKey)!).runtime;
    if (!st.metaReady.has(settings.out))
      st.metaReady.set(settings.out, ensureDatasetMeta(settings.out, datasetMeta(rt, settings)));
    await st.metaReady.get(settings.out);
    await st.connection.hsetnx(st.stats(), 'firstStart', String(Date.now()));
    let images = 0;
    const r = await tokenizeShard(rt, shard, settings, {
      signal: st.stopJobs.signal,
      onImages: (k) => {
        images += k;
        st.emit({ type: 'progress', shard: shard.name, images });
        void job.updateProgress({ images }).catch(() => undefined);
      },
    });
    if (r.status === 'interrupted') {
      st.sum.returned++;
      st.emit({ type: 'returned', shard: shard.name });
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const result: TokenizeJobResult = {
      part: r.part,
      status: r.status,
      images: r.images,
      failed: r.failed.length,
      seconds: r.seconds,
      worker: st.me,
    };
    if (r.status === 'written') {
      await st.connection.hincrby(st.stats(), 'images', r.images);
      await st.connection.hset(st.stats(), 'lastDone', String(Date.now()));
    }
    st.sum.jobs++;
    st.sum.images += r.images;
    st.emit({ type: 'done', shard: shard.name, result });
    return result;
  };
}

/** Resolve when the caller asks the worker to stop, or (with `untilEmpty`) when the queue is drained. */
async function waitForStop(
  worker: Worker,
  connection: Redis,
  o: WorkerOptions,
  emit: (e: WorkerEvent) => void,
): Promise<void> {
  const probe = o.untilEmpty ? new Queue(worker.name, { connection }) : undefined;
  try {
    await new Promise<void>((resolve) => {
      const stop = (reason: string) => {
        clearInterval(poll);
        emit({ type: 'stopping', reason });
        resolve();
      };
      const poll = setInterval(async () => {
        if (!probe) return;
        // A dead worker's shard stays active until the stalled check hands it on, so this waits for it.
        const c = await probe
          .getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'waiting-children')
          .catch(() => ({ unknown: 1 }));
        if (Object.values(c).every((n) => n === 0)) stop('queue empty');
      }, 500);
      if (o.signal?.aborted) return stop('signal');
      o.signal?.addEventListener('abort', () => stop('signal'), { once: true });
    });
  } finally {
    await probe?.close();
  }
}
