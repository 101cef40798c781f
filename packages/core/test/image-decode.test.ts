import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_PIXELS, decodeImage, type RgbImage, toRgb8 } from '../src/index.js';

// ---- A minimal PNG writer, independent of sharp, so the decoder is checked against bytes we control.

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** colorType: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA; samples row-major, interleaved. */
function png(o: {
  width: number;
  height: number;
  bitDepth: 8 | 16;
  colorType: 0 | 2 | 3 | 4 | 6;
  samples: number[];
  plte?: number[];
  trns?: number[];
}): Buffer {
  const ch = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[o.colorType];
  const bps = o.bitDepth / 8;
  const rowBytes = o.width * ch * bps;
  const raw = Buffer.alloc((rowBytes + 1) * o.height); // filter byte 0 (None) per row
  for (let y = 0; y < o.height; y++)
    for (let i = 0; i < o.width * ch; i++) {
      const v = o.samples[y * o.width * ch + i]!;
      const at = y * (rowBytes + 1) + 1 + i * bps;
      if (bps === 2) raw.writeUInt16BE(v, at);
      else raw[at] = v;
    }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(o.width, 0);
  ihdr.writeUInt32BE(o.height, 4);
  ihdr[8] = o.bitDepth;
  ihdr[9] = o.colorType;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    ...(o.plte ? [chunk('PLTE', Buffer.from(o.plte))] : []),
    ...(o.trns ? [chunk('tRNS', Buffer.from(o.trns))] : []),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A deterministic 12 x 8 RGB test card: 4 colours in blocks (GIF-safe) with no symmetry. */
function card(): RgbImage {
  const colours = [
    [220, 20, 60],
    [30, 144, 255],
    [255, 215, 0],
    [34, 139, 34],
  ];
  const width = 12;
  const height = 8;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      data.set(
        colours[(Math.floor(x / 3) + 2 * Math.floor(y / 4) + (x === 0 && y === 0 ? 1 : 0)) % 4]!,
        (y * width + x) * 3,
      );
  return { width, height, data };
}

/** Smooth gradient for lossy codecs (sharp edges would ring). */
function gradient(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      data.set([(x * 255) / (width - 1), (y * 255) / (height - 1), 128], (y * width + x) * 3);
  return { width, height, data };
}

function raw(img: RgbImage) {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qlip-image-decode-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('format round trips', () => {
  const lossless: [string, (s: sharp.Sharp) => sharp.Sharp][] = [
    ['png', (s) => s.png()],
    ['webp', (s) => s.webp({ lossless: true })],
    ['tiff', (s) => s.tiff({ compression: 'lzw' })],
    ['gif', (s) => s.gif()],
  ];
  for (const [fmt, enc] of lossless) {
    it(`${fmt} decodes to the exact pixels`, async () => {
      const img = card();
      const path = join(dir, `card.${fmt}`);
      await enc(raw(img)).toFile(path);
      const out = await decodeImage(path);
      expect([out.width, out.height]).toEqual([12, 8]);
      expect(maxAbsDiff(out.data, img.data)).toBe(0);
    });
  }

  it('avif (lossless, sharp reads heif/avif here) decodes within 1 level', async () => {
    expect(sharp.format.heif.input.buffer).toBe(true);
    const img = gradient(16, 16);
    const buf = await raw(img).avif({ lossless: true }).toBuffer();
    const out = await decodeImage(buf, { name: 'card.avif' });
    expect([out.width, out.height]).toEqual([16, 16]);
    // Lossless AVIF still goes through RGB -> YUV 4:4:4 -> RGB in integers: allow one level.
    expect(maxAbsDiff(out.data, img.data)).toBeLessThanOrEqual(1);
  });

  it('jpeg (quality 95) decodes close to the source', async () => {
    const img = gradient(32, 24);
    const path = join(dir, 'gradient.JPG');
    await raw(img).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toFile(path);
    const out = await decodeImage(path);
    expect([out.width, out.height]).toEqual([32, 24]);
    expect(maxAbsDiff(out.data, img.data)).toBeLessThanOrEqual(6);
  });

  it('animated gif gives its first frame', async () => {
    const frame = (c: string) =>
      sharp({ create: { width: 6, height: 4, channels: 3, background: c } })
        .png()
        .toBuffer();
    const gif = await sharp([await frame('#ff0000'), await frame('#0000ff')], { join: { animated: true } })
      .gif()
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const out = await decodeImage(gif);
    expect([out.width, out.height]).toEqual([6, 4]);
    for (let p = 0; p < 24; p++) expect([...out.data.subarray(p * 3, p * 3 + 3)]).toEqual([255, 0, 0]);
  });
});

describe('bit depth, channels and alpha', () => {
  it('16-bit RGB is scaled with rounding: round(v / 257)', async () => {
    const s16 = [0, 257, 65535, 32896, 1000, 65000, 128, 383, 384, 65407, 65408, 12345];
    const out = await decodeImage(png({ width: 2, height: 2, bitDepth: 16, colorType: 2, samples: s16 }));
    expect([...out.data]).toEqual(s16.map((v) => Math.round(v / 257)));
    // 1000 / 257 = 3.89: the high byte alone (3) would be off by one.
    expect(out.data[4]).toBe(4);
  });

  it('16-bit grayscale becomes R = G = B', async () => {
    const out = await decodeImage(
      png({ width: 3, height: 1, bitDepth: 16, colorType: 0, samples: [40000, 300, 65535] }),
    );
    expect([...out.data]).toEqual([156, 156, 156, 1, 1, 1, 255, 255, 255]);
  });

  it('8-bit grayscale becomes R = G = B', async () => {
    const out = await decodeImage(
      png({ width: 4, height: 1, bitDepth: 8, colorType: 0, samples: [0, 50, 100, 255] }),
    );
    expect([...out.data]).toEqual([0, 0, 0, 50, 50, 50, 100, 100, 100, 255, 255, 255]);
  });

  it('palette with transparency: drop keeps palette colours, white composites', async () => {
    const buf = png({
      width: 3,
      height: 1,
      bitDepth: 8,
      colorType: 3,
      samples: [0, 1, 2],
      plte: [255, 0, 0, 0, 255, 0, 0, 0, 255],
      trns: [255, 0], // entry 1 fully transparent, entry 2 opaque (implicit)
    });
    expect([...(await decodeImage(buf)).data]).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255]);
    expect([...(await decodeImage(buf, { alpha: 'white' })).data]).toEqual([
      255, 0, 0, 255, 255, 255, 0, 0, 255,
    ]);
  });

  it('RGBA: drop ignores alpha; white gives round(c * a + 255 * (1 - a))', async () => {
    const samples = [200, 100, 0, 128, 10, 20, 30, 0, 40, 50, 60, 255];
    const buf = png({ width: 3, height: 1, bitDepth: 8, colorType: 6, samples });
    expect([...(await decodeImage(buf)).data]).toEqual([200, 100, 0, 10, 20, 30, 40, 50, 60]);
    const white = (c: number, a: number) => Math.round((c * a + 255 * (255 - a)) / 255);
    expect([...(await decodeImage(buf, { alpha: 'white' })).data]).toEqual([
      white(200, 128),
      white(100, 128),
      white(0, 128),
      255,
      255,
      255,
      40,
      50,
      60,
    ]);
    expect(white(0, 128)).toBe(127); // hand value: 255 * 127 / 255
  });

  it('gray + alpha and 16-bit RGBA composite on white exactly', async () => {
    const ga = png({ width: 1, height: 1, bitDepth: 8, colorType: 4, samples: [100, 128] });
    expect([...(await decodeImage(ga, { alpha: 'white' })).data]).toEqual([177, 177, 177]); // 177.196
    const rgba16 = png({
      width: 1,
      height: 1,
      bitDepth: 16,
      colorType: 6,
      samples: [40000, 0, 65535, 32768],
    });
    const a = 32768 / 65535;
    const expected = [40000, 0, 65535].map((v) => Math.round(((v * a + 65535 * (1 - a)) * 255) / 65535));
    expect([...(await decodeImage(rgba16, { alpha: 'white' })).data]).toEqual(expected);
    expect([...(await decodeImage(rgba16)).data]).toEqual([156, 0, 255]);
  });

  it('toRgb8 checks its input size', () => {
    expect(() => toRgb8(new Uint8Array(5), 2, 3, 255, 'drop')).toThrow(/expected 2 pixels/);
  });
});

describe('EXIF orientation', () => {
  // Stored pixels -> displayed pixel at (x, y) for each EXIF orientation, written from the EXIF definitions.
  const display: Record<
    number,
    { swap: boolean; at: (x: number, y: number, w: number, h: number) => [number, number] }
  > = {
    1: { swap: false, at: (x, y) => [x, y] },
    2: { swap: false, at: (x, y, w) => [w - 1 - x, y] },
    3: { swap: false, at: (x, y, w, h) => [w - 1 - x, h - 1 - y] },
    4: { swap: false, at: (x, y, _w, h) => [x, h - 1 - y] },
    5: { swap: true, at: (x, y) => [y, x] },
    6: { swap: true, at: (x, y, _w, h) => [y, h - 1 - x] },
    7: { swap: true, at: (x, y, w, h) => [w - 1 - y, h - 1 - x] },
    8: { swap: true, at: (x, y, w) => [w - 1 - y, x] },
  };
  for (const o of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`orientation ${o} is applied`, async () => {
      const img = card(); // 12 x 8
      const buf = await raw(img).withMetadata({ orientation: o }).png().toBuffer();
      expect((await sharp(buf).metadata()).orientation).toBe(o);
      const out = await decodeImage(buf);
      const { swap, at } = display[o]!;
      expect([out.width, out.height]).toEqual(swap ? [8, 12] : [12, 8]);
      for (let y = 0; y < out.height; y++)
        for (let x = 0; x < out.width; x++) {
          const [sx, sy] = at(x, y, 12, 8);
          const got = [...out.data.subarray((y * out.width + x) * 3, (y * out.width + x) * 3 + 3)];
          expect(got).toEqual([...img.data.subarray((sy * 12 + sx) * 3, (sy * 12 + sx) * 3 + 3)]);
        }
    });
  }

  it('jpeg orientation 6 swaps the dimensions', async () => {
    const buf = await raw(gradient(32, 16)).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const out = await decodeImage(buf);
    expect([out.width, out.height]).toEqual([16, 32]);
  });
});

describe('refusals and errors', () => {
  it('refuses images over the pixel limit, naming the file and its size', async () => {
    const path = join(dir, 'twenty.png');
    await raw(gradient(20, 10)).png().toFile(path);
    await expect(decodeImage(path, { maxPixels: 199 })).rejects.toThrow(
      new RegExp(
        `Image ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is 20x10 .*over the limit of 199 pixels`,
      ),
    );
    expect((await decodeImage(path, { maxPixels: 200 })).width).toBe(20);
  });

  it('refuses a small file claiming a huge canvas from its header alone (default 40 MP)', async () => {
    expect(DEFAULT_MAX_PIXELS).toBe(40_000_000);
    // A valid 8-bit RGB PNG header for 30000 x 30000 (900 MP) with a one-row IDAT: a decoder that tried would
    // need 2.7 GB; the check must fire before that.
    const bomb = png({ width: 1, height: 1, bitDepth: 8, colorType: 2, samples: [1, 2, 3] });
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(30000, 0);
    ihdr.writeUInt32BE(30000, 4);
    ihdr[8] = 8;
    ihdr[9] = 2;
    const forged = Buffer.concat([bomb.subarray(0, 8), chunk('IHDR', ihdr), bomb.subarray(33)]);
    expect(forged.length).toBeLessThan(100);
    const t0 = Date.now();
    await expect(decodeImage(forged, { name: 'bomb.png' })).rejects.toThrow(
      /Image bomb\.png is 30000x30000 \(900\.0 megapixels\), over the limit of 40000000 pixels/,
    );
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a non-image file names the file and the cause', async () => {
    const path = join(dir, 'notes.png');
    await writeFile(path, 'this is not a picture');
    await expect(decodeImage(path)).rejects.toThrow(
      new RegExp(
        `Cannot decode image ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*unsupported image format`,
      ),
    );
  });

  it('a truncated PNG fails with the file name', async () => {
    const full = await raw(gradient(40, 40)).png({ compressionLevel: 0 }).toBuffer();
    const path = join(dir, 'truncated.png');
    await writeFile(path, full.subarray(0, Math.floor(full.length / 2)));
    await expect(decodeImage(path)).rejects.toThrow(/Cannot decode image .*truncated\.png: /);
  });

  it('a missing file says it cannot be read', async () => {
    await expect(decodeImage(join(dir, 'nope.jpg'))).rejects.toThrow(
      /Cannot read image .*nope\.jpg: .*ENOENT/,
    );
  });

  it('an empty buffer names the given name', async () => {
    await expect(decodeImage(new Uint8Array(0), { name: 'shard-3/item-17' })).rejects.toThrow(
      /shard-3\/item-17/,
    );
  });

  it('rejects bad options', async () => {
    const buf = await raw(card()).png().toBuffer();
    await expect(decodeImage(buf, { maxPixels: 0 })).rejects.toThrow(/maxPixels must be a positive number/);
    await expect(decodeImage(buf, { alpha: 'grey' as 'drop' })).rejects.toThrow(
      /alpha must be one of drop, white, black/,
    );
  });
});
