import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import type { Sample, SampleSource, SourceContext } from '../types.js';
import { cleanCaption, requireFile } from './files.js';
import { epochOrder } from './folder.js';

export type ManifestFormat = 'jsonl' | 'csv' | 'tsv';

/** One manifest row after validation. `image` is resolved against the manifest's directory. */
export interface ManifestRow {
  image: string;
  caption: string;
  label?: number;
  /** 1-based line in the manifest, for messages. */
  line: number;
}

/** Column names accepted for each field (open_clip's CSV convention uses `filepath` and `title`). */
const IMAGE_KEYS = ['image', 'filepath'];
const CAPTION_KEYS = ['caption', 'title', 'text'];

export function manifestFormat(file: string, format?: ManifestFormat): ManifestFormat {
  if (format) return format;
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  throw new Error(
    `manifest '${file}': cannot tell the format from the extension '${ext}' (expected .jsonl, .csv or .tsv, or set format)`,
  );
}

function pick(row: Record<string, unknown>, keys: string[]): unknown {
  for (const k of keys) if (row[k] !== undefined && row[k] !== null) return row[k];
  return undefined;
}

/** Validate one raw row: throws naming the file and line for a missing image or a bad label. */
function toRow(raw: unknown, file: string, line: number, dir: string): ManifestRow {
  const at = `manifest '${file}' line ${line}`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(`${at}: expected an object {image, caption[, label]}`);
  const row = raw as Record<string, unknown>;
  const image = pick(row, IMAGE_KEYS);
  if (typeof image !== 'string' || image.trim() === '') {
    throw new Error(
      `${at}: no 'image' path (expected fields image, caption[, label]; got ${Object.keys(row).join(', ') || 'none'})`,
    );
  }
  const cap = pick(row, CAPTION_KEYS);
  const out: ManifestRow = {
    image: path.resolve(dir, image.trim()),
    caption: typeof cap === 'string' ? cleanCaption(cap) : '',
    line,
  };
  const label = row.label;
  if (label !== undefined && label !== null && label !== '') {
    const n = typeof label === 'number' ? label : Number(label);
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`${at}: label '${String(label)}' is not a non-negative integer`);
    out.label = n;
  }
  return out;
}

/** Parse and validate a manifest's text. Exposed for tests and for tools that inspect manifests. */
export function parseManifest(text: string, file: string, format: ManifestFormat): ManifestRow[] {
  const dir = path.dirname(path.resolve(file));
  const rows: ManifestRow[] = [];
  if (format === 'jsonl') {
    const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
    for (const [i, line] of lines.entries()) {
      if (line.trim() === '') continue;
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch (e) {
        throw new Error(`manifest '${file}' line ${i + 1}: invalid JSON (${(e as Error).message})`);
      }
      rows.push(toRow(raw, file, i + 1, dir));
    }
  } else {
    let records: { info: { lines: number }; record: Record<string, string> }[];
    try {
      records = parse(text, {
        columns: true,
        bom: true,
        skip_empty_lines: true,
        info: true,
        delimiter: format === 'tsv' ? '\t' : ',',
        // TSV exports (CC3M, img2dataset) do not quote; a stray `"` in a caption is text.
        quote: format === 'tsv' ? false : '"',
      }) as unknown as { info: { lines: number }; record: Record<string, string> }[];
    } catch (e) {
      throw new Error(`manifest '${file}': invalid ${format.toUpperCase()} (${(e as Error).message})`);
    }
    for (const { info, record } of records) rows.push(toRow(record, file, info.lines, dir));
  }
  if (rows.length === 0)
    throw new Error(
      `manifest '${file}' has no rows (expected ${format === 'jsonl' ? 'one {image, caption} object per line' : 'a header line image,caption[,label] and rows'})`,
    );
  return rows;
}

/**
 * A JSONL / CSV / TSV manifest of `{image, caption[, label]}` rows; image paths are relative to the
 * manifest's directory. The whole manifest is validated when opened. Keys are `<manifest>:<line>`.
 */
export async function manifestSource(file: string, format?: ManifestFormat): Promise<SampleSource> {
  const abs = path.resolve(file);
  const fmt = manifestFormat(abs, format);
  await requireFile(abs, 'manifest source');
  const rows = parseManifest(await readFile(abs, 'utf8'), abs, fmt);
  const base = path.basename(abs);
  return {
    name: `manifest:${abs}`,
    size: rows.length,
    async *samples(ctx: SourceContext): AsyncGenerator<Sample> {
      for (const row of epochOrder(rows, ctx)) {
        ctx.seen();
        const key = `${base}:${row.line}`;
        if (row.caption === '') {
          ctx.skip({ key, reason: 'missingCaption', source: abs, detail: `line ${row.line} has no caption` });
          continue;
        }
        const sample: Sample = {
          key,
          caption: row.caption,
          source: row.image,
          image: () => readFile(row.image),
        };
        if (row.label !== undefined) sample.label = row.label;
        yield sample;
      }
    },
  };
}
