import { FUSED_KERNELS, hasKernel } from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';

/** AdamW hyper-parameters (torch.optim.AdamW semantics: decoupled weight decay). */
export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Parameter names that get no weight decay (biases, norms, embeddings by convention). */
  noDecay?: (name: string) => boolean;
}

/** Serializable optimizer state: step count plus first/second moments by parameter name. */
export interface AdamWState {
  step: number;
  m: Map<string, tf.Tensor>;
  v: Map<string, tf.Tensor>;
}

/** The usual exclusion rule: no decay for biases, LayerNorm parameters, embeddings and scalars. */
export function defaultNoDecay(name: string): boolean {
  return (
    name.endsWith('.bias') ||
    /(^|\.)(layer_norm\d*|layernorm|post_layernorm|final_layer_norm|norm|ffn_ln|inner_attn_ln)\./.test(
      name,
    ) ||
    /embedding|class_embedding|position_embeddings|logit_scale/.test(name)
  );
}

/**
 * One AdamW step over named variables, in place:
 *   p <- p - lr * wd * p                      (decoupled decay, applied first as torch does)
 *   m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
 *   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * Parameters without a gradient are left untouched (frozen towers).
 */
export class AdamW {
  readonly state: AdamWState = { step: 0, m: new Map(), v: new Map() };

  constructor(readonly opts: AdamWOptions) {}

  apply(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr: number): void {
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.opts;
    this.state.step += 1;
    const t = this.state.step;
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    for (const [name, g] of grads) {
      const p = params.get(name);
      if (!p) throw new Error(`AdamW: gradient for unknown parameter "${name}"`);
      const decay = weightDecay > 0 && !(this.opts.noDecay?.(name) ?? false) ? weightDecay : 0;
      const m0 = this.state.m.get(name);
      const v0 = this.state.v.get(name);
      if (tf.getBackend() === 'cpu') {
        this.applyHost(name, p, g, lr, decay, bc1, bc2);
        continue;
      }
      const fusable =
        p.dtype === 'float32' && g.dtype === 'float32' && !m0 === !v0 && hasKernel(FUSED_KERNELS.adamW);
      const [m, v] = tf.tidy(() => {
        if (fusable) {
          // One kernel (the native wasm one) instead of the ~15-op chain below, with the same float32 result.
          const inputs: tf.NamedTensorMap = m0 && v0 ? { p, g, m: m0, v: v0 } : { p, g };
          const attrs = { beta1: b1, beta2: b2, lr, weightDecay: decay, bc1, bc2, eps };
          const [p1, m1, v1] = tf.engine().runKernel(FUSED_KERNELS.adamW, inputs, attrs) as tf.Tensor[];
          p.assign(p1!);
          return [tf.keep(m1!), tf.keep(v1!)];
        }
        const m1 = m0 ? tf.add(tf.mul(m0, b1), tf.mul(g, 1 - b1)) : tf.mul(g, 1 - b1);
        const v1 = v0 ? tf.add(tf.mul(v0, b2), tf.mul(tf.square(g), 1 - b2)) : tf.mul(tf.square(g), 1 - b2);
        const decayed = decay ? tf.mul(p, 1 - lr * decay) : p;
        const update = tf.div(tf.div(m1, bc1), tf.add(tf.sqrt(tf.div(v1, bc2)), eps));
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
        return [tf.keep(m1), tf.keep(v1)];
      });
      m0?.dispose();
      v0?.dispose();
      this.state.m.set(name, m);
      this.state.v.set(name, v);
    }
  }

  /**
   * The same update as one host loop. The pure-JS cpu backend runs each of the ~15 elementwise ops as a
   * separate pass with broadcasting overhead (about 1 s per step for a 49408 x 64 token embedding);
   * fused on the host it is a few milliseconds. Each value is computed in float64 and rounded once.
   */
  private applyHost(
    name: string,
    p: tf.Variable,
    g: tf.Tensor,
    lr: number,
    decay: number,
    bc1: number,
    bc2: number,
  ): void {
    const { beta1: b1, beta2: b2, eps } = this.opts;
    const m0 = this.state.m.get(name);
    const v0 = this.state.v.get(name);
    const pd = p.dataSync();
    const gd = g.dataSync();
    const md = m0?.dataSync();
    const vd = v0?.dataSync();
    const n = pd.length;
    const m = new Float32Array(n);
    const v = new Float32Array(n);
    const out = new Float32Array(n);
    const keep = 1 - lr * decay;
    for (let i = 0; i < n; i++) {
      const gi = gd[i]!;
      m[i] = md ? b1 * md[i]! + (1 - b1) * gi : (1 - b1) * gi;
      v[i] = vd ? b2 * vd[i]! + (1 - b2) * gi * gi : (1 - b2) * gi * gi;
      out[i] = pd[i]! * keep - lr * (m[i]! / bc1 / (Math.sqrt(v[i]! / bc2) + eps));
    }
    tf.tidy(() => p.assign(tf.tensor(out, p.shape, 'float32')));
    m0?.dispose();
    v0?.dispose();
    this.state.m.set(name, tf.tensor(m, p.shape, 'float32'));
    this.state.v.set(name, tf.tensor(v, p.shape, 'float32'));
  }

  /** Replace the state (resume). Takes ownership of the tensors. */
  load(state: AdamWState): void {
    this.dispose();
    this.state.step = state.step;
    for (const [k, t] of state.m) this.state.m.set(k, t);
    for (const [k, t] of state.v) this.state.v.set(k, t);
  }

  dispose(): void {
    for (const t of this.state.m.values()) t.dispose();
    for (const t of this.state.v.values()) t.dispose();
    this.state.m.clear();
    this.state.v.clear();
  }
}

/**
 * Scale gradients so their global L2 norm is at most `maxNorm` (torch.nn.utils.clip_grad_norm_).
 * Returns the norm before clipping (for logging) and the new gradient map (old tensors disposed
 * when replaced).
 */
export function clipByGlobalNorm(
  grads: Map<string, tf.Tensor>,
  maxNorm: number,
): { norm: number; grads: Map<string, tf.Tensor> } {
  const sumSq = tf.tidy(() => tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))));
  const norm = Math.sqrt(sumSq.dataSync()[0]!);
  sumSq.dispose();
  if (!(maxNorm > 0) || norm <= maxNorm || !Number.isFinite(norm)) return { norm, grads };
  const scale = maxNorm / (norm + 1e-6);
  const out = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) {
    out.set(k, tf.mul(g, scale));
    g.dispose();
  }
  return { norm, grads: out };
}
