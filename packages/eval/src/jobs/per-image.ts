import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '@qlip/core';
import type { SkipEvent } from '@qlip/data';

/** One image's metrics: the sample key first, then numbers, labels, flags. */
export type PerImageRow = Record<string, string | number | boolean>;

/**
 * An input that could not be read, named and shaped as `qlip tokenize` names it (`failed: [{path, reason}]`):
 * `path` is the sample key (a path relative to the data folder, a manifest line, a shard key), `reason`
 * says what was wrong, `kind` is the data pipeline's skip reason (`corrupt`, `missingCaption`...).
 */
export interface FailedInput {
  path: string;
  reason: string;
  kind: string;
}

/** Skip events of the data pipeline as `FailedInput`s. */
export function failedInputs(events: readonly SkipEvent[]): FailedInput[] {
  return events.map((e) => ({ path: e.key, reason: e.detail, kind: e.reason }));
}

/** The pre-`failed` field of eval results: same events, old shape. Deprecated. */
export function legacySkipped(
  events: readonly SkipEvent[],
): { key: string; reason: string; detail: string }[] {
  return events.map((e) => ({ key: e.key, reason: e.reason, detail: e.detail }));
}

/** RFC 4180 field: quoted when it holds a comma, quote or line break. */
function csvField(v: string | number | boolean): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Write per-image metrics to `file`: `.csv` (header row, RFC 4180 quoting) or `.jsonl` (one object per
 * line). Written to a temporary file and renamed, so a crash never leaves half a file. Returns the path.
 */
export async function writePerImage(file: string, rows: readonly PerImageRow[]): Promise<string> {
  checkPerImagePath(file);
  let text: string;
  if (path.extname(file).toLowerCase() === '.jsonl')
    text = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  else {
    const cols = rows.length ? Object.keys(rows[0]!) : ['key'];
    text = [cols.join(','), ...rows.map((r) => cols.map((c) => csvField(r[c] ?? '')).join(','))].join('\n');
    text += '\n';
  }
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFileAtomic(file, [text]);
  return file;
}

/** Check the `--per-image` name before any work, so a typo does not cost a whole evaluation. */
export function checkPerImagePath(file: string | undefined): void {
  if (file === undefined) return;
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.csv' && ext !== '.jsonl')
    throw new Error(
      `--per-image ${file}: expected a .csv or .jsonl file name (the format follows the extension)`,
    );
}
