import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QLIPModel } from '@qlip/model';
import { param } from '@qlip/nn';
import { type WrittenFile, writeStaged } from '../staging.js';
import {
  type GraphBuilder,
  type GraphVariant,
  IR_VERSION,
  ONNX_ATTENTIONS,
  ONNX_PRECISIONS,
  type OnnxAttention,
  type OnnxPrecision,
  OPSET,
  STANDARD_VARIANT,
} from './graph.js';
import { decoderGraph, IO, imageEncoderGraph, indexLayout, textEncoderGraph } from './towers.js';
import { initializerBytes, writeOnnxModel } from './write.js';

/** The three exported graphs and their file names. */
export const ONNX_GRAPHS = {
  image_encoder: 'image_encoder.onnx',
  decoder: 'decoder.onnx',
  text_encoder: 'text_encoder.onnx',
} as const;
export type OnnxGraphName = keyof typeof ONNX_GRAPHS;

/** Name of the JSON file describing an ONNX export (read by `OnnxQLIP.load`). */
export const ONNX_MANIFEST = 'qlip-onnx.json';

/** Default size above which a graph's weights go to external data (`<graph>.onnx.data`). */
export const DEFAULT_EXTERNAL_THRESHOLD = 256 * 2 ** 20;

export interface OnnxExportOptions {
  /**
   * A graph whose initializers exceed this many bytes stores them in `<file>.data` (streamed, one tensor in
   * memory at a time). 0 forces external data, Infinity forbids it. Default 256 MiB.
   */
  externalDataThreshold?: number;
  /** Graphs to write (default all three). */
  graphs?: OnnxGraphName[];
  /** Recorded as the models' producer_version. */
  producerVersion?: string;
  /**
   * Replace an existing export / refuse writing into the model folder itself (see `OutputPolicy`; the
   * `<model>/onnx` sub-folder is allowed, that is where `--runtime onnx` looks).
   */
  overwrite?: boolean;
  /** The model folder the export reads, so it is never written into. */
  sourceDir?: string;
  /**
   * `fp32` (default) or `int8`: the transformer blocks' linear layers dynamically quantised (standard ONNX
   * ops: DynamicQuantizeLinear + MatMulInteger; lower precision, indices may differ from fp32).
   */
  precision?: OnnxPrecision;
  /**
   * `standard` (default: MatMul/Softmax, opens in any ONNX runtime and passes onnx.checker) or `ort`:
   * `com.microsoft.MultiHeadAttention` in blocks without rope or mask (ONNX Runtime only).
   */
  attention?: OnnxAttention;
}

/** What `qlip-onnx.json` records: the geometry `OnnxQLIP` needs without reading the graphs. */
export interface OnnxManifest {
  format: 'qlip-onnx';
  version: 1;
  opset: number;
  irVersion: number;
  graphs: Partial<Record<OnnxGraphName, string>>;
  imageSize: number;
  channels: number;
  patchSize: number;
  grid: [number, number];
  tokensPerImage: number;
  bits: number;
  groupSize: number;
  /** The integer tensor between the tokenizer graphs: `indices` [B, N] (L <= 32) or `group_indices` [B, N, G]. */
  indexInput: string;
  /** Width of the post-quantisation features (decoder input). */
  featureDim: number;
  contextLength: number;
  vocabSize: number;
  eosTokenId: number;
  projectionDim: number;
  /** Precision of the transformer blocks' linear layers (absent in exports made before it existed: fp32). */
  precision?: OnnxPrecision;
  /** `ort` when attention is ONNX Runtime's contrib op (absent: standard). */
  attention?: OnnxAttention;
  /** `exp(logit_scale)`: multiplies cosine similarities into logits (softmax probabilities in the web page). */
  logitScale: number;
  io: typeof IO;
}

export interface OnnxGraphReport {
  graph: OnnxGraphName;
  file: string;
  dataFile?: string;
  nodes: number;
  initializers: number;
  parameterBytes: number;
}

export interface OnnxExportResult {
  dir: string;
  opset: number;
  irVersion: number;
  graphs: OnnxGraphReport[];
  files: WrittenFile[];
  manifest: OnnxManifest;
}

const BUILDERS: Record<OnnxGraphName, (m: QLIPModel, v: Readonly<GraphVariant>) => GraphBuilder> = {
  image_encoder: imageEncoderGraph,
  decoder: decoderGraph,
  text_encoder: textEncoderGraph,
};

export function onnxManifest(
  model: QLIPModel,
  graphs: OnnxGraphName[],
  variant: Readonly<GraphVariant> = STANDARD_VARIANT,
): OnnxManifest {
  const t = model.config.text_config;
  return {
    format: 'qlip-onnx',
    version: 1,
    opset: OPSET,
    irVersion: IR_VERSION,
    graphs: Object.fromEntries(graphs.map((g) => [g, ONNX_GRAPHS[g]])),
    imageSize: model.imageSize,
    channels: model.config.vision_config.num_channels,
    patchSize: model.patchSize,
    grid: model.grid,
    tokensPerImage: model.tokensPerImage,
    bits: model.bits,
    groupSize: model.groupSize,
    indexInput: indexLayout(model).name,
    featureDim: model.config.vision_config.hidden_size_post_q,
    contextLength: t.max_position_embeddings,
    vocabSize: t.vocab_size,
    eosTokenId: t.eos_token_id,
    projectionDim: model.config.projection_dim,
    precision: variant.precision,
    attention: variant.attention,
    logitScale: Math.exp(param(model.params, 'logit_scale').dataSync()[0]!),
    io: IO,
  };
}

/** The graph variant of export options, checked (a bad value names the accepted ones). */
export function graphVariant(opts: Pick<OnnxExportOptions, 'precision' | 'attention'>): GraphVariant {
  const precision = opts.precision ?? 'fp32';
  if (!ONNX_PRECISIONS.includes(precision)) {
    throw new Error(
      `ONNX export: precision must be one of ${ONNX_PRECISIONS.join(', ')} (got "${precision}")`,
    );
  }
  const attention = opts.attention ?? 'standard';
  if (!ONNX_ATTENTIONS.includes(attention)) {
    throw new Error(`ONNX export: attention must be ${ONNX_ATTENTIONS.join(' or ')} (got "${attention}")`);
  }
  return { precision, attention };
}

/**
 * Export `model` as ONNX (opset 17, dynamic batch) into `outDir`: `image_encoder.onnx` (pixels -> indices,
 * group indices, L2-normalised image embedding), `decoder.onnx` (indices -> pixels), `text_encoder.onnx`
 * (ids -> L2-normalised text embedding), plus `qlip-onnx.json`. Weights are initializers, in
 * `<file>.data` past `externalDataThreshold`. All files are staged and renamed into place only when every
 * one was written; on any error nothing is left behind.
 */
export async function exportOnnx(
  model: QLIPModel,
  outDir: string,
  opts: OnnxExportOptions = {},
): Promise<OnnxExportResult> {
  const threshold = opts.externalDataThreshold ?? DEFAULT_EXTERNAL_THRESHOLD;
  const names = opts.graphs ?? (Object.keys(ONNX_GRAPHS) as OnnxGraphName[]);
  const variant = graphVariant(opts);
  const manifest = onnxManifest(model, names, variant);
  const { files, result } = await writeStaged(
    outDir,
    async (stage) => {
      const reports: OnnxGraphReport[] = [];
      const written: string[] = [];
      for (const name of names) {
        const g = BUILDERS[name](model, variant);
        const file = ONNX_GRAPHS[name];
        const parameterBytes = g.initializers.reduce((s, i) => s + initializerBytes(i), 0);
        const external = parameterBytes > threshold;
        const dataFile = `${file}.data`;
        const w = await writeOnnxModel(stage, file, g, {
          external,
          dataFile,
          doc: `QLIP ${name.replace('_', ' ')} exported by qlip`,
          producerVersion: opts.producerVersion,
          metadata: { 'qlip.graph': name },
        });
        // The data file goes first so the model never appears without its weights.
        if (external) written.push(dataFile);
        written.push(file);
        reports.push({
          graph: name,
          file,
          ...(external ? { dataFile } : {}),
          nodes: w.nodes,
          initializers: w.initializers,
          parameterBytes,
        });
      }
      await writeFile(join(stage, ONNX_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
      written.push(ONNX_MANIFEST);
      return { files: written, result: reports };
    },
    {
      overwrite: opts.overwrite,
      source: opts.sourceDir ? { dir: opts.sourceDir, allowSubfolder: true } : undefined,
      command: 'qlip export onnx',
    },
  );
  // A graph now written inline must not leave the weights file of an earlier external-data export beside it.
  for (const g of result) if (!g.dataFile) await rm(join(outDir, `${g.file}.data`), { force: true });
  return { dir: outDir, opset: OPSET, irVersion: IR_VERSION, graphs: result, files, manifest };
}
