import { createHash } from 'node:crypto';
import { type ProgressListener, silentProgress } from '@qlip/core';
import { createDataset, type SourceConfig } from '@qlip/data';
import type { QLIPModel } from '@qlip/model';
import { readTokenDataset, type TokenDatasetMeta, TokenDatasetWriter } from '@qlip/tokenize';
import * as tf from '@tensorflow/tfjs-core';

/** Image-caption pairs as tokens: `codes` `[n, N]` row-major BSQ indices and one caption per image. */
export interface TokenCorpus {
  codes: Uint32Array;
  captions: string[];
  count: number;
  tokensPerImage: number;
}

export interface TokenCacheOptions {
  /** Any source the trainer reads (`--data`): folder, manifest, webdataset, classFolder, builtin. */
  source: SourceConfig;
  /** Cache directory (a qlip token dataset with captions in index.jsonl; resumed when present). */
  out: string;
  /** The frozen tokenizer and its provenance (recorded in meta.json; a different one refuses to resume). */
  tokenizer: QLIPModel;
  tokenizerRef: { path: string; fingerprint: string };
  /** Caption draw for sources with several templates. */
  seed?: number;
  batchSize?: number;
  baseDir?: string;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

/**
 * Tokenize every image of a data source once with the frozen tokenizer (no augmentation) and write the
 * tokens with their captions as a token dataset (the `qlip tokenize` format: tokens-*.npy + index.jsonl
 * with `caption`). Re-running resumes: samples already in the index are skipped.
 */
export async function buildTokenCache(
  o: TokenCacheOptions,
): Promise<{ dir: string; count: number; added: number }> {
  const emit = o.onProgress ?? silentProgress;
  const tk = o.tokenizer;
  const meta: TokenDatasetMeta = {
    format: 'qlip-tokens',
    version: 1,
    model: o.tokenizerRef,
    bits: tk.bits,
    grid: tk.grid,
    imageSize: tk.imageSize,
    patchSize: tk.patchSize,
    preprocessing: { pipeline: '@qlip/data', augment: false, source: o.source, seed: o.seed ?? 0 },
    shardSize: 8192,
    createdBy: '@qlip/unified',
  };
  const writer = await TokenDatasetWriter.open(o.out, meta);
  const probe = await createDataset({ source: o.source, imageSize: tk.imageSize }, { baseDir: o.baseDir });
  if (probe.source.size !== undefined && writer.done.size >= probe.source.size) {
    // Complete already (a re-run, or a cache shared between runs): nothing to decode.
    return { dir: o.out, count: writer.done.size, added: 0 };
  }
  const ds = await createDataset(
    {
      source: o.source,
      imageSize: tk.imageSize,
      batchSize: o.batchSize ?? 256,
      seed: o.seed ?? 0,
      shuffle: true,
      augment: false,
      epochs: 1,
      dropLast: false,
    },
    { baseDir: o.baseDir },
  );
  const n = tk.tokensPerImage;
  let added = 0;
  const total = ds.source.size;
  try {
    for await (const b of ds.batches()) {
      const todo = b.keys.map((k, i) => [k, i] as const).filter(([k]) => !writer.done.has(k));
      if (todo.length) {
        const per = 3 * tk.imageSize * tk.imageSize;
        const pixels = new Float32Array(todo.length * per);
        todo.forEach(([, i], j) => {
          pixels.set(b.images.subarray(i * per, (i + 1) * per), j * per);
        });
        const x = tf.tensor4d(pixels, [todo.length, 3, tk.imageSize, tk.imageSize]);
        const { indices } = await tk.encodeToIndices(x).finally(() => x.dispose());
        await writer.add(
          todo.map(([key, i], j) => ({
            path: key,
            // Built-in sources have no file: hash the preprocessed pixels the tokens were made from.
            sha256: createHash('sha256')
              .update(b.images.subarray(i * per, (i + 1) * per))
              .digest('hex'),
            caption: b.captions[i]!,
            tokens: indices.subarray(j * n, (j + 1) * n),
          })),
        );
        added += todo.length;
      }
      emit({ task: 'tokenize', done: writer.done.size, ...(total ? { total } : {}), unit: 'images' });
      if (o.signal?.aborted) break;
    }
  } finally {
    await writer.close();
  }
  return { dir: o.out, count: writer.done.size, added };
}

/** Read a token dataset with captions into memory; images without a caption are left out. */
export async function loadTokenCorpus(dir: string): Promise<TokenCorpus> {
  const ds = await readTokenDataset(dir);
  const n = ds.meta.grid[0] * ds.meta.grid[1];
  const withCaption = ds.entries.filter((e) => typeof e.caption === 'string' && e.caption !== '');
  if (withCaption.length === 0)
    throw new Error(
      `${dir}: no captioned images (index.jsonl has no "caption" fields; give captions as a.txt beside a.png)`,
    );
  const codes = new Uint32Array(withCaption.length * n);
  const shards = new Map<number, Uint32Array>();
  for (const [i, e] of withCaption.entries()) {
    let s = shards.get(e.shard);
    if (!s) {
      s = await ds.loadTokens(e.shard);
      shards.set(e.shard, s);
    }
    codes.set(s.subarray(e.row * n, (e.row + 1) * n), i * n);
  }
  return {
    codes,
    captions: withCaption.map((e) => e.caption!),
    count: withCaption.length,
    tokensPerImage: n,
  };
}
