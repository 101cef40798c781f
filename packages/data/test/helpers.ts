import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';

/** A fresh temp directory; call the returned cleanup in afterEach/afterAll. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'qlip-data-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A w x h RGB image whose pixels encode (x, y, seed), so different images and crops differ. */
export function patternPixels(w: number, h: number, seed: number): Buffer {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      px[o] = (x * 16 + seed * 37) & 255;
      px[o + 1] = (y * 16 + seed * 11) & 255;
      px[o + 2] = (seed * 53) & 255;
    }
  }
  return px;
}

export async function encodeImage(
  px: Buffer,
  w: number,
  h: number,
  format: 'png' | 'jpeg' = 'png',
  channels: 1 | 3 | 4 = 3,
): Promise<Buffer> {
  const s = sharp(px, { raw: { width: w, height: h, channels } });
  return format === 'png' ? s.png().toBuffer() : s.jpeg({ quality: 95 }).toBuffer();
}

export async function writeImage(
  file: string,
  seed: number,
  w = 16,
  h = 16,
  format: 'png' | 'jpeg' = 'png',
): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, await encodeImage(patternPixels(w, h, seed), w, h, format));
}

/** A tar built with tar-stream's packer: entries exactly as named (no normalisation). */
export async function makeTar(
  file: string,
  entries: { name: string; data: Buffer | string; type?: 'file' | 'symlink'; linkname?: string }[],
): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    if (e.type === 'symlink')
      pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname ?? '/etc/passwd' });
    else pack.entry({ name: e.name }, typeof e.data === 'string' ? Buffer.from(e.data) : e.data);
  }
  pack.finalize();
  await done;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, Buffer.concat(chunks));
}

/** Collect an async iterable into an array. */
export async function collect<T>(it: AsyncIterable<T>, limit = Number.POSITIVE_INFINITY): Promise<T[]> {
  const out: T[] = [];
  if (limit <= 0) return out;
  for await (const x of it) {
    out.push(x);
    if (out.length >= limit) break;
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
