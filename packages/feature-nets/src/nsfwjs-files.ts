import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

/** The networks shipped inside the `nsfwjs` 4.4.0 npm tarball that this package can load. */
export const FEATURE_NETS = ['inception_v3', 'mobilenet_v2'] as const;
export type FeatureNetName = (typeof FEATURE_NETS)[number];

/** A Keras layer as stored in a tfjs layers-model topology (`model_config.config.layers[i]`). */
export interface KerasLayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  /** One call site per entry; each lists [layerName, nodeIndex, tensorIndex, kwargs]. */
  inbound_nodes: [string, number, number, unknown][][];
}

export interface ModelFiles {
  /** Folder the files were read from. */
  dir: string;
  layers: KerasLayerJson[];
  inputShape: number[];
  /** Dequantised float32 weights by Keras name (`conv2d_1/kernel`, `bn/moving_mean`, ...). */
  weights: tf.NamedTensorMap;
  /** Weight shapes by the same names (still valid after the graph releases `weights`). */
  shapes: Record<string, number[]>;
}

const require = createRequire(import.meta.url);

/** Folder holding `model.min.js` and its weight shards for `name` inside the installed nsfwjs. */
export function nsfwjsModelDir(name: FeatureNetName): string {
  let entry: string;
  try {
    entry = require.resolve('nsfwjs'); // .../nsfwjs/dist/cjs/index.js
  } catch (err) {
    throw new Error(`@qlip/feature-nets: the npm package "nsfwjs" (4.4.0) is not installed: ${String(err)}`);
  }
  const dir = join(dirname(entry), '..', 'models', name);
  if (!existsSync(join(dir, 'model.min.js'))) {
    throw new Error(
      `@qlip/feature-nets: ${join(dir, 'model.min.js')} is missing; expected nsfwjs 4.4.0 with its bundled models`,
    );
  }
  return dir;
}

interface ModelJson {
  modelTopology: { model_config: { class_name: string; config: { layers: KerasLayerJson[] } } };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/**
 * The raw tfjs model artifacts of a bundled model, read from the nsfwjs install (no network). nsfwjs
 * bundles each file as a CommonJS module (`model.min.js` exports the model.json object,
 * `group1-shardKofN.min.js` a base64 string of the weight shard), which `require` loads directly.
 * `tf.loadLayersModel(tf.io.fromMemory(artifacts))` would load them as nsfwjs does.
 */
export function readNsfwjsArtifacts(name: FeatureNetName): {
  dir: string;
  modelTopology: ModelJson['modelTopology'];
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
} {
  const dir = nsfwjsModelDir(name);
  const json = require(join(dir, 'model.min.js')) as ModelJson;
  const cfg = json.modelTopology?.model_config;
  if (cfg?.class_name !== 'Model' || !Array.isArray(cfg.config?.layers)) {
    throw new Error(`${join(dir, 'model.min.js')}: expected a Keras functional "Model" topology`);
  }
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const parts: Buffer[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      const file = join(dir, `${p}.min.js`);
      const b64 = require(file) as unknown;
      if (typeof b64 !== 'string') throw new Error(`${file}: expected a module exporting a base64 string`);
      parts.push(Buffer.from(b64, 'base64'));
    }
    weightSpecs.push(...group.weights);
  }
  const all = Buffer.concat(parts);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  return { dir, modelTopology: json.modelTopology, weightSpecs, weightData };
}

/**
 * Read a bundled model as layer descriptions plus float32 weights. The weights are stored
 * uint8-quantised (per-tensor min and scale) and are dequantised here.
 */
export function readNsfwjsModel(name: FeatureNetName): ModelFiles {
  const { dir, modelTopology, weightSpecs, weightData } = readNsfwjsArtifacts(name);
  const layers = modelTopology.model_config.config.layers;
  const weights = tf.io.decodeWeights(weightData, weightSpecs);
  const input = layers.find((l) => l.class_name === 'InputLayer');
  const inputShape = (input?.config.batch_input_shape as number[] | undefined) ?? [];
  const shapes = Object.fromEntries(weightSpecs.map((w) => [w.name, w.shape]));
  return { dir, layers, inputShape, weights, shapes };
}
