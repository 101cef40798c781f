import * as tf from '@tensorflow/tfjs-core';

/**
 * Exponential moving average of parameters (shadow = decay * shadow + (1 - decay) * param), kept for
 * evaluation and export; the optimizer keeps training the raw parameters.
 */
export class Ema {
  readonly shadow = new Map<string, tf.Variable>();

  constructor(
    readonly decay: number,
    params: Map<string, tf.Variable>,
  ) {
    for (const [k, p] of params) {
      if (!p.trainable) continue;
      // Unnamed: tf registers variable names globally, and two runs in one process would collide.
      const copy = p.clone();
      this.shadow.set(k, tf.variable(copy, false));
      copy.dispose();
    }
  }

  update(params: Map<string, tf.Variable>): void {
    for (const [k, s] of this.shadow) {
      const p = params.get(k)!;
      tf.tidy(() => s.assign(tf.add(tf.mul(s, this.decay), tf.mul(p, 1 - this.decay))));
    }
  }

  dispose(): void {
    for (const s of this.shadow.values()) s.dispose();
    this.shadow.clear();
  }
}
