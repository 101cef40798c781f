import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSource, SourceSchema, sourceFromSpec } from '../src/index.js';
import type { Sample, SourceContext } from '../src/types.js';
import { collect, makeTar, tempDir, writeImage } from './helpers.js';

const ctx = (): SourceContext => ({ rng: null, epoch: 0, seen() {}, skip() {} }) as unknown as SourceContext;

/** Open the detected source (validated by the schema) and read every sample's key and caption. */
async function read(spec: string, baseDir: string, captionTemplates?: string[]) {
  const { source, description } = await sourceFromSpec(spec, {
    baseDir,
    ...(captionTemplates ? { captionTemplates } : {}),
  });
  const opened = await createSource(SourceSchema.parse(source));
  const samples = (await collect(opened.samples(ctx()))) as Sample[];
  return { source, description, samples: samples.map((s) => [s.key, s.caption]) };
}

describe('sourceFromSpec (qlip train --data)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    // folder with sidecar captions (one image without)
    await writeImage(path.join(dir, 'captioned/a.png'), 1);
    await writeFile(path.join(dir, 'captioned/a.txt'), 'a red square\n');
    await writeImage(path.join(dir, 'captioned/sub/b.png'), 2);
    await writeFile(path.join(dir, 'captioned/sub/b.txt'), 'a blue square');
    await writeImage(path.join(dir, 'captioned/c.png'), 3);
    // class folders
    await writeImage(path.join(dir, 'classes/red_fox/1.png'), 4);
    await writeImage(path.join(dir, 'classes/cat/2.png'), 5);
    // manifest
    await writeImage(path.join(dir, 'm/img.png'), 6);
    await writeFile(
      path.join(dir, 'm/list.jsonl'),
      `${JSON.stringify({ image: 'img.png', caption: 'from a manifest' })}\n`,
    );
    await writeFile(path.join(dir, 'm/list.csv'), 'filepath,title\nimg.png,from a csv\n');
    // shards
    const png = await readFile(path.join(dir, 'm/img.png'));
    for (const i of [0, 1])
      await makeTar(path.join(dir, `shards/${String(i).padStart(5, '0')}.tar`), [
        { name: `k${i}.png`, data: png },
        { name: `k${i}.txt`, data: `shard ${i}` },
      ]);
    await writeImage(path.join(dir, 'loose/x.png'), 7);
  });
  afterAll(() => cleanup());

  it('a folder with .txt captions is a folder source; uncaptioned images are counted', async () => {
    const r = await read('captioned', dir);
    expect(r.source).toEqual({ kind: 'folder', path: path.join(dir, 'captioned') });
    expect(r.description).toMatch(/3 images, 2 captioned; the 1 without a caption are skipped/);
    expect((await sourceFromSpec('captioned', { baseDir: dir })).samples).toBe(2);
    expect(r.samples).toEqual([
      ['a.png', 'a red square'],
      ['sub/b.png', 'a blue square'],
    ]);
  });

  it('a class-folder tree gets captions from --caption-template', async () => {
    const r = await read('classes/', dir, ['a drawing of a {c}.']);
    expect(r.source).toMatchObject({ kind: 'classFolder', templates: ['a drawing of a {c}.'] });
    expect(r.samples).toEqual([
      ['cat/2.png', 'a drawing of a cat.'],
      ['red_fox/1.png', 'a drawing of a red fox.'],
    ]);
    expect((await read('classes', dir)).samples[0]).toEqual(['cat/2.png', 'a photo of a cat.']);
  });

  it('manifests, shards, brace patterns and folders of shards', async () => {
    expect((await read('m/list.jsonl', dir)).samples).toEqual([['list.jsonl:1', 'from a manifest']]);
    expect((await read('m/list.csv', dir)).source).toMatchObject({ kind: 'manifest' });
    expect((await read('shards/00001.tar', dir)).samples).toEqual([['k1', 'shard 1']]);
    expect((await read('shards/{00000..00001}.tar', dir)).samples).toEqual([
      ['k0', 'shard 0'],
      ['k1', 'shard 1'],
    ]);
    expect((await read('shards', dir)).source).toEqual({
      kind: 'webdataset',
      shards: [path.join(dir, 'shards/00000.tar'), path.join(dir, 'shards/00001.tar')],
    });
  });

  it('built-in names, unless a path of that name exists', async () => {
    expect((await sourceFromSpec('mnist', { baseDir: dir })).source).toEqual({
      kind: 'builtin',
      name: 'mnist',
    });
    expect((await sourceFromSpec('mnist:test', { baseDir: dir })).source).toEqual({
      kind: 'builtin',
      name: 'mnist',
      split: 'test',
    });
    await writeImage(path.join(dir, 'emoji/e.png'), 8);
    await writeFile(path.join(dir, 'emoji/e.txt'), 'mine');
    expect((await sourceFromSpec('emoji', { baseDir: dir })).source).toMatchObject({ kind: 'folder' });
  });

  it('says what it expected when nothing fits', async () => {
    await expect(sourceFromSpec('nope', { baseDir: dir })).rejects.toThrow(
      /--data 'nope': no such file or folder .*not a built-in dataset \(mnist, emoji\)/,
    );
    await expect(sourceFromSpec('loose', { baseDir: dir })).rejects.toThrow(
      /found 1 image\(s\) but no captions: put each caption in a \.txt file beside its image/,
    );
    await expect(sourceFromSpec('loose', { baseDir: dir, captionTemplates: ['{c}'] })).rejects.toThrow(
      /--caption-template needs a class-folder tree/,
    );
    await expect(sourceFromSpec('m/list.jsonl', { baseDir: dir, captionTemplates: ['{c}'] })).rejects.toThrow(
      /--caption-template applies to class folders and built-in datasets, not to a manifest/,
    );
    await expect(sourceFromSpec('m/img.png', { baseDir: dir })).rejects.toThrow(
      /cannot tell the data source from '\.png'/,
    );
  });

  describe('http(s) shards', () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      server = createServer(async (req, res) => {
        const file = path.join(dir, 'shards', path.basename(req.url ?? ''));
        const body = await readFile(file).catch(() => null);
        res.writeHead(body ? 200 : 404).end(body ?? 'not found');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('streams shards from a URL brace pattern; a missing shard is reported, not fatal', async () => {
      const r = await read(`${base}/{00000..00001}.tar`, dir);
      expect(r.source).toEqual({ kind: 'webdataset', shards: `${base}/{00000..00001}.tar` });
      expect(r.samples).toEqual([
        ['k0', 'shard 0'],
        ['k1', 'shard 1'],
      ]);
      const skips: string[] = [];
      const src = await createSource({ kind: 'webdataset', shards: `${base}/00009.tar` });
      const c = {
        ...ctx(),
        skip: (e: { detail: string }) => skips.push(e.detail),
      } as unknown as SourceContext;
      expect(await collect(src.samples(c))).toEqual([]);
      expect(skips).toEqual(['shard unreadable: HTTP 404 Not Found']);
    });
  });
});
