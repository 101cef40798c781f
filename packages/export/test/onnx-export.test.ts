import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkOnnxModels,
  exportOnnx,
  findOnnxPython,
  OnnxQLIP,
  OPSET,
  verifyOnnxExport,
} from '../src/index.js';
import { onnx } from '../src/onnx/proto.js';
import { FIXTURE, maxAbsDiff, normalizeRows, readFixture, type TinyOptions, tinyConfig } from './helpers.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'qlip-onnx-'));
  dirs.push(d);
  return d;
}

const python = await findOnnxPython();
if (!python) {
  console.warn(
    'python3 with the onnx module not found: the onnx.checker.check_model(full_check=True) steps of these tests are skipped (apt-get install python3-onnx)',
  );
}
const GRAPH_FILES = ['image_encoder.onnx', 'decoder.onnx', 'text_encoder.onnx'];

/** The ONNX checker when python3-onnx is installed; otherwise the skip is printed, not hidden. */
async function expectCheckerPasses(dir: string): Promise<void> {
  const r = await checkOnnxModels(dir, GRAPH_FILES);
  if (r.status === 'skipped') {
    console.warn(`onnx.checker skipped: ${r.detail}`);
    return;
  }
  expect(r.detail).not.toMatch(/Error/);
  expect(r.status).toBe('passed');
}

beforeAll(async () => {
  await selectBackend('wasm');
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('ONNX export of the reference fixture (qlip-tiny-eva: SwiGLU, sub-LN, rope, MLP quant_embed)', () => {
  let model: QLIPModel;
  let dir: string;
  let inputs: Map<string, { shape: number[]; f32: Float32Array; i32: Int32Array }>;
  let expected: typeof inputs;

  beforeAll(async () => {
    model = await QLIPModel.load(FIXTURE);
    dir = await tempDir();
    inputs = await readFixture('inputs.safetensors');
    expected = await readFixture('expected.safetensors');
  });

  it('writes three opset-17 graphs with a dynamic batch and the manifest', async () => {
    const r = await exportOnnx(model, dir);
    expect(r.opset).toBe(17);
    expect(r.files.map((f) => f.name).sort()).toEqual([...GRAPH_FILES, 'qlip-onnx.json'].sort());
    expect(await readdir(dir)).toHaveLength(4); // no staging folder or temp file left
    // The web page turns cosines into probabilities with the model's own exp(logit_scale).
    expect(r.manifest.logitScale).toBeCloseTo(Math.exp(model.params.get('logit_scale')!.dataSync()[0]!), 4);
    for (const f of GRAPH_FILES) {
      const m = onnx.ModelProto.decode(await readFile(join(dir, f)));
      expect(Number(m.opsetImport[0]!.version)).toBe(OPSET);
      expect(m.graph!.input[0]!.type!.tensorType!.shape!.dim![0]!.dimParam).toBe('batch');
      for (const o of m.graph!.output) expect(o.type!.tensorType!.shape!.dim![0]!.dimParam).toBe('batch');
      // Every parameter is an initializer, none is an input.
      expect(m.graph!.input).toHaveLength(1);
    }
    const enc = onnx.ModelProto.decode(await readFile(join(dir, 'image_encoder.onnx')));
    expect(enc.graph!.output.map((o) => o.name)).toEqual(['indices', 'group_indices', 'image_embeds']);
    expect(enc.graph!.output[0]!.type!.tensorType!.elemType).toBe(onnx.TensorProto.DataType.INT64);
    await expectCheckerPasses(dir);
  });

  it('ONNX Runtime reproduces the official outputs: indices exact, floats within the fixture tolerances', async () => {
    const rt = await OnnxQLIP.load(dir, { threads: 2 });
    const pixels = inputs.get('pixel_values')!.f32;
    const idx = await rt.encodeToIndices(pixels);
    expect(Array.from(idx.indices)).toEqual(Array.from(expected.get('indices')!.i32));
    const groups = await rt.encodeToGroupIndices(pixels);
    expect(Array.from(groups.indices)).toEqual(Array.from(expected.get('group_indices')!.i32));
    const decoded = await rt.decodeIndices(idx.indices);
    expect(decoded.shape).toEqual([3, 3, 32, 32]);
    expect(maxAbsDiff(decoded.data, expected.get('decoded_from_indices')!.f32)).toBeLessThan(5e-5);
    const img = await rt.imageEmbeddings(pixels);
    expect(maxAbsDiff(img.data, normalizeRows(expected.get('image_embeds')!.f32, 32))).toBeLessThan(5e-5);
    const txt = await rt.textEmbeddings(inputs.get('input_ids')!.i32);
    expect(txt.shape).toEqual([5, 32]);
    expect(maxAbsDiff(txt.data, normalizeRows(expected.get('text_embeds')!.f32, 32))).toBeLessThan(2e-5);
    await rt.release();
  });

  it('verifies against the tfjs runtime: identical indices, floats within 1e-4', async () => {
    const v = await verifyOnnxExport(model, dir, { batch: 3 });
    expect(v.problems).toEqual([]);
    expect(v.indexMismatches).toBe(0);
    expect(v.groupIndexMismatches).toBe(0);
    expect(v.maxAbsDiff.imageEmbeds).toBeLessThan(1e-4);
    expect(v.maxAbsDiff.decodedPixels).toBeLessThan(1e-4);
    expect(v.maxAbsDiff.textEmbeds).toBeLessThan(1e-4);
    expect(v.passed).toBe(true);
  });

  it('one session serves any batch size', async () => {
    const s = await ort.InferenceSession.create(join(dir, 'image_encoder.onnx'));
    const px = inputs.get('pixel_values')!.f32;
    const per = 3 * 32 * 32;
    const all = await s.run({ pixel_values: new ort.Tensor('float32', px, [3, 3, 32, 32]) });
    const one = await s.run({
      pixel_values: new ort.Tensor('float32', px.slice(per, 2 * per), [1, 3, 32, 32]),
    });
    expect(one.indices!.dims).toEqual([1, 16]);
    expect(Array.from(one.indices!.data as BigInt64Array)).toEqual(
      Array.from((all.indices!.data as BigInt64Array).slice(16, 32)),
    );
    await s.release();
  });

  it('stores weights in <graph>.onnx.data past the threshold, and the result is the same', async () => {
    const ext = await tempDir();
    const r = await exportOnnx(model, ext, { externalDataThreshold: 0 });
    const names = r.files.map((f) => f.name);
    for (const f of GRAPH_FILES) expect(names).toContain(`${f}.data`);
    const m = onnx.ModelProto.decode(await readFile(join(ext, 'text_encoder.onnx')));
    const tok = m.graph!.initializer.find((t) => t.name === 'text_model.embeddings.token_embedding.weight')!;
    expect(tok.dataLocation).toBe(onnx.TensorProto.DataLocation.EXTERNAL);
    expect(tok.rawData.length).toBe(0);
    expect((await stat(join(ext, 'text_encoder.onnx'))).size).toBeLessThan(64 * 1024);
    expect((await stat(join(ext, 'text_encoder.onnx.data'))).size).toBeGreaterThan(49408 * 32 * 4);
    const v = await verifyOnnxExport(model, ext);
    expect(v.problems).toEqual([]);
    await expectCheckerPasses(ext);
  });
});

describe('ONNX export of other configurations (QLIPModel.create)', () => {
  const cases: Array<[string, TinyOptions]> = [
    ['plain GELU MLP, no rope, no sub-LN', { eva: false }],
    [
      'patch 8 on 32x32, 12 bits, projection biases',
      { eva: false, image: 32, patch: 8, bits: 12, projBias: true },
    ],
    ['rope + SwiGLU, 16 bits in groups of 4, no q/k/v bias', { bits: 16, groupSize: 4, qkvBias: false }],
    [
      'identity quant_embed (L = hidden = 16), quick_gelu',
      { eva: false, embed: 'identity', act: 'quick_gelu' },
    ],
    ['tanh GELU, no quantizer l2 norms', { eva: false, act: 'gelu_new', l2: false }],
    ['legacy eos_token_id 2 pooling (argmax of the ids), relu', { eva: false, act: 'relu', eos: 2 }],
  ];
  for (const [name, o] of cases) {
    it(name, async () => {
      const model = QLIPModel.create(tinyConfig(o), 7);
      const dir = await tempDir();
      await exportOnnx(model, dir);
      const v = await verifyOnnxExport(model, dir, { batch: 3, seed: 11 });
      expect(v.problems).toEqual([]);
      expect(v.indexMismatches).toBe(0);
      expect(v.passed).toBe(true);
      await expectCheckerPasses(dir);
      model.dispose();
    });
  }

  it('exact GELU is written in the form ONNX Runtime fuses into one Gelu kernel', async () => {
    const model = QLIPModel.create(tinyConfig({ eva: false }), 2);
    const dir = await tempDir();
    await exportOnnx(model, dir, { graphs: ['image_encoder'] });
    const optimized = join(dir, 'optimized.onnx');
    const s = await ort.InferenceSession.create(join(dir, 'image_encoder.onnx'), {
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: optimized,
    });
    await s.release();
    const ops = onnx.ModelProto.decode(await readFile(optimized)).graph!.node.map((n) => n.opType);
    // Two encoder layers + the quant_embed MLP: three GELUs, none left as Erf.
    expect(ops.filter((o) => o === 'BiasGelu' || o === 'Gelu')).toHaveLength(3);
    expect(ops).not.toContain('Erf');
    model.dispose();
  });

  it('more than 32 bits: the graphs exchange group indices [B, N, G] instead of flat indices', async () => {
    const model = QLIPModel.create(tinyConfig({ eva: false, embed: 'identity', hidden: 40 }), 3);
    expect(model.bits).toBe(40);
    const dir = await tempDir();
    const r = await exportOnnx(model, dir);
    expect(r.manifest.indexInput).toBe('group_indices');
    const enc = onnx.ModelProto.decode(await readFile(join(dir, 'image_encoder.onnx')));
    expect(enc.graph!.output.map((o) => o.name)).toEqual(['group_indices', 'image_embeds']);
    const v = await verifyOnnxExport(model, dir);
    expect(v.problems).toEqual([]);
    expect(v.indexMismatches).toBeUndefined();
    expect(v.groupIndexMismatches).toBe(0);
    const rt = await OnnxQLIP.load(dir);
    await expect(rt.encodeToIndices(new Float32Array(3 * 16 * 16))).rejects.toThrow(
      /40 bits per token do not fit/,
    );
    await rt.release();
    model.dispose();
  });

  it('a model without a quantizer is refused with the reason', async () => {
    const cfg = tinyConfig({ eva: false, embed: 'identity' });
    (cfg.vision_config as Record<string, unknown>).quantizer = 'none';
    const model = QLIPModel.create(cfg, 1);
    const dir = await tempDir();
    await expect(exportOnnx(model, dir)).rejects.toThrow(
      /quantizer is "none"; the tokenizer graphs need "bsq"/,
    );
    expect(await readdir(dir)).toEqual([]);
    model.dispose();
  });
});

describe('failures leave no partial file', () => {
  it('an unwritable output path fails naming the path', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'file'), 'not a folder');
    const model = QLIPModel.create(tinyConfig({ eva: false }), 1);
    const out = join(dir, 'file', 'onnx');
    await expect(exportOnnx(model, out)).rejects.toThrow(
      new RegExp(`${out}: cannot create the output directory`),
    );
    expect(await readdir(dir)).toEqual(['file']);
    model.dispose();
  });

  it('a failure while writing weights removes every file written so far and keeps existing files', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'keep.txt'), 'old');
    const model = QLIPModel.create(tinyConfig({ eva: false }), 1);
    // The text tower's weights are read last: the image encoder and decoder are complete by then.
    model.params.get('text_model.final_layer_norm.bias')!.dispose();
    await expect(exportOnnx(model, dir, { externalDataThreshold: 0, overwrite: true })).rejects.toThrow(
      /disposed/,
    );
    expect(await readdir(dir)).toEqual(['keep.txt']);
    expect(await readFile(join(dir, 'keep.txt'), 'utf8')).toBe('old');
  });

  it('re-exporting over an existing export replaces it in place (no stale external data)', async () => {
    const dir = await tempDir();
    const model = QLIPModel.create(tinyConfig({ eva: false }), 1);
    await exportOnnx(model, dir, { externalDataThreshold: 0 });
    expect(await readdir(dir)).toContain('text_encoder.onnx.data');
    const again = await exportOnnx(model, dir, { overwrite: true });
    expect(again.files).toHaveLength(4);
    expect((await readdir(dir)).sort()).toEqual([...GRAPH_FILES, 'qlip-onnx.json'].sort());
    model.dispose();
  });
});
