import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';

/** What qlip reads from a model card's YAML front matter (README.md of a Hugging Face repository). */
export interface ModelCard {
  /** SPDX-like id, e.g. `cc-by-nc-4.0`, `apache-2.0`, or `other`. */
  license?: string;
  /** For `license: other`: its name and link. */
  licenseName?: string;
  licenseLink?: string;
  /** Training data the card names (`datasets:`). */
  datasets?: string[];
  baseModel?: string;
}

function strings(v: unknown): string[] | undefined {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return undefined;
}

/** Parse a model card's front matter (`---\n yaml \n---`); null when it has none or it is not valid YAML. */
export function parseModelCard(markdown: string): ModelCard | null {
  const m = /^---\r?\n([\s\S]*?)\r?\n---\s*(\r?\n|$)/.exec(markdown);
  if (!m) return null;
  let meta: unknown;
  try {
    meta = parse(m[1]!, { uniqueKeys: false }); // hand-edited cards repeat keys; the last one wins
  } catch {
    return null;
  }
  if (!meta || typeof meta !== 'object') return null;
  const o = meta as Record<string, unknown>;
  const card: ModelCard = {};
  const license = strings(o.license)?.[0];
  if (license) card.license = license;
  if (typeof o.license_name === 'string') card.licenseName = o.license_name;
  if (typeof o.license_link === 'string') card.licenseLink = o.license_link;
  const datasets = strings(o.datasets);
  if (datasets?.length) card.datasets = datasets;
  const base = strings(o.base_model)?.[0];
  if (base) card.baseModel = base;
  return card;
}

/** The card in `dir/README.md`, or null when there is none. */
export async function readModelCard(dir: string): Promise<ModelCard | null> {
  let text: string;
  try {
    text = await readFile(join(dir, 'README.md'), 'utf8');
  } catch {
    return null;
  }
  return parseModelCard(text);
}

/** One line stating a model's licence, stressing non-commercial terms; null when the card states none. */
export function licenseNotice(name: string, card: ModelCard | null): string | null {
  if (!card?.license) return null;
  const id = card.license === 'other' && card.licenseName ? card.licenseName : card.license;
  const link = card.licenseLink ? ` (${card.licenseLink})` : '';
  const nc = /(^|-)nc(-|$)|non-?commercial/i.test(id)
    ? ': NON-COMMERCIAL use only (research and evaluation; no commercial products or services)'
    : '';
  return `licence of ${name}: ${id}${link}${nc}. Read the model card (README.md) before using its weights.`;
}
