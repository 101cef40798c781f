// onnx-proto is CommonJS (module.exports = { onnx }): Node's ESM loader exposes it as the default export only.
import onnxProto from 'onnx-proto';

/** The ONNX protobuf message classes (ModelProto, GraphProto, TensorProto, ...). */
export const onnx = onnxProto.onnx;
export type { onnx as OnnxTypes } from 'onnx-proto';
