import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireOutputLock, cappedWriteOpener, selectBackend, setWriteOpener } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx, exportSafetensors } from '../src/index.js';
import { tinyConfig } from './helpers.js';

// Issue 13 item 6 (export overwrites) and item 1 (concurrent writers) for both export formats.
let tmp: string;
let model: QLIPModel;
let n = 0;
const fresh = () => join(tmp, `case-${n++}`);

beforeAll(async () => {
  await selectBackend('wasm');
  tmp = await mkdtemp(join(tmpdir(), 'qlip-export-safety-'));
  model = QLIPModel.create(tinyConfig({ eva: false }), 1);
});
afterAll(async () => {
  model.dispose();
  await rm(tmp, { recursive: true, force: true });
});

describe('export output safety', () => {
  it("refuses a non-empty --out without overwrite and leaves the user's files alone", async () => {
    const out = fresh();
    await mkdir(out);
    await writeFile(join(out, 'README.md'), 'my notes');
    await writeFile(join(out, 'config.json'), '{"mine": true}');
    await expect(exportSafetensors(model, out)).rejects.toThrow(
      /not empty \(README\.md, config\.json\).*--overwrite/,
    );
    await expect(exportOnnx(model, out)).rejects.toThrow(/not empty .*--overwrite/);
    expect((await readdir(out)).sort()).toEqual(['README.md', 'config.json']);
    expect(await readFile(join(out, 'README.md'), 'utf8')).toBe('my notes');
    const r = await exportSafetensors(model, out, { overwrite: true });
    expect(r.files.map((f) => f.name)).toContain('README.md');
    expect(await readFile(join(out, 'README.md'), 'utf8')).toMatch(/QLIP visual tokenizer/);
    expect(await readdir(out)).not.toContain('.qlip.lock');
  });

  it('never writes into the model folder it reads (equal, or inside for safetensors)', async () => {
    const src = fresh();
    await model.save(src);
    const before = (await readdir(src)).sort();
    const weights = await readFile(join(src, 'model.safetensors'));
    for (const out of [src, join(src, '.'), join(src, 'sub', '..')]) {
      await expect(
        exportSafetensors(model, out, { dtype: 'F16', overwrite: true, sourceDir: src }),
      ).rejects.toThrow(/is the model folder .*never writes into the checkpoint it reads/);
    }
    await expect(
      exportSafetensors(model, join(src, 'hf'), { overwrite: true, sourceDir: src }),
    ).rejects.toThrow(/inside the model folder/);
    await expect(exportOnnx(model, src, { overwrite: true, sourceDir: src })).rejects.toThrow(
      /is the model folder/,
    );
    expect((await readdir(src)).sort()).toEqual(before);
    expect((await readFile(join(src, 'model.safetensors'))).equals(weights)).toBe(true);
    // <model>/onnx is where --runtime onnx looks for graphs: allowed.
    const r = await exportOnnx(model, join(src, 'onnx'), { graphs: ['decoder'], sourceDir: src });
    expect(r.files.map((f) => f.name)).toContain('decoder.onnx');
  });

  it('a second export into a folder being written is refused, naming the holder', async () => {
    const out = fresh();
    const lock = await acquireOutputLock(out, 'qlip export onnx');
    await expect(exportSafetensors(model, out)).rejects.toThrow(
      new RegExp(`in use by another qlip process: pid ${process.pid} .*"qlip export onnx"`),
    );
    await lock.release();
    await exportSafetensors(model, out);
  });

  it("a crashed export's staging folder is cleaned up and does not count as content", async () => {
    const out = fresh();
    await mkdir(join(out, '.qlip-export-abc123'), { recursive: true });
    await writeFile(join(out, '.qlip-export-abc123', 'model.safetensors'), 'partial');
    await exportOnnx(model, out, { graphs: ['decoder'] });
    expect((await readdir(out)).sort()).toEqual(['decoder.onnx', 'qlip-onnx.json']);
  });

  it('a full disk while writing ONNX external data fails naming the file and leaves --out as it was (item 2)', async () => {
    const out = fresh();
    const restore = setWriteOpener(cappedWriteOpener(5_000));
    try {
      await expect(exportOnnx(model, out, { externalDataThreshold: 0 })).rejects.toThrow(
        /image_encoder\.onnx\.data: write failed after \d+ of \d+ bytes: ENOSPC/,
      );
    } finally {
      restore();
    }
    expect(await readdir(out)).toEqual([]);
  });
});
