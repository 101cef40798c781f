/**
 * The unified model in the page: its four ONNX graphs (`qlip export onnx` on a unified model) run with
 * onnxruntime-web, driven by @qlip/unified's own sampling code, so a greedy caption and a seeded generation
 * are the CLI's (`qlip caption`, `qlip generate`) token for token.
 */
import { Rng } from '@qlip/core/browser';
import {
  captionPrefixes,
  greedyText,
  onnxStepDecoder,
  RestrictedVocab,
  type SamplingOptions,
  sampleImages,
  type UnifiedConfig,
  type UnifiedOnnxShape,
} from '@qlip/unified/browser';
import * as ort from 'onnxruntime-web';
import type { ModelFiles, Provider } from './model.js';
import { clipBpe } from './zeroshot.js';

const MANIFEST = 'unified-onnx.json';
type Graph = 'embed' | 'decoder' | 'text_head' | 'image_head';
interface UnifiedManifest extends UnifiedOnnxShape {
  format: 'qlip-unified-onnx';
  version: 1;
  graphs: Record<Graph, string>;
}

/** `qlip caption`'s default length limit. */
const CAPTION_TOKENS = 24;
/** `qlip generate`'s default --batch-size: the rows of one sampling call (their draws interleave). */
const GENERATE_BATCH = 32;

export class WebUnified {
  private constructor(
    readonly label: string,
    readonly manifest: UnifiedManifest,
    private readonly sessions: Record<Graph, ort.InferenceSession>,
    readonly vocab: RestrictedVocab,
  ) {}

  static async open(files: ModelFiles, provider: Provider): Promise<WebUnified> {
    const raw = await files.read(MANIFEST);
    if (!raw) throw new Error(`${files.label}: no ${MANIFEST} (run "qlip export onnx" on the unified model)`);
    const m = JSON.parse(new TextDecoder().decode(raw)) as UnifiedManifest;
    if (m?.format !== 'qlip-unified-onnx' || m.version !== 1)
      throw new Error(`${files.label}${MANIFEST}: not a unified ONNX manifest of version 1`);
    const sessions = {} as Record<Graph, ort.InferenceSession>;
    for (const [g, file] of Object.entries(m.graphs) as [Graph, string][]) {
      const bytes = await files.read(file);
      if (!bytes) throw new Error(`${files.label}${file} is missing (listed in ${MANIFEST})`);
      sessions[g] = await ort.InferenceSession.create(bytes, {
        executionProviders: [provider.name],
        graphOptimizationLevel: 'all',
      });
    }
    return new WebUnified(files.label, m, sessions, new RestrictedVocab(m.config.clip_ids, await clipBpe()));
  }

  get config(): UnifiedConfig {
    return this.manifest.config;
  }

  /** Image tokens per image. */
  get tokens(): number {
    return this.config.image_grid[0] * this.config.image_grid[1];
  }

  /** Why this model cannot read/write the tokens of a tokenizer export (grid, bits), or null when it can. */
  mismatch(t: { grid: [number, number]; bits: number }): string | null {
    const c = this.config;
    if (t.grid[0] === c.image_grid[0] && t.grid[1] === c.image_grid[1] && t.bits === c.image_bits)
      return null;
    return (
      `the unified model ${this.label} reads ${c.image_grid.join('x')} tokens of ${c.image_bits} bits ` +
      `(its tokenizer: ${c.tokenizer.path}), the loaded tokenizer makes ${t.grid.join('x')} of ${t.bits} bits`
    );
  }

  private decoder() {
    return onnxStepDecoder(this.manifest, this.sessions, ort.Tensor);
  }

  /** Greedy captions of `[B, N]` token grids (what `qlip caption` prints). */
  async caption(codes: Uint32Array): Promise<string[]> {
    const dec = this.decoder();
    try {
      const ids = await greedyText(dec, captionPrefixes(codes, this.tokens), CAPTION_TOKENS);
      return ids.map((x) => this.vocab.decode(x));
    } finally {
      dec.dispose();
    }
  }

  /**
   * `n` token grids `[n, N]` for `prompt`, seeded as `qlip generate` draws them (one Rng, batches of 32);
   * `onBatch` gets each batch's grids as soon as they are sampled.
   */
  async generate(
    prompt: string,
    o: SamplingOptions & { n: number; seed: number },
    onBatch: (codes: Uint32Array, start: number) => Promise<void>,
  ): Promise<{ codes: Uint32Array; samplingSeconds: number; unknownTokens: number }> {
    const text = this.vocab.encode(prompt);
    const rng = new Rng(o.seed);
    const codes = new Uint32Array(o.n * this.tokens);
    let samplingSeconds = 0;
    for (let start = 0; start < o.n; start += GENERATE_BATCH) {
      const b = Math.min(GENERATE_BATCH, o.n - start);
      const dec = this.decoder();
      const t0 = performance.now();
      try {
        codes.set(await sampleImages(dec, text, b, o, rng), start * this.tokens);
      } finally {
        dec.dispose();
      }
      samplingSeconds += (performance.now() - t0) / 1000;
      await onBatch(codes.subarray(start * this.tokens, (start + b) * this.tokens), start);
    }
    return { codes, samplingSeconds, unknownTokens: this.vocab.unknownCount(prompt) };
  }

  async release(): Promise<void> {
    for (const s of Object.values(this.sessions)) await s.release();
  }
}
