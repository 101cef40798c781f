import { type OnnxTypes, onnx } from './proto.js';

/** ONNX element types used by the exported graphs. */
export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;
export const INT8 = onnx.TensorProto.DataType.INT8;

/** The opset every exported graph imports (default domain). 17 is the first with LayerNormalization. */
export const OPSET = 17;
/** IR version 8: the one that goes with opset 17 (onnx 1.12). */
export const IR_VERSION = 8;

/** ONNX Runtime's contrib-operator domain (fused kernels no other runtime or onnx.checker knows). */
export const MS_DOMAIN = 'com.microsoft';

/**
 * Numeric precision of the transformer blocks' linear layers: `fp32` (default, indices identical to tfjs) or
 * `int8` (dynamic quantisation: per-tensor uint8 activations from DynamicQuantizeLinear, per-output-channel
 * symmetric int8 weights, MatMulInteger; standard ONNX ops, lower precision, opt-in only).
 */
export type OnnxPrecision = 'fp32' | 'int8';
export const ONNX_PRECISIONS: readonly OnnxPrecision[] = ['fp32', 'int8'];

/**
 * How attention is written: `standard` (MatMul/Softmax, any runtime) or `ort` (`com.microsoft.MultiHeadAttention`
 * where the block has no rope and no mask: ONNX Runtime only).
 */
export type OnnxAttention = 'standard' | 'ort';
export const ONNX_ATTENTIONS: readonly OnnxAttention[] = ['standard', 'ort'];

/** How a graph is written: the standard export (default) or variants for ONNX Runtime. */
export interface GraphVariant {
  precision: OnnxPrecision;
  attention: OnnxAttention;
}
export const STANDARD_VARIANT: Readonly<GraphVariant> = { precision: 'fp32', attention: 'standard' };

/** A graph input/output dimension: a fixed size or a symbolic name (dynamic, e.g. "batch"). */
export type Dim = number | string;

/** Attribute values the emitters use. */
export type AttrValue = number | number[] | string | { ints: number[] } | { float: number };

/**
 * A weight or constant of the graph. `data` is read only when the model file is written, so a model's
 * parameters are pulled from the tfjs backend one at a time (see `writeOnnxModel`).
 */
export interface Initializer {
  name: string;
  dataType: typeof FLOAT | typeof INT64 | typeof INT8;
  dims: number[];
  data: () => Promise<Float32Array | BigInt64Array | Int8Array>;
}

/** A graph under construction: nodes in topological order (emit order), initializers, inputs, outputs. */
export class GraphBuilder {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: OnnxTypes.IValueInfoProto[] = [];
  readonly outputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;
  private readonly constants = new Map<string, string>();
  /** Operator domains used besides the default one (each needs an opset import). */
  readonly domains = new Set<string>();

  constructor(
    readonly name: string,
    readonly variant: Readonly<GraphVariant> = STANDARD_VARIANT,
  ) {}

  /** A fresh value name derived from `hint`. */
  fresh(hint: string): string {
    let n = `${hint}_${this.counter++}`;
    while (this.names.has(n)) n = `${hint}_${this.counter++}`;
    this.names.add(n);
    return n;
  }

  input(name: string, elemType: number, dims: Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Declare `value` as graph output `name` (through an Identity when the names differ). */
  output(name: string, value: string, elemType: number, dims: Dim[]): void {
    if (value !== name) {
      this.claim(name);
      this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: `${name}_out` });
    }
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** Register a (lazily read) initializer under its own name, once; returns the name. */
  initializer(init: Initializer): string {
    if (this.names.has(init.name)) {
      const prev = this.initializers.find((i) => i.name === init.name);
      if (!prev) throw new Error(`graph ${this.name}: initializer name "${init.name}" clashes with a value`);
      return init.name;
    }
    this.claim(init.name);
    this.initializers.push(init);
    return init.name;
  }

  /** A float32 constant initializer (identical small constants are shared). */
  constF(hint: string, values: ArrayLike<number>, dims: number[]): string {
    const data = Float32Array.from(values);
    return this.constant(
      hint,
      FLOAT,
      dims,
      data,
      `f:${dims}:${data.length <= 64 ? data.join(',') : this.counter}`,
    );
  }

  /** An int64 constant initializer (shapes, axes, bit weights; identical ones are shared). */
  constI64(hint: string, values: ArrayLike<number>, dims: number[] = [values.length]): string {
    const data = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
    return this.constant(hint, INT64, dims, data, `i:${dims}:${data.join(',')}`);
  }

  private constant(
    hint: string,
    dataType: Initializer['dataType'],
    dims: number[],
    data: Float32Array | BigInt64Array,
    key: string,
  ): string {
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.fresh(hint);
    this.initializers.push({ name, dataType, dims, data: async () => data });
    this.constants.set(key, name);
    return name;
  }

  /** Add a node with one output; returns the output name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, hint = opType): string {
    return this.opMulti(opType, inputs, 1, attrs, hint)[0]!;
  }

  /** Add a node with `outputs` outputs (e.g. DynamicQuantizeLinear's y, scale, zero point); `domain` for contrib ops. */
  opMulti(
    opType: string,
    inputs: string[],
    outputs: number,
    attrs: Record<string, AttrValue> = {},
    hint = opType,
    domain = '',
  ): string[] {
    const outs = Array.from({ length: outputs }, () => this.fresh(hint));
    if (domain) this.domains.add(domain);
    this.nodes.push({
      opType,
      ...(domain ? { domain } : {}),
      input: inputs,
      output: outs,
      name: `${outs[0]}_node`,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`graph ${this.name}: duplicate value name "${name}"`);
    this.names.add(name);
  }
}

function valueInfo(name: string, elemType: number, dims: Dim[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

const A = onnx.AttributeProto.AttributeType;

function attribute(name: string, v: AttrValue): OnnxTypes.IAttributeProto {
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: use { float } for non-integer ${v}`);
    return { name, type: A.INT, i: v };
  }
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  if ('ints' in v) return { name, type: A.INTS, ints: v.ints };
  return { name, type: A.FLOAT, f: v.float };
}
