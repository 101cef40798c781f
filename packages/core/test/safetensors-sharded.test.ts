import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type HostTensor,
  INDEX_FILE,
  openCheckpoint,
  SafetensorsReader,
  type TensorReader,
  type TensorSource,
  writeSafetensors,
  writeShardedSafetensors,
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
  it('sharded write + read equals the single-file checkpoint', async () => {
    const single = fresh();
    await writeSafetensors(join(single, 'model.safetensors'), model(), { format: 'pt' });
    const sharded = fresh();
    const { index, shards } = await writeShardedSafetensors(sharded, model(), {
      maxShardBytes: 10_000,
      metadata: { format: 'pt' },
    });
    expect(index).toBe(join(sharded, INDEX_FILE));
    // Greedy in caller order: 8192 + 256 | 4096 + 6 (+ 6400 would pass 10000) | 6400 + 8 + 5
    expect(shards.map((s) => s.slice(sharded.length + 1))).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
    ]);
    expect(readdirSync(sharded).sort()).toEqual(
      [...shards.map((s) => s.slice(sharded.length + 1)), INDEX_FILE].sort(),
    );

    const shardNames = async (f: string) => {
      const r = await SafetensorsReader.open(f);
      const n = r.names();
      await r.close();
      return n;
    };
    expect(await Promise.all(shards.map(shardNames))).toEqual([
      // file order within a shard: decreasing item size, then name
      ['enc.0.bias', 'enc.0.weight'],
      ['enc.1.bias', 'enc.1.weight'],
      ['step', 'dec.weight', 'mask'],
    ]);
    const a = await openCheckpoint(single);
    const b = await openCheckpoint(sharded);
    expect(a).toBeInstanceOf(SafetensorsReader);
    expect(b.path).toBe(index);
    expect(b.names().sort()).toEqual(a.names().sort());
    expect(await dump(b)).toEqual(await dump(a));
    expect(b.metadata).toEqual({ format: 'pt', total_size: String(8192 + 256 + 4096 + 6 + 6400 + 8 + 5) });
    expect(b.has('dec.weight')).toBe(true);
    expect(b.has('nope')).toBe(false);
    expect(b.entries.get('dec.weight')!.file).toBe(shards[2]);
    await expect(b.read('nope')).rejects.toThrow(`${index}: no tensor named "nope"`);
    await a.close();
    await b.close();
  });

  it('writes the Hugging Face index layout (sorted weight_map, total_size number)', async () => {
    const d = fresh();
    await writeShardedSafetensors(d, model(), { maxShardBytes: 1 << 20 });
    const idx = JSON.parse(readFileSync(join(d, INDEX_FILE), 'utf8'));
    expect(idx.metadata).toEqual({ total_size: 18963 });
    expect(Object.keys(idx.weight_map)).toEqual(Object.keys(model()).sort());
    expect(new Set(Object.values(idx.weight_map))).toEqual(new Set(['model-00001-of-00001.safetensors']));
  });

  it('a tensor larger than maxShardBytes gets a shard of its own', async () => {
    const d = fresh();
    const { shards } = await writeShardedSafetensors(d, model(), { maxShardBytes: 100, prefix: 'ema' });
    // 8192 | 256 | 4096 | 6 (4096 + 6 > 100) | 6400 | 8 + 5
    expect(shards.length).toBe(6);
    expect(readdirSync(d)).toContain('ema.safetensors.index.json');
    const r = await openCheckpoint(join(d, 'ema.safetensors.index.json'));
    expect(r.names().length).toBe(7);
    await r.close();
  });

  it('opens a .safetensors path, an index path and a directory', async () => {
    const d = fresh();
    await writeShardedSafetensors(d, model(), { maxShardBytes: 10_000 });
    const viaFile = await openCheckpoint(join(d, 'model-00002-of-00003.safetensors'));
    expect(viaFile).toBeInstanceOf(SafetensorsReader);
    expect(viaFile.names()).toEqual(['enc.1.bias', 'enc.1.weight']);
    await viaFile.close();
    const viaIndex = await openCheckpoint(join(d, INDEX_FILE));
    expect(viaIndex.names().length).toBe(7);
    await viaIndex.close();
  });

  it('a producer failing in the last shard leaves the directory as it was', async () => {
    const d = fresh();
    writeFileSync(join(d, 'keep.txt'), 'x');
    const tensors: Record<string, TensorSource> = {
      ...model(),
      zz: {
        dtype: 'F32',
        shape: [4000],
        data: () => Promise.reject(new Error('disk source vanished')),
      },
    };
    await expect(writeShardedSafetensors(d, tensors, { maxShardBytes: 10_000 })).rejects.toThrow(
      /producing tensor "zz" failed: disk source vanished/,
    );
    expect(readdirSync(d)).toEqual(['keep.txt']);
  });

  it('keeps tensors and metadata keys named like Object.prototype members', async () => {
    const d = fresh();
    const t = (v: number): HostTensor => ({ dtype: 'F32', shape: [1], data: Float32Array.of(v) });
    const tensors = Object.fromEntries([
      ['__proto__', t(1)],
      ['constructor', t(2)],
      ['toString', t(3)],
    ]) as Record<string, HostTensor>;
    await writeShardedSafetensors(d, tensors, {
      maxShardBytes: 4,
      metadata: Object.fromEntries([['__proto__', 'p']]),
    });
    const r = await openCheckpoint(d);
    expect(r.names().sort()).toEqual(['__proto__', 'constructor', 'toString']);
    expect((await r.read('__proto__')).data[0]).toBe(1);
    expect(Object.getOwnPropertyDescriptor(r.metadata, '__proto__')?.value).toBe('p');
    await r.close();
  });

  it('rejects a bad maxShardBytes and an empty tensor set', async () => {
    const d = fresh();
    await expect(writeShardedSafetensors(d, model(), { maxShardBytes: 0 })).rejects.toThrow(
      /maxShardBytes must be a positive integer, got 0/,
    );
    await expect(writeShardedSafetensors(d, {}, { maxShardBytes: 10 })).rejects.toThrow(
      `${d}: no tensors to write`,
    );
  });
});

describe('openCheckpoint rejects bad checkpoints', () => {
  /** A valid 3-shard checkpoint to break. */
  async function sharded(): Promise<string> {
    const d = fresh();
    await writeShardedSafetensors(d, model(), { maxShardBytes: 10_000 });
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
