import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Element, type StepDecoder, stepInputs, type UnifiedConfig } from '@qlip/unified';
import * as ort from 'onnxruntime-node';
import { UNIFIED_ONNX_MANIFEST, type UnifiedOnnxGraph, type UnifiedOnnxManifest } from '../onnx/unified.js';

const i64 = (a: ArrayLike<number>) => BigInt64Array.from(Array.from(a, (v) => BigInt(v)));

/** The four unified graphs loaded in ONNX Runtime; `decoder()` makes a StepDecoder with its own KV cache. */
export class OnnxUnified {
  private constructor(
    readonly dir: string,
    readonly manifest: UnifiedOnnxManifest,
    private readonly sessions: Record<UnifiedOnnxGraph, ort.InferenceSession>,
  ) {}

  static async load(dir: string, threads = 1): Promise<OnnxUnified> {
    const path = join(dir, UNIFIED_ONNX_MANIFEST);
    let manifest: UnifiedOnnxManifest;
    try {
      manifest = JSON.parse(await readFile(path, 'utf8')) as UnifiedOnnxManifest;
    } catch (err) {
      throw new Error(
        `${path}: cannot read the unified ONNX manifest (run "qlip export onnx" on the unified model): ${(err as Error).message}`,
      );
    }
    if (manifest.format !== 'qlip-unified-onnx')
      throw new Error(`${path}: not a unified ONNX manifest (format "${manifest.format}")`);
    const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1 };
    const sessions = {} as Record<UnifiedOnnxGraph, ort.InferenceSession>;
    for (const [name, file] of Object.entries(manifest.graphs) as [UnifiedOnnxGraph, string][])
      sessions[name] = await ort.InferenceSession.create(join(dir, file), opts);
    return new OnnxUnified(dir, manifest, sessions);
  }

  get config(): UnifiedConfig {
    return this.manifest.config;
  }

  decoder(): StepDecoder {
    return new OnnxStepDecoder(this.manifest, this.sessions);
  }

  async release(): Promise<void> {
    for (const s of Object.values(this.sessions)) await s.release();
  }
}

class OnnxStepDecoder implements StepDecoder {
  private past: Record<string, ort.Tensor> | undefined;
  private offset = 0;
  private last: ort.Tensor | undefined; // [B, 1, D]

  constructor(
    private readonly m: UnifiedOnnxManifest,
    private readonly s: Record<UnifiedOnnxGraph, ort.InferenceSession>,
  ) {}

  get config(): UnifiedConfig {
    return this.m.config;
  }

  private async run(rows: Element[][]): Promise<void> {
    const c = this.m.config;
    const x = stepInputs(rows, c.image_bits, c.image_grid[1]);
    const { batch: b, length: t } = x;
    const pos = new Array<number>(b * t);
    for (let i = 0; i < b * t; i++) pos[i] = this.offset + (i % t);
    const emb = await this.s.embed.run({
      input_ids: new ort.Tensor('int64', i64(x.ids), [b, t]),
      image_bits: new ort.Tensor('float32', x.bits, [b, t, c.image_bits]),
      is_image: new ort.Tensor('float32', x.isImage, [b, t]),
      grid_rows: new ort.Tensor('int64', i64(x.rows), [b, t]),
      grid_cols: new ort.Tensor('int64', i64(x.cols), [b, t]),
      position_ids: new ort.Tensor('int64', i64(pos), [b, t]),
    });
    const feeds: Record<string, ort.Tensor> = { inputs_embeds: emb.inputs_embeds! };
    for (let i = 0; i < this.m.layers; i++) {
      for (const kind of ['key', 'value'] as const) {
        feeds[`past_key_values.${i}.${kind}`] =
          this.past?.[`present.${i}.${kind}`] ??
          new ort.Tensor('float32', new Float32Array(0), [b, this.m.heads, 0, this.m.headDim]);
      }
    }
    const out = await this.s.decoder.run(feeds);
    this.past = out as Record<string, ort.Tensor>;
    this.offset += t;
    const h = out.last_hidden_state!;
    const d = c.hidden_size;
    const data = h.data as Float32Array;
    const lastRows = new Float32Array(b * d);
    for (let r = 0; r < b; r++) lastRows.set(data.subarray((r * t + t - 1) * d, (r * t + t) * d), r * d);
    this.last = new ort.Tensor('float32', lastRows, [b, 1, d]);
  }

  prefill(rows: Element[][]): Promise<void> {
    if (this.past) return Promise.reject(new Error('decoder: already started'));
    return this.run(rows);
  }

  step(next: Element[]): Promise<void> {
    return this.run(next.map((e) => [e]));
  }

  private async head(name: 'text_head' | 'image_head', out: string): Promise<Float32Array> {
    if (!this.last) throw new Error('decoder: nothing run yet');
    const r = await this.s[name].run({ last_hidden_state: this.last });
    return r[out]!.data as Float32Array;
  }

  imageLogits(): Promise<Float32Array> {
    return this.head('image_head', 'image_logits');
  }

  textLogits(): Promise<Float32Array> {
    return this.head('text_head', 'text_logits');
  }

  dispose(): void {
    this.past = undefined;
    this.last = undefined;
  }
}
