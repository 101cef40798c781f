import type { QLIPModel } from '@qlip/model';
import { causalMask, type Params, ropeTables, ropeTensors } from '@qlip/nn';
import { FLOAT, GraphBuilder, type GraphVariant, INT64, STANDARD_VARIANT } from './graph.js';
import { encoder, geluErf, l2Normalize, layerNorm, linear, type OnnxRope, weight } from './layers.js';

/** Dynamic batch dimension name of every graph input and output. */
export const BATCH = 'batch';

/** Graph input/output names (stable: `OnnxQLIP` and users feed/read them by name). */
export const IO = {
  pixels: 'pixel_values',
  indices: 'indices',
  groupIndices: 'group_indices',
  imageEmbeds: 'image_embeds',
  inputIds: 'input_ids',
  textEmbeds: 'text_embeds',
} as const;

/** Largest bit count with a flat `indices` tensor (MSB-first int64, the range of @qlip/bsq's uint32 indices). */
export const MAX_FLAT_BITS = 32;

/** Which integer tensor the tokenizer graphs exchange: flat indices (L <= 32) or group indices. */
export function indexLayout(model: QLIPModel): { name: string; width: number; groups: number } {
  const l = model.bits;
  if (l <= MAX_FLAT_BITS) return { name: IO.indices, width: l, groups: 1 };
  const gs = model.groupSize;
  if (gs > MAX_FLAT_BITS) {
    throw new Error(
      `ONNX export: ${l} bits per token need group indices, but quantizer_cfg.group_size ${gs} exceeds ${MAX_FLAT_BITS}`,
    );
  }
  return { name: IO.groupIndices, width: gs, groups: l / gs };
}

function requireBsq(model: QLIPModel): void {
  if (model.config.vision_config.quantizer !== 'bsq') {
    throw new Error(
      `ONNX export: vision_config.quantizer is "${model.config.vision_config.quantizer}"; the tokenizer graphs need "bsq"`,
    );
  }
}

/** MSB-first bit weights 2^(w-1) ... 1 (int64). */
const pow2 = (w: number) => Array.from({ length: w }, (_, j) => 2 ** (w - 1 - j));

function ropeInits(g: GraphBuilder, grid: number, headDim: number, shift: number): OnnxRope {
  const r = ropeTensors(ropeTables({ grid, headDim }), shift);
  const rows = r.cos.shape[0];
  const cos = r.cos.dataSync();
  const sin = r.sinSigned.dataSync();
  r.cos.dispose();
  r.sinSigned.dispose();
  return {
    cos: g.constF('rope_cos', cos, [rows, headDim]),
    sinSigned: g.constF('rope_sin', sin, [rows, headDim]),
  };
}

/** `[B, N, w]` int64 bits -> `[B, N]` MSB-first packed index (ReduceSum of bit * 2^k, exact in int64). */
function pack(g: GraphBuilder, bits: string): string {
  return g.op('ReduceSum', [bits, g.constI64('axes', [-1])], { keepdims: 0 }, 'pack');
}

/**
 * pixels `[B, 3, S, S]` (CLIP-normalised) -> `indices` `[B, N]` int64 (only when L <= 32), `group_indices`
 * `[B, N, L/group_size]` int64, `image_embeds` `[B, P]` L2-normalised.
 */
export function imageEncoderGraph(
  model: QLIPModel,
  variant: Readonly<GraphVariant> = STANDARD_VARIANT,
): GraphBuilder {
  requireBsq(model);
  const v = model.config.vision_config;
  const params: Params = model.params;
  const g = new GraphBuilder('qlip_image_encoder', variant);
  const [c, s, p, d] = [v.num_channels, v.image_size, v.patch_size, v.hidden_size];
  const grid = s / p;
  const n = grid * grid;
  const x = g.input(IO.pixels, FLOAT, [BATCH, c, s, s]);

  // Patchify in (channel, row, col) order so the stored [C*p*p, D] conv weight is a plain MatMul.
  const six = g.op('Reshape', [x, g.constI64('shape', [0, c, grid, p, grid, p])]); // [B, C, gh, p, gw, p]
  const perm = g.op('Transpose', [six], { perm: [0, 2, 4, 1, 3, 5] }); // [B, gh, gw, C, p, p]
  const patches = g.op('Reshape', [perm, g.constI64('shape', [0, n, c * p * p])]); // [B, N, C*p*p]
  const emb = linear(g, params, 'vision_model.embeddings.patch_embedding', patches); // [B, N, D]
  const batch = g.op('Slice', [g.op('Shape', [x]), g.constI64('s', [0]), g.constI64('e', [1])]); // [1]
  const clsShape = g.op('Concat', [batch, g.constI64('shape', [1, d])], { axis: 0 }); // (B, 1, D)
  const cls1 = g.op('Reshape', [
    weight(g, params, 'vision_model.embeddings.class_embedding'),
    g.constI64('shape', [1, 1, d]),
  ]);
  const cls = g.op('Expand', [cls1, clsShape]); // [B, 1, D]
  const tokens = g.op('Add', [
    g.op('Concat', [cls, emb], { axis: 1 }), // [B, N+1, D]
    weight(g, params, 'vision_model.embeddings.position_embedding.weight'),
  ]);
  const rope = v.rope ? ropeInits(g, grid, d / v.num_attention_heads, 1) : undefined;
  const last = encoder(g, params, 'vision_model.encoder', v, tokens, n + 1, { rope }); // [B, N+1, D]

  // Contrastive embedding: post_layernorm(CLS) -> visual_projection -> L2 normalise.
  const clsOut = g.op('Gather', [last, g.constI64('i', [0], [])], { axis: 1 }); // [B, D]
  const pooled = layerNorm(g, params, 'vision_model.post_layernorm', clsOut, v.layer_norm_eps);
  const imageEmbeds = l2Normalize(g, linear(g, params, 'visual_projection', pooled)); // [B, P]

  // Tokens: quant_embed (+ F.normalize), sign with 0 -> bit 0, MSB-first packing.
  let z = g.op('Slice', [last, g.constI64('s', [1]), g.constI64('e', [n + 1]), g.constI64('a', [1])]); // [B, N, D]
  if (v.quantizer_embed_type === 'mlp') {
    z = linear(
      g,
      params,
      'vision_model.quant_embed.c_proj',
      geluErf(g, linear(g, params, 'vision_model.quant_embed.c_fc', z)),
    );
  }
  if (v.quantizer_l2_norm) z = l2Normalize(g, z); // [B, N, L]
  const l = model.bits;
  const bits = g.op('Cast', [g.op('Greater', [z, g.constF('zero', [0], [])])], { to: INT64 }, 'bits'); // [B, N, L]
  const layout = indexLayout(model);
  if (layout.name === IO.indices) {
    const idx = pack(g, g.op('Mul', [bits, g.constI64('pow2', pow2(l))])); // [B, N]
    g.output(IO.indices, idx, INT64, [BATCH, n]);
  }
  const gs = model.groupSize;
  if (gs <= MAX_FLAT_BITS && l % gs === 0) {
    const grouped = g.op('Reshape', [bits, g.constI64('shape', [0, n, l / gs, gs])]); // [B, N, G, gs]
    const gIdx = pack(g, g.op('Mul', [grouped, g.constI64('pow2', pow2(gs))])); // [B, N, G]
    g.output(IO.groupIndices, gIdx, INT64, [BATCH, n, l / gs]);
  }
  g.output(IO.imageEmbeds, imageEmbeds, FLOAT, [BATCH, model.config.projection_dim]);
  return g;
}

/**
 * `indices` `[B, N]` int64 (or `group_indices` `[B, N, G]` when L > 32) -> `pixel_values` `[B, 3, S, S]`
 * (CLIP-normalised, unclamped), as `QLIPModel.decodeIndices`.
 */
export function decoderGraph(
  model: QLIPModel,
  variant: Readonly<GraphVariant> = STANDARD_VARIANT,
): GraphBuilder {
  requireBsq(model);
  const v = model.config.vision_config;
  const dc = model.config.decoder_config;
  const params: Params = model.params;
  const g = new GraphBuilder('qlip_decoder', variant);
  const [c, s, p, d] = [dc.num_channels, dc.image_size, dc.patch_size, dc.hidden_size];
  const grid = s / p;
  const n = grid * grid;
  const l = model.bits;
  const layout = indexLayout(model);
  const flat = layout.groups === 1;
  const idx = g.input(layout.name, INT64, flat ? [BATCH, n] : [BATCH, n, layout.groups]);

  // Unpack: bit k of each index = (idx / 2^(w-1-k)) mod 2, in int64.
  const col = g.op('Unsqueeze', [idx, g.constI64('axes', [-1])]); // [B, N, 1] or [B, N, G, 1]
  const shifted = g.op('Div', [col, g.constI64('pow2', pow2(layout.width))]);
  let bits = g.op('Mod', [shifted, g.constI64('two', [2], [])], { fmod: 0 }); // [..., w]
  if (!flat) bits = g.op('Reshape', [bits, g.constI64('shape', [0, n, l])]); // [B, N, L]
  const signs = g.op('Sub', [
    g.op('Mul', [g.op('Cast', [bits], { to: FLOAT }), g.constF('two', [2], [])]),
    g.constF('one', [1], []),
  ]);
  // Division by sqrt(L) as hardCodes does, so the codes equal the quantizer's bit for bit.
  let codes = v.quantizer_cfg.l2_norm ? g.op('Div', [signs, g.constF('sqrtL', [Math.sqrt(l)], [])]) : signs; // [B, N, L]

  if (v.quantizer_embed_type === 'mlp') {
    codes = linear(
      g,
      params,
      'vision_model.quant_embed_post.c_proj',
      geluErf(g, linear(g, params, 'vision_model.quant_embed_post.c_fc', codes)),
    );
  }
  const h0 = g.op('Add', [codes, weight(g, params, 'vision_decoder.position_embeddings')]); // [B, N, D]
  const rope = dc.rope ? ropeInits(g, grid, d / dc.num_attention_heads, 0) : undefined;
  const h = encoder(g, params, 'vision_decoder.encoder', dc, h0, n, { rope });
  const normed = layerNorm(g, params, 'vision_decoder.norm', h, dc.layer_norm_eps);
  const recon = linear(
    g,
    params,
    'vision_decoder.conv_out',
    g.op('Tanh', [linear(g, params, 'vision_decoder.ffn.0', normed)]),
  ); // [B, N, C*p*p]
  const six = g.op('Reshape', [recon, g.constI64('shape', [0, grid, grid, c, p, p])]); // [B, gh, gw, C, p, p]
  const perm = g.op('Transpose', [six], { perm: [0, 3, 1, 4, 2, 5] }); // [B, C, gh, p, gw, p]
  const pixels = g.op('Reshape', [perm, g.constI64('shape', [0, c, s, s])]); // [B, C, S, S]
  g.output(IO.pixels, pixels, FLOAT, [BATCH, c, s, s]);
  return g;
}

/**
 * `input_ids` `[B, ctx]` int64 (ctx = max_position_embeddings) -> `text_embeds` `[B, P]` L2-normalised:
 * causal CLIP text tower pooled at the first eos (ArgMax over ids == eos; the largest id when eos is 2).
 */
export function textEncoderGraph(
  model: QLIPModel,
  variant: Readonly<GraphVariant> = STANDARD_VARIANT,
): GraphBuilder {
  const t = model.config.text_config;
  const params: Params = model.params;
  const g = new GraphBuilder('qlip_text_encoder', variant);
  const ctx = t.max_position_embeddings;
  const ids = g.input(IO.inputIds, INT64, [BATCH, ctx]);
  const tok = g.op('Gather', [weight(g, params, 'text_model.embeddings.token_embedding.weight'), ids], {
    axis: 0,
  }); // [B, ctx, D]
  const x = g.op('Add', [tok, weight(g, params, 'text_model.embeddings.position_embedding.weight')]);
  const m = causalMask(ctx);
  const mask = g.constF('causal_mask', m.dataSync(), [ctx, ctx]);
  m.dispose();
  const h = encoder(g, params, 'text_model.encoder', t, x, ctx, { mask });
  const last = layerNorm(g, params, 'text_model.final_layer_norm', h, t.layer_norm_eps); // [B, ctx, D]
  // ids <= 49407 are exact in float32; ArgMax picks the first maximum (all-false -> 0, like torch).
  const key =
    t.eos_token_id === 2
      ? g.op('Cast', [ids], { to: FLOAT })
      : g.op('Cast', [g.op('Equal', [ids, g.constI64('eos', [t.eos_token_id], [])])], { to: FLOAT });
  const pos = g.op('ArgMax', [key], { axis: 1, keepdims: 1, select_last_index: 0 }); // [B, 1]
  const pooled = g.op('GatherND', [last, pos], { batch_dims: 1 }); // [B, D]
  const embeds = l2Normalize(g, linear(g, params, 'text_projection', pooled));
  g.output(IO.textEmbeds, embeds, FLOAT, [BATCH, model.config.projection_dim]);
  return g;
}
