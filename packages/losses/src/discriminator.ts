import {
  type HostTensor,
  type Rng,
  SafetensorsReader,
  specMismatch,
  toFloat32,
  writeSafetensors,
} from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * PatchGAN discriminator (pix2pix / VQGAN's NLayerDiscriminator without the norm layers):
 *   conv k4 s2 (C -> base), LeakyReLU
 *   `downsamples - 1` x [conv k4 s2 (ch -> min(2 ch, 8 base)), LeakyReLU]
 *   conv k4 s1 (ch -> min(2 ch, 8 base)), LeakyReLU
 *   conv k4 s1 (-> 1): one real/fake logit per patch.
 * Every conv pads 1 on each side. Plain `tf.conv2d`: on wasm its weight gradient comes from the
 * host-side Conv2DBackpropFilter registered by @qlip/core's selectBackend.
 * Parameters are `conv{i}.weight` `[4, 4, Cin, Cout]` (tfjs HWIO) and `conv{i}.bias` `[Cout]`.
 */
export interface PatchGanConfig {
  inChannels: number;
  baseChannels: number;
  /** Stride-2 convolutions (VQGAN: 3; a 256 px input gives a 30x30 patch map). */
  downsamples: number;
  /** LeakyReLU negative slope. */
  slope: number;
  /** Std of the normal weight init (VQGAN: 0.02); biases start at 0. */
  initStd: number;
}

export const PATCHGAN_DEFAULT: PatchGanConfig = {
  inChannels: 3,
  baseChannels: 64,
  downsamples: 3,
  slope: 0.2,
  initStd: 0.02,
};

const KERNEL = 4;

export interface ConvSpec {
  name: string;
  inChannels: number;
  outChannels: number;
  stride: number;
}

/** The conv layers the config describes, in order. */
export function patchGanLayers(cfg: PatchGanConfig): ConvSpec[] {
  const specs: ConvSpec[] = [];
  let ch = cfg.inChannels;
  let next = cfg.baseChannels;
  for (let i = 0; i < cfg.downsamples; i++) {
    specs.push({ name: `conv${i}`, inChannels: ch, outChannels: next, stride: 2 });
    ch = next;
    next = Math.min(2 * ch, 8 * cfg.baseChannels);
  }
  specs.push({ name: `conv${cfg.downsamples}`, inChannels: ch, outChannels: next, stride: 1 });
  specs.push({ name: `conv${cfg.downsamples + 1}`, inChannels: next, outChannels: 1, stride: 1 });
  return specs;
}

function paramShapes(cfg: PatchGanConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const s of patchGanLayers(cfg)) {
    m.set(`${s.name}.weight`, [KERNEL, KERNEL, s.inChannels, s.outChannels]);
    m.set(`${s.name}.bias`, [s.outChannels]);
  }
  return m;
}

/** Fresh parameters: weights ~ N(0, initStd^2) drawn from `rng` in layer order, biases 0. */
export function initPatchGan(cfg: PatchGanConfig, rng: Rng): Map<string, tf.Variable> {
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of paramShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith('.weight')) for (let i = 0; i < n; i++) data[i] = rng.normal() * cfg.initStd;
    const t = tf.tensor(data, shape);
    params.set(name, tf.variable(t, true));
    t.dispose();
  }
  return params;
}

/**
 * Patch logits.
 * @param x `[B, H, W, C]` images (the same range the generator outputs)
 * @returns `[B, H', W', 1]` one logit per patch (H' = H / 2^downsamples - 2 for H divisible by it)
 */
export function patchGanForward(
  params: Map<string, tf.Tensor>,
  x: tf.Tensor4D,
  cfg: PatchGanConfig,
): tf.Tensor4D {
  if (x.shape[3] !== cfg.inChannels) {
    throw new Error(
      `patchGanForward: input has ${x.shape[3]} channels, the discriminator expects ${cfg.inChannels}`,
    );
  }
  const layers = patchGanLayers(cfg);
  return tf.tidy(() => {
    let h = x;
    layers.forEach((s, i) => {
      const w = params.get(`${s.name}.weight`) as tf.Tensor4D | undefined;
      const b = params.get(`${s.name}.bias`);
      if (!w || !b)
        throw new Error(`patchGanForward: parameter ${s.name}.weight or ${s.name}.bias is missing`);
      h = tf.add(tf.conv2d(h, w, s.stride, 1), b) as tf.Tensor4D; // [B, H_i, W_i, Cout]
      if (i < layers.length - 1) h = tf.leakyRelu(h, cfg.slope);
    });
    return h;
  });
}

/** Parameters as host float32 tensors (names as in the map), ready for `writeSafetensors`. */
export function patchGanToHost(params: Map<string, tf.Tensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of params)
    out.set(name, { dtype: 'F32', shape: [...t.shape], data: Float32Array.from(t.dataSync()) });
  return out;
}

/**
 * Parameters from host tensors (e.g. a safetensors file); every expected name must be present with
 * the expected shape. `source` names the origin in error messages.
 */
export function patchGanFromHost(
  cfg: PatchGanConfig,
  tensors: Map<string, HostTensor>,
  source = 'discriminator weights',
): Map<string, tf.Variable> {
  const params = new Map<string, tf.Variable>();
  try {
    for (const [name, shape] of paramShapes(cfg)) {
      const h = tensors.get(name);
      if (!h) throw new Error(`${source}: missing tensor "${name}" (expected shape [${shape}])`);
      if (specMismatch(h, { shape })) {
        throw new Error(`${source}: tensor "${name}" has shape [${h.shape}], expected [${shape}]`);
      }
      const t = tf.tensor(toFloat32(h), shape);
      params.set(name, tf.variable(t, true));
      t.dispose();
    }
  } catch (err) {
    for (const v of params.values()) v.dispose();
    throw err;
  }
  return params;
}

/** Read discriminator parameters from a safetensors file (extra tensors are ignored). */
export async function loadPatchGan(cfg: PatchGanConfig, path: string): Promise<Map<string, tf.Variable>> {
  const reader = await SafetensorsReader.open(path);
  try {
    const host = new Map<string, HostTensor>();
    for (const name of paramShapes(cfg).keys()) if (reader.has(name)) host.set(name, await reader.read(name));
    return patchGanFromHost(cfg, host, path);
  } finally {
    await reader.close();
  }
}

/** Write discriminator parameters (float32) to a safetensors file, atomically; the config goes into the metadata. */
export async function savePatchGan(
  params: Map<string, tf.Tensor>,
  cfg: PatchGanConfig,
  path: string,
): Promise<void> {
  await writeSafetensors(path, patchGanToHost(params), {
    format: 'qlip-patchgan',
    config: JSON.stringify(cfg),
  });
}

/** Thin holder of config + parameters. */
export class PatchGanDiscriminator {
  constructor(
    readonly config: PatchGanConfig,
    readonly params: Map<string, tf.Variable>,
  ) {}

  static create(rng: Rng, config: Partial<PatchGanConfig> = {}): PatchGanDiscriminator {
    const cfg = { ...PATCHGAN_DEFAULT, ...config };
    return new PatchGanDiscriminator(cfg, initPatchGan(cfg, rng));
  }

  static async load(path: string, config: Partial<PatchGanConfig> = {}): Promise<PatchGanDiscriminator> {
    const cfg = { ...PATCHGAN_DEFAULT, ...config };
    return new PatchGanDiscriminator(cfg, await loadPatchGan(cfg, path));
  }

  /** @param x `[B, H, W, C]` -> `[B, H', W', 1]` */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return patchGanForward(this.params, x, this.config);
  }

  variables(): tf.Variable[] {
    return [...this.params.values()];
  }

  toHost(): Map<string, HostTensor> {
    return patchGanToHost(this.params);
  }

  save(path: string): Promise<void> {
    return savePatchGan(this.params, this.config, path);
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
  }
}
