import { stat } from 'node:fs/promises';
import path from 'node:path';
import { imageExtensions } from '@qlip/core';

/** Whether an extension (`jpg`, `.png`, any case) is one `@qlip/core` decodes (its `imageExtensions()`). */
export function isImageExtension(ext: string): boolean {
  const dotted = ext.startsWith('.') ? ext.toLowerCase() : `.${ext.toLowerCase()}`;
  return imageExtensions().includes(dotted);
}

/** Throw a message naming `dir` and `what` it should hold unless it is an existing directory. */
export async function requireDir(dir: string, what: string): Promise<void> {
  const st = await stat(dir).catch(() => null);
  if (st === null) throw new Error(`${what}: directory '${dir}' does not exist`);
  if (!st.isDirectory()) throw new Error(`${what}: '${dir}' is not a directory`);
}

/** Throw a message naming `file` and `what` it should be unless it is an existing file. */
export async function requireFile(file: string, what: string): Promise<void> {
  const st = await stat(file).catch(() => null);
  if (st === null) throw new Error(`${what}: file '${file}' does not exist`);
  if (!st.isFile()) throw new Error(`${what}: '${file}' is not a file`);
}

export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Whether a relative archive or manifest path stays inside its root: not absolute (POSIX or Windows
 * drive/UNC), no `..` segment, no NUL. Backslashes count as separators.
 */
export function isSafeRelativePath(p: string): boolean {
  if (p.length === 0 || p.includes('\0')) return false;
  const norm = p.replace(/\\/g, '/');
  if (norm.startsWith('/') || /^[a-zA-Z]:/.test(norm)) return false;
  return !norm.split('/').includes('..');
}

/** Caption text from a file's contents: trimmed; empty means missing. */
export function cleanCaption(text: string): string {
  return text.replace(/^\uFEFF/, '').trim();
}

/** Readable caption from a file name: `red_fox-01.jpg` -> `red fox 01`. */
export function captionFromFilename(rel: string): string {
  const base = path.posix.basename(rel, path.posix.extname(rel));
  return base.replace(/[_-]+/g, ' ').trim();
}
