import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeImage } from '@qlip/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  classFolderSource,
  createSource,
  expandShards,
  folderSource,
  manifestSource,
  parseDataConfig,
  type Sample,
  type SampleSource,
  type SkipEvent,
  splitEntryName,
  webDatasetSource,
} from '../src/index.js';
import { collect, encodeImage, makeTar, patternPixels, tempDir, writeImage } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => cleanup());

/** Read a source in natural order, collecting skips. */
async function read(source: SampleSource): Promise<{ samples: Sample[]; skips: SkipEvent[]; seen: number }> {
  const skips: SkipEvent[] = [];
  let seen = 0;
  const samples = await collect(
    source.samples({ rng: null, seen: () => void seen++, skip: (e) => skips.push(e) }),
  );
  return { samples, skips, seen };
}

describe('folder source', () => {
  beforeEach(async () => {
    await writeImage(path.join(dir, 'a.png'), 1);
    await writeFile(path.join(dir, 'a.txt'), '  a red square \n');
    await writeImage(path.join(dir, 'sub/deeper/b.jpg'), 2, 16, 16, 'jpeg');
    await writeFile(path.join(dir, 'sub/deeper/b.txt'), 'a blue thing');
    await writeImage(path.join(dir, 'sub/no_caption-here.png'), 3);
    await writeFile(path.join(dir, 'notes.txt'), 'not a caption of anything');
  });

  it('pairs images with sidecar captions recursively and skips + reports a missing caption', async () => {
    const { samples, skips, seen } = await read(await folderSource(dir));
    expect(samples.map((s) => [s.key, s.caption])).toEqual([
      ['a.png', 'a red square'],
      ['sub/deeper/b.jpg', 'a blue thing'],
    ]);
    expect(seen).toBe(3);
    expect(skips).toHaveLength(1);
    expect(skips[0]).toMatchObject({ key: 'sub/no_caption-here.png', reason: 'missingCaption' });
    const img = await decodeImage((await samples[1]!.image()) as Buffer);
    expect([img.width, img.height]).toEqual([16, 16]);
  });

  it('uses the file name as caption when configured', async () => {
    const { samples, skips } = await read(await folderSource(dir, { missingCaption: 'filename' }));
    expect(samples.map((s) => s.caption)).toEqual(['a red square', 'a blue thing', 'no caption here']);
    expect(skips).toHaveLength(0);
  });

  it('names the directory when it is missing or holds no images', async () => {
    await expect(folderSource(path.join(dir, 'nope'))).rejects.toThrow(
      `directory '${path.join(dir, 'nope')}' does not exist`,
    );
    await mkdir(path.join(dir, 'empty'));
    await expect(folderSource(path.join(dir, 'empty'))).rejects.toThrow(
      `Image folder ${path.join(dir, 'empty')} holds no image files`,
    );
  });
});

describe('manifest source', () => {
  beforeEach(async () => {
    await writeImage(path.join(dir, 'imgs/x.png'), 1);
    await writeImage(path.join(dir, 'imgs/y.png'), 2);
  });

  it('reads JSONL with paths relative to the manifest, optional labels, and skips empty captions', async () => {
    const m = path.join(dir, 'data', 'm.jsonl');
    await mkdir(path.dirname(m));
    await writeFile(
      m,
      [
        '{"image": "../imgs/x.png", "caption": "first", "label": 3}',
        '',
        '{"image": "../imgs/y.png", "caption": "second"}',
        '{"image": "../imgs/y.png", "caption": ""}',
      ].join('\n'),
    );
    const { samples, skips } = await read(await manifestSource(m));
    expect(samples.map((s) => [s.key, s.caption, s.label])).toEqual([
      ['m.jsonl:1', 'first', 3],
      ['m.jsonl:3', 'second', undefined],
    ]);
    expect(samples[0]!.source).toBe(path.join(dir, 'imgs/x.png'));
    expect(skips.map((s) => [s.key, s.reason])).toEqual([['m.jsonl:4', 'missingCaption']]);
  });

  it('parses quoted CSV fields (commas, quotes, newlines) with csv-parse', async () => {
    const m = path.join(dir, 'm.csv');
    await writeFile(
      m,
      'image,caption,label\nimgs/x.png,"a cat, sitting ""quietly""",1\nimgs/y.png,"two\nlines",0\n',
    );
    const { samples } = await read(await manifestSource(m));
    expect(samples.map((s) => [s.caption, s.label])).toEqual([
      ['a cat, sitting "quietly"', 1],
      ['two\nlines', 0],
    ]);
  });

  it('reads TSV where quotes are plain text', async () => {
    const m = path.join(dir, 'm.tsv');
    await writeFile(m, 'filepath\ttitle\nimgs/x.png\ta "quoted" word, and a comma\n');
    const { samples } = await read(await manifestSource(m));
    expect(samples.map((s) => s.caption)).toEqual(['a "quoted" word, and a comma']);
  });

  it('errors name the manifest and what was expected', async () => {
    const empty = path.join(dir, 'empty.jsonl');
    await writeFile(empty, '\n\n');
    await expect(manifestSource(empty)).rejects.toThrow(`manifest '${empty}' has no rows`);
    const noImage = path.join(dir, 'bad.jsonl');
    await writeFile(noImage, '{"image": "imgs/x.png", "caption": "ok"}\n{"caption": "where is the image"}\n');
    await expect(manifestSource(noImage)).rejects.toThrow(`manifest '${noImage}' line 2: no 'image' path`);
    const csvNoImage = path.join(dir, 'bad.csv');
    await writeFile(csvNoImage, 'picture,caption\nimgs/x.png,hello\n');
    await expect(manifestSource(csvNoImage)).rejects.toThrow(
      `manifest '${csvNoImage}' line 2: no 'image' path`,
    );
    const badJson = path.join(dir, 'broken.jsonl');
    await writeFile(badJson, '{"image": "imgs/x.png", caption}\n');
    await expect(manifestSource(badJson)).rejects.toThrow(`manifest '${badJson}' line 1: invalid JSON`);
    const badLabel = path.join(dir, 'label.csv');
    await writeFile(badLabel, 'image,caption,label\nimgs/x.png,hi,cat\n');
    await expect(manifestSource(badLabel)).rejects.toThrow(
      "line 2: label 'cat' is not a non-negative integer",
    );
    await expect(manifestSource(path.join(dir, 'm.parquet'))).rejects.toThrow(
      'expected .jsonl, .csv or .tsv',
    );
    await expect(manifestSource(path.join(dir, 'missing.csv'))).rejects.toThrow(
      `file '${path.join(dir, 'missing.csv')}' does not exist`,
    );
  });
});

describe('class-folder source', () => {
  beforeEach(async () => {
    await writeImage(path.join(dir, 'zebra/1.png'), 1);
    await writeImage(path.join(dir, 'golden_retriever/a.png'), 2);
    await writeImage(path.join(dir, 'golden_retriever/nested/b.png'), 3);
    await writeImage(path.join(dir, 'ant/x.png'), 4);
  });

  it('labels by sorted class directory and captions from the template', async () => {
    const { samples } = await read(await classFolderSource(dir));
    expect(samples.map((s) => [s.key, s.label, s.className, s.caption])).toEqual([
      ['ant/x.png', 0, 'ant', 'a photo of a ant.'],
      ['golden_retriever/a.png', 1, 'golden retriever', 'a photo of a golden retriever.'],
      ['golden_retriever/nested/b.png', 1, 'golden retriever', 'a photo of a golden retriever.'],
      ['zebra/1.png', 2, 'zebra', 'a photo of a zebra.'],
    ]);
  });

  it('reads templates from a file (CLIP-style {} placeholders too) via the config', async () => {
    await writeFile(path.join(dir, 'templates.txt'), '# prompts\nan image of the {}\n\nitap of a {c}.\n');
    const src = await createSource(
      parseDataConfig({ source: { kind: 'classFolder', path: '.', templateFile: 'templates.txt' } }).source,
      dir,
    );
    const { samples } = await read(src);
    // Natural order (rng null) uses the first template.
    expect(samples[0]!.caption).toBe('an image of the ant');
    // With an rng, both templates appear.
    const { Rng } = await import('@qlip/core');
    const caps = new Set<string>();
    for (let seed = 0; seed < 10; seed++) {
      for (const s of await collect(src.samples({ rng: new Rng(seed), seen: () => {}, skip: () => {} })))
        caps.add(s.caption.split(' ')[0]!);
    }
    expect([...caps].sort()).toEqual(['an', 'itap']);
  });

  it('rejects templates without a placeholder and a missing root', async () => {
    await expect(classFolderSource(dir, { templates: ['a photo'] })).rejects.toThrow(
      'template "a photo" has no {c} placeholder',
    );
    await expect(classFolderSource(path.join(dir, 'none'))).rejects.toThrow('does not exist');
    const both = parseDataConfig({
      source: { kind: 'classFolder', path: '.', templates: ['a {c}'], templateFile: 't.txt' },
    });
    await expect(createSource(both.source, dir)).rejects.toThrow(
      'give either templates or templateFile, not both',
    );
    const missing = parseDataConfig({ source: { kind: 'builtin', name: 'mnist', templateFile: 'gone.txt' } });
    await expect(createSource(missing.source, dir)).rejects.toThrow(
      `template file '${path.join(dir, 'gone.txt')}' could not be read`,
    );
  });
});

describe('webdataset source', () => {
  async function img(seed: number): Promise<Buffer> {
    return encodeImage(patternPixels(8, 8, seed), 8, 8, 'jpeg');
  }

  it('groups key.jpg + key.txt / key.json while streaming, across a brace pattern of shards', async () => {
    await makeTar(path.join(dir, 'shard-00000.tar'), [
      { name: '000000000.jpg', data: await img(1) },
      { name: '000000000.txt', data: 'caption from txt' },
      { name: '000000000.json', data: '{"caption": "ignored when txt exists", "url": "http://x"}' },
      { name: '000000001.jpg', data: await img(2) },
      { name: '000000001.json', data: '{"caption": "caption from json", "label": 7}' },
    ]);
    await makeTar(path.join(dir, 'shard-00001.tar'), [
      { name: 'sub/000010000.png', data: await encodeImage(patternPixels(8, 8, 3), 8, 8) },
      { name: 'sub/000010000.txt', data: 'third' },
      { name: 'sub/000010000.cls', data: '4\n' },
    ]);
    const shards = expandShards('shard-{00000..00001}.tar', dir);
    expect(shards).toEqual([path.join(dir, 'shard-00000.tar'), path.join(dir, 'shard-00001.tar')]);
    const { samples, skips } = await read(await webDatasetSource('shard-{00000..00001}.tar', dir));
    expect(skips).toEqual([]);
    expect(samples.map((s) => [s.key, s.caption, s.label])).toEqual([
      ['000000000', 'caption from txt', undefined],
      ['000000001', 'caption from json', 7],
      ['sub/000010000', 'third', 4],
    ]);
    const decoded = await decodeImage((await samples[2]!.image()) as Buffer);
    expect(decoded.width).toBe(8);
  });

  it('rejects and reports entries escaping the archive, links, and groups without image or caption', async () => {
    const shard = path.join(dir, 'evil.tar');
    await makeTar(shard, [
      { name: '../evil.txt', data: 'owned' },
      { name: '/etc/cron.d/x.txt', data: 'owned' },
      { name: 'ok.jpg', data: await img(1) },
      { name: 'ok.txt', data: 'fine' },
      { name: 'link.jpg', data: '', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'a/../../b.jpg', data: await img(2) },
      { name: 'noimg.txt', data: 'caption only' },
      { name: 'nocap.jpg', data: await img(3) },
    ]);
    const { samples, skips } = await read(await webDatasetSource([shard]));
    expect(samples.map((s) => s.key)).toEqual(['ok']);
    expect(skips.map((s) => [s.key, s.reason])).toEqual([
      ['../evil.txt', 'unsafePath'],
      ['/etc/cron.d/x.txt', 'unsafePath'],
      ['link.jpg', 'unsafePath'],
      ['a/../../b.jpg', 'unsafePath'],
      ['noimg', 'missingImage'],
      ['nocap', 'missingCaption'],
    ]);
    expect(skips.every((s) => s.source === shard)).toBe(true);
  });

  it('a truncated shard ends with a corrupt report instead of an exception', async () => {
    const full = path.join(dir, 'full.tar');
    await makeTar(full, [
      { name: 'a.jpg', data: await img(1) },
      { name: 'a.txt', data: 'first' },
      { name: 'b.jpg', data: Buffer.alloc(5000, 7) },
      { name: 'b.txt', data: 'second' },
    ]);
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(full);
    const cut = path.join(dir, 'cut.tar');
    await writeFile(cut, bytes.subarray(0, 2048 + 512 + 1500)); // inside b.jpg's data
    const { samples, skips } = await read(await webDatasetSource(cut));
    expect(samples.map((s) => s.key)).toEqual(['a']);
    expect(skips.map((s) => [s.key, s.reason])).toEqual([['cut.tar', 'corrupt']]);
  });

  it('a shard cut at a member boundary (no end-of-archive marker) is reported as truncated, not read as complete', async () => {
    const full = path.join(dir, 'full2.tar');
    await makeTar(full, [
      { name: 'a.jpg', data: await img(1) },
      { name: 'a.txt', data: 'first' },
      { name: 'b.jpg', data: await img(2) },
      { name: 'b.txt', data: 'second' },
    ]);
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(full);
    // Cut right after a.txt's data block: every member read so far is whole, the rest is gone.
    const aJpg = 512 + Math.ceil((await img(1)).length / 512) * 512;
    const cut = path.join(dir, 'cut2.tar');
    await writeFile(cut, bytes.subarray(0, aJpg + 1024));
    const { samples, skips } = await read(await webDatasetSource(cut));
    expect(samples.map((s) => s.key)).toEqual(['a']);
    expect(skips.map((s) => [s.key, s.reason])).toEqual([['cut2.tar', 'truncated']]);
    expect(skips[0]!.detail).toMatch(/ends without its end-of-archive marker/);
    const whole = await read(await webDatasetSource(full));
    expect(whole.skips).toEqual([]);
  });

  it('a sparse tar announcing a 300 MB member: skipped as tooLarge without being buffered, the rest read', async () => {
    const { open } = await import('node:fs/promises');
    const header = (name: string, size: number) => {
      const h = Buffer.alloc(512);
      h.write(name, 0, 'utf8');
      h.write('0000644\0', 100);
      h.write('0000000\0', 108);
      h.write('0000000\0', 116);
      h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
      h.write('00000000000\0', 136);
      h.write('        ', 148);
      h.write('0', 156);
      h.write('ustar\0', 257);
      h.write('00', 263);
      let sum = 0;
      for (const b of h) sum += b;
      h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
      return h;
    };
    const big = 300 * 2 ** 20;
    const shard = path.join(dir, 'sparse.tar');
    const fh = await open(shard, 'w');
    const jpg = await img(5);
    let pos = 0;
    const put = async (b: Buffer) => {
      await fh.write(b, 0, b.length, pos);
      pos += b.length;
    };
    await put(header('big.jpg', big));
    pos += big; // a hole: nothing written, nothing stored
    await put(header('big.txt', 3));
    await put(Buffer.concat([Buffer.from('big'), Buffer.alloc(509)]));
    await put(header('ok.jpg', jpg.length));
    await put(Buffer.concat([jpg, Buffer.alloc(Math.ceil(jpg.length / 512) * 512 - jpg.length)]));
    await put(header('ok.txt', 2));
    await put(Buffer.concat([Buffer.from('ok'), Buffer.alloc(510)]));
    await put(Buffer.alloc(1024));
    await fh.close();
    const rss0 = process.memoryUsage().rss;
    const { samples, skips } = await read(await webDatasetSource(shard));
    expect(process.memoryUsage().rss - rss0).toBeLessThan(150 * 2 ** 20);
    expect(samples.map((s) => s.key)).toEqual(['ok']);
    expect(skips.map((s) => [s.key, s.reason])).toEqual([
      ['big.jpg', 'tooLarge'],
      ['big', 'missingImage'],
    ]);
    expect(skips[0]!.detail).toMatch(/member is 314572800 bytes, over the limit of 268435456 bytes/);
  });

  it('splits entry names like WebDataset and names a missing shard', async () => {
    expect(splitEntryName('dir/abc.seg.png')).toEqual({ key: 'dir/abc', ext: 'seg.png' });
    expect(splitEntryName('dir.x/file')).toBeNull();
    expect(splitEntryName('.hidden')).toBeNull();
    await expect(webDatasetSource('nope-{0..1}.tar', dir)).rejects.toThrow(
      `webdataset shard: file '${path.join(dir, 'nope-0.tar')}' does not exist`,
    );
  });
});
