import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import {
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import {
  downloadFile,
  getRepoFolderName,
  HubApiError,
  type ListFileEntry,
  listFiles,
  modelInfo,
} from '@huggingface/hub';
import { acquireOutputLock, type ProgressListener, silentProgress } from '@qlip/core';
import {
  cachedCommit,
  missingModelFiles,
  refPath,
  repoCacheDir,
  SAFETENSORS_INDEX,
  shardNames,
  snapshotDir,
} from './cache.js';
import { type ModelCard, readModelCard } from './card.js';
import { type HubSettings, hubSettings } from './env.js';
import { isCommitHash } from './id.js';

export interface DownloadOptions extends Partial<HubSettings> {
  /** Branch, tag or commit (default `main`). */
  revision?: string;
  /** Attempts after a dropped connection, each resuming where the last stopped (default 3). */
  retries?: number;
  /** Replaces the global fetch (proxies, tests). */
  fetch?: typeof fetch;
  /** Bytes received, in MB, across all files. */
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface DownloadedFile {
  path: string;
  bytes: number;
  /** False when the cache already had it. */
  downloaded: boolean;
}

export interface DownloadResult {
  repo: string;
  revision: string;
  commit: string;
  /** The snapshot folder: a model directory every qlip command and `QLIP.fromPretrained` take. */
  path: string;
  files: DownloadedFile[];
  /** Size of all files. */
  bytes: number;
  /** Bytes fetched by this call (0 when everything was cached). */
  downloadedBytes: number;
  /** True when this call created the snapshot (the first download of this commit). */
  firstDownload: boolean;
  /** True when the hub was not asked (offline mode, a cached commit, or the hub unreachable). */
  offline: boolean;
  card: ModelCard | null;
}

/** Weights of other frameworks qlip never reads; skipped like transformers.js skips them. */
const IGNORED = /(^|\/)\.gitattributes$|\.(bin|pt|pth|ckpt|h5|msgpack|ot|gguf|pkl|npz)$/;

/**
 * Download a model repository at a revision into the Hugging Face cache (see {@link repoCacheDir} for the
 * layout, shared with Python) and return its snapshot folder. Files already cached are not fetched again;
 * a partial download (`blobs/<etag>.incomplete`) resumes with an HTTP range request; every file's size,
 * and the sha256 of LFS files, is checked before it enters the cache. Sharded checkpoints
 * (`model.safetensors.index.json`) get every shard. Offline (`HF_HUB_OFFLINE=1`), or when the hub cannot be
 * reached, the cache alone answers, with an error naming what is missing.
 */
export async function downloadModel(repo: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const s = hubSettings(opts);
  const revision = opts.revision ?? 'main';
  const known = cachedCommit(s.cacheDir, repo, revision);
  const cachedDir = known ? snapshotDir(s.cacheDir, repo, known) : null;
  const complete = cachedDir !== null && existsSync(cachedDir) && missingModelFiles(cachedDir).length === 0;
  // A commit never moves: a complete snapshot of one needs no network (Python does the same).
  if (s.offline || (complete && isCommitHash(revision))) {
    if (!complete) throw notCached(repo, revision, s, cachedDir);
    return fromCache(repo, revision, known!, s);
  }
  let commit: string;
  try {
    commit = await resolveCommit(repo, revision, s, opts.fetch);
  } catch (err) {
    if (complete && isNetworkError(err)) {
      opts.onProgress?.({
        task: 'download',
        done: 0,
        message: `the hub (${s.endpoint}) cannot be reached (${errorText(err)}): using the cached ${repo}@${revision} (${known})`,
      });
      return fromCache(repo, revision, known!, s);
    }
    throw explain(err, repo, revision, s);
  }
  // One writer per repository: two processes appending to the same .incomplete would corrupt it. The lock
  // lives in the cache's .locks folder, where Python's huggingface_hub keeps its own and cache scans skip it.
  const lock = await acquireOutputLock(
    join(s.cacheDir, '.locks', getRepoFolderName({ type: 'model', name: repo })),
    `qlip download ${repo}`,
  );
  try {
    return await fetchSnapshot(repo, revision, commit, s, opts);
  } catch (err) {
    throw explain(err, repo, revision, s);
  } finally {
    await lock.release();
  }
}

async function resolveCommit(repo: string, revision: string, s: HubSettings, f?: typeof fetch) {
  const info = await modelInfo({
    name: repo,
    revision,
    hubUrl: s.endpoint,
    accessToken: s.token,
    additionalFields: ['sha'],
    ...(f ? { fetch: f } : {}),
  });
  if (!info.sha || !isCommitHash(info.sha))
    throw new Error(`the hub gave no commit hash for ${repo}@${revision}`);
  return info.sha;
}

/** The files qlip needs at a commit: everything but other frameworks' weights; every shard of an index. */
async function plan(
  repo: string,
  commit: string,
  s: HubSettings,
  f?: typeof fetch,
): Promise<ListFileEntry[]> {
  const files: ListFileEntry[] = [];
  for await (const e of listFiles({
    repo: { type: 'model', name: repo },
    revision: commit,
    recursive: true,
    hubUrl: s.endpoint,
    accessToken: s.token,
    ...(f ? { fetch: f } : {}),
  })) {
    if (e.type === 'file' && !IGNORED.test(e.path)) files.push(e);
  }
  const names = new Set(files.map((e) => e.path));
  if (!names.has('config.json'))
    throw new Error(`${repo}@${commit} has no config.json: not a model repository`);
  if (!names.has('model.safetensors') && !names.has(SAFETENSORS_INDEX)) {
    throw new Error(
      `${repo}@${commit} has no model.safetensors or ${SAFETENSORS_INDEX} (qlip reads safetensors weights only)`,
    );
  }
  return files;
}

async function fetchSnapshot(
  repo: string,
  revision: string,
  commit: string,
  s: HubSettings,
  opts: DownloadOptions,
): Promise<DownloadResult> {
  const files = await plan(repo, commit, s, opts.fetch);
  const snap = snapshotDir(s.cacheDir, repo, commit);
  const firstDownload = !existsSync(snap);
  const onProgress = opts.onProgress ?? silentProgress;
  const total = files.reduce((a, e) => a + e.size, 0);
  const progress = { done: 0, total, report: onProgress };
  const out: DownloadedFile[] = [];
  let downloadedBytes = 0;
  if (!isCommitHash(revision)) await writeRef(s.cacheDir, repo, revision, commit);
  // Small files first: the card and index are read before the weights arrive.
  for (const e of [...files].sort((a, b) => a.size - b.size)) {
    const got = await ensureFile(repo, commit, e, s, opts, progress);
    downloadedBytes += got;
    out.push({ path: e.path, bytes: e.size, downloaded: got > 0 || (e.size === 0 && firstDownload) });
  }
  const missingShards = await checkShards(snap, files);
  if (missingShards.length) {
    throw new Error(
      `${repo}@${commit}: ${SAFETENSORS_INDEX} names shards the repository does not have: ${missingShards.join(', ')}`,
    );
  }
  onProgress({ task: 'download', done: mb(total), total: mb(total), unit: 'MB' });
  return {
    repo,
    revision,
    commit,
    path: snap,
    files: out.sort((a, b) => a.path.localeCompare(b.path)),
    bytes: total,
    downloadedBytes,
    firstDownload,
    offline: false,
    card: await readModelCard(snap),
  };
}

async function checkShards(snap: string, files: ListFileEntry[]): Promise<string[]> {
  if (!files.some((e) => e.path === SAFETENSORS_INDEX)) return [];
  const shards = shardNames(await readFile(join(snap, SAFETENSORS_INDEX), 'utf8'));
  const names = new Set(files.map((e) => e.path));
  return shards.filter((x) => !names.has(x));
}

async function writeRef(cacheDir: string, repo: string, revision: string, commit: string) {
  const ref = refPath(cacheDir, repo, revision);
  await mkdir(dirname(ref), { recursive: true });
  await writeFile(ref, commit); // no newline, as Python writes it
}

const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;

interface Progress {
  done: number;
  total: number;
  report: ProgressListener;
}

/** Link `snapshots/<commit>/<path>` to its blob, downloading the blob when absent; returns bytes fetched. */
async function ensureFile(
  repo: string,
  commit: string,
  e: ListFileEntry,
  s: HubSettings,
  opts: DownloadOptions,
  progress: Progress,
): Promise<number> {
  const root = repoCacheDir(s.cacheDir, repo);
  const etag = e.lfs?.oid ?? e.oid;
  if (!etag) throw new Error(`${repo}@${commit}: the hub listed ${e.path} without an oid`);
  const blob = join(root, 'blobs', etag);
  const pointer = join(root, 'snapshots', commit, ...e.path.split('/'));
  let fetched = 0;
  if (!existsSync(blob)) fetched = await fetchBlob(repo, commit, e, blob, s, opts, progress);
  else progress.done += e.size;
  if (!(await isLink(pointer))) {
    await mkdir(dirname(pointer), { recursive: true });
    await symlink(relative(dirname(pointer), blob), pointer); // relative, like Python's cache
  }
  return fetched;
}

async function isLink(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

async function sizeOf(p: string): Promise<number> {
  try {
    return (await stat(p)).size;
  } catch {
    return 0;
  }
}

/** Download one blob into `<blob>.incomplete` (appending to what an earlier attempt left), verify, rename. */
async function fetchBlob(
  repo: string,
  commit: string,
  e: ListFileEntry,
  blob: string,
  s: HubSettings,
  opts: DownloadOptions,
  progress: Progress,
): Promise<number> {
  const part = `${blob}.incomplete`;
  await mkdir(dirname(blob), { recursive: true });
  const retries = opts.retries ?? 3;
  const before = progress.done;
  let start = await sizeOf(part);
  const resumedFrom = start;
  if (start > e.size) {
    await truncate(part, 0);
    start = 0;
  }
  for (let attempt = 0; ; attempt++) {
    progress.done = before + start;
    if (start > 0) {
      progress.report({
        task: 'download',
        done: mb(progress.done),
        message: `${e.path}: resuming at ${start} of ${e.size} bytes (${part})`,
      });
    }
    try {
      await streamRange(repo, commit, e, part, start, s, opts, progress);
      break;
    } catch (err) {
      start = await sizeOf(part);
      if (opts.signal?.aborted || !isNetworkError(err) || attempt >= retries) {
        if (start > 0 && isNetworkError(err)) {
          throw new Error(
            `${repo}: downloading ${e.path} failed (${errorText(err)}); the ${start} bytes received are kept in ` +
              `${part}: run the same command again to resume`,
            { cause: err },
          );
        }
        throw err;
      }
    }
  }
  await verify(part, e);
  await rename(part, blob);
  return e.size - resumedFrom;
}

async function streamRange(
  repo: string,
  commit: string,
  e: ListFileEntry,
  part: string,
  start: number,
  s: HubSettings,
  opts: DownloadOptions,
  progress: Progress,
): Promise<void> {
  const file = await downloadFile({
    repo: { type: 'model', name: repo },
    path: e.path,
    revision: commit,
    hubUrl: s.endpoint,
    accessToken: s.token,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  if (!file) throw new Error(`${repo}@${commit}: ${e.path} is listed but cannot be downloaded (404)`);
  if (file.size !== e.size) {
    throw new Error(
      `${repo}@${commit}: ${e.path} is ${file.size} bytes on the hub, the listing said ${e.size}`,
    );
  }
  if (start >= e.size) return;
  // A slice of the library's blob is an HTTP range request from `start`.
  const body = Readable.fromWeb((start > 0 ? file.slice(start) : file).stream() as NodeReadableStream);
  let last = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      progress.done += chunk.length;
      const now = Date.now();
      if (now - last > 200) {
        last = now;
        progress.report({ task: 'download', done: mb(progress.done), total: mb(progress.total), unit: 'MB' });
      }
      cb(null, chunk);
    },
  });
  const sink = createWriteStream(part, { flags: 'a' });
  try {
    await pipeline(body, count, sink, { ...(opts.signal ? { signal: opts.signal } : {}) });
  } finally {
    // On a cut connection pipeline can reject while a write is still in flight; that chunk would land after
    // the retry measured the file, and the retry's range would append it twice. Wait for the file to close.
    if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
  }
}

/** Size always; sha256 for LFS files (their etag is the sha256), so a bad resume never enters the cache. */
async function verify(part: string, e: ListFileEntry): Promise<void> {
  const size = await sizeOf(part);
  if (size !== e.size) {
    throw new Error(
      `${e.path}: received ${size} bytes, expected ${e.size} (kept in ${part}; run again to resume)`,
    );
  }
  if (!e.lfs) return;
  const h = createHash('sha256');
  await pipeline(createReadStream(part), h);
  const got = h.digest('hex');
  if (got !== e.lfs.oid) {
    await rm(part, { force: true });
    throw new Error(
      `${e.path}: sha256 ${got} does not match the hub's ${e.lfs.oid}; the download was discarded`,
    );
  }
}

async function fromCache(
  repo: string,
  revision: string,
  commit: string,
  s: HubSettings,
): Promise<DownloadResult> {
  const path = snapshotDir(s.cacheDir, repo, commit);
  const files = await listSnapshot(path);
  return {
    repo,
    revision,
    commit,
    path,
    files,
    bytes: files.reduce((a, f) => a + f.bytes, 0),
    downloadedBytes: 0,
    firstDownload: false,
    offline: true,
    card: await readModelCard(path),
  };
}

async function listSnapshot(dir: string, prefix = ''): Promise<DownloadedFile[]> {
  const out: DownloadedFile[] = [];
  for (const d of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...(await listSnapshot(dir, rel)));
    else out.push({ path: rel, bytes: await sizeOf(join(dir, rel)), downloaded: false });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

function notCached(repo: string, revision: string, s: HubSettings, dir: string | null): Error {
  const what =
    dir && existsSync(dir)
      ? `incomplete in the cache (${dir} lacks ${missingModelFiles(dir).join(', ')})`
      : `not in the Hugging Face cache (${s.cacheDir})`;
  return new Error(
    `${repo}@${revision} is ${what}, and offline mode (HF_HUB_OFFLINE=1) forbids downloading it: ` +
      `run \`qlip download ${repo}${revision === 'main' ? '' : ` --revision ${revision}`}\` with network access, ` +
      'or unset HF_HUB_OFFLINE (HF_HUB_CACHE / HF_HOME choose the cache folder)',
  );
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? err.message;
}

/** Connection refused/reset/dropped, DNS failure, timeout: worth a retry or a fall-back to the cache. */
function isNetworkError(err: unknown): boolean {
  if (err instanceof HubApiError) return err.statusCode >= 500;
  if (!(err instanceof Error)) return /terminated|network|ECONN|socket/i.test(String(err));
  const text = `${err.name} ${err.message} ${errorText(err)}`;
  return /fetch failed|terminated|ECONN|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|UND_ERR|socket|network|aborted/i.test(
    text,
  );
}

/** The hub's refusals, in words that say what to do. */
function explain(err: unknown, repo: string, revision: string, s: HubSettings): Error {
  if (err instanceof TypeError && /must start with 'hf_'/.test(err.message)) {
    return new Error(`HF_TOKEN is not a Hugging Face access token (they start with "hf_")`, { cause: err });
  }
  if (!(err instanceof HubApiError)) return err instanceof Error ? err : new Error(String(err));
  const where = `${repo}@${revision} on ${s.endpoint}`;
  if (err.statusCode === 401 || err.statusCode === 403) {
    const token = s.token
      ? 'the token in HF_TOKEN was refused or lacks access (gated models: accept the licence on the model page first)'
      : 'no token was sent: set HF_TOKEN to an access token with read permission (https://huggingface.co/settings/tokens)';
    return new Error(
      `${where}: access denied (HTTP ${err.statusCode}); the repository is private or gated, and ${token}`,
      { cause: err },
    );
  }
  if (err.statusCode === 404) {
    return new Error(
      `${where}: not found (HTTP 404): check the model id and revision (private repositories also answer 404 without HF_TOKEN)`,
      { cause: err },
    );
  }
  return new Error(`${where}: the hub answered HTTP ${err.statusCode}: ${err.message}`, { cause: err });
}
