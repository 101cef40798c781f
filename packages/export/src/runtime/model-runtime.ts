import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelRuntime } from '@qlip/tokenize';
import { ONNX_MANIFEST } from '../onnx/export.js';
import { AgreementCounter } from './agreement.js';
import { OnnxQLIP, type OnnxQLIPOptions } from './onnx-qlip.js';

/** Sub-folder of a model directory where `qlip export onnx` output is looked for by `--runtime onnx`. */
export const ONNX_SUBDIR = 'onnx';

/** `ModelRuntime` of @qlip/tokenize (what tokenize, reconstruct and eval drive), over ONNX Runtime. */
export interface OnnxModelRuntime extends ModelRuntime {
  readonly name: 'onnx';
  /** The underlying ONNX Runtime model (embeddings, group indices). */
  readonly onnx: OnnxQLIP;
  dispose(): void;
}

/** The ONNX export folder of `dir`: `dir` itself when it holds `qlip-onnx.json`, else `dir/onnx`. */
export function resolveOnnxDir(dir: string): string {
  if (existsSync(join(dir, ONNX_MANIFEST))) return dir;
  const sub = join(dir, ONNX_SUBDIR);
  if (existsSync(join(sub, ONNX_MANIFEST))) return sub;
  throw new Error(
    `${dir}: no ONNX export found (looked for ${join(dir, ONNX_MANIFEST)} and ${join(sub, ONNX_MANIFEST)}); ` +
      `create it with: qlip export onnx --model ${dir} --out ${sub}`,
  );
}

export interface OnnxRuntimeOptions extends OnnxQLIPOptions {
  /**
   * An fp32 export of the same model: a lower-precision export's indices are compared with it on its first
   * `agreementImages` images (`agreement()`), at the cost of running both there.
   */
  reference?: string;
  /** Images compared with `reference` (default 256: whole batches until at least this many; 0: none). */
  agreementImages?: number;
}

/** Images a lower-precision runtime compares with fp32 by default. */
export const AGREEMENT_IMAGES = 256;

/**
 * `--runtime onnx`: tokenize and decode through ONNX Runtime's native CPU kernels (all cores unless
 * `threads` says otherwise), with indices identical to the tfjs runtime at fp32.
 */
export async function onnxRuntime(dir: string, opts: OnnxRuntimeOptions = {}): Promise<OnnxModelRuntime> {
  const onnx = await OnnxQLIP.load(resolveOnnxDir(dir), opts);
  const m = onnx.manifest;
  const per = m.channels * m.imageSize ** 2;
  const limit = opts.agreementImages ?? AGREEMENT_IMAGES;
  const reference =
    opts.reference && limit > 0 ? await OnnxQLIP.load(resolveOnnxDir(opts.reference), opts) : undefined;
  const counter = new AgreementCounter(m.bits);
  const encode = async (pixels: Float32Array, batch: number) => {
    const { indices } = await onnx.encodeToIndices(pixels);
    if (reference && counter.images < limit)
      counter.add((await reference.encodeToIndices(pixels)).indices, indices, batch);
    return { indices };
  };
  return {
    name: 'onnx',
    precision: m.precision ?? 'fp32',
    ...(reference ? { agreement: () => counter.result() } : {}),
    imageSize: m.imageSize,
    patchSize: m.patchSize,
    bits: m.bits,
    grid: m.grid,
    featureDim: m.featureDim,
    onnx,
    async encode(pixels, batch, o) {
      if (o.features) {
        throw new Error(
          'post-quantisation features (--features) are not exported to ONNX; use --runtime tfjs for them',
        );
      }
      if (pixels.length !== batch * per) {
        throw new Error(
          `onnx runtime: ${pixels.length} pixel values do not form [${batch}, ${m.channels}, ${m.imageSize}, ${m.imageSize}]`,
        );
      }
      return encode(pixels, batch);
    },
    async decode(indices, _batch) {
      return (await onnx.decodeIndices(indices)).data;
    },
    contextLength: m.contextLength,
    async imageEmbeddings(pixels, _batch) {
      return (await onnx.imageEmbeddings(pixels)).data;
    },
    async textEmbeddings(ids) {
      return (await onnx.textEmbeddings(ids)).data;
    },
    dispose() {
      void onnx.release();
      void reference?.release();
    },
  };
}
