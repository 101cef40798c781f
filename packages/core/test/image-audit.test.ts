import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { type DecodedImageInfo, decodeImage, withImageAudit } from '../src/index.js';

const rgba = (a: number) =>
  sharp(Buffer.from([200, 100, 0, a, 10, 20, 30, 255]), { raw: { width: 2, height: 1, channels: 4 } })
    .png()
    .toBuffer();

describe('alpha compositing and the image audit', () => {
  it('black composites c * a; white c * a + 255 * (1 - a); drop keeps the colour', async () => {
    const buf = await rgba(51); // a = 0.2
    expect([...(await decodeImage(buf, { alpha: 'black' })).data]).toEqual([40, 20, 0, 10, 20, 30]);
    expect([...(await decodeImage(buf, { alpha: 'white' })).data]).toEqual([244, 224, 204, 10, 20, 30]);
    expect([...(await decodeImage(buf)).data]).toEqual([200, 100, 0, 10, 20, 30]);
  });

  it('reports size and real transparency of every image decoded inside withImageAudit, only there', async () => {
    const seen: DecodedImageInfo[] = [];
    const opaqueAlpha = await rgba(255);
    const big = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#123' } })
      .png()
      .toBuffer();
    await withImageAudit(
      (i) => seen.push(i),
      async () => {
        await Promise.all([
          decodeImage(await rgba(0), { name: 'clear.png' }),
          decodeImage(opaqueAlpha, { name: 'opaque.png' }),
          decodeImage(big, { name: 'big.png' }),
        ]);
      },
    );
    await decodeImage(big, { name: 'outside.png' });
    expect(seen.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'big.png', width: 300, height: 200, transparent: false, alpha: 'drop' },
      { name: 'clear.png', width: 2, height: 1, transparent: true, alpha: 'drop' },
      { name: 'opaque.png', width: 2, height: 1, transparent: false, alpha: 'drop' },
    ]);
  });
});
