import { join } from 'node:path';
import { openForWrite, syncAndCheckSize, writeAll, writeFileSynced } from '@qlip/core';
import { type GraphBuilder, INT8, INT64, type Initializer, IR_VERSION, OPSET } from './graph.js';
import { type OnnxTypes, onnx } from './proto.js';

/** Tensors smaller than this stay inside the .onnx file even with external data (shapes, axes, scalars). */
const MIN_EXTERNAL_BYTES = 1024;
/** Offsets of external tensors are aligned (lets runtimes map the data file and read it in place). */
const ALIGN = 64;

/** Bytes of an initializer's data, known from its dims without reading it. */
export function initializerBytes(init: Initializer): number {
  return (
    init.dims.reduce((a, b) => a * b, 1) * (init.dataType === INT64 ? 8 : init.dataType === INT8 ? 1 : 4)
  );
}

export interface WriteModelOptions {
  /** Store tensors of >= 1 KiB in `dataFile` (beside the model file) instead of inside the protobuf. */
  external: boolean;
  /** Name of the external data file, relative to the model file's folder. */
  dataFile: string;
  /** Model doc string and metadata_props. */
  doc?: string;
  metadata?: Record<string, string>;
  producerVersion?: string;
}

export interface WrittenModel {
  /** Bytes of the .onnx file. */
  modelBytes: number;
  /** Bytes of the external data file (0 when not used). */
  dataBytes: number;
  nodes: number;
  initializers: number;
}

/**
 * Serialise a graph as an ONNX model (opset 17, IR 8) into `dir`/`fileName`.
 *
 * With external data the parameters are streamed into the data file one tensor at a time, each read from
 * the tfjs backend only then, so host memory holds one tensor plus the small protobuf -- the export of a
 * model that does not fit in memory twice. Inline, every tensor sits in the protobuf (which protobuf limits
 * to 2 GiB) and the encoded copy doubles it.
 */
export async function writeOnnxModel(
  dir: string,
  fileName: string,
  g: GraphBuilder,
  opts: WriteModelOptions,
): Promise<WrittenModel> {
  const tensors: OnnxTypes.ITensorProto[] = [];
  let dataBytes = 0;
  const dataPath = join(dir, opts.dataFile);
  const data = opts.external ? await openForWrite(dataPath, 'w') : undefined;
  try {
    for (const init of g.initializers) {
      const values = await init.data();
      const expected = initializerBytes(init);
      if (values.byteLength !== expected) {
        throw new Error(
          `ONNX export (${g.name}): tensor "${init.name}" holds ${values.byteLength} bytes, its dims [${init.dims}] need ${expected}`,
        );
      }
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      const t: OnnxTypes.ITensorProto = { name: init.name, dims: init.dims, dataType: init.dataType };
      if (data && bytes.byteLength >= MIN_EXTERNAL_BYTES) {
        const offset = Math.ceil(dataBytes / ALIGN) * ALIGN;
        await writeAll(data, bytes, offset, dataPath); // every byte checked: a full disk fails here
        dataBytes = offset + bytes.byteLength;
        t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        t.externalData = [
          { key: 'location', value: opts.dataFile },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(bytes.byteLength) },
        ];
      } else {
        // Copy: the backend may hand out views of its own buffers.
        t.rawData = bytes.slice();
      }
      tensors.push(t);
    }
    if (data) await syncAndCheckSize(data, dataPath, dataBytes);
  } finally {
    await data?.close();
  }
  const model: OnnxTypes.IModelProto = {
    irVersion: IR_VERSION,
    // Contrib domains (ONNX Runtime's com.microsoft) are at version 1.
    opsetImport: [
      { domain: '', version: OPSET },
      ...[...g.domains].map((domain) => ({ domain, version: 1 })),
    ],
    producerName: 'qlip',
    producerVersion: opts.producerVersion ?? '',
    docString: opts.doc ?? '',
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: g.name,
      node: g.nodes,
      initializer: tensors,
      input: g.inputs,
      output: g.outputs,
    },
  };
  const encoded = onnx.ModelProto.encode(model).finish();
  await writeFileSynced(join(dir, fileName), [encoded]);
  return {
    modelBytes: encoded.byteLength,
    dataBytes,
    nodes: g.nodes.length,
    initializers: g.initializers.length,
  };
}
