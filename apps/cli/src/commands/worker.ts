import { Flags } from '@oclif/core';
import { runTokenizeWorker, type WorkerEvent, type WorkerSummary } from '@qlip/queue';
import { QlipCommand } from '../lib/base.js';
import { pretrainedRuntimes, requiredQueueFlags } from '../lib/queue.js';

export default class Worker extends QlipCommand {
  static override summary = 'Tokenize shards from a BullMQ queue (run as many as you like, on any machine)';
  static override description =
    `Claims jobs enqueued by \`qlip tokenize SRC --out OUT --queue URL\`, one input shard each, and writes
each shard's part atomically into OUT (which must be the same path on every machine: a shared file system).
A failed shard is retried with backoff, then left in the failed set with its error; a worker killed mid-shard
loses only that shard, which another worker takes over after --lock-duration. SIGTERM or Ctrl-C: take no new
shard, finish the current ones (up to --grace seconds), else hand them back to the queue; a second signal
hands them back at once.`;
  static override examples = [
    '<%= config.bin %> worker --queue redis://redis:6379/0 --concurrency 2',
    '<%= config.bin %> worker --queue redis://localhost:6379/0 --until-empty --json',
  ];
  static override flags = {
    ...requiredQueueFlags,
    concurrency: Flags.integer({
      description: 'shards at once in this process (one model shared)',
      default: 1,
      min: 1,
    }),
    'until-empty': Flags.boolean({ description: 'exit once nothing is waiting or active' }),
    grace: Flags.integer({
      description: 'seconds to finish current shards after SIGTERM',
      default: 25,
      min: 0,
    }),
    'lock-duration': Flags.integer({
      description: 'ms a shard stays claimed without a heartbeat',
      default: 30_000,
      min: 500,
    }),
    'stalled-interval': Flags.integer({
      description: 'ms between checks for shards of dead workers',
      default: 30_000,
      min: 500,
    }),
  };

  async run(): Promise<WorkerSummary> {
    const { flags } = await this.parse(Worker);
    const stop = new AbortController();
    const now = new AbortController(); // the second signal
    const onSignal = (sig: string) => () => {
      const second = stop.signal.aborted;
      this.note(`${sig}: ${second ? 'returning current shards now' : 'finishing current shards'}`);
      (second ? now : stop).abort();
    };
    const handlers = { SIGTERM: onSignal('SIGTERM'), SIGINT: onSignal('SIGINT') };
    for (const [s, h] of Object.entries(handlers)) process.on(s, h);
    try {
      const r = await runTokenizeWorker({
        queue: { url: flags.queue, name: flags['queue-name'] },
        concurrency: flags.concurrency,
        untilEmpty: flags['until-empty'],
        graceMs: flags.grace * 1000,
        lockDurationMs: flags['lock-duration'],
        stalledIntervalMs: flags['stalled-interval'],
        signal: stop.signal,
        now: now.signal,
        runtimeFor: pretrainedRuntimes(flags.backend, (m) => this.note(m)),
        onEvent: (e) => this.note(describe(e)),
      });
      this.log(
        `${r.jobs} shards, ${r.images} images, ${r.imagesPerSecond.toFixed(1)} img/s (${r.errors} errors, ${r.returned} returned)`,
      );
      return r;
    } finally {
      for (const [s, h] of Object.entries(handlers)) process.off(s, h);
    }
  }
}

function describe(e: WorkerEvent): string {
  switch (e.type) {
    case 'start':
      return `[worker] ${e.shard}: started (attempt ${e.attempt})`;
    case 'progress':
      return `[worker] ${e.shard}: ${e.images} images`;
    case 'done':
      return `[worker] ${e.shard}: ${e.result.status}, ${e.result.images} images in ${e.result.seconds.toFixed(1)} s`;
    case 'failed':
      return `[worker] ${e.shard}: failed${e.willRetry ? ' (will retry)' : ''}: ${e.error}`;
    case 'returned':
      return `[worker] ${e.shard}: handed back to the queue`;
    case 'stopping':
      return `[worker] stopping: ${e.reason}`;
  }
}
