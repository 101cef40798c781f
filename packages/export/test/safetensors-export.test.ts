import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIP_MEAN, SafetensorsReader, selectBackend } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { ClipBpe } from '@qlip/text-encoder';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportSafetensors, HF_FILES, verifySafetensorsExport } from '../src/index.js';
import { FIXTURE, tinyConfig } from './helpers.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'qlip-hf-'));
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  await selectBackend('wasm');
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function randomPixels(b: number, size: number, seed: number): tf.Tensor4D {
  return tf.randomNormal([b, 3, size, size], 0, 1, 'float32', seed) as tf.Tensor4D;
}

describe('exportSafetensors: the official Hugging Face QLIP layout', () => {
  it('re-exports the reference checkpoint tensor for tensor, with its config.json', async () => {
    const model = await QLIPModel.load(FIXTURE);
    const dir = await tempDir();
    const r = await exportSafetensors(model, dir, { name: 'qlip-tiny-eva' });
    expect(r.files.map((f) => f.name)).toEqual([...HF_FILES]);
    expect((await readdir(dir)).sort()).toEqual([...HF_FILES].sort());
    const ours = await SafetensorsReader.open(join(dir, 'model.safetensors'));
    const ref = await SafetensorsReader.open(join(FIXTURE, 'model.safetensors'));
    expect(ours.names().sort()).toEqual(ref.names().sort());
    expect(ours.metadata).toMatchObject({ format: 'pt' });
    for (const name of ref.names()) {
      const a = await ours.read(name);
      const b = await ref.read(name);
      expect(a.shape, name).toEqual(b.shape);
      expect(
        Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(
          Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength),
        ),
        name,
      ).toBe(true);
    }
    await ours.close();
    await ref.close();
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    expect(cfg).toEqual(JSON.parse(await readFile(join(FIXTURE, 'config.json'), 'utf8')));
    model.dispose();
  });

  it('writes the tokenizer, the CLIP preprocessor and a model card', async () => {
    const model = QLIPModel.create(tinyConfig({ eva: false, image: 32, patch: 8, bits: 12 }), 5);
    const dir = await tempDir();
    await exportSafetensors(model, dir);
    const pre = JSON.parse(await readFile(join(dir, 'preprocessor_config.json'), 'utf8'));
    expect(pre).toMatchObject({
      image_processor_type: 'CLIPImageProcessor',
      do_resize: true,
      size: { shortest_edge: 32 },
      resample: 3, // bicubic
      do_center_crop: true,
      crop_size: { height: 32, width: 32 },
      image_mean: [...CLIP_MEAN],
      image_std: [0.26862954, 0.26130258, 0.27577711],
    });
    expect(pre.rescale_factor).toBeCloseTo(1 / 255, 12);
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    expect(cfg.architectures).toEqual(['QLIPModel']);
    expect(cfg.auto_map.AutoModel).toBe('modeling_qlip.QLIPModel');
    expect(cfg.vision_projection_bias).toBe(false);
    expect(cfg.vision_config.quantizer_cfg.embed_dim).toBe(12);
    const card = await readFile(join(dir, 'README.md'), 'utf8');
    expect(card).toMatch(/\| bits per token \(BSQ\) \| 12 \(groups of 6\) \|/);
    expect(card).toMatch(/\| tokens per image \| 4x4 = 16 \|/);
    const tok = ClipBpe.fromFiles(join(dir, 'vocab.json'), join(dir, 'merges.txt'));
    expect(Array.from(tok.tokenize(['a photo of a dog'], 8))).toEqual([
      49406, 320, 1125, 539, 320, 1929, 49407, 0,
    ]);
    const vocab = JSON.parse(await readFile(join(dir, 'vocab.json'), 'utf8'));
    expect(vocab['<|endoftext|>']).toBe(49407);
    expect((await readFile(join(dir, 'merges.txt'), 'utf8')).startsWith('#version: 0.2\n')).toBe(true);
    model.dispose();
  });

  it('round trip: export, QLIPModel.load, identical outputs', async () => {
    const model = QLIPModel.create(tinyConfig({ projBias: true }), 9);
    const dir = await tempDir();
    await exportSafetensors(model, dir);
    const back = await QLIPModel.load(dir);
    expect([...back.params.keys()].sort()).toEqual([...model.params.keys()].sort());
    const x = randomPixels(2, 16, 3);
    expect(Array.from((await back.encodeToIndices(x)).indices)).toEqual(
      Array.from((await model.encodeToIndices(x)).indices),
    );
    const same = (a: tf.Tensor, b: tf.Tensor) => {
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      a.dispose();
      b.dispose();
    };
    same(back.reconstruct(x), model.reconstruct(x));
    same(back.imageEmbeddings(x), model.imageEmbeddings(x));
    const ids = Int32Array.from([58, 3, 4, 59, 0, 0, 0, 0, 58, 9, 10, 11, 12, 59, 0, 0]);
    same(back.textEmbeddings(ids), model.textEmbeddings(ids));
    for (const [name, v] of model.params) same(back.params.get(name)!.clone(), v.clone());
    x.dispose();
    back.dispose();
    model.dispose();
  });

  it('fails cleanly: unwritable path, or a failure mid-way leaves no file', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'file'), 'x');
    const model = QLIPModel.create(tinyConfig({ eva: false }), 1);
    await expect(exportSafetensors(model, join(dir, 'file', 'hf'))).rejects.toThrow(
      /cannot create the output directory/,
    );
    const out = join(dir, 'out');
    model.params.get('text_projection.weight')!.dispose();
    await expect(exportSafetensors(model, out)).rejects.toThrow(/disposed/);
    expect(await readdir(out)).toEqual([]);
    expect(await readdir(dir)).toEqual(['file', 'out']);
  });
});

describe('verifySafetensorsExport', () => {
  it('passes on a faithful export and reports a tampered weight', async () => {
    const model = QLIPModel.create(tinyConfig({ eva: false }), 4);
    const dir = await tempDir();
    await exportSafetensors(model, dir);
    const ok = await verifySafetensorsExport(model, dir);
    expect(ok.problems).toEqual([]);
    expect(ok.passed).toBe(true);
    // Change one decoder weight in the original: the re-loaded export no longer matches it.
    const w = model.params.get('vision_decoder.conv_out.bias')!;
    w.assign(tf.add(w, 0.5) as tf.Tensor1D);
    const bad = await verifySafetensorsExport(model, dir);
    expect(bad.passed).toBe(false);
    expect(bad.maxAbsDiff.reconstruction).toBeCloseTo(0.5, 5);
    expect(bad.maxAbsDiff.imageEmbeds).toBe(0);
    model.dispose();
  });
});
