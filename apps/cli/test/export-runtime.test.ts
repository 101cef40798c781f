import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import { runCommand } from '@oclif/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../../../fixtures/qlip-reference/qlip-tiny-eva', import.meta.url));

/** A minimal RGB PNG (filter 0 rows, one IDAT). */
function png(width: number, height: number, rgb: (x: number, y: number) => [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const raw = Buffer.alloc(height * (1 + 3 * width));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set(rgb(x, y), y * (1 + 3 * width) + 1 + 3 * x);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qlip-cli-ort-'));
  await cp(FIXTURE, join(tmp, 'model'), { recursive: true });
  await mkdir(join(tmp, 'imgs'));
  for (let i = 0; i < 4; i++) {
    const img = png(40 + 8 * i, 36, (x, y) => [
      (x * 13 + i * 50) % 256,
      (y * 7 + x * i) % 256,
      (x * y + 3 * i) % 256,
    ]);
    await writeFile(join(tmp, 'imgs', `${i}.png`), img);
  }
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('--runtime onnx after qlip export onnx', () => {
  it('qlip tokenize writes the same token indices as the tfjs runtime', async () => {
    const model = join(tmp, 'model');
    const exp = await runCommand(
      ['export', 'onnx', '-m', model, '-o', join(model, 'onnx'), '--no-verify', '--backend', 'cpu'],
      {
        root,
      },
    );
    expect(exp.error).toBeUndefined();
    const runs: Record<string, { tokenized: number; runtime: string }> = {};
    for (const runtime of ['onnx', 'tfjs']) {
      const { stdout, error } = await runCommand(
        [
          'tokenize',
          join(tmp, 'imgs'),
          '-m',
          model,
          '-o',
          join(tmp, `tok-${runtime}`),
          '--runtime',
          runtime,
          '--json',
          '--backend',
          'cpu',
        ],
        { root },
      );
      expect(error).toBeUndefined();
      runs[runtime] = JSON.parse(stdout);
    }
    expect(runs.onnx).toMatchObject({ runtime: 'onnx', tokenized: 4 });
    expect(runs.tfjs).toMatchObject({ runtime: 'tfjs', tokenized: 4 });
    const a = await readFile(join(tmp, 'tok-onnx', 'parts', '00000', 'tokens.npy'));
    const b = await readFile(join(tmp, 'tok-tfjs', 'parts', '00000', 'tokens.npy'));
    expect(a.length).toBeGreaterThan(4 * 16 * 4); // 4 images x 16 uint32 tokens + header
    expect(a.equals(b)).toBe(true);
  });
});
