import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConfigLayer, deepMerge } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { resolveTrainConfig, type TrainConfig } from '../src/index.js';

/** A QLIP small enough for a training step in tens of milliseconds (16 px, 4 tokens, width 32). */
export const MICRO_MODEL = {
  projection_dim: 16,
  vision_config: {
    image_size: 16,
    patch_size: 8,
    hidden_size: 32,
    intermediate_size: 64,
    num_attention_heads: 2,
    num_hidden_layers: 1,
    quantizer: 'bsq',
    quantizer_embed_type: 'mlp',
    quantizer_l2_norm: true,
    quantizer_cfg: { embed_dim: 8, group_size: 4 },
    projection_dim: 16,
  },
  decoder_config: {
    image_size: 16,
    patch_size: 8,
    hidden_size: 32,
    intermediate_size: 64,
    num_attention_heads: 2,
    num_hidden_layers: 1,
  },
  text_config: {
    hidden_size: 32,
    intermediate_size: 64,
    num_attention_heads: 2,
    num_hidden_layers: 1,
    max_position_embeddings: 12,
    pad_token_id: 0,
    projection_dim: 16,
  },
};

/** Micro model on 64 MNIST digits, batch 4, no checkpoints unless asked. */
export function microConfig(over: Record<string, unknown> = {}): TrainConfig {
  const base: ConfigLayer = {
    source: 'test',
    values: {
      steps: 3,
      model: MICRO_MODEL,
      data: {
        source: { kind: 'builtin', name: 'mnist', limit: 64 },
        imageSize: 16,
        batchSize: 4,
        augment: false,
        shuffleBuffer: 16,
        workers: 1,
        prefetch: 1,
      },
      optimizer: { lr: 1e-3 },
      schedule: { warmupSteps: 2 },
      checkpoint: { every: 1000, keep: 2 },
    },
  };
  return resolveTrainConfig([base, { source: 'test override', values: deepMerge({}, over) }]);
}

export function tempDir(prefix = 'qlip-train-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * An activation-heavy MLP loss (six layers of matMul, centring, ReLU and a skip through concat/slice) over
 * fresh variables named `tag-w<i>`, and the peak bytes a gradient function holds above the current memory.
 */
export function activationHeavyMlp(tag: string) {
  const x = tf.randomNormal([1024, 64], 0, 1, 'float32', 1); // [N, D]
  const ws = Array.from({ length: 6 }, (_, i) =>
    tf.variable(tf.randomNormal([64, 64], 0, 0.1, 'float32', i + 2), true, `${tag}-w${i}`),
  );
  const f = () => {
    let h: tf.Tensor = x;
    for (const w of ws) {
      const z = tf.reshape(tf.matMul(tf.reshape(h, [1024, 64]), w), [32, 32, 64]); // [B, T, D]
      const centred = tf.sub(z, tf.mean(z, -1, true));
      const skip = tf.slice(tf.concat([h, h], 1), [0, 0], [1024, 64]); // [N, D]
      h = tf.reshape(tf.add(tf.relu(centred), tf.reshape(skip, [32, 32, 64])), [1024, 64]);
    }
    return tf.mean(tf.square(h)) as tf.Scalar;
  };
  const peak = async (grads: typeof tf.variableGrads) =>
    (
      await tf.profile(() => {
        const { value, grads: g } = grads(f, ws);
        tf.dispose([value, ...Object.values(g).filter((t): t is tf.Tensor => t !== null)]);
      })
    ).peakBytes - tf.memory().numBytes;
  return { peak, dispose: () => tf.dispose([x, ...ws]) };
}
