import type { Rng } from '@qlip/core';
import { BOI, BOS, EOI, EOS, PAD } from './text-vocab.js';

/**
 * Sequence formats (docs/unified.md):
 *   t2i   <bos> text <boi> image <eoi> <eos>     loss on image, <eoi>, <eos>
 *   i2t   <bos> <boi> image <eoi> text <eos>     loss on text, <eos>
 *   text  <bos> text <eos>                       loss on text, <eos>
 * An element is a text-vocabulary id or an image token (its BSQ index `code` and grid position `n`).
 */
export type Task = 't2i' | 'i2t' | 'text';
export type Element = { id: number } | { code: number; n: number };

/** One training example: text ids (restricted vocabulary) and, for t2i/i2t, the image's token indices. */
export interface Example {
  task: Task;
  text: readonly number[];
  /** `[N]` BSQ indices, row-major over the grid. */
  image?: ArrayLike<number>;
  /** t2i only: replace the caption by `<pad>`s of the same length (classifier-free guidance). */
  dropCondition?: boolean;
}

const ids = (xs: readonly number[]): Element[] => xs.map((id) => ({ id }));
const image = (codes: ArrayLike<number>): Element[] => Array.from(codes, (code, n) => ({ code, n }));

/** The elements of an example and, per element, whether predicting it is trained. */
export function buildSequence(ex: Example): { elements: Element[]; target: boolean[] } {
  const text = ex.dropCondition ? ex.text.map(() => PAD) : ex.text;
  if (ex.task === 'text') {
    const elements = ids([BOS, ...text, EOS]);
    return { elements, target: elements.map((_, i) => i > 0) };
  }
  if (!ex.image) throw new Error(`buildSequence: a ${ex.task} example needs image tokens`);
  const img = image(ex.image);
  if (ex.task === 't2i') {
    const elements = [...ids([BOS, ...text, BOI]), ...img, ...ids([EOI, EOS])];
    const first = text.length + 2; // first image token
    return { elements, target: elements.map((_, i) => i >= first) };
  }
  const elements = [...ids([BOS, BOI]), ...img, ...ids([EOI, ...text, EOS])];
  const first = img.length + 3; // first text token
  return { elements, target: elements.map((_, i) => i >= first) };
}

/** Host arrays of a batch of sequences, right-padded to `T` (causal: padding never reaches real tokens). */
export interface SequenceBatch {
  batch: number;
  length: number;
  /** `[B, T]` text ids at text positions, `<pad>` at image positions. */
  ids: Int32Array;
  /** `[B, T, L]` bits as +-1 at image positions (after self-correction flips), 0 elsewhere. */
  bits: Float32Array;
  /** `[B, T]` 1 at image positions. */
  isImage: Float32Array;
  /** `[B, T]` grid row / column of image positions (0 elsewhere). */
  rows: Int32Array;
  cols: Int32Array;
  /** `[B, T]` next-token text target and its loss weight (1 where the next element is a trained text id). */
  textTarget: Int32Array;
  textWeight: Float32Array;
  /** `[B, T]` next-token image target (a BSQ index) and its loss weight. */
  imageTarget: Uint32Array;
  imageWeight: Float32Array;
}

export interface BatchOptions {
  bits: number;
  gridCols: number;
  /** Pad to at least this length (the longest sequence otherwise). */
  length?: number;
  /** Bitwise self-correction: flip each input bit with this probability (targets stay true). */
  flip?: number;
  rng?: Rng;
}

/** Bit `i` (MSB first) of an L-bit index. */
export function bitOf(code: number, i: number, bits: number): number {
  return Math.floor(code / 2 ** (bits - 1 - i)) % 2;
}

/** Pack sequences into batch arrays; `target[t]` of a sequence marks element t as a trained prediction. */
export function packSequences(
  seqs: { elements: Element[]; target: boolean[] }[],
  o: BatchOptions,
): SequenceBatch {
  const b = seqs.length;
  const t = Math.max(o.length ?? 0, ...seqs.map((s) => s.elements.length));
  const l = o.bits;
  const out: SequenceBatch = {
    batch: b,
    length: t,
    ids: new Int32Array(b * t),
    bits: new Float32Array(b * t * l),
    isImage: new Float32Array(b * t),
    rows: new Int32Array(b * t),
    cols: new Int32Array(b * t),
    textTarget: new Int32Array(b * t),
    textWeight: new Float32Array(b * t),
    imageTarget: new Uint32Array(b * t),
    imageWeight: new Float32Array(b * t),
  };
  seqs.forEach((s, r) => {
    s.elements.forEach((e, i) => {
      const p = r * t + i;
      if ('id' in e) out.ids[p] = e.id;
      else {
        out.isImage[p] = 1;
        out.rows[p] = Math.floor(e.n / o.gridCols);
        out.cols[p] = e.n % o.gridCols;
        for (let k = 0; k < l; k++) {
          let bit = bitOf(e.code, k, l);
          if (o.flip && o.rng && o.rng.next() < o.flip) bit = 1 - bit;
          out.bits[p * l + k] = bit ? 1 : -1;
        }
      }
      if (i === 0 || !s.target[i]) return;
      const q = r * t + i - 1; // the position that predicts element i
      if ('id' in e) {
        out.textTarget[q] = e.id;
        out.textWeight[q] = 1;
      } else {
        out.imageTarget[q] = e.code;
        out.imageWeight[q] = 1;
      }
    });
  });
  return out;
}

/** Mix of tasks in training batches (fractions, normalised). */
export interface TaskMix {
  t2i: number;
  i2t: number;
  text: number;
}

/** Draw a task from the mix. */
export function drawTask(mix: TaskMix, rng: Rng): Task {
  const total = mix.t2i + mix.i2t + mix.text;
  const u = rng.next() * total;
  if (u < mix.t2i) return 't2i';
  if (u < mix.t2i + mix.i2t) return 'i2t';
  return 'text';
}
