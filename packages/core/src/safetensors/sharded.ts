import { open, readdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { MAX_HEADER_BYTES } from './header.js';
import { SafetensorsReader } from './reader.js';
import type { HostTensor, TensorEntry, TensorReader } from './types.js';

/** Hugging Face names: `model.safetensors`, or shards listed in `model.safetensors.index.json`. */
export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Open a checkpoint for reading: a `.safetensors` file, a `*.safetensors.index.json` shard index, or a
 * directory holding `model.safetensors.index.json` (preferred) or `model.safetensors`.
 */
export async function openCheckpoint(pathOrDir: string): Promise<TensorReader> {
  const st = await stat(pathOrDir).catch((err: Error) => {
    throw new Error(`${pathOrDir}: cannot open checkpoint: ${err.message}`);
  });
  if (st.isDirectory()) {
    const files = await readdir(pathOrDir);
    if (files.includes(INDEX_FILE)) return ShardedReader.open(join(pathOrDir, INDEX_FILE));
    if (files.includes(SINGLE_FILE)) return SafetensorsReader.open(join(pathOrDir, SINGLE_FILE));
    throw new Error(`${pathOrDir}: no ${INDEX_FILE} or ${SINGLE_FILE} in this directory`);
  }
  if (pathOrDir.endsWith('.index.json')) return ShardedReader.open(pathOrDir);
  return SafetensorsReader.open(pathOrDir);
}

/** A sharded checkpoint: the index's shards, each a SafetensorsReader, behind one read API. */
export class ShardedReader implements TensorReader {
  private constructor(
    /** The index file. */
    readonly path: string,
    /** The index's `metadata` (non-string values such as `total_size` as JSON text). */
    readonly metadata: Record<string, string>,
    readonly entries: Map<string, TensorEntry>,
    private readonly byName: Map<string, SafetensorsReader>,
    private readonly shards: SafetensorsReader[],
  ) {}

  /**
   * Open and validate an index: JSON shape, shard names inside the directory, every shard present and a
   * valid safetensors file, every listed tensor in its shard, no tensor in two shards or unlisted.
   */
  static async open(indexPath: string): Promise<ShardedReader> {
    const fail = (fault: string): never => {
      throw new Error(`${indexPath}: invalid checkpoint index: ${fault}`);
    };
    const { metadata, weightMap } = await readIndex(indexPath, fail);
    const dir = dirname(indexPath);
    const shardFiles = [...new Set(weightMap.values())].sort();
    const missing: string[] = [];
    for (const f of shardFiles) {
      const st = await stat(join(dir, f)).catch(() => undefined);
      if (!st?.isFile()) missing.push(f);
    }
    if (missing.length > 0) fail(`shard file(s) not found in ${dir}: ${missing.join(', ')}`);

    const shards: SafetensorsReader[] = [];
    try {
      for (const f of shardFiles) shards.push(await SafetensorsReader.open(join(dir, f)));
      const byFile = new Map(shardFiles.map((f, i) => [f, shards[i]!]));
      for (const [name, f] of weightMap) {
        if (!byFile.get(f)!.has(name))
          fail(`tensor ${JSON.stringify(name)} is mapped to ${f}, which does not contain it`);
      }
      const entries = new Map<string, TensorEntry>();
      const byName = new Map<string, SafetensorsReader>();
      for (const [f, reader] of byFile) {
        for (const [name, e] of reader.entries) {
          const mapped = weightMap.get(name);
          if (mapped === undefined)
            fail(`shard ${f} holds tensor ${JSON.stringify(name)}, which the index does not list`);
          if (mapped !== f) fail(`tensor ${JSON.stringify(name)} is in two shards: ${mapped} and ${f}`);
          entries.set(name, e);
          byName.set(name, reader);
        }
      }
      return new ShardedReader(indexPath, metadata, entries, byName, shards);
    } catch (err) {
      await Promise.all(shards.map((s) => s.close().catch(() => {})));
      throw err;
    }
  }

  /** Tensor names, shard by shard (shards in file-name order), each shard in file order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  async read(name: string): Promise<HostTensor> {
    const reader = this.byName.get(name);
    if (!reader) throw new Error(`${this.path}: no tensor named ${JSON.stringify(name)}`);
    return reader.read(name);
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close()));
  }
}

async function readIndex(
  indexPath: string,
  fail: (fault: string) => never,
): Promise<{ metadata: Record<string, string>; weightMap: Map<string, string> }> {
  let text: string;
  try {
    const fh = await open(indexPath, 'r');
    try {
      const size = (await fh.stat()).size;
      if (size > MAX_HEADER_BYTES) fail(`${size} bytes is larger than the ${MAX_HEADER_BYTES}-byte limit`);
      text = (await fh.readFile()).toString('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as Error).message.startsWith(indexPath)) throw err;
    throw new Error(`${indexPath}: cannot read checkpoint index: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(json)) return fail('expected a JSON object with "weight_map"');
  const rawMeta = json.metadata ?? {};
  if (!isObject(rawMeta)) return fail('"metadata" must be an object');
  // fromEntries defines keys, so a key such as "__proto__" is kept as data, never used as a prototype.
  const metadata: Record<string, string> = Object.fromEntries(
    Object.entries(rawMeta).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
  if (!isObject(json.weight_map))
    return fail('"weight_map" must be an object mapping tensor names to shard files');
  const weightMap = new Map<string, string>();
  for (const [name, f] of Object.entries(json.weight_map)) {
    if (typeof f !== 'string' || f.length === 0)
      fail(`weight_map[${JSON.stringify(name)}] is ${JSON.stringify(f)}, expected a shard file name`);
    const file = f as string;
    if (isAbsolute(file) || file.split(/[\\/]/).includes('..')) {
      fail(
        `weight_map[${JSON.stringify(name)}] = ${JSON.stringify(file)} points outside the checkpoint directory`,
      );
    }
    weightMap.set(name, file);
  }
  if (weightMap.size === 0) fail('"weight_map" lists no tensors');
  return { metadata, weightMap };
}
