import { AsyncLocalStorage } from 'node:async_hooks';
import type { AlphaMode } from './pixels.js';

/** What {@link decodeImage} saw of one input before any resizing. */
export interface DecodedImageInfo {
  /** File path, or the name given for bytes. */
  name: string;
  /** Stored size (after EXIF orientation). */
  width: number;
  height: number;
  /** True when some pixel is not fully opaque (so the alpha handling changes what the model sees). */
  transparent: boolean;
  /** What was done with the alpha channel (a data source may composite where the caller would not). */
  alpha?: AlphaMode;
}

/** Receives every image decoded inside {@link withImageAudit}. */
export type ImageAudit = (info: DecodedImageInfo) => void;

const current = new AsyncLocalStorage<ImageAudit>();

/**
 * Run `fn` with `audit` told about every image decoded in it, however deep in a job (folders, datasets,
 * single files), without threading a callback through every layer. Scoped to `fn`'s async context.
 */
export function withImageAudit<T>(audit: ImageAudit, fn: () => Promise<T>): Promise<T> {
  return current.run(audit, fn);
}

/** Tell the active audit, if any. */
export function reportDecodedImage(info: DecodedImageInfo): void {
  current.getStore()?.(info);
}
