import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type NpyInfo, npyInfo, readNpy, writeFileAtomic, writeNpy } from '@qlip/core';
import { checkSameDataset, PARTS_DIR, type PartIndexRow, scanParts } from './parts.js';

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
/** Version 1: one index.jsonl + tokens-NNNNN.npy (read only); version 2: one part per input shard (parts.ts). */
export const FORMAT_VERSION = 2;

export interface TokenDatasetMeta {
  format: typeof FORMAT;
  version: 1 | typeof FORMAT_VERSION;
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
  /** Present when the encoder ran below fp32 (`int8`): its tokens are not fp32's. */
  precision?: string;
  createdBy: string;
}

export interface IndexEntry {
  /** Image path relative to the input directory, with forward slashes (a WebDataset sample: its key). */
  path: string;
  /** Which tokens file holds the row: a version-1 shard number, or a version-2 part's position. */
  shard: number;
  row: number;
  /** SHA-256 of the image file's bytes. */
  sha256: string;
  /** The image's caption when the source has one (a sidecar `a.txt`, a tar's `.txt`/`.json`, a manifest column). */
  caption?: string;
  /** Version 2: the sample key, its input shard, its part. */
  key?: string;
  source?: string;
  part?: string;
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

export interface OpenOptions {
  /** Told about every repair on resume (torn line dropped, shard dropped, settings ignored). */
  onNote?: (message: string) => void;
  /** Of the given index entries, the paths whose image changed since it was tokenized (sha256 differs). */
  changed?: (entries: IndexEntry[]) => Promise<Set<string>>;
}

/** An existing dataset may be resumed only with the same model and token-shaping settings. */
function checkResumable(
  metaPath: string,
  existing: TokenDatasetMeta,
  meta: TokenDatasetMeta,
  note: (m: string) => void,
): void {
  checkSameDataset(metaPath, existing, meta);
  if (existing.model.path !== meta.model.path)
    note(
      `model given as ${meta.model.path}; the dataset recorded ${existing.model.path}: same weights (fingerprint)`,
    );
  if (existing.shardSize !== meta.shardSize)
    note(`--shard-size ${meta.shardSize} ignored: this dataset uses ${existing.shardSize} images per shard`);
}

/** Names this writer creates; in a folder that is not a dataset they belong to the user. */
const OUR_NAMES = /^(?:(?:tokens|features)-\d{5}\.npy|index\.jsonl)$|\.npy\.tmp-/;

async function refuseForeignFiles(dir: string): Promise<void> {
  const ours = (await readdir(dir)).filter((f) => OUR_NAMES.test(f));
  if (ours.length)
    throw new Error(
      `${dir}: not a qlip dataset (no meta.json) but it holds ${ours.slice(0, 3).join(', ')}${ours.length > 3 ? ', ...' : ''}; ` +
        'refusing to write (or delete) files there: choose an empty --out or an existing dataset folder',
    );
}

/** Why a shard cannot be trusted, or null: file sizes against headers, rows against the index lines. */
async function shardFault(
  dir: string,
  meta: TokenDatasetMeta,
  shard: number,
  rows: IndexEntry[],
): Promise<string | null> {
  const [h, w] = meta.grid;
  const kinds: ('tokens' | 'features')[] = meta.features ? ['tokens', 'features'] : ['tokens'];
  for (const kind of kinds) {
    const file = join(dir, shardName(kind, shard));
    let info: NpyInfo;
    try {
      info = await npyInfo(file);
    } catch (err) {
      return `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
    if (info.fileBytes !== info.expectedBytes)
      return `${file}: ${info.fileBytes} bytes, its header needs ${info.expectedBytes} (truncated)`;
    const want = kind === 'tokens' ? [rows.length, h, w] : [rows.length, h * w, meta.features!.dim];
    if (JSON.stringify(info.shape) !== JSON.stringify(want))
      return `${file}: shape [${info.shape}], the index names ${rows.length} rows of [${want.slice(1)}]`;
  }
  const seen = new Set(rows.map((e) => e.row));
  if (
    seen.size !== rows.length ||
    rows.some((e) => !Number.isInteger(e.row) || e.row < 0 || e.row >= rows.length)
  )
    return `shard ${shard}: index rows do not cover 0..${rows.length - 1} exactly once`;
  return null;
}

/**
 * Drop the shards that cannot be trusted or that hold a changed image: rewrite the index without their
 * lines (atomically) and return the entries kept. Their files become orphans, deleted by the caller.
 */
async function dropBadShards(
  dir: string,
  meta: TokenDatasetMeta,
  entries: IndexEntry[],
  opts: OpenOptions,
  note: (m: string) => void,
): Promise<IndexEntry[]> {
  const byShard = new Map<number, IndexEntry[]>();
  for (const e of entries) byShard.set(e.shard, [...(byShard.get(e.shard) ?? []), e]);
  const bad = new Map<number, string>();
  for (const [shard, rows] of byShard) {
    const fault = await shardFault(dir, meta, shard, rows);
    if (fault) bad.set(shard, fault);
  }
  const changed = opts.changed
    ? await opts.changed(entries.filter((e) => !bad.has(e.shard)))
    : new Set<string>();
  for (const e of entries)
    if (changed.has(e.path) && !bad.has(e.shard))
      bad.set(e.shard, `${e.path} changed since it was tokenized`);
  if (changed.size) note(`${changed.size} image(s) changed since they were tokenized: tokenizing them again`);
  if (bad.size === 0) return entries;
  for (const [shard, why] of bad)
    note(
      `dropping shard ${shard} (${why}); its ${byShard.get(shard)!.length} image(s) will be tokenized again`,
    );
  const kept = entries.filter((e) => !bad.has(e.shard));
  await writeFileAtomic(join(dir, 'index.jsonl'), [kept.map((e) => `${JSON.stringify(e)}\n`).join('')]);
  return kept;
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
   * on the model (compared by fingerprint, so another spelling of its path is the same model) and every
   * setting that shapes the tokens, else an error says which field differs.
   *
   * Resuming trusts nothing it has not checked: a torn last index line is dropped; every shard must hold
   * exactly the rows its index lines name, with files of the right size (a full disk or a crash cannot
   * leave a short shard in use); shards holding an image whose file changed since (`opts.changed`) are
   * dropped too. A dropped shard's index lines go first (atomic rewrite), then its files, and its images
   * are tokenized again; each drop is told through `opts.onNote`. Only files of a dataset (meta.json
   * present) are ever deleted: a folder without meta.json that holds files named like ours is refused.
   */
  static async open(
    dir: string,
    meta: TokenDatasetMeta,
    opts: OpenOptions = {},
  ): Promise<TokenDatasetWriter> {
    const note = opts.onNote ?? (() => {});
    await mkdir(dir, { recursive: true });
    const metaPath = join(dir, 'meta.json');
    let existing: TokenDatasetMeta | undefined;
    try {
      existing = JSON.parse(await readFile(metaPath, 'utf8')) as TokenDatasetMeta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(`${metaPath}: unreadable (${(err as Error).message})`);
    }
    if (existing) checkResumable(metaPath, existing, meta, note);
    else {
      await refuseForeignFiles(dir);
      await writeFileAtomic(metaPath, [`${JSON.stringify(meta, null, 2)}\n`]);
    }
    const indexPath = join(dir, 'index.jsonl');
    const { entries, validBytes, torn } = await readIndex(indexPath);
    if (torn) {
      const fh = await open(indexPath, 'r+');
      await fh.truncate(validBytes);
      await fh.sync();
      await fh.close();
      note(`${indexPath}: dropped a torn last line (a crash mid-append)`);
    }
    const kept = await dropBadShards(dir, existing ?? meta, entries, opts, note);
    const referenced = new Set(kept.map((e) => e.shard));
    // Orphans (a dataset's own files only): shards renamed into place whose index lines never landed or
    // that were just dropped; temp files from a crash.
    for (const f of await readdir(dir)) {
      const m = /^(tokens|features)-(\d{5})\.npy$/.exec(f);
      if ((m && !referenced.has(Number(m[2]))) || f.includes('.npy.tmp-'))
        await rm(join(dir, f), { force: true });
    }
    const done = new Map(kept.map((e) => [e.path, e]));
    const nextShard = entries.length ? Math.max(...entries.map((e) => e.shard)) + 1 : 0;
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
  /** Version 2: the finished parts in dataset order (`entries[i].shard` indexes this list). */
  parts: string[];
  /** Tokens of one shard: `[n, h, w]` uint32. */
  loadTokens(shard: number): Promise<Uint32Array>;
}

/** Entries of a version-2 dataset: every finished part's index rows, parts in dataset order. */
async function readPartEntries(dir: string): Promise<{ entries: IndexEntry[]; parts: string[] }> {
  const { done } = await scanParts(dir);
  const entries: IndexEntry[] = [];
  for (const [shard, p] of done.entries()) {
    const file = join(dir, PARTS_DIR, p.part, 'index.jsonl');
    const rows = (await readFile(file, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l, i) => {
        try {
          return JSON.parse(l) as PartIndexRow;
        } catch (err) {
          throw new Error(`${file}: line ${i + 1} is not valid JSON (${(err as Error).message})`);
        }
      });
    if (rows.length !== p.images)
      throw new Error(`${file}: ${rows.length} rows, but done.json records ${p.images} images`);
    for (const r of rows) entries.push({ ...r, path: r.path ?? r.key, shard, part: p.part });
  }
  return { entries, parts: done.map((p) => p.part) };
}

/**
 * Open a tokenized dataset, either layout: version 2 reads every finished part (a part counts once its
 * done.json is there) as one dataset, in input order; version 1 reads the single index. Errors name the
 * file and the fault.
 */
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
  const { entries, parts } =
    meta.version === 1
      ? { ...(await readIndex(join(dir, 'index.jsonl'))), parts: [] }
      : await readPartEntries(dir);
  return {
    dir,
    meta,
    entries,
    parts,
    async loadTokens(shard) {
      const part = parts[shard];
      if (meta.version !== 1 && part === undefined) throw new Error(`${dir}: no part #${shard}`);
      const file =
        meta.version === 1
          ? join(dir, shardName('tokens', shard))
          : join(dir, PARTS_DIR, part!, 'tokens.npy');
      const arr = await readNpy(file);
      const [h, w] = meta.grid;
      if (arr.dtype !== 'uint32' || arr.shape.length !== 3 || arr.shape[1] !== h || arr.shape[2] !== w) {
        throw new Error(`${file}: expected uint32 [n, ${h}, ${w}], found ${arr.dtype} [${arr.shape}]`);
      }
      return arr.data as Uint32Array;
    },
  };
}
