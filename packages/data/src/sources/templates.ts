import { readFile } from 'node:fs/promises';
import type { Rng } from '@qlip/core';

/** Default prompt for class-folder datasets; `{c}` (or CLIP's `{}`) is replaced by the class name. */
export const DEFAULT_CLASS_TEMPLATES = ['a photo of a {c}.'];

/** Fill one template with a class name. */
export function fillTemplate(template: string, name: string): string {
  return template.replace(/\{c\}|\{\}/g, name);
}

/** Check that every template has a placeholder; throw naming `where` otherwise. */
export function checkTemplates(templates: string[], where: string): string[] {
  if (templates.length === 0)
    throw new Error(`${where}: no prompt templates (expected at least one, e.g. "a photo of a {c}.")`);
  for (const t of templates) {
    if (!/\{c\}|\{\}/.test(t))
      throw new Error(`${where}: template "${t}" has no {c} placeholder for the class name`);
  }
  return templates;
}

/** Templates from a text file, one per line; blank lines and lines starting with `#` are ignored. */
export async function readTemplateFile(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch((e: Error) => {
    throw new Error(`template file '${file}' could not be read: ${e.message}`);
  });
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  return checkTemplates(lines, `template file '${file}'`);
}

/** A caption for `name`: a random template when shuffling (training), else the first (evaluation). */
export function captionFor(templates: string[], name: string, rng: Rng | null): string {
  const t = rng === null || templates.length === 1 ? templates[0]! : templates[rng.int(templates.length)]!;
  return fillTemplate(t, name);
}
