import { readFileSync } from 'node:fs';
import { closest, distance } from 'fastest-levenshtein';
import type { z } from 'zod';

/** One layer of configuration and where it came from (for error messages and `--print-config`). */
export interface ConfigLayer {
  /** "preset tiny-mnist", a file path, "flag --steps", ... */
  source: string;
  values: Record<string, unknown>;
}

/** Where each leaf of a resolved config came from: dotted path -> layer source, or `default`. */
export type ConfigOrigins = Record<string, string>;

/** A resolved config and the origin of every leaf value in it. */
export interface ResolvedConfig<T> {
  config: T;
  origins: ConfigOrigins;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------------
// Walking a zod schema alongside the values (zod 4 keeps each schema's definition in `_zod.def`).

type AnySchema = { _zod: { def: Record<string, unknown> & { type: string } } };

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/** The schema under wrappers (optional, default, pipe input, lazy...). */
function unwrap(schema: unknown): AnySchema | undefined {
  let s = schema as AnySchema | undefined;
  for (let i = 0; s?._zod && i < 32; i++) {
    const def = s._zod.def;
    if (WRAPPERS.has(def.type)) s = def.innerType as AnySchema;
    else if (def.type === 'pipe') s = def.in as AnySchema;
    else if (def.type === 'lazy') s = (def.getter as () => AnySchema)();
    else return s;
  }
  return s?._zod ? s : undefined;
}

/** The discriminator key when `schema` is a discriminated union. */
function discriminatorOf(schema: unknown): string | undefined {
  const s = unwrap(schema);
  return s?._zod.def.type === 'union' ? (s._zod.def.discriminator as string | undefined) : undefined;
}

/** Literal values a union option accepts for its discriminator. */
function optionMatches(option: AnySchema, key: string, value: unknown): boolean {
  const field = unwrap((unwrap(option)?._zod.def.shape as Record<string, unknown> | undefined)?.[key]);
  const values = field?._zod.def.values as unknown[] | undefined;
  return Array.isArray(values) && values.includes(value);
}

/** The schema of `key` inside an object described by `schema` whose current value is `value`. */
function childSchema(schema: unknown, key: string, value?: unknown): AnySchema | undefined {
  const s = unwrap(schema);
  if (!s) return undefined;
  const def = s._zod.def;
  switch (def.type) {
    case 'object': {
      const shape = def.shape as Record<string, AnySchema>;
      if (key in shape) return shape[key];
      const rest = unwrap(def.catchall);
      return rest && rest._zod.def.type !== 'never' ? rest : undefined;
    }
    case 'record':
      return def.valueType as AnySchema;
    case 'intersection':
      return childSchema(def.left, key, value) ?? childSchema(def.right, key, value);
    case 'union': {
      const options = def.options as AnySchema[];
      const disc = def.discriminator as string | undefined;
      if (disc && isPlainObject(value)) {
        const match = options.find((o) => optionMatches(o, disc, value[disc]));
        if (match) return childSchema(match, key, value);
      }
      for (const o of options) {
        const c = childSchema(o, key, value);
        if (c) return c;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** Keys an object schema knows at `path` (for "did you mean"). */
function knownKeys(schema: unknown, path: readonly string[], values: unknown): string[] {
  let s: unknown = schema;
  let v = values;
  for (const key of path) {
    s = childSchema(s, key, v);
    v = isPlainObject(v) ? v[key] : undefined;
  }
  let u = unwrap(s);
  if (u?._zod.def.type === 'union' && isPlainObject(v)) {
    const disc = u._zod.def.discriminator as string | undefined;
    const options = u._zod.def.options as AnySchema[];
    u = unwrap(
      disc ? options.find((o) => optionMatches(o, disc, (v as Record<string, unknown>)[disc])) : undefined,
    );
  }
  return u?._zod.def.type === 'object' ? Object.keys(u._zod.def.shape as object) : [];
}

// ---------------------------------------------------------------------------------------------------
// Merging

/** Origins while merging: dotted path -> index of the layer that set it. */
type OriginIndex = Map<string, number>;

function recordLeaves(origins: OriginIndex, path: string[], value: unknown, layer: number): void {
  if (isPlainObject(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value))
      if (v !== undefined) recordLeaves(origins, [...path, k], v, layer);
  } else origins.set(path.join('.'), layer);
}

function forgetSubtree(origins: OriginIndex, path: string[]): void {
  const p = path.join('.');
  for (const k of [...origins.keys()]) if (k === p || k.startsWith(`${p}.`)) origins.delete(k);
}

function mergeInto(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
  schema: unknown,
  path: string[],
  origins: OriginIndex | undefined,
  layer: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const sub = childSchema(schema, k, out);
    const at = [...path, k];
    // A layer that sets a discriminated union's tag switches the whole branch: the old branch's other
    // keys (a preset's `data.source.name` under a new `kind: "folder"`) would not belong to the new one.
    const disc = discriminatorOf(sub);
    const switches = disc !== undefined && isPlainObject(v) && v[disc] !== undefined;
    if (isPlainObject(v) && isPlainObject(out[k]) && !switches) {
      out[k] = mergeInto(out[k] as Record<string, unknown>, v, sub, at, origins, layer);
    } else {
      out[k] = v;
      if (origins) {
        forgetSubtree(origins, at);
        recordLeaves(origins, at, v, layer);
      }
    }
  }
  return out;
}

/**
 * Deep merge: later wins; objects merge key by key, arrays and scalars are replaced, undefined is ignored.
 * With a zod `schema`, an object value that sets the discriminator of a discriminated union replaces the
 * whole union value instead of merging into it (a union switches as a whole).
 */
export function deepMerge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
  schema?: z.ZodType,
): Record<string, unknown> {
  return mergeInto(base, over, schema, [], undefined, 0);
}

/** Merge layers in order (schema-aware, see `deepMerge`), remembering which layer set each leaf. */
function mergeLayers(
  schema: z.ZodType,
  layers: ConfigLayer[],
): { merged: Record<string, unknown>; origins: OriginIndex } {
  const origins: OriginIndex = new Map();
  let merged: Record<string, unknown> = {};
  layers.forEach((l, i) => {
    merged = mergeInto(merged, l.values, schema, [], origins, i);
  });
  return { merged, origins };
}

// ---------------------------------------------------------------------------------------------------
// Suggestions

/**
 * The candidate closest to `word` when it is a plausible misspelling: at most 2 edits (or a third of the
 * longer word), and fewer edits than the shorter word has letters (`ouput` -> `out`, not `zebra` -> `train`);
 * else the one candidate it is the start of (`warmup` -> `warmupSteps`).
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0 || word === '') return undefined;
  const w = word.toLowerCase();
  const best = closest(
    w,
    candidates.map((c) => c.toLowerCase()),
  );
  const d = distance(w, best);
  const limit = Math.max(2, Math.floor(Math.max(w.length, best.length) / 3));
  if (d <= limit && d < Math.min(w.length, best.length))
    return candidates.find((c) => c.toLowerCase() === best);
  // A shortened name (`warmup` for `warmupSteps`), when only one candidate starts with it.
  const starts = w.length >= 3 ? candidates.filter((c) => c.toLowerCase().startsWith(w)) : [];
  return starts.length === 1 ? starts[0] : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Resolution

/** Read a JSON config file; errors name the file and the fault. A top-level `$schema` (editor hint) is dropped. */
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
  const { $schema: _hint, ...rest } = value;
  return rest;
}

/** The layer that set `path`, a key below it, or (for a missing key) the nearest object around it. */
function originOf(origins: OriginIndex, path: string[]): number | undefined {
  // Not up to the root: a key missing at the top level was set by no layer.
  for (let n = path.length; n >= 1; n--) {
    const p = path.slice(0, n).join('.');
    let found: number | undefined;
    for (const [k, i] of origins) if (k === p || k.startsWith(`${p}.`)) found = Math.max(found ?? -1, i);
    if (found !== undefined) return found;
  }
  return undefined;
}

function describeIssues(
  schema: z.ZodType,
  error: z.ZodError,
  merged: Record<string, unknown>,
  origins: OriginIndex,
  layers: ConfigLayer[],
): string[] {
  const lines: string[] = [];
  for (const issue of error.issues) {
    const base = issue.path.map(String);
    const unknown = issue.code === 'unrecognized_keys';
    const paths = unknown ? issue.keys.map((k) => [...base, k]) : [base];
    for (const path of paths) {
      const i = originOf(origins, path);
      const from = i === undefined ? 'defaults' : layers[i]!.source;
      let msg = issue.message;
      if (unknown) {
        const hint = didYouMean(path[path.length - 1]!, knownKeys(schema, base, merged));
        msg = hint ? `unknown key, did you mean "${hint}"?` : 'unknown key';
      }
      lines.push(`  ${path.join('.') || '(root)'}: ${msg} (from ${from})`);
    }
  }
  return lines;
}

/** Every leaf path of a plain-object tree (arrays and empty objects are leaves). */
function leafPaths(value: unknown, path: string[] = []): string[][] {
  if (!isPlainObject(value) || (Object.keys(value).length === 0 && path.length > 0)) return [path];
  return Object.entries(value).flatMap(([k, v]) => (v === undefined ? [] : leafPaths(v, [...path, k])));
}

/**
 * Merge layers in order (e.g. preset < file < flags), validate with a zod schema, and report where each
 * value of the result came from (`default` for values the schema filled in). On failure the error lists
 * each invalid key with the layer that last set it, and suggests the closest known key for unknown ones.
 */
export function resolveConfigWithOrigins<S extends z.ZodType>(
  schema: S,
  layers: ConfigLayer[],
  what = 'configuration',
): ResolvedConfig<z.output<S>> {
  const { merged, origins } = mergeLayers(schema, layers);
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const lines = describeIssues(schema, parsed.error, merged, origins, layers);
    throw new Error(`Invalid ${what}:\n${lines.join('\n')}`);
  }
  const out: ConfigOrigins = {};
  for (const path of leafPaths(parsed.data)) {
    const key = path.join('.');
    const i = origins.get(key);
    out[key] = i === undefined ? 'default' : layers[i]!.source;
  }
  return { config: parsed.data, origins: out };
}

/** `resolveConfigWithOrigins` without the origins. */
export function resolveConfig<S extends z.ZodType>(
  schema: S,
  layers: ConfigLayer[],
  what?: string,
): z.output<S> {
  return resolveConfigWithOrigins(schema, layers, what).config;
}
