import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { clipPreprocessParams, preprocessImage } from '@qlip/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Batch, createDataset, type DataConfigInput, type SkipEvent } from '../src/index.js';
import { collect, encodeImage, makeTar, patternPixels, tempDir, writeImage } from './helpers.js';

const N = 30;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  for (let i = 0; i < N; i++) {
    const name = `img${String(i).padStart(2, '0')}`;
    await writeImage(path.join(dir, 'good', `${name}.png`), i, 14, 10);
    await writeFile(path.join(dir, 'good', `${name}.txt`), `caption ${i}`);
  }
});
afterAll(async () => cleanup());

function config(over: Partial<DataConfigInput> = {}): DataConfigInput {
  return {
    source: { kind: 'folder', path: path.join(dir, 'good') },
    imageSize: 8,
    batchSize: 3,
    shuffleBuffer: 8,
    seed: 11,
    workers: 3,
    prefetch: 2,
    ...over,
  };
}

const keysOf = (batches: Batch[]) => batches.flatMap((b) => b.keys);

describe('batches', () => {
  it('are NCHW float tensors with captions and labels (-1 when unlabelled)', async () => {
    const ds = await createDataset(config({ shuffle: false, augment: false, epochs: 1 }));
    const batches = await collect(ds.batches());
    expect(batches).toHaveLength(10);
    const b = batches[0]!;
    expect(b.shape).toEqual([3, 3, 8, 8]);
    expect(b.images.length).toBe(3 * 3 * 8 * 8);
    expect(b.captions).toEqual(['caption 0', 'caption 1', 'caption 2']);
    expect([...b.labels]).toEqual([-1, -1, -1]);
    expect(b.position).toEqual({ epoch: 0, index: 3 });
    expect(keysOf(batches)).toEqual(
      Array.from({ length: N }, (_, i) => `img${String(i).padStart(2, '0')}.png`),
    );
    expect(ds.stats).toMatchObject({ seen: N, yielded: N });
  });

  it('augment: false gives exactly CLIP resize + centre crop of each image', async () => {
    const ds = await createDataset(config({ augment: false, epochs: 1 }));
    const [b] = await collect(ds.batches(), 1);
    for (let i = 0; i < b!.keys.length; i++) {
      const expected = await preprocessImage(path.join(dir, 'good', b!.keys[i]!), clipPreprocessParams(8));
      expect(b!.images.subarray(i * 192, (i + 1) * 192)).toEqual(expected);
    }
    // And augmentation really changes pixels.
    const aug = await createDataset(config({ epochs: 1, augment: { scale: [0.3, 0.6] } }));
    const [a] = await collect(aug.batches(), 1);
    expect(a!.keys).toEqual(b!.keys); // augmentation does not change the order
    expect(a!.images).not.toEqual(b!.images);
  });

  it('stops after `epochs`, keeping or dropping the short last batch', async () => {
    const cfg = config({ epochs: 2, batchSize: 7 });
    expect((await collect((await createDataset(cfg)).batches())).map((b) => b.keys.length)).toEqual([
      7, 7, 7, 7, 7, 7, 7, 7, 4,
    ]);
    const dropped = await collect((await createDataset({ ...cfg, dropLast: true })).batches());
    expect(dropped).toHaveLength(8);
  });
});

describe('seeded order', () => {
  it('is the same for a seed, different for another, a permutation per epoch, and changes between epochs', async () => {
    const run = async (seed: number) =>
      keysOf(await collect((await createDataset(config({ seed, epochs: 2, batchSize: 5 }))).batches()));
    const a = await run(11);
    const b = await run(11);
    const c = await run(12);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const all = Array.from({ length: N }, (_, i) => `img${String(i).padStart(2, '0')}.png`);
    expect([...a.slice(0, N)].sort()).toEqual(all);
    expect([...a.slice(N)].sort()).toEqual(all);
    expect(a.slice(0, N)).not.toEqual(a.slice(N));
    expect(a.slice(0, N)).not.toEqual(all);
  });
});

describe('resume', () => {
  it('10 batches + resume from the saved position + 10 batches = 20 batches (keys and augmented pixels)', async () => {
    // 20 batches of 4 = 80 samples: crosses two epoch boundaries of the 30-image set.
    const cfg = config({ batchSize: 4, seed: 5 });
    const straight = await collect((await createDataset(cfg)).batches(), 20);
    const first = await collect((await createDataset(cfg)).batches(), 10);
    // The trainer stores the position in JSON.
    const saved = JSON.parse(JSON.stringify(first[9]!.position));
    expect(saved).toEqual({ epoch: 1, index: 10 });
    const resumed = await createDataset(cfg);
    const second = await collect(resumed.batches(saved), 10);
    const joined = [...first, ...second];
    expect(keysOf(joined)).toEqual(keysOf(straight));
    for (const [i, b] of joined.entries()) expect(b.images).toEqual(straight[i]!.images);
    expect(joined.map((b) => b.captions)).toEqual(straight.map((b) => b.captions));
    // Resuming skips without decoding: only the 40 resumed samples plus the 2 prefetched batches were decoded.
    expect(resumed.stats.yielded).toBe(40 + 2 * 4);
  });

  it('works the same over streamed WebDataset shards with a corrupt sample in them', async () => {
    const { dir: d, cleanup: c } = await tempDir();
    try {
      for (let s = 0; s < 3; s++) {
        const entries = [];
        for (let k = 0; k < 5; k++) {
          const key = `${s}${String(k).padStart(4, '0')}`;
          const bad = s === 1 && k === 2;
          entries.push({
            name: `${key}.jpg`,
            data: bad
              ? Buffer.from('corrupt jpeg')
              : await encodeImage(patternPixels(10, 10, s * 5 + k), 10, 10, 'jpeg'),
          });
          entries.push({ name: `${key}.txt`, data: `shard ${s} item ${k}` });
        }
        await makeTar(path.join(d, `s-${s}.tar`), entries);
      }
      const cfg: DataConfigInput = {
        source: { kind: 'webdataset', shards: 's-{0..2}.tar' },
        imageSize: 6,
        batchSize: 2,
        shuffleBuffer: 4,
        seed: 3,
      };
      const straight = await collect((await createDataset(cfg, { baseDir: d })).batches(), 12);
      const first = await collect((await createDataset(cfg, { baseDir: d })).batches(), 5);
      const second = await collect((await createDataset(cfg, { baseDir: d })).batches(first[4]!.position), 7);
      expect(keysOf([...first, ...second])).toEqual(keysOf(straight));
      for (const [i, b] of [...first, ...second].entries()) expect(b.images).toEqual(straight[i]!.images);
      // 12 batches of 2 over 14 good samples per epoch: the corrupt one is skipped in both epochs.
      expect(keysOf(straight).filter((k) => k === '10002')).toEqual([]);
      expect(new Set(keysOf(straight).slice(0, 14)).size).toBe(14);
    } finally {
      await c();
    }
  });

  it('rejects a malformed position', async () => {
    const ds = await createDataset(config());
    await expect(collect(ds.batches({ epoch: -1, index: 0 }))).rejects.toThrow(
      'expected {epoch, index} with non-negative integers',
    );
  });
});

describe('corrupt and unreadable samples', () => {
  it('are skipped, counted and reported, never thrown', async () => {
    const { dir: d, cleanup: c } = await tempDir();
    try {
      for (let i = 0; i < 4; i++) {
        await writeImage(path.join(d, `ok${i}.jpg`), i, 16, 16, 'jpeg');
        await writeFile(path.join(d, `ok${i}.txt`), `ok ${i}`);
      }
      await writeFile(path.join(d, 'garbage.png'), Buffer.from('this is not a png at all'));
      await writeFile(path.join(d, 'garbage.txt'), 'garbage');
      const jpeg = await readFile(path.join(d, 'ok0.jpg'));
      await writeFile(path.join(d, 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
      await writeFile(path.join(d, 'truncated.txt'), 'cut');
      await writeImage(path.join(d, 'uncaptioned.png'), 9);
      const events: SkipEvent[] = [];
      const ds = await createDataset(
        {
          source: { kind: 'folder', path: d },
          imageSize: 8,
          batchSize: 2,
          shuffle: false,
          epochs: 1,
          augment: false,
        },
        { onSkip: (e) => events.push(e) },
      );
      const batches = await collect(ds.batches());
      expect(keysOf(batches)).toEqual(['ok0.jpg', 'ok1.jpg', 'ok2.jpg', 'ok3.jpg']);
      expect(ds.stats).toEqual({
        seen: 7,
        yielded: 4,
        skipped: {
          corrupt: 2,
          missingCaption: 1,
          missingImage: 0,
          unsafePath: 0,
          badEntry: 0,
          tooLarge: 0,
          truncated: 0,
        },
      });
      expect(events.map((e) => [e.key, e.reason]).sort()).toEqual([
        ['garbage.png', 'corrupt'],
        ['truncated.jpg', 'corrupt'],
        ['uncaptioned.png', 'missingCaption'],
      ]);
      expect(events.find((e) => e.key === 'garbage.png')!.source).toBe(path.join(d, 'garbage.png'));
    } finally {
      await c();
    }
  });

  it('a manifest row whose image file is missing is a corrupt skip', async () => {
    const { dir: d, cleanup: c } = await tempDir();
    try {
      await writeImage(path.join(d, 'a.png'), 1);
      await writeFile(
        path.join(d, 'm.jsonl'),
        '{"image":"a.png","caption":"a"}\n{"image":"gone.png","caption":"b"}\n',
      );
      const ds = await createDataset(
        {
          source: { kind: 'manifest', path: 'm.jsonl' },
          imageSize: 4,
          batchSize: 4,
          shuffle: false,
          epochs: 1,
        },
        { baseDir: d },
      );
      const batches = await collect(ds.batches());
      expect(keysOf(batches)).toEqual(['m.jsonl:1']);
      expect(ds.stats.skipped.corrupt).toBe(1);
    } finally {
      await c();
    }
  });

  it('streaming forever over a set where nothing decodes fails loudly instead of spinning', async () => {
    const { dir: d, cleanup: c } = await tempDir();
    try {
      await writeFile(path.join(d, 'bad.png'), 'nope');
      await writeFile(path.join(d, 'bad.txt'), 'bad');
      const ds = await createDataset({ source: { kind: 'folder', path: d }, imageSize: 4, batchSize: 1 });
      await expect(collect(ds.batches(), 1)).rejects.toThrow(
        'no image of epoch 0 could be decoded (1 corrupt',
      );
    } finally {
      await c();
    }
  });
});

describe('empty epochs', () => {
  it('streaming forever when the source drops every candidate throws naming the source', async () => {
    const { dir: d, cleanup: c } = await tempDir();
    try {
      await writeImage(path.join(d, 'a.png'), 1);
      const events: SkipEvent[] = [];
      const ds = await createDataset(
        { source: { kind: 'folder', path: d }, imageSize: 4, batchSize: 1 },
        { onSkip: (e) => events.push(e) },
      );
      await expect(collect(ds.batches(), 1)).rejects.toThrow(`folder:${d}: epoch 0 produced no samples`);
      expect(events.map((e) => e.reason)).toEqual(['missingCaption']);
      // With a bounded number of epochs the stream just ends.
      const bounded = await createDataset({
        source: { kind: 'folder', path: d },
        imageSize: 4,
        batchSize: 1,
        epochs: 2,
      });
      expect(await collect(bounded.batches())).toEqual([]);
      expect(bounded.stats.skipped.missingCaption).toBe(2);
    } finally {
      await c();
    }
  });
});

describe('config', () => {
  it('errors name the bad key, the unknown built-in and the missing directory', async () => {
    await expect(createDataset({ source: { kind: 'builtin', name: 'cifar' } })).rejects.toThrow(
      "unknown built-in dataset 'cifar' (expected one of mnist, emoji)",
    );
    await expect(createDataset({ source: { kind: 'folder', path: '/x' }, imageSize: -2 })).rejects.toThrow(
      /imageSize: /,
    );
    await expect(createDataset({ source: { kind: 'folder', path: '/x' }, batchsize: 2 })).rejects.toThrow(
      /batchsize/,
    );
    await expect(createDataset({ source: { kind: 'tfrecord', path: '/x' } })).rejects.toThrow(/source\.kind/);
    await expect(createDataset({ source: { kind: 'folder', path: '/definitely/not/here' } })).rejects.toThrow(
      "directory '/definitely/not/here' does not exist",
    );
    await expect(
      createDataset({ source: { kind: 'folder', path: '/x' }, augment: { scale: [0.9, 0.5] } }),
    ).rejects.toThrow(/min <= max/);
  });

  it('fills defaults (256 px, batch 32, augmentation on)', async () => {
    const ds = await createDataset({ source: { kind: 'folder', path: path.join(dir, 'good') } });
    expect(ds.options).toMatchObject({
      imageSize: 256,
      batchSize: 32,
      shuffle: true,
      augment: { scale: [0.8, 1], flip: true },
    });
    expect(ds.options.epochs).toBeUndefined();
  });
});
