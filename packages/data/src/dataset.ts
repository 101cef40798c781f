import { Rng } from '@qlip/core';
import { PoolError, PreprocessPool } from './image/pool.js';
import { type AugmentOptions, preprocessSampleImage } from './image/transform.js';
import { batch } from './pipeline/batch.js';
import { mapOrdered, prefetch } from './pipeline/concurrency.js';
import { deriveSeed, STREAM, streamRng } from './pipeline/seed.js';
import { shuffleBuffer } from './pipeline/shuffle.js';
import {
  type Batch,
  type DataPosition,
  type DataStats,
  type ProcessedSample,
  type Sample,
  type SampleSource,
  SKIP_REASONS,
  type SkipEvent,
  type SkipListener,
  type SourceContext,
} from './types.js';

export interface PipelineOptions {
  /** Output side S of the square `[3, S, S]` images. */
  imageSize: number;
  batchSize: number;
  seed: number;
  /** Shuffle (source order + shuffle buffer) per epoch; `false` keeps the natural order (evaluation). */
  shuffle: boolean;
  /** Shuffle-buffer capacity in samples (undecoded, so cheap). */
  shuffleBuffer: number;
  /** Random resized crop + flip on uint8 pixels; `false` gives CLIP's resize + centre crop. */
  augment: AugmentOptions | false;
  /** Number of passes; undefined streams forever (training by steps). */
  epochs?: number;
  /** Drop a final short batch (only happens when `epochs` is set). */
  dropLast: boolean;
  /** Decodes in flight at once (sharp runs them on libuv threads). */
  workers: number;
  /**
   * Worker threads for decode + resize + augmentation (0 = main thread). The resize is JavaScript, so
   * only worker threads let preprocessing overlap a synchronous compute step (tfjs wasm).
   */
  threads: number;
  /** Batches prepared ahead of the consumer. */
  prefetch: number;
}

export const DEFAULT_PIPELINE: Omit<PipelineOptions, 'imageSize' | 'augment'> = {
  batchSize: 32,
  seed: 0,
  shuffle: true,
  shuffleBuffer: 1000,
  dropLast: false,
  workers: 4,
  threads: 0,
  prefetch: 2,
};

export function emptyStats(): DataStats {
  const skipped = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as DataStats['skipped'];
  return { seen: 0, yielded: 0, skipped };
}

/** A sample tagged with its place in the epoch's shuffled order. */
export interface PositionedSample {
  sample: Sample;
  epoch: number;
  index: number;
}

/**
 * The shuffled sample order of one epoch: the source's own per-epoch order (shuffled file/shard/row
 * lists), then a shuffle buffer. Both rngs derive from (seed, epoch) only, so an epoch replays exactly.
 */
export function epochSamples(
  source: SampleSource,
  opts: Pick<PipelineOptions, 'seed' | 'shuffle' | 'shuffleBuffer'>,
  epoch: number,
  ctx: Omit<SourceContext, 'rng'>,
): AsyncIterable<Sample> {
  if (!opts.shuffle) return source.samples({ ...ctx, rng: null });
  const stream = source.samples({ ...ctx, rng: streamRng(opts.seed, STREAM.sourceOrder, epoch) });
  return shuffleBuffer(stream, opts.shuffleBuffer, streamRng(opts.seed, STREAM.shuffleBuffer, epoch));
}

/**
 * Samples of consecutive epochs starting at `from`: the first `from.index` samples of `from.epoch` are
 * passed over without decoding. Stops after `epochs` epochs (if set); throws if a whole epoch is empty
 * while streaming forever, which would otherwise spin.
 */
export async function* positionedSamples(
  source: SampleSource,
  opts: Pick<PipelineOptions, 'seed' | 'shuffle' | 'shuffleBuffer' | 'epochs'>,
  from: DataPosition,
  ctx: Omit<SourceContext, 'rng'>,
): AsyncGenerator<PositionedSample> {
  checkPosition(from);
  for (let epoch = from.epoch; opts.epochs === undefined || epoch < opts.epochs; epoch++) {
    const skip = epoch === from.epoch ? from.index : 0;
    let index = 0;
    for await (const sample of epochSamples(source, opts, epoch, ctx)) {
      if (index >= skip) yield { sample, epoch, index };
      index++;
    }
    if (index === 0 && opts.epochs === undefined) {
      throw new Error(
        `${source.name}: epoch ${epoch} produced no samples (every candidate was skipped: see the skipped counts reported)`,
      );
    }
  }
}

export function checkPosition(p: DataPosition): void {
  if (!(Number.isInteger(p.epoch) && p.epoch >= 0 && Number.isInteger(p.index) && p.index >= 0)) {
    throw new Error(`data position ${JSON.stringify(p)}: expected {epoch, index} with non-negative integers`);
  }
}

/** Stack processed samples into one batch. */
export function collate(samples: ProcessedSample[], size: number): Batch {
  const per = 3 * size * size;
  const images = new Float32Array(samples.length * per); // [B, 3, S, S]
  const labels = new Int32Array(samples.length);
  samples.forEach((s, i) => {
    if (s.pixels.length !== per)
      throw new Error(
        `collate: sample '${s.key}' has ${s.pixels.length} values, expected ${per} for [3, ${size}, ${size}]`,
      );
    images.set(s.pixels, i * per);
    labels[i] = s.label ?? -1;
  });
  const last = samples[samples.length - 1];
  if (!last) throw new Error('collate: empty batch');
  return {
    images,
    shape: [samples.length, 3, size, size],
    captions: samples.map((s) => s.caption),
    labels,
    classNames: samples.map((s) => s.className),
    keys: samples.map((s) => s.key),
    position: { ...last.next },
  };
}

type Outcome = { ok: true; value: ProcessedSample } | { ok: false; epoch: number };

/**
 * A streaming image-text dataset: seeded per-epoch order, concurrent decoding, augmentation, batching
 * and a resumable position. Drops are counted in `stats` and reported to skip listeners, never thrown.
 */
export class ImageTextDataset {
  readonly stats: DataStats = emptyStats();
  private readonly listeners: SkipListener[] = [];

  constructor(
    readonly source: SampleSource,
    readonly options: PipelineOptions,
  ) {
    if (!(Number.isInteger(options.imageSize) && options.imageSize > 0))
      throw new Error(`dataset: imageSize must be a positive integer, got ${options.imageSize}`);
  }

  /** Listen for dropped samples; returns an unsubscribe function. */
  onSkip(listener: SkipListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  private report(event: SkipEvent): void {
    this.stats.skipped[event.reason]++;
    for (const l of this.listeners) l(event);
  }

  private async process(p: PositionedSample, pool: PreprocessPool | null): Promise<Outcome> {
    const { sample, epoch, index } = p;
    const { augment, imageSize } = this.options;
    // Seeded by the sample's place only, so a resumed run (or a worker thread) draws the same crop.
    const augmentSeed =
      augment === false ? null : deriveSeed(this.options.seed, STREAM.augment, epoch, index);
    const name = `${sample.source} (${sample.key})`;
    try {
      const input = await sample.image();
      const pixels = pool
        ? await pool.run({ input, size: imageSize, augment, augmentSeed, name })
        : await preprocessSampleImage(
            input,
            imageSize,
            augment,
            augmentSeed === null ? null : new Rng(augmentSeed),
            name,
          );
      const value: ProcessedSample = {
        key: sample.key,
        caption: sample.caption,
        source: sample.source,
        pixels,
        next: { epoch, index: index + 1 },
      };
      if (sample.label !== undefined) value.label = sample.label;
      if (sample.className !== undefined) value.className = sample.className;
      return { ok: true, value };
    } catch (e) {
      // A crashed or closed pool is not the image's fault: fail the stream instead of blaming samples.
      if (e instanceof PoolError) throw e;
      this.report({
        key: sample.key,
        reason: 'corrupt',
        source: sample.source,
        detail: (e as Error).message,
      });
      return { ok: false, epoch };
    }
  }

  /** Decoded, preprocessed samples from `from` (default: the start) on, in order. */
  async *samples(from: DataPosition = { epoch: 0, index: 0 }): AsyncGenerator<ProcessedSample> {
    const ctx = { seen: () => void this.stats.seen++, skip: (e: SkipEvent) => this.report(e) };
    const stream = positionedSamples(this.source, this.options, from, ctx);
    let epoch = from.epoch;
    let okInEpoch = 0;
    let failedInEpoch = 0;
    const pool = this.options.threads > 0 ? new PreprocessPool(this.options.threads) : null;
    // Keep every thread busy, and still overlap file reads with decoding.
    const inFlight = pool ? Math.max(this.options.workers, 2 * this.options.threads) : this.options.workers;
    try {
      for await (const out of mapOrdered(stream, (p) => this.process(p, pool), inFlight)) {
        const e = out.ok ? out.value.next.epoch : out.epoch;
        if (e !== epoch) {
          if (
            okInEpoch === 0 &&
            failedInEpoch > 0 &&
            this.options.epochs === undefined &&
            !(epoch === from.epoch && from.index > 0)
          ) {
            throw new Error(
              `${this.source.name}: no image of epoch ${epoch} could be decoded (${failedInEpoch} corrupt: see the skipped counts reported)`,
            );
          }
          epoch = e;
          okInEpoch = 0;
          failedInEpoch = 0;
        }
        if (!out.ok) {
          failedInEpoch++;
          continue;
        }
        okInEpoch++;
        this.stats.yielded++;
        yield out.value;
      }
    } finally {
      await pool?.close();
    }
  }

  /** Batches from `from` on; save `batch.position` to resume right after a batch. */
  batches(from: DataPosition = { epoch: 0, index: 0 }): AsyncGenerator<Batch> {
    const size = this.options.imageSize;
    const self = this;
    async function* collated(): AsyncGenerator<Batch> {
      for await (const group of batch(self.samples(from), self.options.batchSize, self.options.dropLast))
        yield collate(group, size);
    }
    return prefetch(collated(), this.options.prefetch);
  }
}
