import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readNpy, writeNpy } from '@qlip/core';

/**
 * The tokenized dataset format (documented in docs/formats.md):
 *
 *   OUT/meta.json               what produced the tokens (model, bits, grid, preprocessing)
 *   OUT/index.jsonl             one line per image: {"path", "shard", "row", "sha256"[, "caption"]}
 *   OUT/tokens-00000.npy        uint32 [n, h, w] BSQ indices (MSB-first bit packing)
 *   OUT/features-00000.npy      float16 [n, h*w, D] post-quantisation features (only with --features)
 *
 * Crash safety: a shard is written to a temp file and renamed, and only then are its index lines
 * appended (and fsynced). On resume, a torn last index line is dropped, shard files the index does not
 * reference (a crash between rename and append) are deleted, and the images they held are redone,
 * so nothing is duplicated and nothing is lost.
 */
export const FORMAT = 'qlip-tokens';
export const FORMAT_VERSION = 1;

export interface TokenDatasetMeta {
  format: typeof FORMAT;
  version: typeof FORMAT_VERSION;
  /** Where the model came from and a fingerprint of its config + weights file. */
  model: { path: string; fingerprint: string };
  bits: number;
  /** Token grid [h, w]. */
  grid: [number, number];
  imageSize: number;
  patchSize: number;
  /** Preprocessing applied before the encoder (resize, crop, mean/std). */
  preprocessing: Record<string, unknown>;
  shardSize: number;
  /** Present when post-quantisation features are stored. */
  features?: { dim: number; dtype: 'float16' };
  createdBy: string;
}

export interface IndexEntry {
  /** Image path relative to the input directory, with forward slashes. */
  path: string;
  shard: number;
  row: number;
  /** SHA-256 of the image file's bytes. */
  sha256: string;
  /** The image's caption when the source has one (a sidecar `a.txt` beside `a.png`). */
  caption?: string;
}

/** One tokenized image handed to the writer. */
export interface TokenizedItem {
  path: string;
  sha256: string;
  /** Caption from the source, recorded in index.jsonl when present. */
  caption?: string;
  /** `[h*w]` indices. */
  tokens: Uint32Array;
  /** `[h*w*D]` float16 bits, when the dataset stores features. */
  features?: Uint16Array;
}

export const shardName = (kind: 'tokens' | 'features', shard: number) =>
  `${kind}-${String(shard).padStart(5, '0')}.npy`;

/** Fields of meta.json that must agree for a resumed run to append to an existing dataset. */
const RESUME_KEYS = [
  'format',
  'version',
  'model',
  'bits',
  'grid',
  'imageSize',
  'patchSize',
  'preprocessing',
  'features',
] as const;

/** Read and parse index.jsonl, dropping a torn final line (a crash mid-append). */
async function readIndex(
  path: string,
): Promise<{ entries: IndexEntry[]; validBytes: number; torn: boolean }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return { entries: [], validBytes: 0, torn: false };
  }
  const entries: IndexEntry[] = [];
  let validBytes = 0;
  let torn = false;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const isLast = i === lines.length - 1;
    if (line === '') continue;
    try {
      if (isLast) throw new Error('no newline');
      entries.push(JSON.parse(line) as IndexEntry);
      validBytes += Buffer.byteLength(line) + 1;
    } catch (err) {
      if (!isLast) throw new Error(`${path}: line ${i + 1} is not valid JSON (${(err as Error).message})`);
      torn = true;
    }
  }
  return { entries, validBytes, torn };
}

/**
 * Appends tokenized images to a dataset directory in shards, resuming an earlier run when the
 * directory already holds one made with the same model and settings.
 */
export class TokenDatasetWriter {
  private buffer: TokenizedItem[] = [];

  private constructor(
    readonly dir: string,
    readonly meta: TokenDatasetMeta,
    /** Paths already in the dataset (skip them). */
    readonly done: Map<string, IndexEntry>,
    private nextShard: number,
  ) {}

  /**
   * Open `dir` for writing. A fresh directory gets `meta.json`; an existing dataset must match `meta`
   * on the model and every setting that shapes the tokens, else an error says which field differs.
   */
  static async open(dir: string, meta: TokenDatasetMeta): Promise<TokenDatasetWriter> {
    await mkdir(dir, { recursive: true });
    const metaPath = join(dir, 'meta.json');
    let existing: TokenDatasetMeta | undefined;
    try {
      existing = JSON.parse(await readFile(metaPath, 'utf8')) as TokenDatasetMeta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(`${metaPath}: unreadable (${(err as Error).message})`);
    }
    if (existing) {
      for (const key of RESUME_KEYS) {
        if (JSON.stringify(existing[key]) !== JSON.stringify(meta[key])) {
          throw new Error(
            `${metaPath}: existing dataset was made with a different ${key} (${JSON.stringify(existing[key])} vs ` +
              `${JSON.stringify(meta[key])}); use a new --out directory`,
          );
        }
      }
    } else {
      await writeFile(`${metaPath}.tmp`, `${JSON.stringify(meta, null, 2)}\n`);
      await rename(`${metaPath}.tmp`, metaPath);
    }
    const indexPath = join(dir, 'index.jsonl');
    const { entries, validBytes, torn } = await readIndex(indexPath);
    if (torn) {
      const fh = await open(indexPath, 'r+');
      await fh.truncate(validBytes);
      await fh.close();
    }
    const referenced = new Set(entries.map((e) => e.shard));
    // Orphans: shards renamed into place whose index lines never landed; temp files from a crash.
    for (const f of await readdir(dir)) {
      const m = /^(tokens|features)-(\d{5})\.npy$/.exec(f);
      if ((m && !referenced.has(Number(m[2]))) || f.includes('.npy.tmp-'))
        await rm(join(dir, f), { force: true });
    }
    const done = new Map(entries.map((e) => [e.path, e]));
    const nextShard = entries.length ? Math.max(...referenced) + 1 : 0;
    return new TokenDatasetWriter(dir, existing ?? meta, done, nextShard);
  }

  /** Queue items; a full shard is written as soon as one is complete. */
  async add(items: TokenizedItem[]): Promise<void> {
    const tokensPer = this.meta.grid[0] * this.meta.grid[1];
    for (const item of items) {
      if (item.tokens.length !== tokensPer) {
        throw new Error(
          `${item.path}: got ${item.tokens.length} tokens, the dataset grid needs ${tokensPer}`,
        );
      }
      if (this.meta.features && item.features?.length !== tokensPer * this.meta.features.dim) {
        throw new Error(
          `${item.path}: features missing or of the wrong size for dim ${this.meta.features.dim}`,
        );
      }
      this.buffer.push(item);
      if (this.buffer.length >= this.meta.shardSize) await this.flush();
    }
  }

  /** Write the buffered items as one shard, then record them in the index. */
  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const items = this.buffer;
    this.buffer = [];
    const shard = this.nextShard++;
    const n = items.length;
    const [h, w] = this.meta.grid;
    const tokens = new Uint32Array(n * h * w); // [n, h, w]
    for (const [i, it] of items.entries()) tokens.set(it.tokens, i * h * w);
    await writeNpy(join(this.dir, shardName('tokens', shard)), {
      dtype: 'uint32',
      shape: [n, h, w],
      data: tokens,
    });
    if (this.meta.features) {
      const d = this.meta.features.dim;
      const feats = new Uint16Array(n * h * w * d); // [n, h*w, D] float16 bits
      for (const [i, it] of items.entries()) feats.set(it.features!, i * h * w * d);
      await writeNpy(join(this.dir, shardName('features', shard)), {
        dtype: 'float16',
        shape: [n, h * w, d],
        data: feats,
      });
    }
    const entries: IndexEntry[] = items.map((it, row) => ({
      path: it.path,
      shard,
      row,
      sha256: it.sha256,
      ...(it.caption !== undefined ? { caption: it.caption } : {}),
    }));
    const fh = await open(join(this.dir, 'index.jsonl'), 'a');
    try {
      await fh.appendFile(entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
      await fh.sync();
    } finally {
      await fh.close();
    }
    for (const e of entries) this.done.set(e.path, e);
  }

  /** Flush the last (possibly short) shard. */
  async close(): Promise<void> {
    await this.flush();
  }
}

/** A tokenized dataset opened for reading. */
export interface TokenDataset {
  dir: string;
  meta: TokenDatasetMeta;
  entries: IndexEntry[];
  /** Tokens of one shard: `[n, h, w]` uint32. */
  loadTokens(shard: number): Promise<Uint32Array>;
}

/** Open a dataset written by `TokenDatasetWriter`; errors name the file and the fault. */
export async function readTokenDataset(dir: string): Promise<TokenDataset> {
  const metaPath = join(dir, 'meta.json');
  let meta: TokenDatasetMeta;
  try {
    meta = JSON.parse(await readFile(metaPath, 'utf8')) as TokenDatasetMeta;
  } catch (err) {
    throw new Error(
      `${metaPath}: not a tokenized dataset (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  if (meta.format !== FORMAT)
    throw new Error(`${metaPath}: format is "${meta.format}", expected "${FORMAT}"`);
  const { entries } = await readIndex(join(dir, 'index.jsonl'));
  return {
    dir,
    meta,
    entries,
    async loadTokens(shard) {
      const file = join(dir, shardName('tokens', shard));
      const arr = await readNpy(file);
      const [h, w] = meta.grid;
      if (arr.dtype !== 'uint32' || arr.shape.length !== 3 || arr.shape[1] !== h || arr.shape[2] !== w) {
        throw new Error(`${file}: expected uint32 [n, ${h}, ${w}], found ${arr.dtype} [${arr.shape}]`);
      }
      return arr.data as Uint32Array;
    },
  };
}
