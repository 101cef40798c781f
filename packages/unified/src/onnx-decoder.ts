// A StepDecoder over the unified model's ONNX graphs (`qlip export onnx` on a unified model), written against
// the API onnxruntime-node and onnxruntime-web share, so the CLI's --runtime onnx and the web page run the
// very same feeds (no import of either runtime here: the caller passes its Tensor class).
import type { UnifiedConfig } from './config.js';
import type { StepDecoder } from './sampling.js';
import { stepInputs } from './sampling.js';
import type { Element } from './sequence.js';

/** What the decoder needs of unified-onnx.json. */
export interface UnifiedOnnxShape {
  config: UnifiedConfig;
  /** Past/present tensors are `[B, heads, S, headDim]`, one key and one value per layer. */
  heads: number;
  headDim: number;
  layers: number;
}

/** The runtime's tensor, as far as decoding reads it. */
export interface OrtTensorLike {
  readonly data: unknown;
}
/** `new ort.Tensor(type, data, dims)` of onnxruntime-node or onnxruntime-web. */
export type OrtTensorCtor<T extends OrtTensorLike> = new (
  type: 'float32' | 'int64',
  data: Float32Array | BigInt64Array,
  dims: readonly number[],
) => T;
/** An `InferenceSession` of either runtime. */
export interface OrtSessionLike<T extends OrtTensorLike> {
  run(feeds: Record<string, T>): Promise<Record<string, T>>;
}
export type UnifiedOnnxSessions<T extends OrtTensorLike> = Record<
  'embed' | 'decoder' | 'text_head' | 'image_head',
  OrtSessionLike<T>
>;

const i64 = (a: ArrayLike<number>) => BigInt64Array.from(Array.from(a, (v) => BigInt(v)));

/** A fresh StepDecoder (its own KV cache) over loaded sessions of the four unified graphs. */
export function onnxStepDecoder<T extends OrtTensorLike>(
  m: UnifiedOnnxShape,
  s: UnifiedOnnxSessions<T>,
  Tensor: OrtTensorCtor<T>,
): StepDecoder {
  let past: Record<string, T> | undefined;
  let offset = 0;
  let last: T | undefined; // [B, 1, D]
  const c = m.config;
  const run = async (rows: Element[][]): Promise<void> => {
    const x = stepInputs(rows, c.image_bits, c.image_grid[1]);
    const { batch: b, length: t } = x;
    const pos = new Array<number>(b * t);
    for (let i = 0; i < b * t; i++) pos[i] = offset + (i % t);
    const emb = await s.embed.run({
      input_ids: new Tensor('int64', i64(x.ids), [b, t]),
      image_bits: new Tensor('float32', x.bits, [b, t, c.image_bits]),
      is_image: new Tensor('float32', x.isImage, [b, t]),
      grid_rows: new Tensor('int64', i64(x.rows), [b, t]),
      grid_cols: new Tensor('int64', i64(x.cols), [b, t]),
      position_ids: new Tensor('int64', i64(pos), [b, t]),
    });
    const feeds: Record<string, T> = { inputs_embeds: emb.inputs_embeds! };
    for (let i = 0; i < m.layers; i++) {
      for (const kind of ['key', 'value'] as const) {
        feeds[`past_key_values.${i}.${kind}`] =
          past?.[`present.${i}.${kind}`] ??
          new Tensor('float32', new Float32Array(0), [b, m.heads, 0, m.headDim]);
      }
    }
    const out = await s.decoder.run(feeds);
    past = out;
    offset += t;
    // The heads read only the last position of each row: [B, T, D] -> [B, 1, D].
    const d = c.hidden_size;
    const data = out.last_hidden_state!.data as Float32Array;
    const lastRows = new Float32Array(b * d);
    for (let r = 0; r < b; r++) lastRows.set(data.subarray((r * t + t - 1) * d, (r * t + t) * d), r * d);
    last = new Tensor('float32', lastRows, [b, 1, d]);
  };
  const head = async (name: 'text_head' | 'image_head', output: string): Promise<Float32Array> => {
    if (!last) throw new Error('decoder: nothing run yet');
    const r = await s[name].run({ last_hidden_state: last });
    return r[output]!.data as Float32Array;
  };
  return {
    config: c,
    prefill: (rows) => (past ? Promise.reject(new Error('decoder: already started')) : run(rows)),
    step: (next) => run(next.map((e) => [e])),
    imageLogits: () => head('image_head', 'image_logits'),
    textLogits: () => head('text_head', 'text_logits'),
    dispose() {
      past = undefined;
      last = undefined;
    },
  };
}
