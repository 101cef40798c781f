import * as tf from '@tensorflow/tfjs-core';
import { variableGradsFreeing } from './backward.js';

/**
 * Gradients of one loss, gradient accumulation over micro-batches and the non-finite check: the pieces
 * every training step is made of (the training loop, the benchmark's train step).
 */

/** What a loss function returns: the scalar to differentiate and the host values to log. */
export interface LossOutput {
  /** The scalar differentiated w.r.t. the trained parameters (disposed by the caller). */
  total: tf.Scalar;
  /** Named terms as host numbers (logged as `loss` in metrics.jsonl; checked for NaN/Inf). */
  terms: Record<string, number>;
  /** Effective weight of each term this step, when the task balances them (logged as `weights`). */
  weights?: Record<string, number>;
}

/** Gradients by parameter name plus the host values of the loss that produced them. */
export interface MicroGradients {
  grads: Map<string, tf.Tensor>;
  terms: Record<string, number>;
  weights: Record<string, number>;
}

/**
 * Gradients of `loss` w.r.t. every variable of `parameters`, keyed by parameter name (tf names variables
 * itself). Every tensor made here is disposed except the gradients, which the caller owns. The backward pass
 * frees each gradient and saved tensor once consumed (`variableGradsFreeing`, bit-identical to
 * `tf.variableGrads`), so a batch needs the tape plus the gradients in flight, not every gradient at once.
 */
export function gradientsOf(parameters: Map<string, tf.Variable>, loss: () => LossOutput): MicroGradients {
  let terms: Record<string, number> = {};
  let weights: Record<string, number> = {};
  const { value, grads } = variableGradsFreeing(() => {
    const out = loss();
    terms = out.terms;
    weights = out.weights ?? {};
    return out.total;
  }, [...parameters.values()]);
  value.dispose();
  const byName = new Map<string, tf.Tensor>();
  for (const [name, variable] of parameters) {
    const grad = grads[variable.name];
    if (!grad) {
      tf.dispose(Object.values(grads));
      throw new Error(`trainer: no gradient for "${name}" (is it on the loss path?)`);
    }
    byName.set(name, grad);
  }
  return { grads: byName, terms, weights };
}

/**
 * Sums gradients of micro-batches and hands back their mean: `add` each micro-batch's gradients (the
 * accumulator takes ownership), `mean()` once per optimizer step.
 */
export class GradientAccumulator {
  private sum: Map<string, tf.Tensor> | null = null;
  private readonly allTerms: Record<string, number>[] = [];
  private count = 0;
  /** The weights reported by the last micro-batch. */
  weights: Record<string, number> = {};

  add(micro: MicroGradients): void {
    this.count += 1;
    this.allTerms.push(micro.terms);
    this.weights = micro.weights;
    if (!this.sum) {
      this.sum = micro.grads;
      return;
    }
    for (const [name, grad] of micro.grads) {
      const previous = this.sum.get(name)!;
      this.sum.set(name, tf.add(previous, grad));
      previous.dispose();
      grad.dispose();
    }
  }

  /** True when gradients were added since the last `mean()`. */
  hasGradients(): boolean {
    return this.sum !== null;
  }

  /** Mean of every term over the micro-batches added so far. */
  terms(): Record<string, number> {
    return meanTerms(this.allTerms);
  }

  /**
   * The mean gradient (sum times 1/count); ownership passes to the caller and the accumulator starts
   * over (read `terms()` and `weights` first).
   */
  mean(): Map<string, tf.Tensor> {
    const grads = this.sum;
    if (!grads) throw new Error('GradientAccumulator.mean: no micro-batch was added');
    const count = this.count;
    this.sum = null;
    this.count = 0;
    this.allTerms.length = 0;
    if (count !== 1) {
      for (const [name, grad] of grads) {
        grads.set(name, tf.mul(grad, 1 / count));
        grad.dispose();
      }
    }
    return grads;
  }

  /** Free whatever is still held (a step that failed half-way). */
  dispose(): void {
    for (const grad of this.sum?.values() ?? []) grad.dispose();
    this.sum = null;
  }
}

/** Mean of each named value over a list of records (names missing from one record count as 0). */
export function meanTerms(all: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const terms of all) {
    for (const [name, value] of Object.entries(terms)) out[name] = (out[name] ?? 0) + value / all.length;
  }
  return out;
}

/** The first non-finite entry of `named`, e.g. `['reconstruction', NaN]`. */
export function firstNonFinite(named: Record<string, number>): [string, number] | null {
  for (const [name, value] of Object.entries(named)) if (!Number.isFinite(value)) return [name, value];
  return null;
}

/** A loss term or the gradient norm was NaN/Inf: the run stops, the last good checkpoint stays. */
export class NonFiniteLossError extends Error {
  constructor(
    readonly step: number,
    readonly term: string,
    readonly value: number,
    readonly lastCheckpoint: string | null,
  ) {
    super(
      `non-finite loss at step ${step}: ${term} = ${value}; training stopped. ` +
        (lastCheckpoint
          ? `The last good checkpoint is ${lastCheckpoint} (resume from it with a lower learning rate or other settings).`
          : 'No checkpoint had been written yet.'),
    );
    this.name = 'NonFiniteLossError';
  }
}
