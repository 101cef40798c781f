// Sampling on the host, shared by every runtime (tfjs in Node, ONNX Runtime in Node and in the browser):
// no tfjs, no Node built-ins, so the web page bundles it and draws the same tokens as the CLI.
import type { Rng } from '@qlip/core';
import { headShape, type UnifiedConfig } from './config.js';
import type { StepInputs } from './model.js';
import { bitOf, type Element } from './sequence.js';
import { BOI, BOS, EOI, EOS, PAD, SPECIALS } from './text-vocab.js';

/** Step inputs of B rows of elements of equal length. */
export function stepInputs(rows: Element[][], bits: number, gridCols: number): StepInputs {
  const b = rows.length;
  const t = rows[0]?.length ?? 0;
  const x: StepInputs = {
    batch: b,
    length: t,
    ids: new Int32Array(b * t),
    bits: new Float32Array(b * t * bits),
    isImage: new Float32Array(b * t),
    rows: new Int32Array(b * t),
    cols: new Int32Array(b * t),
  };
  rows.forEach((r, i) => {
    if (r.length !== t) throw new Error('stepInputs: rows must have equal length');
    r.forEach((e, j) => {
      const p = i * t + j;
      if ('id' in e) {
        x.ids[p] = e.id;
        return;
      }
      x.isImage[p] = 1;
      x.rows[p] = Math.floor(e.n / gridCols);
      x.cols[p] = e.n % gridCols;
      for (let k = 0; k < bits; k++) x.bits[p * bits + k] = bitOf(e.code, k, bits) ? 1 : -1;
    });
  });
  return x;
}

export interface SamplingOptions {
  /** Classifier-free guidance scale s: logits = u + s (c - u); 1 = conditional only. */
  guidance: number;
  /** Softmax temperature (> 0). */
  temperature: number;
  /** Keep the k most likely values of each group (0 = all). */
  topK: number;
}

/** Draw one index from logits with temperature and top-k (host). */
export function sampleLogits(
  logits: ArrayLike<number>,
  o: Pick<SamplingOptions, 'temperature' | 'topK'>,
  rng: Rng,
): number {
  const n = logits.length;
  let cut = Number.NEGATIVE_INFINITY;
  if (o.topK > 0 && o.topK < n) cut = Array.from(logits).sort((a, b) => b - a)[o.topK - 1]!;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (logits[i]! >= cut && logits[i]! > max) max = logits[i]!;
  const w = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (logits[i]! < cut) continue;
    w[i] = Math.exp((logits[i]! - max) / o.temperature);
    sum += w[i]!;
  }
  let u = rng.next() * sum;
  for (let i = 0; i < n; i++) {
    u -= w[i]!;
    if (u < 0 && w[i]! > 0) return i;
  }
  for (let i = n - 1; i >= 0; i--) if (w[i]! > 0) return i;
  return 0;
}

/**
 * What sampling needs from a model runtime (tfjs here, ONNX Runtime in @qlip/export): run a prompt, then one
 * element per row at a time, and read the heads' logits of the last position. Everything else (guidance,
 * temperature, top-k, the seeded draws, greedy choice) is host code shared by every runtime, so two runtimes
 * that agree on logits produce the same tokens.
 */
export interface StepDecoder {
  readonly config: UnifiedConfig;
  prefill(rows: Element[][]): Promise<void>;
  step(next: Element[]): Promise<void>;
  /** `[B, W]`: `W = G 2^g` (groups) or `L` (bits). */
  imageLogits(): Promise<Float32Array>;
  /** `[B, V]` */
  textLogits(): Promise<Float32Array>;
  dispose(): void;
}

/** Guided logits of B rows from `[2B, W]` (cond rows first) or `[B, W]` host logits: u + s (c - u). */
function guide(logits: Float32Array, b: number, guidance: number): Float32Array {
  const w = logits.length / (2 * b);
  const out = new Float32Array(b * w);
  for (let i = 0; i < b * w; i++) {
    const c = logits[i]!;
    const u = logits[b * w + i]!;
    out[i] = u + guidance * (c - u);
  }
  return out;
}

/** Sample one image token per row from guided logits. */
function drawCodes(
  c: UnifiedConfig,
  logits: Float32Array,
  b: number,
  o: SamplingOptions,
  rng: Rng,
): number[] {
  const { groups, groupBits } = headShape(c);
  const codes: number[] = [];
  for (let r = 0; r < b; r++) {
    let code = 0;
    if (c.image_head.kind === 'bits') {
      for (let k = 0; k < c.image_bits; k++) {
        const z = logits[r * c.image_bits + k]! / o.temperature;
        code = code * 2 + (rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0);
      }
    } else {
      const k = 2 ** groupBits;
      for (let g = 0; g < groups; g++) {
        const off = (r * groups + g) * k;
        code = code * k + sampleLogits(logits.subarray(off, off + k), o, rng);
      }
    }
    codes.push(code);
  }
  return codes;
}

/**
 * Text-to-image: `b` token grids for one prompt (text ids), `[b, N]` row-major BSQ indices.
 * With guidance != 1 the unconditional rows (caption replaced by `<pad>`s, as in training) run in the
 * same batch and the logits are mixed.
 */
export async function sampleImages(
  dec: StepDecoder,
  text: readonly number[],
  b: number,
  o: SamplingOptions,
  rng: Rng,
): Promise<Uint32Array> {
  const c = dec.config;
  const n = c.image_grid[0] * c.image_grid[1];
  const guided = o.guidance !== 1;
  const ids = (xs: number[]) => xs.map((id) => ({ id }));
  const cond = ids([BOS, ...text, BOI]);
  const uncond = ids([BOS, ...text.map(() => PAD), BOI]);
  const prompts = [...Array(b).fill(cond), ...(guided ? Array(b).fill(uncond) : [])] as Element[][];
  const out = new Uint32Array(b * n);
  await dec.prefill(prompts);
  for (let i = 0; i < n; i++) {
    const raw = await dec.imageLogits();
    const codes = drawCodes(c, guided ? guide(raw, b, o.guidance) : raw, b, o, rng);
    codes.forEach((code, r) => {
      out[r * n + i] = code;
    });
    if (i === n - 1) break;
    const next = codes.map((code) => ({ code, n: i }));
    await dec.step(guided ? [...next, ...next] : next);
  }
  return out;
}

/** Text ids that may be generated: every non-special id, plus `<eos>`. */
function textMask(vocabSize: number): Float32Array {
  const m = new Float32Array(vocabSize);
  for (let i = 0; i < vocabSize; i++) m[i] = i >= SPECIALS.length || i === EOS ? 0 : Number.NEGATIVE_INFINITY;
  return m;
}

/** Greedy text continuation of B prefixes of equal length until `<eos>` or `maxTokens`. */
export async function greedyText(
  dec: StepDecoder,
  prefixes: Element[][],
  maxTokens: number,
): Promise<number[][]> {
  const b = prefixes.length;
  const out: number[][] = prefixes.map(() => []);
  const done = new Array<boolean>(b).fill(false);
  const v = dec.config.clip_ids.length + SPECIALS.length;
  const mask = textMask(v);
  await dec.prefill(prefixes);
  for (let step = 0; step < maxTokens; step++) {
    const logits = await dec.textLogits();
    const next: Element[] = [];
    for (let r = 0; r < b; r++) {
      let best = 0;
      let bestV = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < v; i++) {
        const s = logits[r * v + i]! + mask[i]!;
        if (s > bestV) {
          bestV = s;
          best = i;
        }
      }
      if (!done[r]) {
        if (best === EOS) done[r] = true;
        else out[r]!.push(best);
      }
      next.push({ id: best });
    }
    if (done.every(Boolean) || step === maxTokens - 1) break;
    await dec.step(next);
  }
  return out;
}

/** Captioning prefixes `<bos> <boi> image <eoi>` for `[B, N]` token grids. */
export function captionPrefixes(codes: Uint32Array, n: number): Element[][] {
  const rows: Element[][] = [];
  for (let r = 0; r < codes.length / n; r++) {
    rows.push([
      { id: BOS },
      { id: BOI },
      ...Array.from(codes.subarray(r * n, (r + 1) * n), (code, i) => ({ code, n: i })),
      { id: EOI },
    ]);
  }
  return rows;
}
