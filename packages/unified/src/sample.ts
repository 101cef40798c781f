import * as tf from '@tensorflow/tfjs-core';
import type { LayerCache, UnifiedModel } from './model.js';
import { type StepDecoder, stepInputs } from './sampling.js';
import type { Element } from './sequence.js';

/**
 * Incremental decoding with a KV cache: `prefill` runs the prompt, each `step` one new position per row.
 * Both return the last position's final hidden state `[B, D]` (caller disposes).
 */
export class DecodeSession {
  private cache: LayerCache[] | undefined;
  private offset = 0;

  constructor(readonly model: UnifiedModel) {}

  private run(rows: Element[][]): tf.Tensor2D {
    const c = this.model.config;
    const x = this.model.embed(stepInputs(rows, c.image_bits, c.image_grid[1]), this.offset);
    const { hidden, cache } = this.model.forward(x, this.cache);
    x.dispose();
    for (const l of this.cache ?? []) tf.dispose([l.k, l.v]);
    this.cache = cache;
    this.offset += rows[0]!.length;
    const [b, t, d] = hidden.shape;
    const last = tf.tidy(() => tf.reshape(tf.slice(hidden, [0, t - 1, 0], [b, 1, d]), [b, d]) as tf.Tensor2D);
    hidden.dispose();
    return last;
  }

  prefill(rows: Element[][]): tf.Tensor2D {
    if (this.cache) throw new Error('DecodeSession.prefill: already started');
    return this.run(rows);
  }

  step(next: Element[]): tf.Tensor2D {
    return this.run(next.map((e) => [e]));
  }

  dispose(): void {
    for (const l of this.cache ?? []) tf.dispose([l.k, l.v]);
    this.cache = undefined;
  }
}

/** The tfjs runtime of a StepDecoder over a loaded model (KV cache in DecodeSession). */
export function tfjsDecoder(model: UnifiedModel): StepDecoder {
  const session = new DecodeSession(model);
  let last: tf.Tensor2D | undefined;
  const read = (f: (h: tf.Tensor2D) => tf.Tensor): Float32Array => {
    if (!last) throw new Error('decoder: nothing run yet');
    const h = last;
    return tf.tidy(() => f(h).dataSync() as Float32Array);
  };
  return {
    config: model.config,
    async prefill(rows) {
      last?.dispose();
      last = session.prefill(rows);
    },
    async step(next) {
      last?.dispose();
      last = session.step(next);
    },
    async imageLogits() {
      return read((h) => tf.reshape(model.imageLogits(h), [h.shape[0], -1]));
    },
    async textLogits() {
      return read((h) => model.textLogits(h));
    },
    dispose() {
      last?.dispose();
      session.dispose();
    },
  };
}
