import { readFileSync } from 'node:fs';
import type { z } from 'zod';

/** One layer of configuration and where it came from (for error messages). */
export interface ConfigLayer {
  /** "preset tiny-mnist", a file path, or "command-line flags". */
  source: string;
  values: Record<string, unknown>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: later layers win; objects merge key by key, arrays and scalars are replaced; undefined is ignored. */
export function deepMerge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

/** Read a JSON config file; errors name the file and the fault. */
export function readJsonConfig(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(
      `${path}: cannot read config file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(value)) throw new Error(`${path}: expected a JSON object at the top level`);
  return value;
}

/**
 * Merge layers in order (e.g. preset < file < flags) and validate with a zod schema.
 * On failure, the error lists each invalid key with the layer that last set it.
 */
export function resolveConfig<S extends z.ZodType>(schema: S, layers: ConfigLayer[]): z.infer<S> {
  let merged: Record<string, unknown> = {};
  for (const layer of layers) merged = deepMerge(merged, layer.values);
  const parsed = schema.safeParse(merged);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String);
    const from = [...layers].reverse().find((l) => hasPath(l.values, path))?.source ?? 'defaults';
    return `  ${path.join('.') || '(root)'}: ${issue.message} (from ${from})`;
  });
  throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
}

function hasPath(obj: Record<string, unknown>, path: string[]): boolean {
  let cur: unknown = obj;
  for (const key of path) {
    if (!isPlainObject(cur) || !(key in cur)) return false;
    cur = cur[key];
  }
  return true;
}
