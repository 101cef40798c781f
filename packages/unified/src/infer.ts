import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  clipPreprocessParams,
  denormalizeImages,
  imageGrid,
  preprocessImage,
  type RgbImage,
  Rng,
  writeNpy,
  writePng,
} from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { defaultUnifiedModelDir } from '@qlip/pretrained';
import * as tf from '@tensorflow/tfjs-core';
import { UnifiedModel } from './model.js';
import { tfjsDecoder } from './sample.js';
import {
  captionPrefixes,
  greedyText,
  type SamplingOptions,
  type StepDecoder,
  sampleImages,
} from './sampling.js';
import { resolveTokenizerDir } from './train.js';
import { BOS, UnifiedVocab } from './vocab.js';

/** A unified model with its vocabulary and the frozen QLIP tokenizer that encodes/decodes its images. */
export interface UnifiedPipeline {
  dir: string;
  model: UnifiedModel;
  vocab: UnifiedVocab;
  tokenizer: QLIPModel;
  /** A fresh step decoder (KV cache) for one sampling call; the caller disposes it. */
  decoder(): StepDecoder;
  dispose(): void;
}

/** Load `dir` (default: the shipped um-tiny-mnist) and the tokenizer its config.json names. */
export async function loadUnified(dir?: string): Promise<UnifiedPipeline> {
  const modelDir = dir ?? defaultUnifiedModelDir();
  const model = await UnifiedModel.load(modelDir);
  let tokenizer: QLIPModel;
  try {
    tokenizer = await QLIPModel.load(resolveTokenizerDir(model.config.tokenizer.path));
  } catch (err) {
    model.dispose();
    throw new Error(
      `${modelDir}: cannot load its tokenizer "${model.config.tokenizer.path}": ${(err as Error).message}`,
    );
  }
  return {
    dir: modelDir,
    model,
    vocab: new UnifiedVocab(model.config.clip_ids),
    tokenizer,
    decoder: () => tfjsDecoder(model),
    dispose: () => {
      model.dispose();
      tokenizer.dispose();
    },
  };
}

export interface GenerateOptions extends SamplingOptions {
  n: number;
  seed: number;
  /** Rows per model call (CFG doubles it). */
  batchSize?: number;
}

export interface Generated {
  prompt: string;
  /** `[n, N]` BSQ indices. */
  codes: Uint32Array;
  images: RgbImage[];
  /** Prompt tokens the model's vocabulary lacks (read as `<unk>`). */
  unknownTokens: number;
  seconds: number;
}

/** Text -> n token grids -> pixels decoded by the tokenizer. Seeded: the same seed gives the same grids. */
export async function generate(p: UnifiedPipeline, prompt: string, o: GenerateOptions): Promise<Generated> {
  const t0 = performance.now();
  const text = p.vocab.encode(prompt);
  const rng = new Rng(o.seed);
  const n = p.model.config.image_grid[0] * p.model.config.image_grid[1];
  const codes = new Uint32Array(o.n * n);
  const bs = o.batchSize ?? 32;
  for (let start = 0; start < o.n; start += bs) {
    const b = Math.min(bs, o.n - start);
    const dec = p.decoder();
    try {
      codes.set(await sampleImages(dec, text, b, o, rng), start * n);
    } finally {
      dec.dispose();
    }
  }
  const images = await decodeCodes(p.tokenizer, codes);
  return {
    prompt,
    codes,
    images,
    unknownTokens: p.vocab.unknownCount(prompt),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** `[B, N]` indices -> RGB images via the tokenizer's decoder. */
export async function decodeCodes(tokenizer: QLIPModel, codes: Uint32Array): Promise<RgbImage[]> {
  const px = tokenizer.decodeIndices(codes);
  try {
    return denormalizeImages(await px.data(), px.shape);
  } finally {
    px.dispose();
  }
}

/** Write `prefix-000.png ...`, `prefix-grid.png` and `prefix-tokens.npy` (uint32 [n, h, w]) into `out`. */
export async function writeGenerated(
  out: string,
  prefix: string,
  g: Generated,
  grid: [number, number],
): Promise<string[]> {
  await mkdir(out, { recursive: true });
  const files: string[] = [];
  for (const [i, img] of g.images.entries()) {
    const f = join(out, `${prefix}-${String(i).padStart(3, '0')}.png`);
    await writePng(f, img);
    files.push(f);
  }
  const cols = Math.ceil(Math.sqrt(g.images.length));
  const rows: RgbImage[][] = [];
  for (let i = 0; i < g.images.length; i += cols) rows.push(g.images.slice(i, i + cols));
  const gridFile = join(out, `${prefix}-grid.png`);
  await writePng(gridFile, imageGrid(rows, { gap: 2 }));
  const npy = join(out, `${prefix}-tokens.npy`);
  await writeNpy(npy, { dtype: 'uint32', shape: [g.images.length, grid[0], grid[1]], data: g.codes });
  await writeFile(join(out, `${prefix}-prompt.txt`), `${g.prompt}\n`);
  return [...files, gridFile, npy];
}

/** Token grids -> greedy captions. */
export async function captionCodes(
  p: UnifiedPipeline,
  codes: Uint32Array,
  maxTokens = 24,
): Promise<string[]> {
  const n = p.model.config.image_grid[0] * p.model.config.image_grid[1];
  const dec = p.decoder();
  try {
    return (await greedyText(dec, captionPrefixes(codes, n), maxTokens)).map((ids) => p.vocab.decode(ids));
  } finally {
    dec.dispose();
  }
}

/** Pixels `[B, 3, S, S]` (CLIP-normalised) -> token grids with the pipeline's tokenizer. */
export async function encodePixels(
  p: UnifiedPipeline,
  pixels: Float32Array,
  b: number,
): Promise<Uint32Array> {
  const s = p.tokenizer.imageSize;
  const x = tf.tensor4d(pixels, [b, 3, s, s]);
  try {
    return (await p.tokenizer.encodeToIndices(x)).indices;
  } finally {
    x.dispose();
  }
}

/** Caption image files (any format sharp reads), in batches. */
export async function captionFiles(
  p: UnifiedPipeline,
  paths: readonly string[],
  batchSize = 64,
): Promise<{ path: string; caption: string }[]> {
  const params = clipPreprocessParams(p.tokenizer.imageSize);
  const out: { path: string; caption: string }[] = [];
  for (let i = 0; i < paths.length; i += batchSize) {
    const chunk = paths.slice(i, i + batchSize);
    const per = 3 * params.cropSize * params.cropSize;
    const pixels = new Float32Array(chunk.length * per);
    for (const [j, path] of chunk.entries())
      pixels.set(await preprocessImage(path, params, { name: path }), j * per);
    const captions = await captionCodes(p, await encodePixels(p, pixels, chunk.length));
    chunk.forEach((path, j) => {
      out.push({ path, caption: captions[j]! });
    });
  }
  return out;
}

/** Greedy continuation of a text prompt. */
export async function complete(
  p: UnifiedPipeline,
  prompt: string,
  maxTokens = 24,
): Promise<{ prompt: string; completion: string; text: string }> {
  const ids = p.vocab.encode(prompt);
  const dec = p.decoder();
  const [cont] = await greedyText(dec, [[BOS, ...ids].map((id) => ({ id }))], maxTokens).finally(() =>
    dec.dispose(),
  );
  const completion = p.vocab.decode(cont!);
  return { prompt, completion, text: p.vocab.decode([...ids, ...cont!]) };
}
