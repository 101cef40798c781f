import { existsSync, statSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type DType, type HostTensor, SafetensorsReader } from '@qlip/core';

/** File names of a Hugging Face checkpoint directory. */
export const WEIGHTS_NAME = 'model.safetensors';
export const WEIGHTS_INDEX_NAME = 'model.safetensors.index.json';
export const CONFIG_NAME = 'config.json';

/** Where one tensor lives. */
export interface CheckpointEntry {
  file: string;
  dtype: DType;
  shape: number[];
}

/** Read access to the tensors of a single-file or sharded checkpoint, one tensor at a time. */
export interface Checkpoint {
  /** The file or index the checkpoint was opened from (named in errors). */
  path: string;
  entries: Map<string, CheckpointEntry>;
  read(name: string): Promise<HostTensor>;
  close(): Promise<void>;
}

/**
 * Open `model.safetensors`, or the shards of `model.safetensors.index.json`, in a directory (or a file given
 * directly). Only headers are read here; tensor bytes are read on demand.
 */
export async function openCheckpoint(pathOrDir: string): Promise<Checkpoint> {
  let file = pathOrDir;
  if (existsSync(pathOrDir) && statSync(pathOrDir).isDirectory()) {
    const single = join(pathOrDir, WEIGHTS_NAME);
    const index = join(pathOrDir, WEIGHTS_INDEX_NAME);
    if (existsSync(single)) file = single;
    else if (existsSync(index)) file = index;
    else throw new Error(`${pathOrDir}: no ${WEIGHTS_NAME} or ${WEIGHTS_INDEX_NAME} in this directory`);
  } else if (!existsSync(pathOrDir)) {
    throw new Error(`${pathOrDir}: checkpoint not found`);
  }
  if (file.endsWith('.json')) return openSharded(file);
  const reader = await SafetensorsReader.open(file);
  const entries = new Map<string, CheckpointEntry>();
  for (const name of reader.names()) {
    const e = reader.entries.get(name)!;
    entries.set(name, { file, dtype: e.dtype, shape: [...e.shape] });
  }
  return { path: file, entries, read: (name) => reader.read(name), close: () => reader.close() };
}

async function openSharded(indexPath: string): Promise<Checkpoint> {
  let weightMap: Record<string, string>;
  try {
    const json = JSON.parse(await readFile(indexPath, 'utf8')) as { weight_map?: Record<string, string> };
    if (!json.weight_map || typeof json.weight_map !== 'object') throw new Error('no "weight_map" object');
    weightMap = json.weight_map;
  } catch (err) {
    throw new Error(`${indexPath}: not a valid safetensors index: ${(err as Error).message}`);
  }
  const readers = new Map<string, SafetensorsReader>();
  const entries = new Map<string, CheckpointEntry>();
  try {
    for (const shard of new Set(Object.values(weightMap))) {
      const path = join(dirname(indexPath), shard);
      if (!existsSync(path))
        throw new Error(`${indexPath}: shard "${shard}" listed in weight_map does not exist`);
      const r = await SafetensorsReader.open(path);
      readers.set(shard, r);
      for (const name of r.names()) {
        const e = r.entries.get(name)!;
        if (weightMap[name] === shard) entries.set(name, { file: path, dtype: e.dtype, shape: [...e.shape] });
      }
    }
    for (const [name, shard] of Object.entries(weightMap)) {
      if (!entries.has(name))
        throw new Error(
          `${indexPath}: tensor "${name}" is mapped to "${shard}" but that shard does not hold it`,
        );
    }
  } catch (err) {
    for (const r of readers.values()) await r.close();
    throw err;
  }
  return {
    path: indexPath,
    entries,
    read: (name) => {
      const shard = weightMap[name];
      const r = shard === undefined ? undefined : readers.get(shard);
      if (!r) throw new Error(`${indexPath}: no tensor named "${name}"`);
      return r.read(name);
    },
    close: async () => {
      for (const r of readers.values()) await r.close();
    },
  };
}

/** A float32 tensor to write; `data` is produced when the writer reaches it. */
export interface F32Source {
  name: string;
  shape: number[];
  data: () => Float32Array | Promise<Float32Array>;
}

/**
 * Stream float32 tensors into a safetensors file (header, then one tensor at a time, in the given order), via a
 * temp file renamed into place. `__metadata__` gets `format: "pt"`, which HF transformers requires.
 */
export async function writeF32Safetensors(
  path: string,
  tensors: F32Source[],
  metadata: Record<string, string> = {},
): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', ...metadata } };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // data section 8-byte aligned
  const headerBytes = Buffer.from(json, 'utf8');
  const pad = (8 - (headerBytes.length % 8)) % 8; // non-ASCII names could change the byte length
  const head = Buffer.concat([Buffer.alloc(8), headerBytes, Buffer.from(' '.repeat(pad))]);
  head.writeBigUInt64LE(BigInt(headerBytes.length + pad), 0);
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.write(head, 0, head.length, 0);
    let pos = head.length;
    for (const t of tensors) {
      const data = await t.data();
      const expected = t.shape.reduce((a, b) => a * b, 1);
      if (data.length !== expected)
        throw new Error(`tensor "${t.name}" has ${data.length} values, shape [${t.shape}] needs ${expected}`);
      await fh.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 0, data.byteLength, pos);
      pos += data.byteLength;
    }
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw new Error(`${path}: writing safetensors failed: ${(err as Error).message}`);
  }
}
