import {
  type BackendChoice,
  clipPreprocessParams,
  denormalizeImages,
  type ImageInput,
  type ImagePreprocessParams,
  optionalImport,
  preprocessImage,
  type RgbImage,
  registerBackendAccelerator,
  selectBackend,
  withImageAudit,
} from '@qlip/core';
import {
  cosineScores,
  ensemblePrompts,
  fillTemplates,
  OPENAI_IMAGENET_TEMPLATES,
  type Rows,
} from '@qlip/eval';
import type { OnnxPrecision } from '@qlip/export';
import type { DownloadOptions } from '@qlip/hub';
import { QLIPModel } from '@qlip/model';
import { nativeKernelsAccelerator } from '@qlip/native-kernels';
import { ClipBpe } from '@qlip/text-encoder';
import { type ModelRuntime, tfjsRuntime } from '@qlip/tokenize';
import { alphaMode, type Background, InputWarnings } from './inputs.js';
import { describeModel, locateModel, type ModelDescription } from './model-info.js';

/** Which runtime runs the model: tfjs, ONNX Runtime, or ONNX Runtime when it works (else tfjs). */
export type RuntimeChoice = 'auto' | 'tfjs' | 'onnx';
const RUNTIMES: readonly string[] = ['auto', 'tfjs', 'onnx'] satisfies RuntimeChoice[];

/**
 * Numeric precision of the tokenizer: `fp32` (default; indices identical on every runtime) or `int8`
 * (ONNX Runtime only: dynamically quantised transformer blocks, faster, indices may differ from fp32's;
 * the runtime measures how often on the first images it sees: `runtime.agreement()`).
 */
export type Precision = OnnxPrecision;
// @qlip/export's ONNX_PRECISIONS restated: that package (and onnxruntime-node) is imported only when the onnx
// runtime is asked for; the type ties the two.
export const PRECISIONS: readonly Precision[] = ['fp32', 'int8'];

type LoadedRuntime = { rt: ModelRuntime & { logitScale: number }; release: () => void };

/** ONNX Runtime over the model's own export, else the cache's (exported now, with progress, when missing). */
/**
 * The library API is an entry point: it hands core the native wasm kernels (`QLIP_NATIVE=0`: the stock
 * kernels) before selecting the backend.
 */
function selectLibraryBackend(choice: BackendChoice | undefined) {
  registerBackendAccelerator(nativeKernelsAccelerator);
  return selectBackend(choice);
}

async function openOnnx(
  dir: string,
  opts: FromPretrainedOptions,
  log: (m: string) => void,
): Promise<LoadedRuntime> {
  // Loaded only when asked for, so the tfjs path never starts ONNX Runtime.
  const mod = await optionalImport(() => import('@qlip/export'));
  if (!mod.module) throw new Error(`the onnx runtime needs @qlip/export and onnxruntime-node: ${mod.error}`);
  const { onnxRuntime, prepareOnnx } = mod.module;
  const prepare = async (precision: Precision) => {
    const prepared = await prepareOnnx(dir, {
      cacheDir: opts.onnxCacheDir,
      onProgress: opts.onProgress,
      precision,
      // The export runs the tfjs model once.
      beforeExport: async () => {
        await selectLibraryBackend(opts.backend);
      },
    });
    if (prepared.origin === 'exported')
      log(`exported the ${precision === 'fp32' ? '' : `${precision} `}ONNX graphs once to ${prepared.dir}`);
    return prepared.dir;
  };
  const precision = opts.precision ?? 'fp32';
  // A lower precision is compared with fp32 on its first images (the fp32 graphs run there too).
  const reference = precision === 'fp32' || opts.agreementImages === 0 ? undefined : await prepare('fp32');
  const onnx = await onnxRuntime(await prepare(precision), {
    reference,
    agreementImages: opts.agreementImages,
  });
  return {
    rt: Object.assign(onnx, { logitScale: onnx.onnx.manifest.logitScale }),
    release: () => onnx.dispose(),
  };
}

/** `runtime` for the model in `dir`; `auto` falls back to tfjs with a note saying why. */
async function openRuntime(
  dir: string,
  runtime: string,
  opts: FromPretrainedOptions,
  log: (m: string) => void,
): Promise<LoadedRuntime> {
  if (runtime === 'onnx') return openOnnx(dir, opts, log);
  if ((opts.precision ?? 'fp32') !== 'fp32') {
    // Never a silent fp32 run when a lower precision was asked for, nor the reverse.
    const why =
      runtime === 'tfjs'
        ? 'the tfjs runtime computes in fp32'
        : opts.needsTfjs
          ? `${opts.needsTfjs}, in fp32`
          : '';
    if (why)
      throw new Error(`precision ${opts.precision} runs on ONNX Runtime (--runtime auto or onnx); ${why}`);
    return openOnnx(dir, opts, log);
  }
  if (runtime === 'auto' && opts.needsTfjs) log(`runtime: tfjs (${opts.needsTfjs})`);
  else if (runtime === 'auto') {
    try {
      return await openOnnx(dir, opts, log);
    } catch (err) {
      log(`runtime: tfjs (ONNX Runtime unavailable: ${(err as Error).message.split('\n')[0]})`);
    }
  }
  await selectLibraryBackend(opts.backend);
  const model = await QLIPModel.load(dir);
  const scale = model.params.get('logit_scale');
  return {
    rt: { ...tfjsRuntime(model), logitScale: scale ? Math.exp(scale.dataSync()[0]!) : 100 },
    release: () => model.dispose(),
  };
}

/** An image: a file path, encoded bytes (a Buffer of PNG/JPEG/WebP/...), or decoded 8-bit RGB `[H, W, 3]`. */
export type ImageLike = ImageInput;

export interface FromPretrainedOptions extends DownloadOptions {
  /** tfjs backend (tfjs runtime): `auto` (default, or env QLIP_BACKEND), `tensorflow`, `wasm`, `cpu`. */
  backend?: BackendChoice;
  /**
   * `tfjs` (default), `onnx` (ONNX Runtime over the model's own `<model>/onnx`, else graphs exported once into
   * `onnxCacheDir`, never into the model folder) or `auto` (onnx when ONNX Runtime and the export work, else
   * tfjs with a note through `log`). Indices are identical.
   */
  runtime?: RuntimeChoice;
  /** `fp32` (default) or `int8` (ONNX Runtime only, never chosen for you; see `Precision`). */
  precision?: Precision;
  /** With a lower precision: images compared with fp32 (default 256, whole batches; 0: none). */
  agreementImages?: number;
  /** Where ONNX exports made for `onnx`/`auto` are kept (default `$QLIP_CACHE` or ~/.cache/qlip). */
  onnxCacheDir?: string;
  /** Why the caller needs tfjs (e.g. post-quantisation features): `auto` then picks tfjs and says so. */
  needsTfjs?: string;
  /** Composite transparent images on white or black; default: alpha dropped, as in training. */
  background?: Background;
  /** Images per model call (default 16). */
  batchSize?: number;
  /** Licence notices and input warnings (default: stderr). */
  log?: (message: string) => void;
}

/** Token grids of a batch of images. */
export interface Tokens {
  /** `[batch, rows * cols]` token indices (each below 2^bits), row-major over the grid. */
  indices: Uint32Array;
  batch: number;
  /** `[rows, cols]` tokens per image. */
  grid: [number, number];
  bits: number;
}

/** A zero-shot prediction for one image: labels by descending score. */
export interface ZeroShotPrediction {
  label: string;
  /** Softmax over the labels of the model's logits: exp(logit_scale) x cosine similarity, as CLIP scores. */
  score: number;
  /** Cosine similarity of the image and the label's prompt-ensembled text embedding. */
  similarity: number;
  labels: { label: string; score: number; similarity: number }[];
}

const stderrLog = (m: string) => {
  process.stderr.write(`${m}\n`);
};

/**
 * A QLIP visual tokenizer, ready to use: `await QLIP.fromPretrained('nvidia/QLIP-B-16-256')`, then
 * `tokenize`, `decode`, `embedImages`, `embedTexts`, `zeroShot`; `dispose()` frees the weights.
 */
export class QLIP {
  /** Which model, at which size, through which runtime. */
  readonly info: ModelDescription;
  /** The runtime the qlip jobs (tokenize, reconstruct, eval) drive. */
  readonly runtime: ModelRuntime;
  /** Preprocessing: CLIP resize + centre crop at the model's size, with the chosen alpha rule. */
  readonly preprocessing: ImagePreprocessParams;
  private readonly release: () => void;
  private readonly batchSize: number;
  private readonly warnings: InputWarnings;
  private readonly logitScale: number;

  private constructor(
    info: ModelDescription,
    runtime: ModelRuntime & { logitScale: number },
    release: () => void,
    opts: FromPretrainedOptions,
  ) {
    this.info = info;
    this.logitScale = runtime.logitScale;
    this.runtime = runtime;
    this.release = release;
    this.batchSize = opts.batchSize ?? 16;
    const alpha = alphaMode(opts.background);
    this.preprocessing = clipPreprocessParams(runtime.imageSize, alpha);
    this.warnings = new InputWarnings(runtime.imageSize, alpha, opts.log ?? stderrLog);
  }

  /**
   * Load a model: a hub id `org/name[@revision]` (downloaded once into the Hugging Face cache; HF_TOKEN,
   * HF_ENDPOINT, HF_HUB_OFFLINE apply), a model directory, or nothing for the small MNIST model shipped
   * with qlip.
   */
  static async fromPretrained(idOrDir?: string, opts: FromPretrainedOptions = {}): Promise<QLIP> {
    const runtime = opts.runtime ?? 'tfjs';
    if (!RUNTIMES.includes(runtime)) throw new Error(`runtime must be auto, tfjs or onnx, got "${runtime}"`);
    if (opts.precision !== undefined && !PRECISIONS.includes(opts.precision))
      throw new Error(`precision must be ${PRECISIONS.join(' or ')}, got "${opts.precision}"`);
    const log = opts.log ?? stderrLog;
    const found = await locateModel(idOrDir, opts, log);
    const { rt, release } = await openRuntime(found.dir, runtime, opts, log);
    const info: ModelDescription = {
      name: found.name,
      dir: found.dir,
      source: found.source,
      runtime: rt.name as 'tfjs' | 'onnx',
      ...(rt.precision && rt.precision !== 'fp32' ? { precision: rt.precision } : {}),
      imageSize: rt.imageSize,
      patchSize: rt.patchSize,
      grid: rt.grid,
      bits: rt.bits,
      ...(found.card?.license ? { license: found.card.license } : {}),
      ...(found.card?.datasets ? { trainingData: found.card.datasets } : {}),
    };
    return new QLIP(info, rt, release, opts);
  }

  /** One line: name, directory, input size, grid, bits, runtime, training data and licence when known. */
  describe(): string {
    return describeModel(this.info);
  }

  /** Images -> token grids `[batch, rows * cols]` (the indices `qlip tokenize` writes). */
  async tokenize(images: ImageLike | ImageLike[]): Promise<Tokens> {
    const list = asList(images);
    const n = this.info.grid[0] * this.info.grid[1];
    const indices = new Uint32Array(list.length * n);
    await this.batches(list, async (pixels, start, count) => {
      const r = await this.runtime.encode(pixels, count, { features: false });
      indices.set(r.indices, start * n);
    });
    return { indices, batch: list.length, grid: this.info.grid, bits: this.info.bits };
  }

  /** Token grids -> RGB images at the model's size. */
  async decode(tokens: Tokens | Uint32Array | ArrayLike<number>[]): Promise<RgbImage[]> {
    const indices = this.checkIndices(tokens);
    const n = this.info.grid[0] * this.info.grid[1];
    const s = this.info.imageSize;
    const out: RgbImage[] = [];
    for (let i = 0; i < indices.length / n; i += this.batchSize) {
      const chunk = indices.subarray(i * n, Math.min(indices.length, (i + this.batchSize) * n));
      const b = chunk.length / n;
      out.push(...denormalizeImages(await this.runtime.decode(chunk, b), [b, 3, s, s]));
    }
    return out;
  }

  /** L2-normalised image embeddings, one per image. */
  async embedImages(images: ImageLike | ImageLike[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    await this.batches(asList(images), async (pixels, _start, count) => {
      out.push(...splitRows(await this.runtime.imageEmbeddings(pixels, count), count));
    });
    return out;
  }

  /** L2-normalised text embeddings, one per text (CLIP BPE, truncated to the model's context). */
  async embedTexts(texts: string | string[]): Promise<Float32Array[]> {
    const list = typeof texts === 'string' ? [texts] : texts;
    const bpe = ClipBpe.default();
    const out: Float32Array[] = [];
    for (let i = 0; i < list.length; i += 256) {
      const part = list.slice(i, i + 256);
      const ids = bpe.tokenize(part, this.runtime.contextLength);
      out.push(...splitRows(await this.runtime.textEmbeddings(ids), part.length));
    }
    return out;
  }

  /**
   * Classify images among `labels` from text alone, as CLIP does: every label fills every template (`{}`
   * or `{c}` marks it; default CLIP's 80 ImageNet templates), a label's prompt embeddings are averaged.
   */
  async zeroShot(
    images: ImageLike | ImageLike[],
    labels: string[],
    opts: { templates?: string[] } = {},
  ): Promise<ZeroShotPrediction[]> {
    if (labels.length < 2) throw new Error(`zeroShot: give at least 2 labels, got ${labels.length}`);
    const templates = (opts.templates ?? OPENAI_IMAGENET_TEMPLATES).map((t) => t.replace('{c}', '{}'));
    const bad = templates.find((t) => !t.includes('{}'));
    if (bad !== undefined) throw new Error(`zeroShot: template "${bad}" has no {} (or {c}) for the label`);
    const text = toRows(await this.embedTexts(labels.flatMap((l) => fillTemplates(l, templates))));
    const classes = ensemblePrompts(text, labels.length); // [C, P]
    const scores = cosineScores(toRows(await this.embedImages(images)), classes); // [B, C]
    const scale = Math.min(this.logitScale, 100); // CLIP clamps exp(logit_scale) at 100
    return Array.from({ length: scores.rows }, (_, i) =>
      rank(labels, scores.data.subarray(i * labels.length, (i + 1) * labels.length), scale),
    );
  }

  /** Free the weights (tfjs tensors or ONNX Runtime sessions). */
  dispose(): void {
    this.release();
  }

  /** Preprocess in batches (decoding concurrently, watched for downscaling and transparency) and run `fn`. */
  private async batches(
    list: ImageLike[],
    fn: (pixels: Float32Array, start: number, count: number) => Promise<void>,
  ): Promise<void> {
    const s = this.info.imageSize;
    for (let start = 0; start < list.length; start += this.batchSize) {
      const part = list.slice(start, start + this.batchSize);
      const pixels = new Float32Array(part.length * 3 * s * s);
      await withImageAudit(this.warnings.record, () =>
        Promise.all(
          part.map(async (img, i) => {
            if (typeof img === 'object' && 'width' in img) {
              this.warnings.record({
                name: `image ${start + i}`,
                width: img.width,
                height: img.height,
                transparent: false,
              });
            }
            const name = typeof img === 'string' ? img : `image ${start + i}`;
            pixels.set(await preprocessImage(img, this.preprocessing, { name }), i * 3 * s * s);
          }),
        ),
      );
      await fn(pixels, start, part.length);
    }
  }

  private checkIndices(tokens: Tokens | Uint32Array | ArrayLike<number>[]): Uint32Array {
    const n = this.info.grid[0] * this.info.grid[1];
    const indices =
      tokens instanceof Uint32Array
        ? tokens
        : Array.isArray(tokens)
          ? Uint32Array.from(tokens.flatMap((row) => Array.from(row)))
          : (tokens as Tokens).indices;
    if (indices.length === 0 || indices.length % n !== 0) {
      throw new Error(
        `decode: ${indices.length} indices do not form whole ${this.info.grid.join('x')} grids of ${n} tokens`,
      );
    }
    const limit = 2 ** this.info.bits;
    const bad = indices.findIndex((v) => v >= limit);
    if (bad >= 0) throw new Error(`decode: index ${indices[bad]} at ${bad} is not below 2^${this.info.bits}`);
    return indices;
  }
}

function asList(images: ImageLike | ImageLike[]): ImageLike[] {
  const list = Array.isArray(images) ? images : [images];
  if (list.length === 0) throw new Error('no images given');
  return list;
}

function splitRows(data: Float32Array, rows: number): Float32Array[] {
  const cols = data.length / rows;
  return Array.from({ length: rows }, (_, i) => data.slice(i * cols, (i + 1) * cols));
}

function toRows(rows: Float32Array[]): Rows {
  const cols = rows[0]!.length;
  const data = new Float32Array(rows.length * cols);
  rows.forEach((r, i) => {
    data.set(r, i * cols);
  });
  return { data, rows: rows.length, cols };
}

function rank(labels: string[], sims: Float32Array, scale: number): ZeroShotPrediction {
  const logits = Array.from(sims, (c) => scale * c);
  const max = Math.max(...logits);
  const exp = logits.map((l) => Math.exp(l - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  const all = labels
    .map((label, i) => ({ label, score: exp[i]! / sum, similarity: sims[i]! }))
    .sort((a, b) => b.score - a.score);
  return { ...all[0]!, labels: all };
}
