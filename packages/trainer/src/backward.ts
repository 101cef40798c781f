import * as tf from '@tensorflow/tfjs-core';

/**
 * `tf.variableGrads` with a backward pass that frees memory as it goes.
 *
 * tfjs's own backward (`backpropagateGradients` in tfjs-core's tape.ts) keeps every intermediate gradient and
 * every saved forward tensor until the whole backward pass ends, so the peak of a training step is the tape
 * plus all its gradients. This walks the same tape in the same order, calls the same gradient functions and
 * sums with the same `tf.add` (so the gradients are bit-identical), but:
 * - disposes a gradient as soon as the node that produced its tensor has consumed it;
 * - disposes a node's saved forward tensors once the node's input gradients are computed;
 * - disposes, before the walk, the saved tensors of nodes that are not on a path from the variables to the
 *   loss (nothing will read them);
 * - disposes each node's temporaries (zero `dy`s, tensors a gradient function makes eagerly) with the node;
 * - during the forward pass, saves only the shape of the inputs that a kernel's gradient reads the shape of
 *   and nothing else (`SHAPE_ONLY`: Reshape, Add, Sub, Mean, ...). tfjs saves the whole tensor, which keeps
 *   its buffer alive until the backward pass: 60 % of a bench-s tape's saved bytes.
 * Only tensors the stock pass would itself dispose at its end are disposed early: never the variables, the
 * value, or a tensor made outside the backward pass that a gradient function happens to return.
 */

/** tfjs-core's tape node (tape.ts `TapeNode`); not part of its public API. */
interface TapeNode {
  id: number;
  kernelName: string;
  outputs: tf.Tensor[];
  inputs: Record<string, tf.Tensor>;
  gradient?: (dys: tf.Tensor[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

/** The engine internals used here (tfjs-core engine.ts): the same calls `ENGINE.gradients` makes. */
interface EngineInternals {
  state: {
    activeTape: TapeNode[] | null;
    gradientDepth: number;
    activeScope: { id: number } | null;
    scopeStack: unknown[];
  };
  getTensorsForGradient(kernelName: string, inputs: unknown, outputs: tf.Tensor[]): SavedEntry[];
  saveTensorsForBackwardMode(tensors: SavedEntry[]): SavedEntry[];
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
}

/**
 * Kernels whose registered gradient (tfjs-core's gradients/*_grad.ts) reads only `.shape` / `.rank` of its
 * saved tensors: their saved entries can be shapes without data.
 */
const SHAPE_ONLY = new Set<string>([
  tf.Reshape,
  tf.Add,
  tf.Sub,
  tf.Mean,
  tf.Sum,
  tf.Slice,
  tf.Concat,
  tf.PadV2,
  tf.AddN,
]);

/** What a gradient of a `SHAPE_ONLY` kernel sees in place of a saved tensor: its shape, no data. */
interface ShapeOnly {
  readonly shapeOnly: true;
  readonly shape: number[];
  readonly rank: number;
  readonly size: number;
  readonly dtype: tf.DataType;
  dispose(): void;
}

type SavedEntry = tf.Tensor | ShapeOnly;

function shapeOnly(t: tf.Tensor): ShapeOnly {
  return { shapeOnly: true, shape: [...t.shape], rank: t.rank, size: t.size, dtype: t.dtype, dispose() {} };
}

const isShapeOnly = (t: SavedEntry): t is ShapeOnly => (t as ShapeOnly).shapeOnly === true;

/**
 * Runs `f` with the engine saving shapes instead of tensors for `SHAPE_ONLY` kernels (the engine calls these
 * two methods through `this`, so instance properties override them for the duration of `f` only).
 */
function withShapeOnlySaves<T>(engine: EngineInternals, f: () => T): T {
  const own = engine as unknown as Record<string, unknown>;
  // Already overridden (a nested call): leave it to the outer one.
  if (Object.hasOwn(own, 'getTensorsForGradient') || Object.hasOwn(own, 'saveTensorsForBackwardMode'))
    return f();
  const getTensors = engine.getTensorsForGradient;
  const save = engine.saveTensorsForBackwardMode;
  own.getTensorsForGradient = (kernelName: string, inputs: unknown, outputs: tf.Tensor[]) => {
    const tensors = getTensors.call(engine, kernelName, inputs, outputs);
    return SHAPE_ONLY.has(kernelName) ? tensors.map((t) => shapeOnly(t as tf.Tensor)) : tensors;
  };
  own.saveTensorsForBackwardMode = (tensors: SavedEntry[]) =>
    tensors.every(isShapeOnly) ? tensors : save.call(engine, tensors);
  try {
    return f();
  } finally {
    delete own.getTensorsForGradient;
    delete own.saveTensorsForBackwardMode;
  }
}

/**
 * tfjs's `Sum` and `Mean` gradients build a tensor of ones of the input's shape on the host (a JavaScript
 * fill, then an upload) and multiply by it (`Mean` then divides): ~90 ms of a bench-s step at 1 thread. These
 * reshape `dy` (divided by the count for `Mean`) and broadcast it by multiplying with ones made on the backend
 * (`Fill`; tfjs-wasm's `Tile`, which `tf.broadcastTo` runs, takes ~100 ns an element): every element is the
 * same `dy` or `dy / n` (bit-identical: (dy / n) * 1 === (dy * 1) / n), with no host array. Registered by
 * `variableGradsFreeing` before each forward pass, so they win whatever order the tfjs bundles were imported
 * in.
 */
function leanReductionGradient(kernelName: typeof tf.Sum | typeof tf.Mean): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const { shape } = saved[0]!;
      const axes = tf.util.parseAxisParam((attrs as unknown as tf.SumAttrs).axis, shape);
      const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d)); // dy with the reduced axes as size 1
      const count = axes.reduce((n, i) => n * shape[i]!, 1);
      const expanded = tf.reshape(dy as tf.Tensor, kept);
      const scaled = kernelName === tf.Mean ? tf.div(expanded, count) : expanded;
      return { x: () => tf.mul(scaled, tf.fill(shape, 1)) };
    },
  };
}

const LEAN_GRADIENTS = [leanReductionGradient(tf.Sum), leanReductionGradient(tf.Mean)];

/** A tensor as the engine tracks it (`scopeId` and `kept` are set by the engine, not in the typings). */
type Tracked = tf.Tensor & { scopeId?: number; kept?: boolean };

/**
 * Gradients of the scalar `f()` w.r.t. `variables`, keyed by variable name, like `tf.variableGrads(f,
 * variables)` and bit-identical to it, with a peak memory of the tape plus the gradients still in flight.
 * Nested inside another gradient computation (higher-order gradients) it is `tf.variableGrads` itself.
 * @returns the value of `f()` and the gradients (the caller owns both).
 */
export function variableGradsFreeing(
  f: () => tf.Scalar,
  variables: tf.Variable[],
): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const engine = tf.engine() as unknown as EngineInternals;
  // Nested (higher-order) gradients, or a tfjs whose engine internals differ from 4.22's: tfjs's own pass.
  if (!engineLooksLike422(engine) || engine.state.gradientDepth > 0) {
    return tf.variableGrads(f, variables) as never;
  }
  const trainable = variables.filter((v) => v.trainable);
  if (trainable.length === 0) throw new Error('variableGradsFreeing: none of the variables is trainable');
  for (const g of LEAN_GRADIENTS) tf.registerGradient(g);
  const y = withShapeOnlySaves(engine, () =>
    engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy('forward', f),
    ),
  );
  if (!(y instanceof tf.Tensor) || y.rank !== 0) {
    throw new Error('variableGradsFreeing: f() must return a scalar tensor');
  }
  const tape = engine.state.activeTape ?? [];
  const filtered = filteredNodes(tape, trainable, y);
  if (filtered.length === 0) {
    disposeSaved(tape);
    engine.state.activeTape = null;
    throw new Error(
      'Cannot find a connection between any variable and the result of the loss function y=f(x).',
    );
  }
  const onPath = new Set(filtered.map((n) => n.id));
  disposeSaved(tape.filter((n) => !onPath.has(n.id)));
  const grads = engine.tidy('backward', () => {
    const scopeId = engine.state.activeScope!.id;
    const walk = new BackwardWalk(scopeId, [y, ...trainable]);
    try {
      walk.run(filtered, y);
    } finally {
      disposeSaved(tape);
      engine.state.activeTape = null;
    }
    const out: Record<string, tf.Tensor> = {};
    for (const v of trainable) {
      const g = walk.take(v);
      if (g) out[v.name] = g;
    }
    return out;
  });
  return { value: y as tf.Scalar, grads };
}

/** The engine members this module relies on exist (checked, so a tfjs upgrade degrades to the stock pass). */
function engineLooksLike422(engine: EngineInternals): boolean {
  const e = engine as unknown as Record<string, unknown>;
  return (
    [
      'startTape',
      'endTape',
      'scopedRun',
      'tidy',
      'getTensorsForGradient',
      'saveTensorsForBackwardMode',
    ].every((m) => typeof e[m] === 'function') &&
    typeof engine.state?.gradientDepth === 'number' &&
    Array.isArray(engine.state.scopeStack)
  );
  // Not `'activeTape' in engine.state`: tfjs creates activeTape and activeScope on first use, so that test
  // sent a process's first gradient computation (the biggest: it sets the wasm heap's size) to the stock pass.
}

/**
 * The nodes on a path from `xs` to `y`, in tape order, with their inputs pruned to those that depend on
 * `xs` (tfjs-core's `getFilteredNodesXToY`, which is not exported).
 */
function filteredNodes(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodesToY.add(node.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[name] = t;
    out.push({ ...node, inputs });
  }
  return out;
}

function disposeSaved(nodes: TapeNode[]): void {
  for (const node of nodes) for (const t of node.saved ?? []) t.dispose();
}

/**
 * The gradient map of one backward pass (tensor id -> accumulated gradient), with a count of the map entries
 * that hold each gradient object, so an object is disposed only when no entry holds it any more.
 */
class BackwardWalk {
  private readonly grads = new Map<number, tf.Tensor>();
  private readonly holders = new Map<tf.Tensor, number>();
  private readonly protect: Set<tf.Tensor>;

  /**
   * @param scopeId the backward tidy's scope: only tensors tracked there (made by this pass) are disposed early.
   * @param protect tensors never disposed here (the value and the variables).
   */
  constructor(
    private readonly scopeId: number,
    protect: tf.Tensor[],
  ) {
    this.protect = new Set(protect);
  }

  run(nodes: TapeNode[], y: tf.Tensor): void {
    this.set(y.id, tf.ones(y.shape)); // the stock pass's dy of y
    for (let i = nodes.length - 1; i >= 0; i--) this.step(nodes[i]!);
  }

  /** Hands over the gradient of `x` (the caller owns it). */
  take(x: tf.Tensor): tf.Tensor | undefined {
    const g = this.grads.get(x.id);
    this.grads.delete(x.id);
    return g;
  }

  /** One node: its input gradients (same calls and order as tape.ts), then free what it consumed. */
  private step(node: TapeNode): void {
    if (!node.gradient) {
      throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    }
    const zeros: tf.Tensor[] = [];
    const dys = node.outputs.map((o) => {
      const g = this.grads.get(o.id);
      if (g) return g;
      // Not on the path: the engine's wrapper would make these zeros itself; made here to free them.
      const z = tf.zeros(o.shape, o.dtype);
      zeros.push(z);
      return z;
    });
    const names = Object.keys(node.inputs);
    const dxs = tf.tidy(() => {
      const inputGradients = node.gradient!(dys);
      return names.map((name) => {
        if (!(name in inputGradients)) {
          throw new Error(
            `Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients)}.`,
          );
        }
        const dx = tf.tidy(() => inputGradients[name]!());
        checkGradient(node, name, dx);
        return dx;
      });
    });
    for (const [i, name] of names.entries()) this.accumulate(node.inputs[name]!, dxs[i]!);
    for (const o of node.outputs) {
      const g = this.grads.get(o.id);
      if (!g) continue;
      this.grads.delete(o.id);
      this.release(g);
    }
    for (const z of zeros) z.dispose();
    for (const t of node.saved ?? []) if (!this.holders.has(t)) t.dispose();
  }

  private accumulate(x: tf.Tensor, dx: tf.Tensor): void {
    const current = this.grads.get(x.id);
    if (!current) {
      this.set(x.id, dx);
      return;
    }
    const sum = tf.add(current, dx);
    this.grads.delete(x.id);
    this.release(current);
    this.hold(dx); // dx may be held by another entry as well: count it, then let go
    this.release(dx);
    this.set(x.id, sum);
  }

  private set(id: number, g: tf.Tensor): void {
    this.grads.set(id, g);
    this.hold(g);
  }

  private hold(g: tf.Tensor): void {
    this.holders.set(g, (this.holders.get(g) ?? 0) + 1);
  }

  /** One holder fewer; dispose when none is left and the tensor is this pass's own. */
  private release(g: tf.Tensor): void {
    const n = (this.holders.get(g) ?? 1) - 1;
    if (n > 0) {
      this.holders.set(g, n);
      return;
    }
    this.holders.delete(g);
    const t = g as Tracked;
    if (!this.protect.has(g) && !t.kept && t.scopeId === this.scopeId) g.dispose();
  }
}

function checkGradient(node: TapeNode, name: string, dx: tf.Tensor): void {
  if (dx.dtype !== 'float32') {
    throw new Error(
      `Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`,
    );
  }
  const x = node.inputs[name]!;
  if (!tf.util.arraysEqual(dx.shape, x.shape)) {
    throw new Error(
      `Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`,
    );
  }
}
