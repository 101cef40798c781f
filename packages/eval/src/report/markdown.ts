import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Escape text for a Markdown table cell (pipes and line breaks would break the row). */
function cell(v: string | number): string {
  const s = typeof v === 'number' ? formatNumber(v) : v;
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Numbers as reports show them: integers as is, others with 4 significant decimals, NaN as "n/a". */
export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'n/a';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1000
    ? v.toFixed(1)
    : v
        .toPrecision(4)
        .replace(/(\.\d*?)0+$/, '$1')
        .replace(/\.$/, '');
}

/** A GitHub-flavoured Markdown table. Numeric columns are right-aligned when every cell is a number. */
export function markdownTable(headers: string[], rows: (string | number)[][]): string {
  for (const [i, r] of rows.entries()) {
    if (r.length !== headers.length)
      throw new Error(`markdownTable: row ${i} has ${r.length} cells, expected ${headers.length}`);
  }
  const numeric = headers.map((_, j) => rows.length > 0 && rows.every((r) => typeof r[j] === 'number'));
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    line(headers.map(cell)),
    line(numeric.map((n) => (n ? '---:' : '---'))),
    ...rows.map((r) => line(r.map(cell))),
  ].join('\n');
}

/** What an evaluation report holds; every part is optional except the title. */
export interface EvalReport {
  title: string;
  /** Free-form facts (model, checkpoint, dataset, backend, date) shown as a two-column table. */
  meta?: Record<string, string | number>;
  /** Headline metrics (PSNR, SSIM, rFID, top-1, ...) shown as a two-column table. */
  metrics?: Record<string, string | number>;
  /** Per-class zero-shot accuracy; rows are sorted from worst to best. */
  perClass?: { names: string[]; accuracy: ArrayLike<number>; counts: ArrayLike<number> };
  /** Extra tables, each with a heading. */
  tables?: { heading: string; headers: string[]; rows: (string | number)[][] }[];
  /** Image files to embed, paths relative to the report. */
  images?: { caption: string; path: string }[];
  notes?: string[];
}

/** Render a report as Markdown text. */
export function renderMarkdownReport(r: EvalReport): string {
  const out: string[] = [`# ${r.title}`, ''];
  const kv = (heading: string, rec: Record<string, string | number>) => {
    out.push(
      `## ${heading}`,
      '',
      markdownTable(
        ['', 'value'],
        Object.entries(rec).map(([k, v]) => [k, v]),
      ),
      '',
    );
  };
  if (r.meta && Object.keys(r.meta).length > 0) kv('Setup', r.meta);
  if (r.metrics && Object.keys(r.metrics).length > 0) kv('Metrics', r.metrics);
  if (r.perClass) {
    const { names, accuracy, counts } = r.perClass;
    if (accuracy.length !== names.length || counts.length !== names.length) {
      throw new Error(
        `renderMarkdownReport: perClass has ${names.length} names, ${accuracy.length} accuracies and ${counts.length} counts`,
      );
    }
    const order = names.map((_, i) => i).sort((a, b) => (accuracy[a] || 0) - (accuracy[b] || 0) || a - b);
    out.push(
      '## Per-class accuracy',
      '',
      markdownTable(
        ['class', 'accuracy', 'images'],
        order.map((i) => [names[i], accuracy[i], counts[i]]),
      ),
      '',
    );
  }
  for (const t of r.tables ?? []) out.push(`## ${t.heading}`, '', markdownTable(t.headers, t.rows), '');
  for (const im of r.images ?? []) out.push(`![${im.caption}](${encodeURI(im.path)})`, '');
  if (r.notes && r.notes.length > 0) out.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  return `${out.join('\n').trimEnd()}\n`;
}

/** Render and write a report, creating the folder if needed. */
export async function writeMarkdownReport(path: string, r: EvalReport): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, renderMarkdownReport(r));
}
