import { Args, Flags } from '@oclif/core';
import type { AlphaMode } from '@qlip/core';
import { type EnqueueResult, enqueueTokenize, followQueue, type QueueStatus } from '@qlip/queue';
import {
  modelFingerprint,
  resolveShare,
  type ShardSettings,
  type TokenizeDatasetResult,
  tokenizeDataset,
} from '@qlip/tokenize';
import { maxFileBytesFlag, QlipCommand } from '../lib/base.js';
import { backgroundFlag, modelFlags, precisionFlag, resolveModelDir } from '../lib/model.js';
import { queueFlags, statusLine } from '../lib/queue.js';

export default class Tokenize extends QlipCommand {
  static override summary =
    'Turn images into BSQ token grids: one atomic part per input shard (resumable, scales out)';
  static override description =
    `SRC is a folder (searched recursively, split into chunks of --shard-size images), an image, a
manifest (.jsonl/.csv/.tsv of {image, caption}), a WebDataset .tar, an http(s):// URL, or a brace pattern
('shards/{00000..09999}.tar', quoted). Images are preprocessed like the reference (shortest side -> image
size, bicubic, centre crop, CLIP mean/std). Each input shard becomes one part, written atomically:
  OUT/parts/<shard>/tokens.npy     uint32 [n, h, w] token indices (bits packed MSB-first)
  OUT/parts/<shard>/features.npy   float16 [n, h*w, D] post-quantisation features (with --features)
  OUT/parts/<shard>/index.jsonl    {"key", "path", "caption", "source", "row", "sha256"} per image
  OUT/parts/<shard>/done.json      written last; a rerun skips finished parts
  OUT/meta.json                    model, bits, grid, preprocessing
Scale out with a job array (--shard-index/--shard-count, or Kubernetes/SLURM array variables) or a
BullMQ queue (--queue redis://HOST:PORT/DB, then \`qlip worker\`). See docs/scaling.md.`;
  static override examples = [
    '<%= config.bin %> tokenize photos/ --out tokens/',
    "<%= config.bin %> tokenize 'shards/{00000..00099}.tar' -m my-model --out tokens/ --features --json",
    "<%= config.bin %> tokenize 'https://host/laion/{00000..09999}.tar' --out tokens/ --shard-index 3 --shard-count 16",
    "<%= config.bin %> tokenize 'shards/{00000..09999}.tar' --out /shared/tokens --queue redis://redis:6379/0 --wait",
  ];
  static override args = {
    src: Args.string({ description: 'folder, image, manifest, .tar, URL or brace pattern', required: true }),
  };
  static override flags = {
    ...modelFlags,
    ...precisionFlag,
    ...backgroundFlag,
    ...queueFlags,
    out: Flags.string({
      char: 'o',
      description: 'output dataset folder (created, or resumed)',
      required: true,
    }),
    'batch-size': Flags.integer({ description: 'images per model call', default: 16, min: 1 }),
    'shard-size': Flags.integer({
      description:
        'images per part when SRC is a folder or manifest (default 4096, or what OUT was made with)',
      min: 1,
    }),
    features: Flags.boolean({ description: 'also write float16 post-quantisation features' }),
    strict: Flags.boolean({ description: 'exit non-zero (2) if any input was skipped' }),
    'max-file-bytes': maxFileBytesFlag,
    'shard-index': Flags.integer({
      description:
        'job arrays: take input shards i with i mod N == this (default: JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID)',
      min: 0,
    }),
    'shard-count': Flags.integer({
      description: 'job arrays: N processes (default: SLURM_ARRAY_TASK_COUNT or QLIP_SHARD_COUNT)',
      min: 1,
    }),
    wait: Flags.boolean({
      description: 'with --queue: follow progress until the queue is drained',
      dependsOn: ['queue'],
    }),
  };

  async run(): Promise<TokenizeDatasetResult | EnqueueResult | QueueStatus> {
    const { args, flags } = await this.parse(Tokenize);
    const settings = {
      out: flags.out,
      batchSize: flags['batch-size'],
      shardSize: flags['shard-size'],
      features: flags.features,
      // The queue path loads no model here; the same rule as QLIP.fromPretrained: unset drops alpha.
      alpha: (flags.background ?? 'drop') as AlphaMode,
      maxFileBytes: flags['max-file-bytes'],
      createdBy: `qlip ${this.config.version}`,
    };
    if (flags.queue && flags.precision !== 'fp32')
      this.error(`--precision ${flags.precision} is not available with --queue (workers tokenize in fp32)`, {
        exit: 2,
      });
    if (flags.queue) return this.enqueue(args.src, flags, flags.queue, settings);
    const share = resolveShare({ index: flags['shard-index'], count: flags['shard-count'] });
    if (share.from !== 'single')
      this.note(`job array (${share.from}): shard ${share.index} of ${share.count}`);
    const result = await this.withRuntime(
      flags,
      async (ctx) =>
        tokenizeDataset(ctx.runtime, {
          ...settings,
          input: args.src,
          // Only a tokenized dataset records which weights made it, so only tokenize hashes them.
          model: { path: ctx.modelDir, fingerprint: await modelFingerprint(ctx.modelDir) },
          alpha: ctx.alpha,
          shardIndex: share.index,
          shardCount: share.count,
          onProgress: ctx.onProgress,
          signal: ctx.signal,
        }),
      { needsTfjs: flags.features ? 'post-quantisation features (--features) come from tfjs' : undefined },
    );
    const parts = (n: number) => `${n} part${n === 1 ? '' : 's'}`;
    this.log(
      `${result.tokenized} images tokenized into ${parts(result.shards.written)} (${parts(result.shards.alreadyDone)} already done, ` +
        `${result.failed.length} unreadable) -> ${result.out} [${result.grid.join('x')} tokens of ${result.bits} bits, ` +
        `${result.imagesPerSecond.toFixed(1)} img/s]`,
    );
    this.reportSkips(result.skipped);
    if (result.interrupted) this.note('interrupted: run the same command again to resume');
    if (result.failedShards.length > 0)
      this.error(
        `${result.failedShards.length} input shard(s) could not be read: run the same command again to retry them`,
        { exit: 1 },
      );
    if (flags.strict && result.skipped.total > 0)
      this.error(
        `${result.skipped.total} input(s) skipped, ${result.failed.length} file(s) could not be read (--strict)`,
        { exit: 2 },
      );
    return result;
  }

  /** --queue: enqueue one job per input shard for `qlip worker`s (no model is loaded here); --wait follows. */
  private async enqueue(
    src: string,
    flags: { model?: string; runtime: string; 'queue-name'?: string; wait: boolean },
    url: string,
    settings: Omit<ShardSettings, 'model'>,
  ): Promise<EnqueueResult | QueueStatus> {
    const modelDir = await resolveModelDir(flags.model);
    const queue = { url, name: flags['queue-name'] };
    const model = { path: modelDir, fingerprint: await modelFingerprint(modelDir) };
    const r = await enqueueTokenize({
      queue,
      input: src,
      settings: { ...settings, model },
      // Workers resolve a hub id themselves (into their own cache); a folder must be readable by all.
      modelRef: flags.model ?? modelDir,
      runtime: flags.runtime,
    });
    this.log(
      `${r.added} shards enqueued on '${r.queue}' (${r.alreadyQueued} already queued, ${r.alreadyDone} already done)`,
    );
    if (!flags.wait) return r;
    const s = await followQueue(queue, (st) => this.note(statusLine(st)));
    if (s.counts.failed > 0)
      this.error(`${s.counts.failed} shard(s) failed: qlip tokenize status --queue ${url}`, {
        exit: 1,
      });
    return s;
  }
}
