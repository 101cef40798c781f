import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_HEADER_BYTES, SafetensorsReader, writeSafetensors } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'qlip-st-hostile-'));
let counter = 0;

/** A safetensors file from a header (object or raw text) and a data section; `headerLen` overrides the prefix. */
function craft(header: unknown, data: Uint8Array | number = 0, headerLen?: bigint): string {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const h = Buffer.from(text, 'utf8');
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const buf = Buffer.alloc(8 + h.length + d.length);
  buf.writeBigUInt64LE(headerLen ?? BigInt(h.length), 0);
  h.copy(buf, 8);
  buf.set(d, 8 + h.length);
  const path = join(dir, `case-${++counter}.safetensors`);
  writeFileSync(path, buf);
  return path;
}

/** Opening must fail with an Error naming the file and matching `fault`. */
async function rejects(path: string, fault: RegExp): Promise<void> {
  const err = await SafetensorsReader.open(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toContain(path);
  expect((err as Error).message).toMatch(fault);
}

const f32 = (shape: number[], begin: number, end: number) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, end],
});

describe('SafetensorsReader rejects hostile files', () => {
  it('a missing file', async () => {
    await rejects(join(dir, 'nope.safetensors'), /cannot open safetensors file: .*ENOENT/);
  });

  it('a directory', async () => {
    const d = join(dir, 'a-dir.safetensors');
    mkdirSync(d);
    await rejects(d, /not a regular file/);
  });

  it('an empty file', async () => {
    const p = join(dir, 'empty.safetensors');
    writeFileSync(p, '');
    await rejects(p, /0 bytes is too short for the 8-byte header length/);
  });

  it('a file shorter than 8 bytes', async () => {
    const p = join(dir, 'short.safetensors');
    writeFileSync(p, Buffer.from([1, 0, 0]));
    await rejects(p, /3 bytes is too short/);
  });

  it('a header length past the end of the file', async () => {
    await rejects(craft({}, 0, 1000n), /header length 1000 runs past the end of the file \(10 bytes\)/);
  });

  it('a header length of 2^63 (no huge allocation)', async () => {
    await rejects(craft({}, 0, 2n ** 63n), /header length 9223372036854775808 runs past the end of the file/);
  });

  it('a header length over the 100 MB cap, even when the file is that large', async () => {
    const p = craft('{}', 0, BigInt(MAX_HEADER_BYTES + 1));
    truncateSync(p, MAX_HEADER_BYTES + 64); // sparse: no real 100 MB write
    await rejects(p, /header length 100000001 exceeds the 100000000-byte limit/);
  });

  it('a header that is not UTF-8', async () => {
    const p = join(dir, 'latin1.safetensors');
    const buf = Buffer.alloc(12);
    buf.writeBigUInt64LE(4n, 0);
    buf.set([0x7b, 0xff, 0xfe, 0x7d], 8);
    writeFileSync(p, buf);
    await rejects(p, /header is not valid UTF-8/);
  });

  it('a header that is not JSON', async () => {
    await rejects(craft('{"a": {"dtype": '), /header is not valid JSON/);
  });

  it.each([
    ['[1, 2]', /header is an array, expected a JSON object/],
    ['null', /header is null, expected a JSON object/],
    ['"text"', /header is a string, expected a JSON object/],
    ['42', /header is a number, expected a JSON object/],
  ])('a header that is JSON but not an object: %s', async (text, fault) => {
    await rejects(craft(text), fault);
  });

  it('an entry that is not an object', async () => {
    await rejects(craft({ w: 5 }), /tensor "w": entry is a number, expected an object/);
  });

  it.each(['dtype', 'shape', 'data_offsets'])('an entry missing "%s"', async (field) => {
    const entry: Record<string, unknown> = f32([2], 0, 8);
    delete entry[field];
    await rejects(craft({ w: entry }, 8), new RegExp(`tensor "w": missing "${field}"`));
  });

  it('a dtype that is not a string', async () => {
    await rejects(
      craft({ w: { dtype: 4, shape: [2], data_offsets: [0, 8] } }, 8),
      /tensor "w": "dtype" is a number, expected a string/,
    );
  });

  it('an unknown dtype', async () => {
    await rejects(
      craft({ w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, 2),
      /tensor "w": unknown dtype "F8_E4M3" \(supported: F32, F16/,
    );
  });

  it('a shape that is not an array', async () => {
    await rejects(
      craft({ w: { dtype: 'F32', shape: '2', data_offsets: [0, 8] } }, 8),
      /tensor "w": "shape" is a string, expected an array/,
    );
  });

  it('a negative shape dimension', async () => {
    await rejects(
      craft({ w: f32([2, -1], 0, 0) }),
      /tensor "w": shape \[2, -1\] has dimension 1 = -1, expected a non-negative integer/,
    );
  });

  it('a non-integer shape dimension', async () => {
    await rejects(
      craft({ w: f32([1.5], 0, 4) }, 4),
      /tensor "w": shape \[1.5\] has dimension 0 = 1.5, expected a non-negative integer/,
    );
  });

  it('a shape dimension given as a string', async () => {
    await rejects(
      craft({ w: f32(['2'] as unknown as number[], 0, 8) }, 8),
      /dimension 0 = "2", expected a non-negative integer/,
    );
  });

  it.each([
    [[0], /"data_offsets" is \[0\], expected \[begin, end\]/],
    [[0, 4.5], /"data_offsets" is \[0, 4.5\], expected \[begin, end\]/],
    [[-4, 4], /"data_offsets" is \[-4, 4\], expected \[begin, end\]/],
    ['0-8', /"data_offsets" is "0-8", expected \[begin, end\]/],
  ])('malformed data_offsets %j', async (offsets, fault) => {
    await rejects(craft({ w: { dtype: 'F32', shape: [2], data_offsets: offsets } }, 8), fault);
  });

  it('a deeply nested shape (error formatting survives it)', async () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    await rejects(
      craft(`{"w": {"dtype": "F32", "shape": ${deep}, "data_offsets": [0, 0]}}`),
      /tensor "w": shape \(unprintable value\) has dimension 0 = \(unprintable value\)/,
    );
  });

  it('offsets past the end of the data section (a truncated file)', async () => {
    await rejects(
      craft({ w: f32([4], 0, 16) }, 12),
      /tensor "w": data_offsets \[0, 16\] run past the end of the data section \(12 bytes\)/,
    );
  });

  it('begin > end', async () => {
    await rejects(craft({ w: f32([0], 8, 4) }, 8), /tensor "w": data_offsets \[8, 4\] have begin > end/);
  });

  it('a byte size that disagrees with the shape', async () => {
    await rejects(
      craft({ w: f32([2, 2], 0, 12) }, 12),
      /tensor "w": data_offsets \[0, 12\] hold 12 bytes but shape \[2, 2\] of F32 needs 16/,
    );
  });

  it('overlapping tensors', async () => {
    await rejects(
      craft({ a: f32([4], 0, 16), b: f32([4], 8, 24) }, 24),
      /tensors "a" \[0, 16\] and "b" \[8, 24\] overlap/,
    );
  });

  it('two tensors sharing the same bytes', async () => {
    await rejects(
      craft({ a: f32([2], 0, 8), b: f32([2], 0, 8) }, 8),
      /tensors "a" \[0, 8\] and "b" \[0, 8\] overlap/,
    );
  });

  it('__metadata__ that is not an object', async () => {
    await rejects(
      craft({ __metadata__: 'x', w: f32([1], 0, 4) }, 4),
      /"__metadata__" is a string, expected an object of string values/,
    );
  });

  it('__metadata__ with a non-string value', async () => {
    await rejects(
      craft({ __metadata__: { epoch: 3 }, w: f32([1], 0, 4) }, 4),
      /"__metadata__" value "epoch" is a number, expected a string/,
    );
  });

  it('a hole between tensors', async () => {
    await rejects(
      craft({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12),
      /hole in the data section: bytes \[4, 8\) before tensor "b"/,
    );
  });

  it('unused bytes after the last tensor', async () => {
    await rejects(
      craft({ a: f32([1], 0, 4) }, 10),
      /hole in the data section: bytes \[4, 10\) after the last tensor/,
    );
  });

  it('a file truncated after it was opened fails the read, naming the file', async () => {
    const p = join(dir, 'shrinks.safetensors');
    await writeSafetensors(p, { w: { dtype: 'F32', shape: [1000], data: new Float32Array(1000) } });
    const r = await SafetensorsReader.open(p);
    const fd = openSync(p, 'r+');
    ftruncateSync(fd, 200);
    closeSync(fd);
    await expect(r.read('w')).rejects.toThrow(
      new RegExp(`${p}: file ended at byte 200 while reading 4000 bytes`),
    );
    await r.close();
  });

  it('random corruption of a valid file gives an Error naming the file or a valid reader, never a crash', async () => {
    const p = join(dir, 'good.safetensors');
    await writeSafetensors(
      p,
      {
        a: { dtype: 'F32', shape: [3, 2], data: new Float32Array(6) },
        b: { dtype: 'I64', shape: [2], data: new BigInt64Array(2) },
        c: { dtype: 'BF16', shape: [5], data: new Uint16Array(5) },
      },
      { k: 'v' },
    );
    const { readFileSync } = await import('node:fs');
    const good = readFileSync(p);
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let rejected = 0;
    for (let trial = 0; trial < 300; trial++) {
      const bad = Buffer.from(good);
      const mode = trial % 3;
      let buf: Buffer = bad;
      if (mode === 0) for (let k = 0; k < 3; k++) bad[rand(bad.length)] = rand(256);
      else if (mode === 1) buf = bad.subarray(0, rand(bad.length));
      else bad[8 + rand(bad.readUInt32LE(0))] = ' {}[],:"0123456789-.e'.charCodeAt(rand(22));
      const q = join(dir, `fuzz-${trial}.safetensors`);
      writeFileSync(q, buf);
      try {
        const r = await SafetensorsReader.open(q);
        for (const name of r.names()) await r.read(name);
        await r.close();
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
        expect((err as Error).message).toContain(q);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(150);
  });
});
