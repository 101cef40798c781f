import { optionalImport, SafetensorsReader, specMismatch, toFloat32 } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Any frozen CNN that maps an image batch to a list of feature maps, shallow to deep.
 * `layers(x)`: x `[B, H, W, 3]` in [0, 1] -> `[B, h_l, w_l, C_l]` per layer.
 */
export interface FeatureNetwork {
  layers(x: tf.Tensor4D): tf.Tensor4D[];
}

/** Per-layer channel weights `[C_l]` (LPIPS' non-negative 1x1 "lin" convs), one per network layer. */
export type PerceptualWeights = tf.Tensor1D[];

/** LPIPS' normalize_tensor: f / (sqrt(sum_c f^2) + 1e-10). @param f `[B, h, w, C]` */
export function unitNormalizeChannels(f: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.div(f, tf.add(tf.sqrt(tf.sum(tf.square(f), -1, true)), 1e-10)) as tf.Tensor4D);
}

/**
 * LPIPS-style distance between two image batches, per image.
 *
 * For each layer l: unit-normalise both feature maps over channels, take the squared difference,
 * weight each channel by w_l (uniform weight 1 without weights, i.e. LPIPS' `lpips=False` baseline),
 * sum over channels, average over space; then sum over layers.
 *
 * This is NOT LPIPS unless `weights` are the official LPIPS lin weights AND `net` is the backbone they
 * were calibrated for (AlexNet/VGG/SqueezeNet with LPIPS' input scaling). With another backbone (e.g.
 * @qlip/feature-nets' MobileNetV2) it is a perceptual feature distance with no human-judgement calibration.
 *
 * @param x `[B, H, W, 3]` in [0, 1]
 * @param y `[B, H, W, 3]` in [0, 1]
 * @returns `[B]`
 */
export function perceptualDistance(
  net: FeatureNetwork,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  weights?: PerceptualWeights,
): tf.Tensor1D {
  if (x.shape.join(',') !== y.shape.join(',')) {
    throw new Error(`perceptualDistance: image batches differ in shape: [${x.shape}] vs [${y.shape}]`);
  }
  return tf.tidy(() => {
    const b = x.shape[0];
    // One pass over both batches: half the kernel launches of two calls.
    const feats = net.layers(tf.concat([x, y], 0)); // each [2B, h, w, C]
    if (weights && weights.length !== feats.length) {
      throw new Error(
        `perceptualDistance: ${weights.length} weight vectors for a network with ${feats.length} layers`,
      );
    }
    const perLayer = feats.map((f, l) => {
      const c = f.shape[3];
      const n = unitNormalizeChannels(f);
      const fx = tf.slice(n, [0, 0, 0, 0], [b, -1, -1, -1]); // [B, h, w, C]
      const fy = tf.slice(n, [b, 0, 0, 0], [b, -1, -1, -1]); // [B, h, w, C]
      const d = tf.squaredDifference(fx, fy); // [B, h, w, C]
      let perPixel: tf.Tensor; // [B, h, w]
      if (weights) {
        const w = weights[l]!;
        if (w.shape[0] !== c)
          throw new Error(`perceptualDistance: layer ${l} has ${c} channels, its weights ${w.shape[0]}`);
        perPixel = tf.sum(tf.mul(d, w), -1);
      } else {
        perPixel = tf.sum(d, -1);
      }
      return tf.mean(perPixel, [1, 2]); // [B]
    });
    return tf.addN(perLayer) as tf.Tensor1D;
  });
}

/** Batch mean of {@link perceptualDistance}. */
export function perceptualLoss(
  net: FeatureNetwork,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  weights?: PerceptualWeights,
): tf.Scalar {
  return tf.tidy(() => tf.mean(perceptualDistance(net, x, y, weights)) as tf.Scalar);
}

/** Official LPIPS lin layer name for layer `l`. */
export function lpipsLinName(l: number): string {
  return `lin${l}.model.1.weight`;
}

/**
 * Read LPIPS channel weights from a safetensors file: tensor `lin{l}.model.1.weight` of shape
 * `[1, C_l, 1, 1]` becomes the weights of the network's layer l.
 * @param channels C_l of each network layer, in order (checked against the file)
 * @param nameOf tensor name per layer (default: the official LPIPS names; add a prefix if the file has one)
 */
export async function loadLpipsWeights(
  path: string,
  channels: readonly number[],
  nameOf: (layer: number) => string = lpipsLinName,
): Promise<PerceptualWeights> {
  const reader = await SafetensorsReader.open(path);
  const out: tf.Tensor1D[] = [];
  try {
    for (let l = 0; l < channels.length; l++) {
      const name = nameOf(l);
      if (!reader.has(name)) {
        throw new Error(
          `${path}: no tensor "${name}" for perceptual layer ${l} (file has: ${reader.names().join(', ')})`,
        );
      }
      const h = await reader.read(name);
      const c = channels[l]!;
      if (specMismatch(h, { shape: [1, c, 1, 1] }))
        throw new Error(`${path}: "${name}" has shape [${h.shape}], expected [1, ${c}, 1, 1] for layer ${l}`);
      const data = toFloat32(h);
      if (data.some((v) => !Number.isFinite(v)))
        throw new Error(`${path}: "${name}" contains NaN or Infinity`);
      out.push(tf.tensor1d(data));
    }
  } catch (err) {
    for (const t of out) t.dispose();
    throw err;
  } finally {
    await reader.close();
  }
  return out;
}

/** Channel count of each layer, from a probe image `[1, size, size, 3]`. */
export function featureChannels(net: FeatureNetwork, size = 64): number[] {
  return tf.tidy(() => net.layers(tf.zeros([1, size, size, 3])).map((f) => f.shape[3]));
}

/**
 * The default perceptual network: a frozen ImageNet-derived CNN from `@qlip/feature-nets` (weights bundled
 * in npm `nsfwjs`), with its suggested stages as layers. NOT LPIPS (different backbone, no LPIPS
 * calibration). Throws a clear error when `@qlip/feature-nets` is not installed.
 */
export async function defaultFeatureNetwork(
  name: 'mobilenet_v2' | 'inception_v3' = 'mobilenet_v2',
  layerNames?: readonly string[],
): Promise<FeatureNetwork & { dispose(): void }> {
  // Loaded on first use: stage 1 and every loss without a perceptual term never load tfjs-layers or nsfwjs.
  const mod = await optionalImport(() => import('@qlip/feature-nets'));
  if (!mod.module) {
    throw new Error(
      `defaultFeatureNetwork: cannot load @qlip/feature-nets (${mod.error}); pass your own FeatureNetwork`,
    );
  }
  const net = await mod.module.loadFeatureNet(name);
  const names = layerNames ?? net.stages;
  return {
    layers: (x) =>
      net.layers(x, names).map((f, i) => {
        if (f.rank !== 4)
          throw new Error(
            `defaultFeatureNetwork(${name}): layer "${names[i]}" is rank ${f.rank}, expected a [B, h, w, C] map`,
          );
        return f as tf.Tensor4D;
      }),
    dispose: () => net.dispose(),
  };
}

/** A network plus optional LPIPS weights; owns the weights. */
export class PerceptualLoss {
  constructor(
    readonly net: FeatureNetwork,
    readonly weights?: PerceptualWeights,
  ) {}

  /** With LPIPS-format weights from `path` mapped onto the network's layers in order. */
  static async withLpipsWeights(net: FeatureNetwork, path: string, probeSize = 64): Promise<PerceptualLoss> {
    return new PerceptualLoss(net, await loadLpipsWeights(path, featureChannels(net, probeSize)));
  }

  /** @param x `[B, H, W, 3]` in [0, 1] @param y same */
  compute(x: tf.Tensor4D, y: tf.Tensor4D): tf.Scalar {
    return perceptualLoss(this.net, x, y, this.weights);
  }

  dispose(): void {
    for (const w of this.weights ?? []) w.dispose();
  }
}
