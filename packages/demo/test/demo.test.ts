import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy, selectBackend } from '@qlip/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { runDemo, writeMnistFolder } from '../src/index.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('runDemo', () => {
  it('writes digits, tokens, reconstructions and both reports, and links them from README.md', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'qlip-demo-')), 'demo-out');
    const r = await runDemo({ out, images: 30 });
    expect(r.tokenize.total).toBe(30);
    expect((await readNpy(join(out, 'tokens', 'parts', '00000', 'tokens.npy'))).shape).toEqual([30, 4, 4]);
    expect(r.reconstruct.written).toBe(30);
    expect(r.zeroShot.images).toBe(30);
    expect(r.reconstruction.images).toBe(30);
    const readme = readFileSync(join(out, 'README.md'), 'utf8');
    for (const link of [
      'zero-shot/report.md',
      'reconstruction/report.md',
      'reconstruction/grid.png',
      'zero-shot/confusion.png',
      'unified/seven/sample-grid.png',
    ]) {
      expect(readme).toContain(link);
      expect(existsSync(join(out, link))).toBe(true);
    }
    // A second run resumes the tokens instead of duplicating them.
    const again = await runDemo({ out, images: 30 });
    expect(again.tokenize).toMatchObject({ alreadyDone: 30, tokenized: 0, total: 30 });
  });

  it('writes MNIST digits as a class-folder tree', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qlip-digits-'));
    const written = await writeMnistFolder(dir, 12);
    expect(written).toHaveLength(12);
    expect(
      readdirSync(dir).every((c) =>
        ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'].includes(c),
      ),
    ).toBe(true);
  });
});
