import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FLOAT32_MIN } from '@qlip/nn';
import { blockConfig, headShape, type UnifiedConfig, type UnifiedModel } from '@qlip/unified';
import { type WrittenFile, writeStaged } from '../staging.js';
import { FLOAT, GraphBuilder, INT64, OPSET } from './graph.js';
import { layerNorm, linear, mlp, scalar, weight } from './layers.js';
import { writeOnnxModel } from './write.js';

/**
 * The unified model as the separate graphs a runtime drives step by step (the transformers.js/Janus layout):
 *   unified_embed.onnx       input_ids, image_bits, is_image, grid_rows, grid_cols, position_ids -> inputs_embeds
 *   unified_decoder.onnx     inputs_embeds + past_key_values.{i}.{key,value} -> last_hidden_state + present.{i}.*
 *   unified_text_head.onnx   last_hidden_state -> text_logits
 *   unified_image_head.onnx  last_hidden_state -> image_logits (flat: G * 2^g group logits, or L bit logits)
 * plus `unified-onnx.json` (the model's config.json and the IO names). Images are decoded by the tokenizer's
 * own `decoder.onnx` (`qlip export onnx --model <tokenizer>`).
 */
export const UNIFIED_ONNX_GRAPHS = {
  embed: 'unified_embed.onnx',
  decoder: 'unified_decoder.onnx',
  text_head: 'unified_text_head.onnx',
  image_head: 'unified_image_head.onnx',
} as const;
export type UnifiedOnnxGraph = keyof typeof UNIFIED_ONNX_GRAPHS;
export const UNIFIED_ONNX_MANIFEST = 'unified-onnx.json';

export interface UnifiedOnnxManifest {
  format: 'qlip-unified-onnx';
  version: 1;
  opset: number;
  graphs: Record<UnifiedOnnxGraph, string>;
  /** The model's config.json (vocabulary mapping, geometry, head, tokenizer). */
  config: UnifiedConfig;
  /** Past/present tensor shapes: `[B, heads, S, headDim]`. */
  heads: number;
  headDim: number;
  layers: number;
}

/** Input embeddings, the same operations in the same order as `UnifiedModel.embed`. */
function embedGraph(m: UnifiedModel): GraphBuilder {
  const c = m.config;
  const g = new GraphBuilder('unified_embed');
  const p = m.params;
  const ids = g.input('input_ids', INT64, ['batch', 'seq']);
  const bits = g.input('image_bits', FLOAT, ['batch', 'seq', c.image_bits]);
  const isImage = g.input('is_image', FLOAT, ['batch', 'seq']);
  const rows = g.input('grid_rows', INT64, ['batch', 'seq']);
  const cols = g.input('grid_cols', INT64, ['batch', 'seq']);
  const pos = g.input('position_ids', INT64, ['batch', 'seq']);
  const tok = g.op('Gather', [weight(g, p, 'embed_tokens.weight'), ids], { axis: 0 }); // [B, T, D]
  const grid = g.op('Add', [
    g.op('Gather', [weight(g, p, 'image_rows.weight'), rows], { axis: 0 }),
    g.op('Gather', [weight(g, p, 'image_cols.weight'), cols], { axis: 0 }),
  ]);
  const img = g.op('Add', [linear(g, p, 'image_in', bits), grid]); // [B, T, D]
  const mask = g.op('Unsqueeze', [isImage, g.constI64('axes', [-1])]); // [B, T, 1]
  const mixed = g.op('Add', [
    g.op('Mul', [tok, g.op('Sub', [scalar(g, 1), mask])]),
    g.op('Mul', [img, mask]),
  ]);
  const out = g.op('Add', [
    mixed,
    g.op('Gather', [weight(g, p, 'embed_positions.weight'), pos], { axis: 0 }),
  ]);
  g.output('inputs_embeds', out, FLOAT, ['batch', 'seq', c.hidden_size]);
  return g;
}

/** The transformer with past keys/values in and present out (`UnifiedModel.forward`). */
function decoderGraph(m: UnifiedModel): GraphBuilder {
  const c = m.config;
  const g = new GraphBuilder('unified_decoder');
  const p = m.params;
  const d = c.hidden_size;
  const h = c.num_attention_heads;
  const hd = d / h;
  const eps = c.layer_norm_eps;
  const x = g.input('inputs_embeds', FLOAT, ['batch', 'seq', d]);
  const pasts = Array.from({ length: c.num_hidden_layers }, (_, i) => ({
    k: g.input(`past_key_values.${i}.key`, FLOAT, ['batch', h, 'past', hd]),
    v: g.input(`past_key_values.${i}.value`, FLOAT, ['batch', h, 'past', hd]),
  }));
  // Mask [T, S + T]: query j sees keys 0 .. S + j (FLOAT32_MIN above, as @qlip/nn causalMask; 0 elsewhere).
  const zero = g.constI64('zero', [0], []);
  const one = g.constI64('one', [1], []);
  const t = g.op('Squeeze', [
    g.op('Slice', [g.op('Shape', [x]), g.constI64('s', [1]), g.constI64('e', [2])]),
  ]);
  const s = g.op('Squeeze', [
    g.op('Slice', [g.op('Shape', [pasts[0]!.k]), g.constI64('s', [2]), g.constI64('e', [3])]),
  ]);
  const keys = g.op('Range', [zero, g.op('Add', [s, t]), one]); // [S + T]
  const queries = g.op('Add', [g.op('Range', [zero, t, one]), s]); // [T]
  const above = g.op('Greater', [
    g.op('Unsqueeze', [keys, g.constI64('axes', [0])]),
    g.op('Unsqueeze', [queries, g.constI64('axes', [1])]),
  ]); // [T, S + T]
  const mask = g.op('Where', [above, scalar(g, FLOAT32_MIN), scalar(g, 0)]);
  const heads = g.constI64('shape', [0, -1, h, hd]);
  let hs = x;
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const pre = `layers.${i}.self_attn`;
    const ln1 = layerNorm(g, p, `layers.${i}.layer_norm1`, hs, eps);
    const split = (y: string) => g.op('Transpose', [g.op('Reshape', [y, heads])], { perm: [0, 2, 1, 3] }); // [B, H, T, hd]
    const q = split(g.op('Mul', [linear(g, p, `${pre}.q_proj`, ln1), scalar(g, hd ** -0.5)]));
    const k = g.op('Concat', [pasts[i]!.k, split(linear(g, p, `${pre}.k_proj`, ln1))], { axis: 2 }); // [B, H, S + T, hd]
    const v = g.op('Concat', [pasts[i]!.v, split(linear(g, p, `${pre}.v_proj`, ln1))], { axis: 2 });
    g.output(`present.${i}.key`, k, FLOAT, ['batch', h, 'total', hd]);
    g.output(`present.${i}.value`, v, FLOAT, ['batch', h, 'total', hd]);
    const scores = g.op('Add', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), mask]);
    const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]); // [B, H, T, hd]
    const merged = g.op('Reshape', [
      g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }),
      g.constI64('shape', [0, -1, d]),
    ]);
    hs = g.op('Add', [hs, linear(g, p, `${pre}.out_proj`, merged)]);
    const ln2 = layerNorm(g, p, `layers.${i}.layer_norm2`, hs, eps);
    hs = g.op('Add', [hs, mlp(g, p, `layers.${i}.mlp`, blockConfig(c), ln2)]);
  }
  g.output('last_hidden_state', layerNorm(g, p, 'final_layer_norm', hs, eps), FLOAT, ['batch', 'seq', d]);
  return g;
}

function headGraph(m: UnifiedModel, kind: 'text' | 'image'): GraphBuilder {
  const c = m.config;
  const g = new GraphBuilder(`unified_${kind}_head`);
  const x = g.input('last_hidden_state', FLOAT, ['batch', 'seq', c.hidden_size]);
  const { groups, groupBits } = headShape(c);
  const width =
    kind === 'text'
      ? c.clip_ids.length + 6
      : c.image_head.kind === 'bits'
        ? c.image_bits
        : groups * 2 ** groupBits;
  g.output(`${kind}_logits`, linear(g, m.params, `${kind}_head`, x), FLOAT, ['batch', 'seq', width]);
  return g;
}

export interface UnifiedOnnxExportResult {
  dir: string;
  files: WrittenFile[];
  manifest: UnifiedOnnxManifest;
  graphs: { graph: UnifiedOnnxGraph; file: string; nodes: number; initializers: number }[];
}

export interface UnifiedOnnxExportOptions {
  producerVersion?: string;
  /** Replace the files of a non-empty `outDir` (refused otherwise). */
  overwrite?: boolean;
  /** The model folder read: never written into (a sub-folder such as `<model>/onnx` is allowed). */
  sourceDir?: string;
}

/** Write the four graphs and the manifest into `outDir` (staged and locked: all or nothing). */
export async function exportUnifiedOnnx(
  model: UnifiedModel,
  outDir: string,
  opts: UnifiedOnnxExportOptions = {},
): Promise<UnifiedOnnxExportResult> {
  const producerVersion = opts.producerVersion;
  const c = model.config;
  const manifest: UnifiedOnnxManifest = {
    format: 'qlip-unified-onnx',
    version: 1,
    opset: OPSET,
    graphs: { ...UNIFIED_ONNX_GRAPHS },
    config: c,
    heads: c.num_attention_heads,
    headDim: c.hidden_size / c.num_attention_heads,
    layers: c.num_hidden_layers,
  };
  const builders: Record<UnifiedOnnxGraph, () => GraphBuilder> = {
    embed: () => embedGraph(model),
    decoder: () => decoderGraph(model),
    text_head: () => headGraph(model, 'text'),
    image_head: () => headGraph(model, 'image'),
  };
  const { files, result } = await writeStaged(
    outDir,
    async (stage) => {
      const graphs: UnifiedOnnxExportResult['graphs'] = [];
      for (const [name, file] of Object.entries(UNIFIED_ONNX_GRAPHS) as [UnifiedOnnxGraph, string][]) {
        const w = await writeOnnxModel(stage, file, builders[name](), {
          external: false,
          dataFile: `${file}.data`,
          doc: `qlip unified model: ${name.replace('_', ' ')}`,
          producerVersion,
          metadata: { 'qlip.graph': `unified_${name}` },
        });
        graphs.push({ graph: name, file, nodes: w.nodes, initializers: w.initializers });
      }
      await writeFile(join(stage, UNIFIED_ONNX_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
      return { files: [...Object.values(UNIFIED_ONNX_GRAPHS), UNIFIED_ONNX_MANIFEST], result: graphs };
    },
    {
      overwrite: opts.overwrite,
      ...(opts.sourceDir ? { source: { dir: opts.sourceDir, allowSubfolder: true } } : {}),
      command: 'qlip export onnx (unified)',
    },
  );
  return { dir: outDir, files, manifest, graphs: result };
}
