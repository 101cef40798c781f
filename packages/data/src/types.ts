import type { RgbImage, Rng } from '@qlip/core';

export type { RgbImage };

/**
 * One image-text pair before decoding. `image()` is lazy so that listing, shuffling and skipping
 * (e.g. when resuming) never touch pixel data; it resolves to encoded bytes (JPEG/PNG/...) or to an
 * already decoded RGB image (built-ins that store raw pixels).
 */
export interface Sample {
  /** Unique within its source: a relative path, a WebDataset key, `mnist/train/00042`, ... */
  key: string;
  image: () => Promise<Buffer | RgbImage>;
  caption: string;
  label?: number;
  className?: string;
  /** Where it came from (a file, manifest or shard path, or `builtin:<name>`), for error messages. */
  source: string;
}

/** Why a sample was dropped. Every drop is counted in {@link DataStats} and reported through `onSkip`. */
export type SkipReason =
  | 'corrupt' // the image could not be read or decoded
  | 'missingCaption' // no sidecar caption / empty caption
  | 'missingImage' // a manifest row or shard group without an image
  | 'unsafePath' // an archive entry or manifest path that escapes its root
  | 'badEntry' // an unparsable sidecar (e.g. invalid `.json` in a shard)
  | 'tooLarge' // an archive member over the per-file byte cap (not read)
  | 'truncated'; // an archive that ends without its end-of-archive marker (cut short)

export const SKIP_REASONS: readonly SkipReason[] = [
  'corrupt',
  'missingCaption',
  'missingImage',
  'unsafePath',
  'badEntry',
  'tooLarge',
  'truncated',
];

export interface SkipEvent {
  key: string;
  reason: SkipReason;
  /** The file the sample came from. */
  source: string;
  /** The underlying error message or a short explanation. */
  detail: string;
}

export type SkipListener = (event: SkipEvent) => void;

/**
 * Counters for one dataset instance. `seen` counts candidates met by the sources (including ones dropped
 * there); `yielded` counts decoded samples handed on. After a resume, source-level drops in the replayed
 * part of the epoch are met (and counted) again.
 */
export interface DataStats {
  seen: number;
  yielded: number;
  skipped: Record<SkipReason, number>;
}

/** Per-iteration context handed to a source: how to report drops and (when shuffling) the epoch's rng. */
export interface SourceContext {
  /** Seeded per epoch; `null` means natural (sorted / file) order, as for evaluation. */
  rng: Rng | null;
  /** Record a candidate met by the source. */
  seen: () => void;
  /** Record a candidate dropped by the source. */
  skip: (event: SkipEvent) => void;
}

/** A finite, re-iterable collection of samples. Each call to `samples` starts a fresh pass (one epoch). */
export interface SampleSource {
  /** Short description for messages, e.g. `folder:/data/imgs`. */
  readonly name: string;
  /** Number of candidates when known without reading the data (folders, manifests, built-ins). */
  readonly size?: number;
  samples(ctx: SourceContext): AsyncIterable<Sample>;
}

/**
 * Where a stream is: the next sample is the `index`-th (0-based) of epoch `epoch`'s shuffled order.
 * `index` counts samples that left the shuffle buffer, including ones later dropped as corrupt, so the
 * position does not depend on decoding. Plain JSON: the trainer stores it in its checkpoint.
 */
export interface DataPosition {
  epoch: number;
  index: number;
}

/** A decoded, preprocessed sample. */
export interface ProcessedSample {
  key: string;
  caption: string;
  label?: number;
  className?: string;
  source: string;
  /** CLIP-normalised pixels. */
  pixels: Float32Array; // [3, S, S]
  /** Position right after this sample: resume from here to continue with the next one. */
  next: DataPosition;
}

/** A batch ready for a tensor: `tf.tensor4d(batch.images, batch.shape)`. */
export interface Batch {
  images: Float32Array; // [B, 3, S, S], CLIP-normalised, NCHW
  shape: [number, number, number, number];
  captions: string[];
  /** Class index per sample, -1 when the source has no labels. */
  labels: Int32Array; // [B]
  classNames: (string | undefined)[];
  keys: string[];
  /** Position right after the batch's last sample; save it to resume after this batch. */
  position: DataPosition;
}
