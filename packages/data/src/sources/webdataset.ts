import { createReadStream } from 'node:fs';
import path from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { DEFAULT_MAX_FILE_BYTES } from '@qlip/core';
import braces from 'braces';
import tar from 'tar-stream';
import type { Sample, SampleSource, SourceContext } from '../types.js';
import { cleanCaption, isImageExtension, isSafeRelativePath, requireFile } from './files.js';
import { epochOrder } from './folder.js';

/**
 * Shard paths from a list and/or brace patterns (`shard-{00000..00009}.tar`, zero padding kept),
 * resolved against `baseDir`. Order is as written.
 */
export function expandShards(patterns: string | string[], baseDir = process.cwd()): string[] {
  const list = Array.isArray(patterns) ? patterns : [patterns];
  const out: string[] = [];
  for (const p of list)
    for (const s of braces.expand(p)) out.push(isShardUrl(s) ? s : path.resolve(baseDir, s));
  return out;
}

/** Whether a shard location is an `http://` or `https://` URL rather than a local path. */
export const isShardUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** How {@link readShard} treats captions and unreadable shards. */
export interface ReadShardOptions {
  /**
   * Throw when the shard cannot be read to its end (truncated, dropped connection, HTTP error) instead of
   * reporting it as `corrupt` and ending early: a job that must retry the whole shard needs the error.
   */
  strict?: boolean;
  /** Yield samples that have no caption (caption `''`) instead of skipping them (tokenizing needs none). */
  captionOptional?: boolean;
}

/** A shard's bytes as a stream: a local file, or an http(s) URL (an error status names the URL). */
async function openShard(shard: string): Promise<Readable> {
  if (!isShardUrl(shard)) return createReadStream(shard);
  const res = await fetch(shard);
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
  return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
}

/** WebDataset's key/extension split: the key is everything before the first `.` of the base name. */
export function splitEntryName(name: string): { key: string; ext: string } | null {
  const m = /^((?:.*\/|)[^./][^.]*)\.([^/]*)$/.exec(name);
  return m ? { key: m[1]!, ext: m[2]!.toLowerCase() } : null;
}

interface Group {
  key: string;
  files: Map<string, Buffer>;
}

/** Turn one key's files into a sample, or report why not. */
function groupToSample(g: Group, shard: string, ctx: SourceContext, o: ReadShardOptions): Sample | null {
  ctx.seen();
  const skip = (reason: 'missingImage' | 'missingCaption' | 'badEntry', detail: string) => {
    ctx.skip({ key: g.key, reason, source: shard, detail });
    return null;
  };
  let imageExt: string | undefined;
  for (const ext of g.files.keys()) if (isImageExtension(ext)) imageExt = imageExt ?? ext;
  if (imageExt === undefined)
    return skip('missingImage', `no image among .${[...g.files.keys()].join(', .')}`);
  let caption = '';
  let label: number | undefined;
  const txt = g.files.get('txt');
  if (txt) caption = cleanCaption(txt.toString('utf8'));
  const json = g.files.get('json');
  if (json) {
    let meta: unknown;
    try {
      meta = JSON.parse(json.toString('utf8'));
    } catch (e) {
      if (caption === '' && !o.captionOptional)
        return skip('badEntry', `invalid ${g.key}.json: ${(e as Error).message}`);
    }
    if (meta && typeof meta === 'object') {
      const m = meta as Record<string, unknown>;
      if (caption === '' && typeof m.caption === 'string') caption = cleanCaption(m.caption);
      if (Number.isInteger(m.label)) label = m.label as number;
    }
  }
  const cls = g.files.get('cls');
  if (cls) {
    const n = Number(cls.toString('utf8').trim());
    if (Number.isInteger(n)) label = n;
  }
  if (caption === '' && !o.captionOptional)
    return skip('missingCaption', 'no .txt and no "caption" in .json');
  const bytes = g.files.get(imageExt)!;
  const sample: Sample = { key: g.key, caption, source: shard, image: async () => bytes };
  if (label !== undefined) sample.label = label;
  return sample;
}

/** Largest archive member read into memory; larger ones are skipped (`tooLarge`) without being buffered. */
const MAX_MEMBER_BYTES = DEFAULT_MAX_FILE_BYTES;

/** An archive member's key and extension, or why it is skipped unread (unsafe name, a link, no extension). */
function memberKey(
  name: string,
  type: string | null | undefined,
):
  | { parts: { key: string; ext: string } }
  | { fault: { reason: 'unsafePath' | 'badEntry'; detail: string } } {
  const isFile = type === 'file' || type === 'contiguous-file';
  if (!isSafeRelativePath(name) || !isFile) {
    const detail = isFile ? 'entry name escapes the archive root' : `${type} entries are not followed`;
    return { fault: { reason: 'unsafePath', detail } };
  }
  const parts = splitEntryName(name.replace(/\\/g, '/'));
  if (parts === null)
    return { fault: { reason: 'badEntry', detail: 'entry name has no extension (expected <key>.<ext>)' } };
  return { parts };
}

/** A complete tar ends with two zero blocks (`tail`: its last 1024 bytes); a cut one is reported or thrown. */
function checkEndMarker(
  tail: Buffer,
  samples: number,
  shard: string,
  ctx: SourceContext,
  options: ReadShardOptions,
): void {
  if (tail.length === 1024 && tail.every((b) => b === 0)) return;
  if (options.strict)
    throw new Error(
      `${shard}: archive ends without its end-of-archive marker (cut short?) after ${samples} member(s)`,
    );
  ctx.skip({
    key: path.basename(shard),
    reason: 'truncated',
    source: shard,
    detail: `archive ends without its end-of-archive marker (cut short?): ${samples} member(s) read before the end`,
  });
}

/** A shard that cannot be read: a `corrupt` report, or with `strict` an error naming the shard. */
function reportUnreadable(err: Error, shard: string, ctx: SourceContext, options: ReadShardOptions): void {
  if (options.strict)
    throw err.message.startsWith(`${shard}: `)
      ? err
      : new Error(`${shard}: shard unreadable: ${err.message}`, { cause: err });
  ctx.skip({
    key: path.basename(shard),
    reason: 'corrupt',
    source: shard,
    detail: `shard unreadable: ${err.message}`,
  });
}

/**
 * Read one shard as a stream of samples. Entries are grouped by key while streaming (WebDataset keeps a
 * sample's files adjacent). Entry names that are absolute or contain `..`, and link entries, are
 * rejected and reported as `unsafePath`; nothing is ever written to disk. A member over the byte cap is
 * skipped (`tooLarge`) without being read into memory. A corrupt shard ends early with a `corrupt` report,
 * one that ends without the end-of-archive marker gets a `truncated` report; never an exception, unless
 * `options.strict` asks for it (a job that must retry the whole shard needs the error).
 */
export async function* readShard(
  shard: string,
  ctx: SourceContext,
  options: ReadShardOptions = {},
): AsyncGenerator<Sample> {
  const extract = tar.extract();
  let input: Readable | undefined;
  let streamError: Error | null = null;
  let group: Group | null = null;
  // The last 1024 bytes read: a complete tar ends with two zero blocks, a cut one does not.
  let tail = Buffer.alloc(0);
  let samples = 0;
  try {
    input = await openShard(shard);
    input.on('data', (chunk: Buffer) => {
      tail = Buffer.concat([tail, chunk]).subarray(-1024);
    });
    pipeline(input, extract, (err) => {
      if (err) streamError = err;
    });
    for await (const entry of extract) {
      const { name, type } = entry.header;
      if (type === 'directory') {
        entry.resume();
        continue;
      }
      const member = memberKey(name, type);
      if ('fault' in member) {
        entry.resume();
        ctx.seen();
        ctx.skip({ key: name, source: shard, ...member.fault });
        continue;
      }
      const { parts } = member;
      if (group !== null && group.key !== parts.key) {
        const s = groupToSample(group, shard, ctx, options);
        group = null;
        if (s) yield s;
      }
      if (entry.header.size !== undefined && entry.header.size > MAX_MEMBER_BYTES) {
        // Never buffered: drained without keeping a byte (a sparse tar can announce gigabytes).
        entry.resume();
        ctx.seen();
        ctx.skip({
          key: name,
          reason: 'tooLarge',
          source: shard,
          detail: `member is ${entry.header.size} bytes, over the limit of ${MAX_MEMBER_BYTES} bytes per file`,
        });
        continue;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      samples++;
      group ??= { key: parts.key, files: new Map() };
      group.files.set(parts.ext, Buffer.concat(chunks));
    }
    if (group !== null) {
      const s = groupToSample(group, shard, ctx, options);
      group = null;
      if (s) yield s;
    }
    if (streamError === null) checkEndMarker(tail, samples, shard, ctx, options);
  } catch (e) {
    reportUnreadable(streamError ?? (e as Error), shard, ctx, options);
  } finally {
    input?.destroy();
    extract.destroy();
  }
}

/**
 * WebDataset `.tar` shards as img2dataset writes them: `key.jpg` + `key.txt` and/or `key.json` ({caption}).
 * Shards are local paths or http(s) URLs (streamed, never saved).
 */
export async function webDatasetSource(shards: string | string[], baseDir?: string): Promise<SampleSource> {
  const files = expandShards(shards, baseDir);
  if (files.length === 0)
    throw new Error('webdataset source: no shards given (expected a list of .tar files or a brace pattern)');
  for (const f of files) if (!isShardUrl(f)) await requireFile(f, 'webdataset shard');
  return {
    name:
      files.length === 1 ? `webdataset:${files[0]}` : `webdataset:${files[0]} (+${files.length - 1} shards)`,
    async *samples(ctx: SourceContext): AsyncGenerator<Sample> {
      for (const shard of epochOrder(files, ctx)) yield* readShard(shard, ctx);
    },
  };
}
