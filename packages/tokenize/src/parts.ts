import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fsyncDir, writeFileSynced, writeNpy } from '@qlip/core';
import type { TokenDatasetMeta } from './dataset.js';

/**
 * The parts layout (format version 2, documented in docs/formats.md): one part per input shard.
 *
 *   OUT/meta.json                    shared by every part (model, bits, grid, preprocessing)
 *   OUT/parts/<name>/tokens.npy      uint32 [n, h, w]
 *   OUT/parts/<name>/features.npy    float16 [n, h*w, D] (only with features)
 *   OUT/parts/<name>/index.jsonl     one line per image: {"key", "path"?, "caption"?, "source", "row", "sha256"}
 *   OUT/parts/<name>/done.json       written last: image count, input shard, order, sizes + sha256 of the files
 *
 * A part is assembled in a private temp folder (`parts/.tmp+<host>+<pid>+<rand>+<name>`), every file is
 * fsynced, `done.json` is written last, and the folder is renamed into place: a part is there complete or
 * not at all, whoever crashes when. Two writers of one part (a stalled job handed to a second worker while
 * the first still runs) cannot both land it: the second rename fails and its copy is discarded, so the
 * output is exactly-once. Writers never take a lock on OUT, so any number of processes on any number of
 * machines can fill one dataset.
 */
export const PARTS_DIR = 'parts';
export const DONE_FILE = 'done.json';

/** One tokenized image handed to {@link writePart}. */
export interface PartItem {
  /** Unique within the input shard: a WebDataset key, a path relative to the folder, `manifest:line`. */
  key: string;
  /** For files (folder, manifest, single file): the image path, relative to the input folder when it has one. */
  path?: string;
  caption: string;
  /** SHA-256 of the image's encoded bytes. */
  sha256: string;
  /** `[h*w]` indices. */
  tokens: Uint32Array;
  /** `[h*w*D]` float16 bits, when the dataset stores features. */
  features?: Uint16Array;
}

/** A line of a part's index.jsonl. */
export interface PartIndexRow {
  key: string;
  path?: string;
  /** Absent when the input had no caption for the image. */
  caption?: string;
  /** The input shard (tar path or URL, folder, manifest) the image came from. */
  source: string;
  row: number;
  sha256: string;
}

/** `done.json`: the marker that makes a part visible, written last. */
export interface PartDone {
  part: string;
  /** Position of the input shard in the planned input list: parts are read in this order, then by name. */
  order: number;
  /** The input shard (tar path or URL, folder, manifest). */
  source: string;
  images: number;
  /** Samples of the shard that could not be tokenized (undecodable, no image), with why. */
  failed: { key: string; reason: string }[];
  /** Size and SHA-256 of every data file of the part, checked when a rerun decides the part is finished. */
  files: Record<string, { bytes: number; sha256: string }>;
  /** Who wrote it (host, pid), for the curious. */
  writer: string;
}

/** A part name safe as a folder name and a BullMQ job id: letters, digits, `.`, `_`, `-`. */
export function checkPartName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(name))
    throw new Error(`part name '${name}': use letters, digits, '.', '_' and '-' (up to 200 characters)`);
  return name;
}

const sha256Of = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Create `path` (it must not exist) with every byte and the size checked, then fsync (core's durable write). */
const writeSynced = (path: string, data: string) => writeFileSynced(path, [data], 'wx');

/** Fields of meta.json that must agree for a run to add images to an existing dataset. */
const MATCHING_KEYS = [
  'format',
  'version',
  'model',
  'bits',
  'grid',
  'imageSize',
  'patchSize',
  'preprocessing',
  'features',
  'precision',
] as const;

/**
 * Refuse to add to an existing dataset made with another model or other token-shaping settings (plus
 * `extra` keys the caller also needs equal), naming the field and meta.json.
 */
export function checkSameDataset(
  metaPath: string,
  existing: TokenDatasetMeta,
  meta: TokenDatasetMeta,
  extra: readonly (keyof TokenDatasetMeta)[] = [],
): void {
  for (const key of [...MATCHING_KEYS, ...extra]) {
    // The model is the same when its fingerprint is: `./m`, `m/` and `/abs/m` spell one model.
    const a = key === 'model' ? existing.model?.fingerprint : existing[key];
    const b = key === 'model' ? meta.model.fingerprint : meta[key];
    if (JSON.stringify(a) !== JSON.stringify(b))
      throw new Error(
        `${metaPath}: existing dataset was made with a different ${key} (${JSON.stringify(existing[key])} vs ` +
          `${JSON.stringify(meta[key])}); use a new --out folder`,
      );
  }
}

/** Images per folder/manifest chunk: the flag, else what the existing dataset was made with, else 4096. */
export async function chunkSizeFor(out: string, flag: number | undefined): Promise<number> {
  if (flag !== undefined) return flag;
  try {
    const meta = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8')) as Partial<TokenDatasetMeta>;
    if (Number.isInteger(meta.shardSize) && meta.version !== 1) return meta.shardSize!;
  } catch {
    // no dataset yet
  }
  return 4096;
}

/**
 * Create `OUT/meta.json`, or check that the existing one was made with the same model and settings. Safe
 * when many processes start at once: the file is created by a hard link, which only one of them wins.
 */
export async function ensureDatasetMeta(out: string, meta: TokenDatasetMeta): Promise<void> {
  const metaPath = join(out, 'meta.json');
  // A parts/ folder without meta.json belongs to the user: never write (or delete) there.
  const foreign = await readdir(join(out, PARTS_DIR)).catch(() => [] as string[]);
  if (foreign.length > 0 && !(await stat(metaPath).catch(() => null)))
    throw new Error(
      `${out}: not a qlip dataset (no meta.json) but it holds ${join(out, PARTS_DIR)}/; refusing to write there: ` +
        'choose an empty --out or an existing dataset folder',
    );
  await mkdir(join(out, PARTS_DIR), { recursive: true });
  const tmp = join(out, `.meta.json.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await writeSynced(tmp, `${JSON.stringify(meta, null, 2)}\n`);
  try {
    await link(tmp, metaPath);
    await fsyncDir(out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await rm(tmp, { force: true });
  }
  let existing: TokenDatasetMeta;
  try {
    existing = JSON.parse(await readFile(metaPath, 'utf8')) as TokenDatasetMeta;
  } catch (err) {
    throw new Error(`${metaPath}: unreadable (${(err as Error).message})`);
  }
  if (existing.version === 1)
    throw new Error(
      `${metaPath}: this dataset was written by an older qlip (one index.jsonl, tokens-NNNNN.npy); it can still be ` +
        'read, but new images go into parts: tokenize into a new --out folder',
    );
  // A folder's chunks must be cut alike for its parts to be one dataset.
  checkSameDataset(metaPath, existing, meta, ['shardSize']);
}

/** Why a part folder does not count as finished, or `null` when its done marker and files check out. */
async function partFault(dir: string): Promise<{ done?: PartDone; fault: string | null }> {
  let done: PartDone;
  try {
    done = JSON.parse(await readFile(join(dir, DONE_FILE), 'utf8')) as PartDone;
  } catch (err) {
    return {
      fault: `${join(dir, DONE_FILE)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    };
  }
  for (const [file, want] of Object.entries(done.files ?? {})) {
    const st = await stat(join(dir, file)).catch(() => null);
    if (st?.size !== want.bytes)
      return {
        done,
        fault: `${join(dir, file)}: ${st ? `${st.size} bytes, done.json records ${want.bytes}` : 'missing'}`,
      };
  }
  return { done, fault: null };
}

/** Finished parts of a dataset and folders under parts/ that are not (damaged by hand, bad disk). */
export interface PartsScan {
  /** Finished parts in dataset order (input order, then name). */
  done: PartDone[];
  /** Part folders whose done marker is missing or whose files do not match it: a rerun redoes them. */
  damaged: { part: string; fault: string }[];
}

/** Scan `OUT/parts/`: a part counts when its `done.json` exists and every file has the recorded size. */
export async function scanParts(out: string): Promise<PartsScan> {
  const root = join(out, PARTS_DIR);
  const names = await readdir(root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw new Error(`${root}: unreadable (${err.message})`);
  });
  const done: PartDone[] = [];
  const damaged: PartsScan['damaged'] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue; // temp folders of writers at work
    const { done: d, fault } = await partFault(join(root, name));
    if (fault === null && d) done.push(d);
    else damaged.push({ part: name, fault: fault ?? 'unreadable' });
  }
  done.sort((a, b) => a.order - b.order || (a.part < b.part ? -1 : a.part > b.part ? 1 : 0));
  return { done, damaged };
}

/** What {@link writePart} needs besides the items. */
export interface WritePartOptions {
  out: string;
  meta: TokenDatasetMeta;
  part: string;
  order: number;
  source: string;
  failed: PartDone['failed'];
}

/**
 * Write one part atomically (see the layout above). Returns `false` when a finished copy of the part is
 * already there (written by another worker meanwhile): this copy is discarded and nothing changes.
 */
export async function writePart(items: PartItem[], o: WritePartOptions): Promise<boolean> {
  const root = join(o.out, PARTS_DIR);
  const final = join(root, checkPartName(o.part));
  // '+' appears in neither host names nor part names, so removeDeadTemps can split the name back.
  const tmp = join(root, `.tmp+${hostname()}+${process.pid}+${randomBytes(4).toString('hex')}+${o.part}`);
  await mkdir(tmp, { recursive: true });
  try {
    const files = await writePartFiles(tmp, items, o);
    const done: PartDone = {
      part: o.part,
      order: o.order,
      source: o.source,
      images: items.length,
      failed: o.failed,
      files,
      writer: `${hostname()}:${process.pid}`,
    };
    await writeSynced(join(tmp, DONE_FILE), `${JSON.stringify(done, null, 2)}\n`);
    await fsyncDir(tmp);
    // A damaged copy (no done marker, wrong sizes) is replaced; a finished one wins over this one.
    const there = await partFault(final).catch(() => null);
    if (there?.done && there.fault === null) return false;
    if (there?.done || (await stat(final).catch(() => null)))
      await rm(final, { recursive: true, force: true });
    try {
      await rename(tmp, final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') return false; // another writer landed it first
      throw err;
    }
    await fsyncDir(root);
    return true;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function writePartFiles(
  dir: string,
  items: PartItem[],
  o: WritePartOptions,
): Promise<PartDone['files']> {
  const [h, w] = o.meta.grid;
  const n = items.length;
  const tokens = new Uint32Array(n * h * w); // [n, h, w]
  items.forEach((it, i) => {
    if (it.tokens.length !== h * w)
      throw new Error(`${it.key}: got ${it.tokens.length} tokens, the dataset grid needs ${h * w}`);
    tokens.set(it.tokens, i * h * w);
  });
  await writeNpy(join(dir, 'tokens.npy'), { dtype: 'uint32', shape: [n, h, w], data: tokens });
  if (o.meta.features) {
    const d = o.meta.features.dim;
    const feats = new Uint16Array(n * h * w * d); // [n, h*w, D] float16 bits
    items.forEach((it, i) => {
      if (it.features?.length !== h * w * d)
        throw new Error(`${it.key}: features missing or of the wrong size for dim ${d}`);
      feats.set(it.features, i * h * w * d);
    });
    await writeNpy(join(dir, 'features.npy'), { dtype: 'float16', shape: [n, h * w, d], data: feats });
  }
  const rows: PartIndexRow[] = items.map((it, row) => ({
    key: it.key,
    ...(it.path !== undefined ? { path: it.path } : {}),
    ...(it.caption !== '' ? { caption: it.caption } : {}),
    source: o.source,
    row,
    sha256: it.sha256,
  }));
  await writeSynced(join(dir, 'index.jsonl'), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const files: PartDone['files'] = {};
  for (const f of ['tokens.npy', 'features.npy', 'index.jsonl']) {
    const bytes = await readFile(join(dir, f)).catch(() => null);
    if (bytes) files[f] = { bytes: bytes.length, sha256: sha256Of(bytes) };
  }
  return files;
}

/** Remove temp folders left under `parts/` by writers on this host whose process has died. */
export async function removeDeadTemps(out: string): Promise<number> {
  const root = join(out, PARTS_DIR);
  const host = hostname();
  let removed = 0;
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const m = /^\.tmp\+([^+]+)\+(\d+)\+[0-9a-f]{8}\+/.exec(name);
    if (!m || m[1] !== host || pidAlive(Number(m[2]))) continue;
    await rm(join(root, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Why a finished part made from local files no longer matches its input, or `null` when it does: a rerun
 * must not keep tokens of an image that changed since (its SHA-256 is recorded), nor a part whose chunk
 * gained or lost images (a folder chunk is "images i*size .. (i+1)*size of the sorted listing", so an
 * added or removed file shifts the chunks after it). Costs one read of each image, as the first run did.
 */
export async function partStaleness(
  out: string,
  done: PartDone,
  planned: { root: string; files: string[] },
): Promise<string | null> {
  const index = join(out, PARTS_DIR, done.part, 'index.jsonl');
  const rows = (await readFile(index, 'utf8'))
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as PartIndexRow);
  const recorded = new Map(rows.map((r) => [r.key, r.sha256]));
  const failed = new Set(done.failed.map((f) => f.key));
  const before = recorded.size + failed.size;
  if (planned.files.length !== before || planned.files.some((f) => !recorded.has(f) && !failed.has(f)))
    return `its input changed (${before} images then, ${planned.files.length} now, or other files)`;
  for (const file of planned.files) {
    const want = recorded.get(file);
    if (want === undefined) continue; // failed last time: tried again only when the part is redone
    const bytes = await readFile(join(planned.root, file)).catch(() => null);
    if (bytes === null || sha256Of(bytes) !== want) return `${file} changed since it was tokenized`;
  }
  return null;
}

/** Move a finished part out of the dataset so it is written again (the caller holds the output lock). */
export async function retirePart(out: string, part: string): Promise<void> {
  const root = join(out, PARTS_DIR);
  // Named like a writer's temp folder, so removeDeadTemps clears it if this process dies before the rm.
  const away = join(root, `.tmp+${hostname()}+${process.pid}+${randomBytes(4).toString('hex')}+${part}`);
  await rename(join(root, checkPartName(part)), away);
  await fsyncDir(root);
  await rm(away, { recursive: true, force: true });
}
