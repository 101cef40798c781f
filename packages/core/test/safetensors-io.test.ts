import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  DTYPE_SIZE,
  floatToBf16,
  floatToHalf,
  type HostTensor,
  type LazyTensor,
  SafetensorsReader,
  type TensorSource,
  toFloat32,
  toInt32,
  writeSafetensors,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'qlip-st-io-'));
const fixtures = fileURLToPath(new URL('../../../fixtures/qlip-reference/qlip-tiny-eva/', import.meta.url));
const leftovers = (d: string) => readdirSync(d).filter((f) => f.includes('.tmp'));

/** One tensor of every dtype, with special values. */
function everyDtype(): Record<string, HostTensor> {
  const specials = [
    0,
    -0,
    1,
    -2.5,
    2 ** -24,
    2 ** -25,
    65504,
    1e6,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    Number.NaN,
    1 + 2 ** -11,
  ];
  return {
    f32: {
      dtype: 'F32',
      shape: [2, 3],
      data: Float32Array.of(0, -0, 1.5, -3.25e-39, Number.POSITIVE_INFINITY, Number.NaN),
    },
    f16: { dtype: 'F16', shape: [specials.length], data: Uint16Array.from(specials, floatToHalf) },
    bf16: { dtype: 'BF16', shape: [3, 4], data: Uint16Array.from(specials, floatToBf16) },
    i64: { dtype: 'I64', shape: [3], data: BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 49407n) },
    i32: { dtype: 'I32', shape: [1, 2], data: Int32Array.of(-2147483648, 2147483647) },
    u8: { dtype: 'U8', shape: [5], data: Uint8Array.of(0, 1, 127, 128, 255) },
    bool: { dtype: 'BOOL', shape: [2, 2], data: Uint8Array.of(1, 0, 0, 1) },
    scalar: { dtype: 'F32', shape: [], data: Float32Array.of(2.5) },
    empty: { dtype: 'I64', shape: [0, 3], data: new BigInt64Array(0) },
  };
}

const bytesOf = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

describe('writeSafetensors + SafetensorsReader', () => {
  it('round-trips every dtype bit for bit (F16/BF16 specials, I64 extremes, scalars, empty tensors)', async () => {
    const p = join(dir, 'all.safetensors');
    const tensors = everyDtype();
    await writeSafetensors(p, tensors);
    const r = await SafetensorsReader.open(p);
    expect(r.names().sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const back = await r.read(name);
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(back.data.constructor).toBe(t.data.constructor);
      expect(bytesOf(back).equals(bytesOf(t))).toBe(true);
    }
    const f16 = toFloat32(await r.read('f16'));
    expect(Array.from(f16.slice(0, 8))).toEqual([
      0,
      -0,
      1,
      -2.5,
      2 ** -24,
      0,
      65504,
      Number.POSITIVE_INFINITY,
    ]);
    expect(Object.is(f16[1], -0)).toBe(true);
    expect(Number.isNaN(f16[10])).toBe(true);
    expect((await r.read('i64')).data[0]).toBe(-(2n ** 63n));
    await r.close();
  });

  it('aligns every tensor offset to its item size, pads the header with spaces to 8 bytes', async () => {
    const p = join(dir, 'align.safetensors');
    // Odd-sized U8/F16 tensors named so that name order alone would misalign the F32/I64 ones.
    await writeSafetensors(p, {
      a_u8: { dtype: 'U8', shape: [3], data: new Uint8Array(3) },
      b_f16: { dtype: 'F16', shape: [3], data: new Uint16Array(3) },
      c_f32: { dtype: 'F32', shape: [3], data: new Float32Array(3) },
      d_i64: { dtype: 'I64', shape: [1], data: new BigInt64Array(1) },
      e_bool: { dtype: 'BOOL', shape: [1], data: new Uint8Array(1) },
      f_i32: { dtype: 'I32', shape: [1], data: new Int32Array(1) },
    });
    const raw = readFileSync(p);
    const n = Number(raw.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = raw.toString('utf8', 8, 8 + n);
    expect(text).toMatch(/} *$/);
    expect(text.slice(text.lastIndexOf('}') + 1)).toMatch(/^ *$/);
    const header = JSON.parse(text) as Record<
      string,
      { dtype: keyof typeof DTYPE_SIZE; data_offsets: [number, number] }
    >;
    for (const e of Object.values(header)) expect((8 + n + e.data_offsets[0]) % DTYPE_SIZE[e.dtype]).toBe(0);
    const r = await SafetensorsReader.open(p);
    expect(r.names()).toEqual(['d_i64', 'c_f32', 'f_i32', 'b_f16', 'a_u8', 'e_bool']);
    await r.close();
  });

  it('keeps __metadata__ (unicode, quotes) and omits it when empty', async () => {
    const p = join(dir, 'meta.safetensors');
    const metadata = { format: 'pt', note: 'ünïcode "quoted" \\ / \n', '': 'empty key' };
    await writeSafetensors(p, { w: { dtype: 'F32', shape: [1], data: Float32Array.of(1) } }, metadata);
    const r = await SafetensorsReader.open(p);
    expect(r.metadata).toEqual(metadata);
    await r.close();
    const q = join(dir, 'nometa.safetensors');
    await writeSafetensors(q, { w: { dtype: 'F32', shape: [1], data: Float32Array.of(1) } });
    expect(readFileSync(q).toString('utf8')).not.toContain('__metadata__');
    const r2 = await SafetensorsReader.open(q);
    expect(r2.metadata).toEqual({});
    await r2.close();
  });

  it('accepts a Map, subarray views, and integer-like names', async () => {
    const p = join(dir, 'map.safetensors');
    const big = Float32Array.of(9, 1, 2, 3, 9);
    await writeSafetensors(
      p,
      new Map<string, TensorSource>([
        ['10', { dtype: 'F32', shape: [3], data: big.subarray(1, 4) }],
        ['2', { dtype: 'U8', shape: [1], data: Uint8Array.of(7) }],
      ]),
    );
    const r = await SafetensorsReader.open(p);
    expect(Array.from(toFloat32(await r.read('10')))).toEqual([1, 2, 3]);
    expect(Array.from((await r.read('2')).data as Uint8Array)).toEqual([7]);
    await r.close();
  });

  it('returns aligned arrays of exactly the tensor size', async () => {
    const r = await SafetensorsReader.open(join(dir, 'align.safetensors'));
    const t = await r.read('c_f32');
    expect(t.data.byteOffset).toBe(0);
    expect(t.data.buffer.byteLength).toBe(12);
    await r.close();
  });

  it('writes lazy tensors one at a time, in layout order, each produced once', async () => {
    const p = join(dir, 'lazy.safetensors');
    const calls: string[] = [];
    const lazy = (name: string, n: number): LazyTensor => ({
      dtype: 'F32',
      shape: [n],
      data: async () => {
        calls.push(name);
        return Float32Array.from({ length: n }, (_, i) => i + n);
      },
    });
    await writeSafetensors(p, {
      b: lazy('b', 3),
      a: lazy('a', 2),
      c: { dtype: 'U8', shape: [1], data: Uint8Array.of(5) },
    });
    expect(calls).toEqual(['a', 'b']);
    const r = await SafetensorsReader.open(p);
    expect(Array.from(toFloat32(await r.read('b')))).toEqual([3, 4, 5]);
    await r.close();
  });

  it('a producer that throws midway leaves neither the file nor a temp file', async () => {
    const d = join(dir, 'fail');
    mkdirSync(d);
    const p = join(d, 'model.safetensors');
    const tensors: Record<string, TensorSource> = {
      a: { dtype: 'F32', shape: [1000], data: new Float32Array(1000) },
      b: {
        dtype: 'F32',
        shape: [10],
        data: () => {
          throw new Error('out of memory (simulated)');
        },
      },
    };
    await expect(writeSafetensors(p, tensors)).rejects.toThrow(
      `${p}: producing tensor "b" failed: out of memory (simulated)`,
    );
    expect(readdirSync(d)).toEqual([]);
  });

  it('a failed write keeps the previous file intact', async () => {
    const p = join(dir, 'keep.safetensors');
    await writeSafetensors(p, { w: { dtype: 'F32', shape: [1], data: Float32Array.of(42) } });
    const before = readFileSync(p);
    await expect(
      writeSafetensors(p, { w: { dtype: 'F32', shape: [2], data: Float32Array.of(1) } }),
    ).rejects.toThrow(/keep\.safetensors: tensor "w": data has 1 elements but shape \[2\] needs 2/);
    expect(readFileSync(p).equals(before)).toBe(true);
    expect(leftovers(dir)).toEqual([]);
  });

  it('rejects data of the wrong array type, bad shapes, BOOL values other than 0/1, bad metadata', async () => {
    const p = join(dir, 'bad.safetensors');
    await expect(
      writeSafetensors(p, { w: { dtype: 'F16', shape: [1], data: Float32Array.of(1) } }),
    ).rejects.toThrow(/bad\.safetensors: tensor "w": F16 data must be a Uint16Array, got Float32Array/);
    await expect(
      writeSafetensors(p, { w: { dtype: 'F32', shape: [-1], data: new Float32Array(0) } }),
    ).rejects.toThrow(/tensor "w": shape \[-1\] must be an array of non-negative integers/);
    await expect(
      writeSafetensors(p, { w: { dtype: 'F8' as 'F32', shape: [1], data: new Float32Array(1) } }),
    ).rejects.toThrow(/unknown dtype "F8"/);
    await expect(
      writeSafetensors(p, { w: { dtype: 'BOOL', shape: [2], data: Uint8Array.of(0, 2) } }),
    ).rejects.toThrow(/BOOL data must hold only 0 and 1/);
    await expect(
      writeSafetensors(p, { __metadata__: { dtype: 'U8', shape: [1], data: Uint8Array.of(0) } }),
    ).rejects.toThrow(/"__metadata__" is reserved/);
    await expect(
      writeSafetensors(
        p,
        { w: { dtype: 'U8', shape: [1], data: Uint8Array.of(0) } },
        { step: 3 as unknown as string },
      ),
    ).rejects.toThrow(/bad\.safetensors: metadata value "step" is a number, expected a string/);
    expect(readdirSync(dir).filter((f) => f.startsWith('bad') || f.startsWith('.bad'))).toEqual([]);
  });

  it('an unwritable destination gives a clear error and leaves no temp file', async () => {
    const missing = join(dir, 'no-such-dir', 'm.safetensors');
    await expect(
      writeSafetensors(missing, { w: { dtype: 'U8', shape: [1], data: Uint8Array.of(1) } }),
    ).rejects.toThrow(new RegExp(`${missing}: cannot write safetensors file: ENOENT`));
    const target = join(dir, 'is-a-dir');
    mkdirSync(join(target, 'child'), { recursive: true });
    await expect(
      writeSafetensors(target, { w: { dtype: 'U8', shape: [1], data: Uint8Array.of(1) } }),
    ).rejects.toThrow(new RegExp(`${target}: cannot write safetensors file: E(ISDIR|NOTEMPTY|EXIST)`));
    expect(leftovers(dir)).toEqual([]);
  });

  it('reads after close fail clearly; unknown names fail clearly', async () => {
    const p = join(dir, 'all.safetensors');
    const r = await SafetensorsReader.open(p);
    await expect(r.read('nope')).rejects.toThrow(`${p}: no tensor named "nope"`);
    await r.close();
    await expect(r.read('f32')).rejects.toThrow(/reader is closed/);
  });
});

describe('reference fixtures (qlip-tiny-eva, written by Python)', () => {
  /** `| \`name\` | [shape] | dtype |` rows of the fixture README's tensor tables. */
  function readmeTensors(): Map<string, { shape: number[]; dtype: string }> {
    const text = readFileSync(join(fixtures, 'README.md'), 'utf8');
    const rows = new Map<string, { shape: number[]; dtype: string }>();
    // The model/buffers tables use safetensors dtype names (F32); the inputs/outputs tables use numpy ones.
    for (const m of text.matchAll(
      /^\| `([^`]+)`(?: \(buffers\.safetensors\))? \| \[([0-9, ]*)\] \| ([A-Z]\w*) \|/gm,
    )) {
      rows.set(m[1]!, { shape: m[2]!.length ? m[2]!.split(',').map(Number) : [], dtype: m[3]! });
    }
    return rows;
  }

  it('model.safetensors + buffers.safetensors hold exactly the README tensors with their shapes', async () => {
    const expected = readmeTensors();
    const seen: string[] = [];
    for (const file of ['model.safetensors', 'buffers.safetensors']) {
      const r = await SafetensorsReader.open(join(fixtures, file));
      expect(r.metadata.format).toBe('pt');
      for (const [name, e] of r.entries) {
        expect({ name, shape: e.shape, dtype: e.dtype }).toEqual({ name, ...expected.get(name) });
        seen.push(name);
      }
      await r.close();
    }
    expect(seen.length).toBe(160);
    expect(seen.sort()).toEqual([...expected.keys()].sort());
  });

  it('logit_scale = 2.860719 and token embeddings are read with the right layout', async () => {
    const r = await SafetensorsReader.open(join(fixtures, 'model.safetensors'));
    const s = await r.read('logit_scale');
    expect(s.shape).toEqual([]);
    expect(toFloat32(s)[0]).toBeCloseTo(2.860719, 6);
    const emb = toFloat32(await r.read('text_model.embeddings.token_embedding.weight'));
    expect(emb.length).toBe(49408 * 32);
    // Random N(0, 0.1^2) init: the sample std must be close to 0.1.
    const std = Math.sqrt(emb.reduce((a, v) => a + v * v, 0) / emb.length);
    expect(std).toBeGreaterThan(0.098);
    expect(std).toBeLessThan(0.102);
    await r.close();
  });

  it('inputs.safetensors: I64 token ids, U8 images, F32 pixels, metadata as in the README', async () => {
    const r = await SafetensorsReader.open(join(fixtures, 'inputs.safetensors'));
    const ids = await r.read('input_ids');
    expect(ids.dtype).toBe('I64');
    expect(ids.shape).toEqual([5, 77]);
    expect(Array.from(toInt32(ids).slice(0, 7))).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
    const img = await r.read('images_uint8');
    expect([img.dtype, ...img.shape]).toEqual(['U8', 3, 32, 32, 3]);
    expect(Math.max(...(img.data as Uint8Array))).toBe(253);
    const px = toFloat32(await r.read('pixel_values'));
    expect(Math.max(...px.map(Math.abs))).toBeCloseTo(1.901, 3);
    expect(JSON.parse(r.metadata.prompts!)[2]).toBe('a diagram');
    await r.close();
  });

  it('expected.safetensors: bsq_loss value and seeds', async () => {
    const r = await SafetensorsReader.open(join(fixtures, 'expected.safetensors'));
    expect(toFloat32(await r.read('bsq_loss'))[0]).toBeCloseTo(-0.035090346, 8);
    expect(Math.max(...toInt32(await r.read('indices')))).toBe(242);
    expect(r.metadata.weight_seed).toBe('1001');
    await r.close();
  });

  it('re-writing every fixture file through the writer reproduces it byte for byte', async () => {
    for (const file of [
      'model.safetensors',
      'buffers.safetensors',
      'inputs.safetensors',
      'expected.safetensors',
    ]) {
      const r = await SafetensorsReader.open(join(fixtures, file));
      const out = join(dir, `copy-${file}`);
      const lazy = new Map<string, LazyTensor>();
      for (const [name, e] of r.entries)
        lazy.set(name, { dtype: e.dtype, shape: e.shape, data: async () => (await r.read(name)).data });
      await writeSafetensors(out, lazy, r.metadata);
      await r.close();
      expect(readFileSync(out).equals(readFileSync(join(fixtures, file)))).toBe(true);
    }
  });
});
