import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { PreprocessJob } from './transform.js';

/** The pool itself failed (a worker crashed, or the pool was closed): not a fault of the image. */
export class PoolError extends Error {
  override name = 'PoolError';
}

interface Pending {
  resolve: (pixels: Float32Array) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: number;
}

/**
 * How to start a worker. Built packages run `dist/image/worker.js`. From source (tests, the `source`
 * export condition) a small bootstrap registers tsx's loader in the worker and imports `worker.ts` with
 * the same `source` condition, so the worker loads workspace packages as the main thread does.
 */
function workerStart(): { entry: URL | string; options: WorkerOptions } {
  const js = new URL('./worker.js', import.meta.url);
  if (existsSync(js)) return { entry: js, options: {} };
  const ts = new URL('./worker.ts', import.meta.url);
  if (!existsSync(ts)) throw new Error(`@qlip/data: preprocess worker not found next to ${import.meta.url}`);
  // The ESM build of tsx's API (its CommonJS build cannot find its hooks when required from an eval worker).
  const pkgFile = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as {
    exports: Record<string, { import: { default: string } }>;
  };
  const api = pathToFileURL(path.join(path.dirname(pkgFile), pkg.exports['./esm/api']!.import.default)).href;
  const bootstrap = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(ts.href)}); });`;
  return { entry: bootstrap, options: { eval: true, execArgv: ['--conditions=source'] } };
}

/**
 * Worker threads for decode + resize + augmentation + normalisation. The resize is JavaScript, so on
 * the main thread it cannot overlap a synchronous compute step (tfjs wasm runs on the main thread);
 * in workers it can. Jobs go to the least busy worker; workers keep the process alive only while they
 * have jobs. `close()` ends them.
 */
export class PreprocessPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;
  private broken: PoolError | null = null;

  constructor(readonly size: number) {
    if (!(Number.isInteger(size) && size > 0))
      throw new Error(`PreprocessPool: size must be a positive integer, got ${size}`);
    const { entry, options } = workerStart();
    for (let i = 0; i < size; i++) {
      const worker = new Worker(entry, options);
      const slot: Slot = { worker, busy: 0 };
      worker.on('message', (msg: { id: number; pixels?: Float32Array; error?: string }) =>
        this.settle(slot, msg),
      );
      worker.on('error', (err) =>
        this.fail(new PoolError(`@qlip/data preprocess worker failed: ${err.message}`)),
      );
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new PoolError(`@qlip/data preprocess worker exited with code ${code}`));
      });
      worker.unref();
      this.slots.push(slot);
    }
  }

  /** Preprocess one image in a worker; rejects with the worker's error message. */
  run(job: PreprocessJob): Promise<Float32Array> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new PoolError('PreprocessPool: already closed'));
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    // A view into a larger buffer (MNIST) would be cloned whole; copy just the image.
    const input =
      job.input instanceof Uint8Array ? job.input.slice() : { ...job.input, data: job.input.data.slice() };
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (slot.busy++ === 0) slot.worker.ref();
      slot.worker.postMessage({ id, job: { ...job, input } });
    });
  }

  private settle(slot: Slot, msg: { id: number; pixels?: Float32Array; error?: string }): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (--slot.busy === 0) slot.worker.unref();
    if (msg.pixels) p.resolve(msg.pixels);
    else p.reject(new Error(msg.error ?? 'unknown worker error'));
  }

  /** A broken pool fails every pending and later job: a crashed worker would otherwise hang them. */
  private fail(err: PoolError): void {
    this.broken ??= err;
    this.rejectPending(err);
  }

  private rejectPending(err: PoolError): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rejectPending(new PoolError('PreprocessPool: closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
