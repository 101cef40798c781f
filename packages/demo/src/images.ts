import { join } from 'node:path';
import { type RgbImage, writePng } from '@qlip/core';
import { mnistSource } from '@qlip/data';

/**
 * Write the first `count` MNIST test digits as PNGs in a class-folder tree (`out/<class>/<index>.png`),
 * the layout `qlip tokenize` and `qlip eval` read, so the demo exercises the same paths a user's own
 * folder would. Returns the relative paths written.
 */
export async function writeMnistFolder(out: string, count: number): Promise<string[]> {
  const source = await mnistSource({ split: 'test', limit: count });
  const written: string[] = [];
  const ctx = { rng: null, seen: () => {}, skip: () => {} };
  for await (const s of source.samples(ctx)) {
    const rel = `${s.className}/${s.key.split('/').pop()}.png`;
    await writePng(join(out, rel), (await s.image()) as RgbImage);
    written.push(rel);
  }
  return written;
}
