import { Flags } from '@oclif/core';
import type { BackendChoice } from '@qlip/core';
import type { QueueStatus, WorkerOptions } from '@qlip/queue';
import { type FromPretrainedOptions, QLIP } from 'qlip';

const queueFlag = Flags.custom<string>({
  description: 'BullMQ queue on Redis: redis://HOST:PORT/DB (rediss:// for TLS); env QLIP_QUEUE',
  env: 'QLIP_QUEUE',
});

/** `--queue` (optional for `tokenize`) and `--queue-name`. */
export const queueFlags = {
  queue: queueFlag(),
  'queue-name': Flags.string({ description: 'queue name (one queue per dataset)', default: 'qlip-tokenize' }),
};

/** The same with `--queue` required (`worker`, `tokenize status`). */
export const requiredQueueFlags = { ...queueFlags, queue: queueFlag({ required: true }) };

/** One line of queue status for stderr. */
export function statusLine(s: QueueStatus): string {
  const c = s.counts;
  return (
    `done ${c.done}, active ${c.active}, waiting ${c.waiting + c.delayed}, failed ${c.failed}; ` +
    `${s.images} images, ${s.imagesPerSecond.toFixed(1)} img/s; ${s.workers} worker connection(s)`
  );
}

/**
 * How a `qlip worker` loads the model a job names (`modelRef`: a folder or hub id) on the runtime it asks for,
 * as `QLIP.fromPretrained` does for every other command; notes (download, runtime choice) go to `note`.
 */
export function pretrainedRuntimes(backend: string, note: (m: string) => void): WorkerOptions['runtimeFor'] {
  return async (model, runtime, features) => {
    const q = await QLIP.fromPretrained(model, {
      runtime: runtime as FromPretrainedOptions['runtime'],
      ...(features ? { needsTfjs: 'post-quantisation features (--features) come from tfjs' } : {}),
      backend: backend as BackendChoice,
      log: note,
    });
    note(q.describe());
    return { runtime: q.runtime, dispose: () => q.dispose() };
  };
}
