import { Flags } from '@oclif/core';
import type { QueueStatus } from '@qlip/queue';

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
