import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { selectBackend, writePng } from '@qlip/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { train } from '../src/index.js';
import { microConfig, tempDir } from './helpers.js';

// Issue 13 item 10: the samples a training run leaves out are counted by reason in its result.
beforeAll(async () => {
  await selectBackend('cpu');
});

describe('train reports what the data pipeline skipped', () => {
  it('a corrupt image and an image without a caption are counted by reason, not dropped silently', async () => {
    const data = await tempDir('qlip-train-skips-data-');
    for (let i = 0; i < 8; i++) {
      await writePng(join(data, `d${i}.png`), {
        width: 16,
        height: 16,
        data: new Uint8Array(16 * 16 * 3).fill(20 * i),
      });
      await writeFile(join(data, `d${i}.txt`), `digit ${i}`);
    }
    await writeFile(join(data, 'bad.png'), 'not a png');
    await writeFile(join(data, 'bad.txt'), 'broken');
    await writePng(join(data, 'nocaption.png'), {
      width: 16,
      height: 16,
      data: new Uint8Array(16 * 16 * 3).fill(9),
    });
    const r = await train(microConfig({ steps: 2, data: { source: { kind: 'folder', path: data } } }), {
      out: await tempDir(),
    });
    expect(r.stopped).toBe('completed');
    expect(r.skipped.byReason.corrupt).toBeGreaterThan(0);
    expect(r.skipped.byReason.missingCaption).toBeGreaterThan(0);
    expect(r.skipped.first.map((s) => s.path).join(' ')).toMatch(/bad\.png|nocaption/);
  });
});
