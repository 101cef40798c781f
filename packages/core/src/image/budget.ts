/**
 * A process-wide budget for the memory of images being decoded at once. Decoders ask for the bytes an
 * image will take (known from its header) before decoding it and wait while the images in flight already
 * use the budget, so a batch of small files that expand to huge bitmaps (or a prefetching loader running
 * beside the model) cannot take gigabytes at once. One image larger than the whole budget still decodes,
 * alone (its size is bounded by the decoder's pixel limit).
 */
export const DEFAULT_DECODE_MEMORY = 1024 * 2 ** 20;

let limit = Number(process.env.QLIP_DECODE_MEMORY_MB ?? 0) * 2 ** 20 || DEFAULT_DECODE_MEMORY;
let inUse = 0;
let peak = 0;
let waiters: (() => void)[] = [];

/** Set the decode memory budget in bytes (Infinity: unbounded); returns a function restoring the old one. */
export function setDecodeMemoryLimit(bytes: number): () => void {
  if (!(bytes > 0)) throw new Error(`decode memory limit must be a positive number of bytes, got ${bytes}`);
  const previous = limit;
  limit = bytes;
  wake();
  return () => {
    limit = previous;
    wake();
  };
}

/** The budget, the bytes held now and the most held at once since the last reset (for tests and benches). */
export function decodeMemoryStats(opts: { resetPeak?: boolean } = {}): {
  limit: number;
  inUse: number;
  peak: number;
} {
  const s = { limit, inUse, peak };
  if (opts.resetPeak) peak = inUse;
  return s;
}

function wake(): void {
  const w = waiters;
  waiters = [];
  for (const f of w) f();
}

/** Run `decode` holding `bytes` of the budget (waiting until they fit next to the images in flight). */
export async function withDecodeMemory<T>(bytes: number, decode: () => Promise<T>): Promise<T> {
  while (inUse > 0 && inUse + bytes > limit) await new Promise<void>((r) => waiters.push(r));
  inUse += bytes;
  peak = Math.max(peak, inUse);
  try {
    return await decode();
  } finally {
    inUse -= bytes;
    wake();
  }
}
