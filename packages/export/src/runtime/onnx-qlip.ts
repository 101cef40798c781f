import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { ONNX_MANIFEST, type OnnxGraphName, type OnnxManifest } from '../onnx/export.js';

export interface OnnxQLIPOptions {
  /** Threads of ONNX Runtime's native CPU kernels (intraOpNumThreads); default: every core. */
  threads?: number;
  /** Session options over `TOKENIZE_SESSION_OPTIONS` (for measuring alternatives). */
  session?: ort.InferenceSession.SessionOptions;
}

/**
 * ONNX Runtime session options of every qlip graph (see bench/onnx-session-options.ts for the measurement):
 * every graph optimisation (constant folding, LayerNorm/GELU/BiasGelu/MatMul+Add fusions, NCHWc layouts),
 * one graph in sequence (inter-op parallelism has nothing to overlap in a ViT), the CPU arena and memory
 * pattern (buffers planned once per input shape and reused between batches).
 */
export const TOKENIZE_SESSION_OPTIONS: Readonly<ort.InferenceSession.SessionOptions> = {
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  enableCpuMemArena: true,
  enableMemPattern: true,
};

/** Token indices of a batch, as `QLIPModel.encodeToIndices` returns them. */
export interface OnnxTokenIndices {
  /** `[B, N]` row-major, MSB-first packed (channel 0 is the most significant bit). */
  indices: Uint32Array;
  grid: [number, number];
  batch: number;
}

/** A host float tensor. */
export interface HostFloat {
  data: Float32Array;
  shape: number[];
}

/**
 * QLIP inference through ONNX Runtime (multi-threaded native CPU kernels) on a `qlip export onnx` folder.
 * Same inputs and outputs as `QLIPModel` (pixels `[B, 3, S, S]` CLIP-normalised, row-major; indices
 * MSB-first), with indices identical to the tfjs runtime. Sessions are created on first use.
 */
export class OnnxQLIP {
  private readonly sessions = new Map<OnnxGraphName, Promise<ort.InferenceSession>>();

  private constructor(
    readonly dir: string,
    readonly manifest: OnnxManifest,
    readonly threads: number,
    private readonly sessionOptions: ort.InferenceSession.SessionOptions = {},
  ) {}

  /** Open an export folder (reads `qlip-onnx.json`; the graphs load lazily). */
  static async load(dir: string, opts: OnnxQLIPOptions = {}): Promise<OnnxQLIP> {
    const path = join(dir, ONNX_MANIFEST);
    let manifest: OnnxManifest;
    try {
      manifest = JSON.parse(await readFile(path, 'utf8')) as OnnxManifest;
    } catch (err) {
      throw new Error(
        `${path}: cannot read the ONNX export manifest (run "qlip export onnx" first): ${(err as Error).message}`,
      );
    }
    if (manifest.format !== 'qlip-onnx' || manifest.version !== 1) {
      throw new Error(
        `${path}: not a qlip ONNX manifest of version 1 (format "${manifest.format}", version ${manifest.version})`,
      );
    }
    const threads = opts.threads ?? os.availableParallelism();
    if (!Number.isInteger(threads) || threads < 1)
      throw new Error(`OnnxQLIP: threads must be a positive integer (got ${threads})`);
    return new OnnxQLIP(dir, manifest, threads, opts.session);
  }

  get imageSize(): number {
    return this.manifest.imageSize;
  }
  get grid(): [number, number] {
    return this.manifest.grid;
  }
  get bits(): number {
    return this.manifest.bits;
  }

  private session(name: OnnxGraphName): Promise<ort.InferenceSession> {
    let s = this.sessions.get(name);
    if (!s) {
      const file = this.manifest.graphs[name];
      if (!file)
        return Promise.reject(
          new Error(`${join(this.dir, ONNX_MANIFEST)}: this export has no ${name} graph`),
        );
      s = ort.InferenceSession.create(join(this.dir, file), {
        ...TOKENIZE_SESSION_OPTIONS,
        intraOpNumThreads: this.threads,
        ...this.sessionOptions,
      });
      this.sessions.set(name, s);
    }
    return s;
  }

  /** Pixels -> ORT feed tensor, checking the shape. */
  private pixelTensor(pixels: Float32Array | tf.Tensor4D, what: string): ort.Tensor {
    const { channels: c, imageSize: s } = this.manifest;
    const per = c * s * s;
    let data: Float32Array;
    if (pixels instanceof Float32Array) data = pixels;
    else {
      const [, pc, ph, pw] = pixels.shape;
      if (pixels.rank !== 4 || pc !== c || ph !== s || pw !== s) {
        throw new Error(`${what}: pixels must be [B, ${c}, ${s}, ${s}] (got [${pixels.shape}])`);
      }
      data = pixels.dataSync() as Float32Array;
    }
    if (data.length === 0 || data.length % per !== 0) {
      throw new Error(
        `${what}: ${data.length} pixel values are not a whole number of [${c}, ${s}, ${s}] images`,
      );
    }
    return new ort.Tensor('float32', data, [data.length / per, c, s, s]);
  }

  private async runImage(
    pixels: Float32Array | tf.Tensor4D,
    what: string,
  ): Promise<ort.InferenceSession.OnnxValueMapType> {
    const session = await this.session('image_encoder');
    return session.run({ [this.manifest.io.pixels]: this.pixelTensor(pixels, what) });
  }

  /** Pixels `[B, 3, S, S]` -> one index per token (L <= 32). */
  async encodeToIndices(pixels: Float32Array | tf.Tensor4D): Promise<OnnxTokenIndices> {
    if (this.manifest.indexInput !== this.manifest.io.indices) {
      throw new Error(
        `encodeToIndices: ${this.bits} bits per token do not fit a uint32 index; use encodeToGroupIndices`,
      );
    }
    const out = await this.runImage(pixels, 'encodeToIndices');
    const t = out[this.manifest.io.indices]!;
    return { indices: toUint32(t.data as BigInt64Array), grid: this.grid, batch: t.dims[0]! };
  }

  /** Pixels -> `[B, N, L/group_size]` group indices (group 0 = the most significant bits). */
  async encodeToGroupIndices(
    pixels: Float32Array | tf.Tensor4D,
  ): Promise<OnnxTokenIndices & { groups: number }> {
    const out = await this.runImage(pixels, 'encodeToGroupIndices');
    const t = out[this.manifest.io.groupIndices];
    if (!t)
      throw new Error(`encodeToGroupIndices: ${this.dir} has no group_indices output (group size too large)`);
    return {
      indices: toUint32(t.data as BigInt64Array),
      grid: this.grid,
      batch: t.dims[0]!,
      groups: t.dims[2]!,
    };
  }

  /** Pixels -> `[B, projection_dim]` L2-normalised image embeddings. */
  async imageEmbeddings(pixels: Float32Array | tf.Tensor4D): Promise<HostFloat> {
    const t = (await this.runImage(pixels, 'imageEmbeddings'))[this.manifest.io.imageEmbeds]!;
    return { data: t.data as Float32Array, shape: [...t.dims] };
  }

  /**
   * `[B * N]` indices (or `[B * N * G]` group indices when L > 32), row-major per image -> pixels
   * `[B, 3, S, S]` (CLIP-normalised, unclamped). Every index is range-checked first.
   */
  async decodeIndices(indices: ArrayLike<number>): Promise<HostFloat> {
    const m = this.manifest;
    const flat = m.indexInput === m.io.indices;
    const width = flat ? m.bits : m.groupSize;
    const groups = flat ? 1 : m.bits / m.groupSize;
    const per = m.tokensPerImage * groups;
    if (indices.length === 0 || indices.length % per !== 0) {
      throw new Error(
        `decodeIndices: got ${indices.length} indices, expected a multiple of ${per} per image`,
      );
    }
    const limit = 2 ** width;
    const data = new BigInt64Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const v = indices[i]!;
      if (!Number.isInteger(v) || v < 0 || v >= limit) {
        throw new RangeError(`decodeIndices: index ${v} at position ${i} is outside [0, 2^${width})`);
      }
      data[i] = BigInt(v);
    }
    const b = indices.length / per;
    const dims = flat ? [b, m.tokensPerImage] : [b, m.tokensPerImage, groups];
    const session = await this.session('decoder');
    const t = (await session.run({ [m.indexInput]: new ort.Tensor('int64', data, dims) }))[m.io.pixels]!;
    return { data: t.data as Float32Array, shape: [...t.dims] };
  }

  /** Token ids `[P, contextLength]` row-major -> `[P, projection_dim]` L2-normalised text embeddings. */
  async textEmbeddings(inputIds: Int32Array | ArrayLike<number>): Promise<HostFloat> {
    const { contextLength: ctx, vocabSize } = this.manifest;
    if (inputIds.length === 0 || inputIds.length % ctx !== 0) {
      throw new Error(
        `textEmbeddings: ${inputIds.length} ids are not a whole number of prompts of ${ctx} tokens`,
      );
    }
    const data = new BigInt64Array(inputIds.length);
    for (let i = 0; i < inputIds.length; i++) {
      const v = inputIds[i]!;
      if (!Number.isInteger(v) || v < 0 || v >= vocabSize) {
        throw new RangeError(
          `textEmbeddings: token id ${v} at [${Math.floor(i / ctx)}, ${i % ctx}] is outside [0, vocab_size=${vocabSize})`,
        );
      }
      data[i] = BigInt(v);
    }
    const session = await this.session('text_encoder');
    const out = await session.run({
      [this.manifest.io.inputIds]: new ort.Tensor('int64', data, [inputIds.length / ctx, ctx]),
    });
    const t = out[this.manifest.io.textEmbeds]!;
    return { data: t.data as Float32Array, shape: [...t.dims] };
  }

  /** Release every native session. */
  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).release();
  }
}

function toUint32(v: BigInt64Array): Uint32Array {
  const out = new Uint32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Number(v[i]);
  return out;
}
