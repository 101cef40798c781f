import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type HostTensor,
  INDEX_FILE,
  openCheckpoint,
  SafetensorsReader,
  type TensorReader,
  writeSafetensors,
} from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'qlip-st-sharded-'));
let counter = 0;
const fresh = () => {
  const d = join(root, `ckpt-${++counter}`);
  mkdirSync(d);
  return d;
};

/** A small "model": mixed dtypes and sizes, deterministic contents. */
function model(): Record<string, HostTensor> {
  const f = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k));
  return {
    'enc.0.weight': { dtype: 'F32', shape: [64, 32], data: f(2048, 1) }, // 8192 bytes
    'enc.0.bias': { dtype: 'F32', shape: [64], data: f(64, 2) },
    'enc.1.weight': { dtype: 'F16', shape: [32, 64], data: Uint16Array.from({ length: 2048 }, (_, i) => i) }, // 4096
    'enc.1.bias': { dtype: 'BF16', shape: [3], data: Uint16Array.of(0x3f80, 0x8000, 0x7f80) },
    'dec.weight': { dtype: 'F32', shape: [40, 40], data: f(1600, 3) }, // 6400
    step: { dtype: 'I64', shape: [], data: BigInt64Array.of(123456789012n) },
    mask: { dtype: 'BOOL', shape: [5], data: Uint8Array.of(1, 0, 1, 1, 0) },
  };
}

/**
 * A sharded checkpoint in the Hugging Face layout, as other tools write it (qlip reads these, it does not
 * write them): one `<prefix>-0000i-of-0000n.safetensors` per group, then `<prefix>.safetensors.index.json`.
 */
async function writeShards(
  dir: string,
  groups: Record<string, HostTensor>[],
  o: { prefix?: string; metadata?: Record<string, string> } = {},
): Promise<{ index: string; shards: string[] }> {
  const prefix = o.prefix ?? 'model';
  const n = String(groups.length).padStart(5, '0');
  const shards = groups.map((_, i) =>
    join(dir, `${prefix}-${String(i + 1).padStart(5, '0')}-of-${n}.safetensors`),
  );
  const weightMap = new Map<string, string>(); // a Map: tensor names such as "__proto__" stay data
  let total = 0;
  for (const [i, g] of groups.entries()) {
    await writeSafetensors(shards[i]!, g, o.metadata);
    for (const [name, t] of Object.entries(g)) {
      weightMap.set(name, shards[i]!.slice(dir.length + 1));
      total += t.data.byteLength;
    }
  }
  const index = join(dir, `${prefix}.safetensors.index.json`);
  writeFileSync(
    index,
    JSON.stringify({
      metadata: { ...o.metadata, total_size: total },
      weight_map: Object.fromEntries(weightMap),
    }),
  );
  return { index, shards };
}

/** model() in three shards. */
function threeShards(): Record<string, HostTensor>[] {
  const m = model();
  const pick = (...names: string[]) => Object.fromEntries(names.map((k) => [k, m[k]!]));
  return [
    pick('enc.0.weight', 'enc.0.bias'),
    pick('enc.1.weight', 'enc.1.bias'),
    pick('dec.weight', 'step', 'mask'),
  ];
}

async function dump(r: TensorReader): Promise<Record<string, [string, number[], string]>> {
  const out: Record<string, [string, number[], string]> = {};
  for (const name of r.names()) {
    const t = await r.read(name);
    out[name] = [
      t.dtype,
      t.shape,
      Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64'),
    ];
  }
  return out;
}

async function rejects(path: string, fault: RegExp): Promise<void> {
  const err = await openCheckpoint(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toContain(path);
  expect((err as Error).message).toMatch(fault);
}

describe('sharded checkpoints', () => {
  it('reading a sharded checkpoint equals reading the single-file one', async () => {
    const single = fresh();
    await writeSafetensors(join(single, 'model.safetensors'), model(), { format: 'pt' });
    const sharded = fresh();
    const { index, shards } = await writeShards(sharded, threeShards(), { metadata: { format: 'pt' } });
    expect(index).toBe(join(sharded, INDEX_FILE));
    const a = await openCheckpoint(single);
    const b = await openCheckpoint(sharded);
    expect(a).toBeInstanceOf(SafetensorsReader);
    expect(b.path).toBe(index);
    expect(b.names().sort()).toEqual(a.names().sort());
    expect(await dump(b)).toEqual(await dump(a));
    // non-string index metadata (total_size) is kept as JSON text
    expect(b.metadata).toEqual({ format: 'pt', total_size: String(8192 + 256 + 4096 + 6 + 6400 + 8 + 5) });
    expect(b.has('dec.weight')).toBe(true);
    expect(b.has('nope')).toBe(false);
    expect(b.entries.get('dec.weight')!.file).toBe(shards[2]);
    await expect(b.read('nope')).rejects.toThrow(`${index}: no tensor named "nope"`);
    await a.close();
    await b.close();
  });

  it('opens a .safetensors path, an index path with any prefix and a directory', async () => {
    const d = fresh();
    await writeShards(d, threeShards());
    const viaFile = await openCheckpoint(join(d, 'model-00002-of-00003.safetensors'));
    expect(viaFile).toBeInstanceOf(SafetensorsReader);
    expect(viaFile.names().sort()).toEqual(['enc.1.bias', 'enc.1.weight']);
    await viaFile.close();
    const viaIndex = await openCheckpoint(join(d, INDEX_FILE));
    expect(viaIndex.names().length).toBe(7);
    await viaIndex.close();
    const e = fresh();
    await writeShards(e, threeShards(), { prefix: 'ema' });
    const viaPrefix = await openCheckpoint(join(e, 'ema.safetensors.index.json'));
    expect(viaPrefix.names().length).toBe(7);
    await viaPrefix.close();
  });

  it('keeps tensors and metadata keys named like Object.prototype members', async () => {
    const d = fresh();
    const t = (v: number): HostTensor => ({ dtype: 'F32', shape: [1], data: Float32Array.of(v) });
    const groups = [
      ['__proto__', t(1)],
      ['constructor', t(2)],
      ['toString', t(3)],
    ].map((e) => Object.fromEntries([e]) as Record<string, HostTensor>);
    await writeShards(d, groups, { metadata: Object.fromEntries([['__proto__', 'p']]) });
    const r = await openCheckpoint(d);
    expect(r.names().sort()).toEqual(['__proto__', 'constructor', 'toString']);
    expect((await r.read('__proto__')).data[0]).toBe(1);
    expect(Object.getOwnPropertyDescriptor(r.metadata, '__proto__')?.value).toBe('p');
    await r.close();
  });
});

describe('openCheckpoint rejects bad checkpoints', () => {
  /** A valid 3-shard checkpoint to break. */
  async function sharded(): Promise<string> {
    const d = fresh();
    await writeShards(d, threeShards());
    return d;
  }
  const indexOf = (d: string) => JSON.parse(readFileSync(join(d, INDEX_FILE), 'utf8'));
  const setIndex = (d: string, v: unknown) =>
    writeFileSync(join(d, INDEX_FILE), typeof v === 'string' ? v : JSON.stringify(v));

  it('a missing path', async () => {
    await rejects(join(root, 'nowhere'), /cannot open checkpoint: ENOENT/);
  });

  it('a directory without a checkpoint', async () => {
    const d = fresh();
    await rejects(d, /no model\.safetensors\.index\.json or model\.safetensors in this directory/);
  });

  it('an index that is not JSON', async () => {
    const d = await sharded();
    setIndex(d, '{"weight_map": ');
    await rejects(join(d, INDEX_FILE), /invalid checkpoint index: not valid JSON/);
  });

  it('an index without weight_map', async () => {
    const d = await sharded();
    setIndex(d, { metadata: {} });
    await rejects(d, /"weight_map" must be an object mapping tensor names to shard files/);
  });

  it('an index whose metadata is not an object', async () => {
    const d = await sharded();
    setIndex(d, { ...indexOf(d), metadata: [1] });
    await rejects(d, /"metadata" must be an object/);
  });

  it('a weight_map entry that is not a file name', async () => {
    const d = await sharded();
    setIndex(d, { weight_map: { ...indexOf(d).weight_map, 'enc.0.bias': 3 } });
    await rejects(d, /weight_map\["enc\.0\.bias"\] is 3, expected a shard file name/);
  });

  it('a shard path outside the checkpoint directory', async () => {
    const d = await sharded();
    setIndex(d, { weight_map: { ...indexOf(d).weight_map, 'enc.0.bias': '../other/model.safetensors' } });
    await rejects(d, /"\.\.\/other\/model\.safetensors" points outside the checkpoint directory/);
  });

  it('a missing shard file', async () => {
    const d = await sharded();
    rmSync(join(d, 'model-00002-of-00003.safetensors'));
    await rejects(d, /shard file\(s\) not found in .*: model-00002-of-00003\.safetensors/);
  });

  it('a listed tensor that its shard does not contain', async () => {
    const d = await sharded();
    const idx = indexOf(d);
    setIndex(d, { ...idx, weight_map: { ...idx.weight_map, ghost: 'model-00001-of-00003.safetensors' } });
    await rejects(
      d,
      /tensor "ghost" is mapped to model-00001-of-00003\.safetensors, which does not contain it/,
    );
  });

  it('a tensor present in two shards', async () => {
    const d = await sharded();
    // Shard 3 rewritten to also hold enc.0.bias, which the index maps to shard 1.
    const r = await SafetensorsReader.open(join(d, 'model-00003-of-00003.safetensors'));
    const tensors: Record<string, HostTensor> = { 'enc.0.bias': model()['enc.0.bias']! };
    for (const n of r.names()) tensors[n] = await r.read(n);
    await r.close();
    await writeSafetensors(join(d, 'model-00003-of-00003.safetensors'), tensors);
    await rejects(
      d,
      /tensor "enc\.0\.bias" is in two shards: model-00001-of-00003\.safetensors and model-00003-of-00003\.safetensors/,
    );
  });

  it('a shard tensor the index does not list', async () => {
    const d = await sharded();
    const idx = indexOf(d);
    delete idx.weight_map.mask;
    setIndex(d, idx);
    await rejects(
      d,
      /shard model-00003-of-00003\.safetensors holds tensor "mask", which the index does not list/,
    );
  });

  it('a corrupt shard names the shard file', async () => {
    const d = await sharded();
    const shard = join(d, 'model-00001-of-00003.safetensors');
    renameSync(shard, `${shard}.bak`);
    writeFileSync(shard, Buffer.from([1, 2, 3]));
    await rejects(d, /model-00001-of-00003\.safetensors: invalid safetensors file: 3 bytes is too short/);
  });
});
