import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { decodeImage } from '@qlip/core';
import type { Sample, SampleSource, SourceContext } from '../types.js';
import { compareCodeUnits } from './files.js';
import { epochOrder } from './folder.js';
import { captionFor, checkTemplates } from './templates.js';

export const EMOJI_TEMPLATES = ['an emoji of {c}.'];

interface EmojiRecord {
  name?: string | null;
  short_name?: string;
  image?: string;
  category?: string;
  has_img_google?: boolean;
  sort_order?: number;
}

export interface EmojiEntry {
  /** Lower-cased Unicode name, e.g. "grinning face". */
  name: string;
  category: string;
  file: string;
}

/** Root of the `emoji-datasource-google` package. */
export function emojiPackageDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('emoji-datasource-google/package.json'));
}

/** Base emoji with a Google 64x64 PNG (skin-tone variations are not included), in `sort_order`. */
export async function loadEmojiEntries(): Promise<{ entries: EmojiEntry[]; categories: string[] }> {
  const root = emojiPackageDir();
  const metaFile = path.join(root, 'emoji.json');
  const records = JSON.parse(await readFile(metaFile, 'utf8')) as EmojiRecord[];
  if (!Array.isArray(records))
    throw new Error(`emoji built-in: '${metaFile}' is not an array of emoji records`);
  const usable = records
    .filter((r) => r.has_img_google && typeof r.image === 'string' && typeof r.category === 'string')
    .sort((a, b) => (a.sort_order ?? 0) - (b.sort_order ?? 0));
  const entries = usable.map((r) => ({
    name: (r.name ?? r.short_name ?? '').toLowerCase().replace(/_/g, ' '),
    category: r.category!,
    file: path.join(root, 'img', 'google', '64', r.image!),
  }));
  const categories = [...new Set(entries.map((e) => e.category))].sort(compareCodeUnits);
  return { entries, categories };
}

export interface EmojiOptions {
  limit?: number;
  templates?: string[];
}

/**
 * Google's emoji set from `emoji-datasource-google`: 64x64 PNGs (transparency composited onto white by
 * decoding), caption = template filled with the lower-cased name ("an emoji of grinning face."),
 * label = index of the emoji's `category` among the sorted categories, className = the category.
 */
export async function emojiSource(options: EmojiOptions = {}): Promise<SampleSource> {
  const templates = checkTemplates(options.templates ?? EMOJI_TEMPLATES, 'emoji built-in');
  const { entries, categories } = await loadEmojiEntries();
  const used = entries.slice(0, options.limit ?? entries.length);
  return {
    name: 'builtin:emoji',
    size: used.length,
    async *samples(ctx: SourceContext): AsyncGenerator<Sample> {
      for (const e of epochOrder(used, ctx)) {
        ctx.seen();
        yield {
          key: `emoji/${path.basename(e.file, '.png')}`,
          caption: captionFor(templates, e.name, ctx.rng),
          label: categories.indexOf(e.category),
          className: e.category,
          source: e.file,
          // Decoded here rather than by the pipeline: emoji need white behind their transparency, while the
          // pipeline's default (like the reference preprocessing) drops alpha.
          image: () => decodeImage(e.file, { alpha: 'white' }),
        };
      }
    },
  };
}
