import { type QueueStatus, queueStatus } from '@qlip/queue';
import { QlipCommand } from '../../lib/base.js';
import { requiredQueueFlags, statusLine } from '../../lib/queue.js';

export default class TokenizeStatus extends QlipCommand {
  static override summary = 'Show a tokenize queue: shards done/active/waiting/failed, images/s, failures';
  static override description =
    `Reads the BullMQ queue filled by \`qlip tokenize SRC --out OUT --queue URL\`. Failed shards are
listed with their last error (they stay in the failed set after their last retry). Exits 1 when shards failed.`;
  static override examples = ['<%= config.bin %> tokenize status --queue redis://localhost:6379/0'];
  static override flags = {
    ...requiredQueueFlags,
  };

  async run(): Promise<QueueStatus> {
    const { flags } = await this.parse(TokenizeStatus);
    const s = await queueStatus({ url: flags.queue, name: flags['queue-name'] });
    if (s.dataset) this.log(`queue '${s.queue}': ${s.dataset.input} -> ${s.dataset.out}`);
    else this.log(`queue '${s.queue}': empty (nothing was enqueued)`);
    this.log(statusLine(s));
    for (const f of s.failures) this.log(`failed: ${f.shard} after ${f.attempts} attempt(s): ${f.reason}`);
    if (s.counts.failed > 0) process.exitCode = 1;
    return s;
  }
}
