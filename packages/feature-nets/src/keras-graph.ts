import * as tf from '@tensorflow/tfjs-core';
import { depthwiseConv2dFrozen } from './depthwise-grad.js';
import type { KerasLayerJson } from './nsfwjs-files.js';

/** One compiled layer: its inputs (layer names) and a function of their outputs. */
interface Node {
  name: string;
  className: string;
  inputs: string[];
  run: (xs: tf.Tensor[]) => tf.Tensor;
}

type Cfg = Record<string, unknown>;
const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v as number, v as number]);

/**
 * A frozen Keras functional model (as in a tfjs layers-model topology) run with plain tfjs ops.
 *
 * Why not `tf.loadLayersModel`: its Conv2D goes through the fused conv op, whose gradient always
 * computes the filter gradient too (`Conv2DBackpropFilter`, which wasm lacks natively, and wasted work
 * for a frozen net). Plain `tf.conv2d` only differentiates what leads back to the input, so gradients
 * w.r.t. the image work on wasm. Weights are constants: nothing here is trainable.
 */
export class KerasGraph {
  private readonly nodes = new Map<string, Node>();
  readonly order: string[] = [];
  readonly inputName: string;
  private readonly owned: tf.Tensor[] = [];

  constructor(layers: KerasLayerJson[], weights: tf.NamedTensorMap, source: string) {
    let input: string | undefined;
    for (const l of layers) {
      if (l.inbound_nodes.length > 1)
        throw new Error(
          `${source}: layer "${l.name}" is called more than once; shared layers are not supported`,
        );
      const inputs = (l.inbound_nodes[0] ?? []).map((e) => e[0]);
      for (const i of inputs)
        if (!this.nodes.has(i))
          throw new Error(`${source}: layer "${l.name}" uses "${i}" before it is defined`);
      if (l.class_name === 'InputLayer') input = l.name;
      this.nodes.set(l.name, {
        name: l.name,
        className: l.class_name,
        inputs,
        run: this.compile(l, weights, source),
      });
      this.order.push(l.name);
    }
    if (!input) throw new Error(`${source}: the topology has no InputLayer`);
    this.inputName = input;
    // The graph keeps what it needs (BN scale/shift, kernels); the raw map is released.
    for (const t of Object.values(weights)) if (!this.owned.includes(t)) t.dispose();
  }

  /** Class name of a layer (`Conv2D`, `Concatenate`, ...). */
  layerClass(name: string): string | undefined {
    return this.nodes.get(name)?.className;
  }

  /**
   * Run the graph on `x` and return the outputs of the named layers, in order. Only the layers the
   * outputs depend on are evaluated. Intermediate tensors are left to the caller's `tf.tidy`.
   */
  run(x: tf.Tensor, outputs: string[]): tf.Tensor[] {
    for (const o of outputs) {
      if (!this.nodes.has(o))
        throw new Error(`unknown layer "${o}"; see layerNames for the ${this.order.length} layers`);
    }
    const needed = new Set<string>();
    const stack = [...outputs];
    while (stack.length > 0) {
      const n = stack.pop() as string;
      if (needed.has(n)) continue;
      needed.add(n);
      stack.push(...(this.nodes.get(n) as Node).inputs);
    }
    const values = new Map<string, tf.Tensor>([[this.inputName, x]]);
    for (const name of this.order) {
      if (!needed.has(name) || values.has(name)) continue;
      const node = this.nodes.get(name) as Node;
      values.set(name, node.run(node.inputs.map((i) => values.get(i) as tf.Tensor)));
    }
    return outputs.map((o) => values.get(o) as tf.Tensor);
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
  }

  private keep<T extends tf.Tensor>(t: T): T {
    this.owned.push(t);
    return t;
  }

  private weight(weights: tf.NamedTensorMap, layer: string, key: string, source: string): tf.Tensor {
    const t = weights[`${layer}/${key}`];
    if (!t) throw new Error(`${source}: weight "${layer}/${key}" is missing from the weight manifest`);
    return this.keep(t);
  }

  private activation(name: unknown, layer: string, source: string): (t: tf.Tensor) => tf.Tensor {
    switch (name ?? 'linear') {
      case 'linear':
        return (t) => t;
      case 'relu':
        return (t) => tf.relu(t);
      case 'softmax':
        return (t) => tf.softmax(t);
      case 'sigmoid':
        return (t) => tf.sigmoid(t);
      case 'tanh':
        return (t) => tf.tanh(t);
      default:
        throw new Error(`${source}: layer "${layer}" has unsupported activation "${String(name)}"`);
    }
  }

  private compile(l: KerasLayerJson, weights: tf.NamedTensorMap, source: string): Node['run'] {
    const c = l.config as Cfg;
    const fmt = c.data_format;
    if (fmt !== undefined && fmt !== 'channels_last') {
      throw new Error(
        `${source}: layer "${l.name}" uses data_format ${String(fmt)}; only channels_last is supported`,
      );
    }
    const layer: LayerContext = {
      l,
      c,
      weights,
      source,
      act: () => this.activation(c.activation, l.name, source),
      pad: () => {
        if (c.padding !== 'same' && c.padding !== 'valid')
          throw new Error(`${source}: layer "${l.name}" has padding ${String(c.padding)}`);
        return c.padding;
      },
    };
    switch (l.class_name) {
      case 'Conv2D':
      case 'DepthwiseConv2D':
      case 'Dense':
        return this.compileWeighted(layer);
      case 'BatchNormalization':
        return this.compileBatchNorm(layer);
      default:
        return compileStateless(layer);
    }
  }

  /** Layers with a kernel and an optional bias, then their activation (read in that order, as errors go). */
  private compileWeighted({ l, c, weights, source, act, pad }: LayerContext): Node['run'] {
    const bias = () => (c.use_bias ? this.weight(weights, l.name, 'bias', source) : undefined);
    const then = (b: tf.Tensor | undefined, f: (t: tf.Tensor) => tf.Tensor) => (y: tf.Tensor) =>
      f(b ? tf.add(y, b) : y);
    if (l.class_name === 'Dense') {
      const kernel = this.weight(weights, l.name, 'kernel', source) as tf.Tensor2D; // [in, out]
      const out = then(bias(), act());
      return ([x]) => out(tf.matMul(x as tf.Tensor2D, kernel));
    }
    if (l.class_name === 'Conv2D') {
      const [dr, dc] = pair(c.dilation_rate ?? 1);
      const kernel = this.weight(weights, l.name, 'kernel', source) as tf.Tensor4D; // [kh, kw, in, out]
      const b = bias();
      const strides = pair(c.strides ?? 1);
      const p = pad();
      const out = then(b, act());
      return ([x]) => out(tf.conv2d(x as tf.Tensor4D, kernel, strides, p, 'NHWC', [dr, dc]));
    }
    // DepthwiseConv2D
    if (pair(c.dilation_rate ?? 1).some((d) => d !== 1))
      throw new Error(`${source}: layer "${l.name}": dilated depthwise convolution is not supported`);
    const kernel = this.weight(weights, l.name, 'depthwise_kernel', source) as tf.Tensor4D; // [kh, kw, C, M]
    const b = bias();
    const conv = depthwiseConv2dFrozen(kernel, pair(c.strides ?? 1), pad());
    const out = then(b, act());
    return ([x]) => out(conv(x as tf.Tensor4D));
  }

  /** Inference-mode BN as one per-channel affine map: y = x * scale + shift. */
  private compileBatchNorm({ l, c, weights, source }: LayerContext): Node['run'] {
    if (c.axis !== 3 && c.axis !== -1 && !(Array.isArray(c.axis) && (c.axis[0] === 3 || c.axis[0] === -1))) {
      throw new Error(
        `${source}: layer "${l.name}" normalises axis ${JSON.stringify(c.axis)}; only the channel axis is supported`,
      );
    }
    const mean = weights[`${l.name}/moving_mean`];
    const variance = weights[`${l.name}/moving_variance`];
    if (!mean || !variance) throw new Error(`${source}: moving statistics of "${l.name}" are missing`);
    const gamma = c.scale === false ? undefined : weights[`${l.name}/gamma`];
    const beta = c.center === false ? undefined : weights[`${l.name}/beta`];
    const scale = tf.tidy(() => {
      const inv = tf.rsqrt(tf.add(variance, c.epsilon as number));
      return gamma ? tf.mul(inv, gamma) : inv;
    });
    const shift = tf.tidy(() => {
      const s = tf.neg(tf.mul(mean, scale));
      return beta ? tf.add(s, beta) : s;
    });
    this.keep(scale);
    this.keep(shift);
    return ([x]) => tf.add(tf.mul(x, scale), shift);
  }
}

/** What compiling one layer needs: its JSON and config, the weights, the file (for errors), its activation and padding. */
interface LayerContext {
  l: KerasLayerJson;
  c: Cfg;
  weights: tf.NamedTensorMap;
  source: string;
  act: () => (t: tf.Tensor) => tf.Tensor;
  pad: () => 'same' | 'valid';
}

/** Layers without weights: identity, activations, pooling, padding, merges, reshapes. */
function compileStateless({ l, c, source, act, pad }: LayerContext): Node['run'] {
  switch (l.class_name) {
    case 'InputLayer':
    case 'Dropout':
      return ([x]) => x;
    case 'Activation': {
      const f = act();
      return ([x]) => f(x);
    }
    case 'ReLU':
      return compileRelu(l, c, source);
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const size = pair(c.pool_size);
      const strides = pair(c.strides ?? c.pool_size);
      const p = pad();
      return l.class_name === 'MaxPooling2D'
        ? ([x]) => tf.maxPool(x as tf.Tensor4D, size, strides, p)
        : ([x]) => tf.avgPool(x as tf.Tensor4D, size, strides, p);
    }
    case 'GlobalAveragePooling2D':
      return ([x]) => tf.mean(x, [1, 2]);
    case 'ZeroPadding2D': {
      const [[t, b], [lft, r]] = c.padding as [[number, number], [number, number]];
      return ([x]) =>
        tf.pad(x, [
          [0, 0],
          [t, b],
          [lft, r],
          [0, 0],
        ]);
    }
    case 'Concatenate': {
      const axis = c.axis as number;
      return (xs) => tf.concat(xs, axis);
    }
    case 'Add':
      return (xs) => xs.slice(1).reduce((s, v) => tf.add(s, v), xs[0]);
    case 'Flatten':
      return ([x]) => tf.reshape(x, [x.shape[0], -1]); // [B, H*W*C]
    default:
      throw new Error(`${source}: layer "${l.name}" has unsupported class ${l.class_name}`);
  }
}

function compileRelu(l: KerasLayerJson, c: Cfg, source: string): Node['run'] {
  const max = c.max_value as number | null | undefined;
  if ((c.negative_slope ?? 0) !== 0 || (c.threshold ?? 0) !== 0) {
    throw new Error(`${source}: layer "${l.name}": ReLU with a slope or threshold is not supported`);
  }
  if (max === 6) return ([x]) => tf.relu6(x);
  return max == null ? ([x]) => tf.relu(x) : ([x]) => tf.minimum(tf.relu(x), max);
}
